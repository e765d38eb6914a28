/* TLS through the C API: configs and their checks, netcore against
 * netcore (record edges, a relay forwarding one byte at a time,
 * backpressure with tokens and pause/resume), the connection contracts
 * under TLS (connect timeout, reconnect, cap, hard close, half-close,
 * server shutdown, idle timeout), against the OpenSSL command line
 * (s_client, s_server) and curl, the examples (HTTPS, STARTTLS), and the
 * failures a peer can cause (raw, through a relay that corrupts or cuts,
 * or OpenSSL), each with its exact error and failure record. Certificates
 * are made by tests/tls/make-certs.sh into a temporary directory, removed
 * at exit. */
#include "harness.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ------------------------------------------------------------ children */

/* Every process a test starts, so that one left by a failed test is
 * killed before the next test and at exit. */
#define MAX_CHILDREN 8
static pid_t children[MAX_CHILDREN];

static void kill_children(void) {
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (children[i] > 0) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
            children[i] = 0;
        }
    }
}

static void forget_child(pid_t pid) {
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] == pid) children[i] = 0;
}

/* Starts argv[0] (searched in PATH) with stdin from `in` (NULL:
 * /dev/null), stdout into the file `out` or, when `out_pipe` is not NULL,
 * a pipe whose read end (non-blocking) is stored there, and stderr into
 * the file `err` (NULL: /dev/null). */
static pid_t spawn(char *const argv[], const char *in, const char *out, int *out_pipe, const char *err) {
    int fds[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in ? in : "/dev/null", O_RDONLY, 0);
    if (out_pipe) {
        ASSERT(pipe(fds) == 0);
        t_fd(fds[0]);
        t_fd(fds[1]);
        posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
        posix_spawn_file_actions_addclose(&fa, fds[0]);
        posix_spawn_file_actions_addclose(&fa, fds[1]);
    } else {
        posix_spawn_file_actions_addopen(&fa, 1, out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    }
    posix_spawn_file_actions_addopen(&fa, 2, err ? err : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid = 0;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    ASSERT_MSG(rc == 0, "cannot start %s: %s", argv[0], strerror(rc));
    int slot = 0;
    while (slot < MAX_CHILDREN && children[slot] > 0) slot++;
    ASSERT(slot < MAX_CHILDREN);
    children[slot] = pid;
    if (out_pipe) {
        t_close(fds[1]);
        set_nonblock(fds[0], 1);
        *out_pipe = fds[0];
    }
    return pid;
}

/* Whether the child has exited (its status in *status); never blocks. */
static int exited(pid_t pid, int *status) {
    if (waitpid(pid, status, WNOHANG) != pid) return 0;
    forget_child(pid);
    return 1;
}

/* Polls `loop` (may be NULL) until the child exits, at most timeout_ms
 * (scaled); returns its exit code, or -1 if it was killed by a signal. */
static int wait_child(nc_loop *loop, pid_t pid, int timeout_ms) {
    int64_t deadline = now_ms() + T_MS(timeout_ms);
    int status = 0;
    while (!exited(pid, &status)) {
        ASSERT_MSG(now_ms() < deadline, "child %d did not exit within %d ms", (int)pid, T_MS(timeout_ms));
        if (loop) poll_for(loop, 10);
        else sleep_ms(10);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Appends what the pipe has now to buf (NUL-terminated, at most cap - 1
 * bytes); returns 0 at EOF, else 1. */
static int read_pipe(int fd, char *buf, size_t cap) {
    size_t len = strlen(buf);
    for (;;) {
        if (len + 1 >= cap) return 1;
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n == 0) return 0;
        if (n < 0) return 1; /* EAGAIN: nothing more now */
        len += (size_t)n;
        buf[len] = 0;
    }
}

/* Reads the pipe, polling `loop` meanwhile, until it holds `want`, reaches
 * EOF, or timeout_ms (scaled) passes. Returns whether `want` came. */
static int wait_output(nc_loop *loop, int fd, char *buf, size_t cap, const char *want, int timeout_ms) {
    int64_t deadline = now_ms() + T_MS(timeout_ms);
    while (!strstr(buf, want) && now_ms() < deadline) {
        if (!read_pipe(fd, buf, cap)) return strstr(buf, want) != NULL;
        struct pollfd pfd = {fd, POLLIN, 0};
        if (loop) poll_for(loop, 5);
        else poll(&pfd, 1, 10);
    }
    return strstr(buf, want) != NULL;
}

/* --------------------------------------------------------------- files */

static char cert_dir[64];

static void remove_cert_dir(void) {
    kill_children();
    DIR *d = opendir(cert_dir);
    if (!d) return;
    char path[512];
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", cert_dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(cert_dir);
}

/* A file of the temporary directory (a ring of buffers: valid for a few calls). */
static const char *path_of(const char *name) {
    static char ring[8][160];
    static int next;
    char *buf = ring[next++ % 8];
    snprintf(buf, sizeof ring[0], "%s/%s", cert_dir, name);
    return buf;
}

/* Makes the test certificates once per process (and server.der, the
 * server certificate in DER, to compare with what a client reads). */
static void certs(void) {
    kill_children();
    if (cert_dir[0]) return;
    strcpy(cert_dir, "/tmp/netcore-c-tls-XXXXXX");
    ASSERT_MSG(mkdtemp(cert_dir) != NULL, "mkdtemp: %s", strerror(errno));
    atexit(remove_cert_dir);
    /* The script sits next to this file's directory: tests/tls/. */
    char script[256];
    const char *slash = strrchr(__FILE__, '/');
    snprintf(script, sizeof script, "%.*s/../tls/make-certs.sh", slash ? (int)(slash - __FILE__) : 1,
             slash ? __FILE__ : ".");
    char *make[] = {"bash", script, cert_dir, NULL};
    ASSERT_MSG(wait_child(NULL, spawn(make, NULL, NULL, NULL, path_of("make-certs.log")), 120000) == 0,
               "make-certs.sh failed (is the openssl CLI installed?)");
    char *der[] = {"openssl", "x509", "-in", (char *)path_of("server.pem"), "-outform", "DER",
                   "-out", (char *)path_of("server.der"), NULL};
    ASSERT_EQ(wait_child(NULL, spawn(der, NULL, NULL, NULL, NULL), 60000), 0);
}

/* The whole file, NUL-terminated (freed after the test); *len its size. */
static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ASSERT_MSG(f != NULL, "%s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    ASSERT(buf != NULL);
    for (size_t got; (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += got;
        if (cap - n - 1 == 0) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) free(buf);
            ASSERT(grown != NULL);
            buf = grown;
            cap *= 2;
        }
    }
    fclose(f);
    char *out = t_alloc(n + 1);
    memcpy(out, buf, n);
    free(buf);
    if (len) *len = n;
    return out;
}

static void write_pattern_file(const char *path, size_t len, uint32_t seed) {
    FILE *f = fopen(path, "wb");
    ASSERT_MSG(f != NULL, "%s: %s", path, strerror(errno));
    uint8_t chunk[65536];
    for (size_t off = 0; off < len; off += sizeof chunk) {
        size_t n = len - off < sizeof chunk ? len - off : sizeof chunk;
        fill_pattern(chunk, n, seed, off);
        ASSERT(fwrite(chunk, 1, n, f) == n);
    }
    ASSERT(fclose(f) == 0);
}

/* Case-insensitive strstr. */
static int contains_nocase(const char *text, const char *word) {
    size_t n = strlen(word);
    for (; *text; text++) {
        size_t i = 0;
        while (i < n && tolower((unsigned char)text[i]) == tolower((unsigned char)word[i])) i++;
        if (i == n) return 1;
    }
    return 0;
}

/* ------------------------------------------------------------- configs */

static nc_tls_server_config *server_config_for(const char *cert, int client_auth, const char *const *alpn,
                                               size_t alpn_count, int min_version) {
    char cert_name[64], key_name[64];
    snprintf(cert_name, sizeof cert_name, "%s.pem", cert);
    snprintf(key_name, sizeof key_name, "%s.key", cert);
    struct nc_tls_server_opts o = NC_TLS_SERVER_OPTS_INIT;
    o.cert.file = path_of(cert_name);
    o.key.file = path_of(key_name);
    o.alpn = alpn;
    o.alpn_count = alpn_count;
    o.min_version = min_version;
    o.client_auth = client_auth;
    if (client_auth != NC_TLS_CLIENT_AUTH_NONE) o.client_ca.file = path_of("ca.pem");
    nc_tls_server_config *cfg = NULL;
    ASSERT_OK(nc_tls_server_config_new(&o, &cfg));
    ASSERT(cfg != NULL);
    return cfg;
}

/* A client config trusting the test CA alone, with the client certificate
 * when `with_cert`. */
static nc_tls_client_config *client_config_for(int with_cert, const char *const *alpn, size_t alpn_count) {
    struct nc_tls_client_opts o = NC_TLS_CLIENT_OPTS_INIT;
    o.system_roots = 0;
    o.ca.file = path_of("ca.pem");
    if (with_cert) {
        o.cert.file = path_of("client.pem");
        o.key.file = path_of("client.key");
    }
    o.alpn = alpn;
    o.alpn_count = alpn_count;
    nc_tls_client_config *cfg = NULL;
    ASSERT_OK(nc_tls_client_config_new(&o, &cfg));
    ASSERT(cfg != NULL);
    return cfg;
}

/* Configs are freed by the test that made them right after use: a
 * listener or connection keeps its own reference (which this proves). */

#define EXPECT_DETAIL(prefix)                                                                      \
    ASSERT_MSG(strncmp(nc_last_error_detail(), prefix, strlen(prefix)) == 0, "detail \"%s\", expected \"%s...\"", \
               nc_last_error_detail(), prefix)

void test_tls_configs_are_checked_and_a_refused_one_changes_nothing(void) {
    ASSERT_EQ(nc_tls_supported(), 1);
    certs();
    nc_tls_server_config *s = (nc_tls_server_config *)&s; /* a sentinel: must stay */
    nc_tls_server_config *const sentinel = s;
    ASSERT_RC(nc_tls_server_config_new(NULL, &s), NC_EINVAL);
    EXPECT_DETAIL("opts:");
    struct nc_tls_server_opts o = NC_TLS_SERVER_OPTS_INIT;
    ASSERT_RC(nc_tls_server_config_new(&o, &s), NC_EINVAL);
    EXPECT_DETAIL("opts.cert:");
    o.cert.file = path_of("server.pem");
    o.key.file = path_of("client.key");
    ASSERT_RC(nc_tls_server_config_new(&o, &s), NC_EINVAL);
    ASSERT_MSG(strcmp(nc_last_error_detail(),
                      "key: expected the private key of the certificate (this key does not match it)") == 0,
               "detail \"%s\"", nc_last_error_detail());
    o.key.file = path_of("no-such.key");
    ASSERT_RC(nc_tls_server_config_new(&o, &s), -ENOENT);
    o.key.file = path_of("server.key");
    o.key.data = "x";
    o.key.len = 1;
    ASSERT_RC(nc_tls_server_config_new(&o, &s), NC_EINVAL);
    EXPECT_DETAIL("opts.key:");
    o.key.data = NULL;
    o.key.len = 0;
    o.min_version = 11;
    ASSERT_RC(nc_tls_server_config_new(&o, &s), NC_EINVAL);
    EXPECT_DETAIL("min_version:");
    o.min_version = NC_TLS1_3;
    o.client_auth = 3;
    ASSERT_RC(nc_tls_server_config_new(&o, &s), NC_EINVAL);
    EXPECT_DETAIL("client_auth:");
    o.client_auth = NC_TLS_CLIENT_AUTH_REQUIRED;
    ASSERT_RC(nc_tls_server_config_new(&o, &s), NC_EINVAL);
    EXPECT_DETAIL("client_ca:");
    const char *many[65];
    for (int i = 0; i < 65; i++) many[i] = "h2";
    o.client_auth = NC_TLS_CLIENT_AUTH_NONE;
    o.alpn = many;
    o.alpn_count = 65;
    ASSERT_RC(nc_tls_server_config_new(&o, &s), NC_EINVAL);
    EXPECT_DETAIL("opts.alpn_count:");
    const char *empty[] = {"h2", ""};
    o.alpn = empty;
    o.alpn_count = 2;
    ASSERT_RC(nc_tls_server_config_new(&o, &s), NC_EINVAL);
    EXPECT_DETAIL("alpn:");
    o.alpn_count = 1;
    o.size = sizeof o - 1;
    ASSERT_RC(nc_tls_server_config_new(&o, &s), NC_EINVAL);
    EXPECT_DETAIL("opts.size:");
    o.size = sizeof o;
    ASSERT_RC(nc_tls_server_config_new(&o, NULL), NC_EINVAL);
    ASSERT(s == sentinel);
    /* PEM in memory works as well as files. */
    size_t cert_len, key_len;
    o.cert.file = o.key.file = NULL;
    o.cert.data = read_file(path_of("server.pem"), &cert_len);
    o.cert.len = cert_len;
    o.key.data = read_file(path_of("server.key"), &key_len);
    o.key.len = key_len;
    ASSERT_OK(nc_tls_server_config_new(&o, &s));
    ASSERT(s != sentinel && s != NULL);
    nc_tls_server_config_free(s);
    nc_tls_server_config_free(NULL);

    nc_tls_client_config *c = (nc_tls_client_config *)&c;
    nc_tls_client_config *const csentinel = c;
    struct nc_tls_client_opts co = NC_TLS_CLIENT_OPTS_INIT;
    ASSERT_EQ(co.system_roots, 1);
    co.system_roots = 0;
    ASSERT_RC(nc_tls_client_config_new(&co, &c), NC_EINVAL);
    EXPECT_DETAIL("ca:");
    co.system_roots = 2;
    ASSERT_RC(nc_tls_client_config_new(&co, &c), NC_EINVAL);
    EXPECT_DETAIL("opts.system_roots:");
    co.system_roots = 0;
    co.ca.file = path_of("ca.pem");
    co.cert.file = path_of("client.pem");
    ASSERT_RC(nc_tls_client_config_new(&co, &c), NC_EINVAL);
    EXPECT_DETAIL("key:");
    ASSERT(c == csentinel);
    co.key.file = path_of("client.key");
    ASSERT_OK(nc_tls_client_config_new(&co, &c));
    ASSERT(c != csentinel && c != NULL);
    nc_tls_client_config_free(c);
    nc_tls_client_config_free(NULL);
}

/* ------------------------------------------------- netcore and netcore */

/* A TLS listener on 127.0.0.1 whose accepted connections get `child`'s
 * behaviour; the config is freed at once (the listener keeps it). */
static peer *tls_listener(nc_loop *loop, nc_tls_server_config *cfg, int *port, peer *child) {
    peer *l = listener_peer(loop, "127.0.0.1", port, child);
    ASSERT_OK(nc_listener_set_tls(loop, l->h, cfg));
    nc_tls_server_config_free(cfg);
    return l;
}

/* A client connecting to localhost:port with `opts` (NULL: none) that
 * starts TLS at once. */
static peer *tls_client_ex(nc_loop *loop, int port, const nc_connect_opts *opts, nc_tls_client_config *cfg,
                           const char *name) {
    peer *c = peer_new("client");
    c->h = ASSERT_HANDLE(nc_tcp_connect_ex(loop, "localhost", port, opts, c));
    ASSERT_OK(nc_start_tls_client(loop, c->h, cfg, name));
    nc_tls_client_config_free(cfg);
    return c;
}

static peer *tls_client(nc_loop *loop, int port, nc_tls_client_config *cfg, const char *name) {
    return tls_client_ex(loop, port, NULL, cfg, name);
}

void test_tls_netcore_echo_with_alpn_info_and_peer_certificate(void) {
    certs();
    nc_loop *loop = t_loop();
    const char *server_alpn[] = {"x-other", "echo/1"}, *client_alpn[] = {"echo/1"};
    peer *child = peer_new("server");
    child->echo = 1;
    child->close_on_eof = 1;
    int port;
    peer *l = tls_listener(loop, server_config_for("server", NC_TLS_CLIENT_AUTH_NONE, server_alpn, 2, 0), &port,
                           child);
    peer *c = tls_client(loop, port, client_config_for(0, client_alpn, 1), "localhost");
    struct nc_tls_session_info info = NC_TLS_SESSION_INFO_INIT;
    ASSERT_RC(nc_tls_info(loop, c->h, &info), 0); /* not yet */
    ASSERT_EQ(info.version, 0);
    /* Sent before the handshake (even before the connection): it waits. */
    size_t n = 256 * 1024;
    uint8_t *msg = t_alloc(n);
    fill_pattern(msg, n, 7, 0);
    ASSERT_OK(nc_send(loop, c->h, msg, n));
    c->verify = 1;
    c->seed = 7;
    ASSERT(wait_rx(loop, c, n, 30000));
    ASSERT_EQ(c->bad_at, -1);
    ASSERT_EQ(c->ev[NC_EV_TLS_READY], 1);
    peer *s = wait_kid(loop, l, 0);
    ASSERT_EQ(s->ev[NC_EV_TLS_READY], 1);
    ASSERT_EQ(s->kinds_log[0], NC_EV_ACCEPTED);
    ASSERT_EQ(s->kinds_log[1], NC_EV_TLS_READY);

    ASSERT_RC(nc_tls_info(loop, c->h, &info), 1);
    ASSERT_EQ(info.version, NC_TLS1_3);
    ASSERT_MSG(strcmp(info.protocol, "TLSv1.3") == 0, "protocol %s", info.protocol);
    ASSERT_MSG(strncmp(info.cipher, "TLS13_", 6) == 0, "cipher %s", info.cipher);
    ASSERT_EQ(info.alpn_len, 6);
    ASSERT(strcmp(info.alpn, "echo/1") == 0);
    ASSERT_EQ(info.resumed, 0);
    ASSERT_EQ(info.peer_verified, 1);
    struct nc_tls_session_info sinfo = NC_TLS_SESSION_INFO_INIT;
    ASSERT_RC(nc_tls_info(loop, s->h, &sinfo), 1);
    ASSERT(strcmp(sinfo.cipher, info.cipher) == 0 && strcmp(sinfo.alpn, "echo/1") == 0);
    ASSERT_EQ(sinfo.peer_verified, 0);
    sinfo.size = 8;
    ASSERT_RC(nc_tls_info(loop, s->h, &sinfo), NC_EINVAL);
    EXPECT_DETAIL("info.size:");

    /* The server's certificate, in DER, as openssl converts it. */
    size_t len = 0, der_len;
    const char *der = read_file(path_of("server.der"), &der_len);
    ASSERT_RC(nc_tls_peer_certificate(loop, c->h, 0, NULL, 0, &len), NC_ENOBUFS);
    ASSERT_EQ(len, der_len);
    uint8_t *buf = t_alloc(len);
    size_t got = 0;
    ASSERT_RC(nc_tls_peer_certificate(loop, c->h, 0, buf, len, &got), 1); /* one certificate */
    ASSERT_EQ(got, der_len);
    ASSERT(memcmp(buf, der, der_len) == 0);
    ASSERT_RC(nc_tls_peer_certificate(loop, c->h, 1, buf, len, &got), NC_EINVAL);
    EXPECT_DETAIL("index:");
    ASSERT_RC(nc_tls_peer_certificate(loop, s->h, 0, buf, len, &got), 0); /* the client sent none */

    int error = 0, alert = 0;
    char reason[8];
    ASSERT_RC(nc_tls_failure(loop, c->h, &error, &alert, reason, sizeof reason), 0);
    ASSERT_RC(nc_tls_failure(loop, c->h, &error, &alert, NULL, 1), NC_EINVAL);

    /* A graceful close: close_notify, then FIN; the server sees a clean EOF. */
    ASSERT_OK(nc_close(loop, c->h));
    POLL_ASSERT(loop, p_closed, s, 10000);
    POLL_ASSERT(loop, p_closed, c, 10000);
    ASSERT_EQ(s->ev[NC_EV_EOF], 1);
    ASSERT_CODE(s->close_error, 0);
    ASSERT_CODE(c->close_error, 0);
    ASSERT_EQ(s->rx_total, n);
}

void test_tls_functions_refuse_bad_arguments_and_plaintext_handles(void) {
    certs();
    nc_loop *loop = t_loop();
    int port;
    peer *l = listener_peer(loop, "127.0.0.1", &port, peer_new("server"));
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    nc_tls_client_config *cfg = client_config_for(0, NULL, 0);
    struct nc_tls_session_info info = NC_TLS_SESSION_INFO_INIT;
    size_t len = 0;
    int error, alert;
    ASSERT_RC(nc_tls_info(loop, c->h, &info), 0); /* plaintext: nothing to say */
    ASSERT_RC(nc_tls_peer_certificate(loop, c->h, 0, NULL, 0, &len), 0);
    ASSERT_RC(nc_tls_failure(loop, c->h, &error, &alert, NULL, 0), 0);
    ASSERT_RC(nc_tls_info(loop, c->h, NULL), NC_EINVAL);
    ASSERT_RC(nc_tls_info(NULL, c->h, &info), NC_EINVAL);
    ASSERT_RC(nc_tls_info(loop, l->h, &info), NC_EWRONGKIND);
    ASSERT_RC(nc_start_tls_client(loop, c->h, NULL, "localhost"), NC_EINVAL);
    ASSERT_RC(nc_start_tls_client(loop, c->h, cfg, NULL), NC_EINVAL);
    ASSERT_RC(nc_start_tls_client(loop, c->h, cfg, "not a name!"), NC_EINVAL);
    ASSERT_RC(nc_start_tls_client(loop, l->h, cfg, "localhost"), NC_EWRONGKIND);
    ASSERT_RC(nc_start_tls_server(loop, c->h, NULL), NC_EINVAL);
    ASSERT_RC(nc_listener_set_tls(loop, c->h, NULL), NC_EWRONGKIND);
    ASSERT_RC(nc_listener_set_tls(NULL, l->h, NULL), NC_EINVAL);
    ASSERT_OK(nc_listener_set_tls(loop, l->h, NULL)); /* plaintext again: nothing to clear */
    ASSERT_RC(nc_tls_failure(loop, c->h, NULL, &alert, NULL, 0), NC_EINVAL);
    ASSERT_RC(nc_tls_peer_certificate(loop, c->h, 0, NULL, 0, NULL), NC_EINVAL);
    /* STARTTLS twice: the second is refused, the first goes on. */
    ASSERT_OK(nc_start_tls_client(loop, c->h, cfg, "localhost"));
    ASSERT_RC(nc_start_tls_client(loop, c->h, cfg, "localhost"), NC_EINVAL);
    nc_tls_client_config_free(cfg);
    ASSERT_OK(nc_close_reset(loop, c->h));
    POLL_ASSERT(loop, p_closed, c, 5000);
    ASSERT_RC(nc_tls_info(loop, c->h, &info), NC_ECLOSED);
    poll_now(loop);
    ASSERT_RC(nc_tls_info(loop, c->h, &info), NC_EBADHANDLE);
    ASSERT_RC(nc_tls_failure(loop, c->h, &error, &alert, NULL, 0), NC_EBADHANDLE);
}

/* What an echo server's connections do: echo, and close at EOF. */
static peer *echoing_child(void) {
    peer *child = peer_new("server");
    child->echo = 1;
    child->close_on_eof = 1;
    return child;
}

/* A TLS echo server on 127.0.0.1 and its port. */
static peer *tls_echo_server(nc_loop *loop, int *port) {
    return tls_listener(loop, server_config_for("server", NC_TLS_CLIENT_AUTH_NONE, NULL, 0, 0), port,
                        echoing_child());
}

/* A TLS listener whose connections behave as `child`, a client of it in
 * *client and the server's end in *server, both past their handshake;
 * returns the listener. */
static peer *tls_pair(nc_loop *loop, peer *child, peer **client, peer **server) {
    int port;
    peer *l = tls_listener(loop, server_config_for("server", NC_TLS_CLIENT_AUTH_NONE, NULL, 0, 0), &port, child);
    *client = tls_client(loop, port, client_config_for(0, NULL, 0), "localhost");
    WAIT_KIND(loop, *client, NC_EV_TLS_READY, 1, 10000);
    *server = wait_kid(loop, l, 0);
    WAIT_KIND(loop, *server, NC_EV_TLS_READY, 1, 10000);
    return l;
}

/* tls_pair whose server end keeps what it receives (rx). */
static void tls_pair_storing(nc_loop *loop, peer **client, peer **server) {
    peer *child = peer_new("server");
    child->store = 1;
    tls_pair(loop, child, client, server);
}

/* Polls until the client and the server's end have both closed (10 s
 * each), and checks the errors of their NC_EV_CLOSED. */
static void expect_both_closed(nc_loop *loop, peer *c, int client_error, peer *s, int server_error) {
    POLL_ASSERT(loop, p_closed, c, 10000);
    POLL_ASSERT(loop, p_closed, s, 10000);
    ASSERT_CODE(c->close_error, client_error);
    ASSERT_CODE(s->close_error, server_error);
}

/* Sends `n` pattern bytes (`seed`) as one message from a TLS client to
 * `port`, checks every byte of the echo, then closes the client gracefully
 * and expects a clean close on both sides. */
static void tls_echo_checked(nc_loop *loop, peer *l, size_t kid, int port, size_t n, uint32_t seed) {
    peer *c = tls_client(loop, port, client_config_for(0, NULL, 0), "localhost");
    c->verify = 1;
    c->seed = seed;
    uint8_t *msg = t_alloc(n);
    fill_pattern(msg, n, seed, 0);
    /* One message, into an empty queue: taken whole even above the high-water mark. */
    ASSERT_OK(nc_send(loop, c->h, msg, n));
    t_free(msg);
    ASSERT_MSG(wait_rx(loop, c, n, 30000), "%zu of %zu bytes echoed", c->rx_total, n);
    ASSERT_MSG(c->bad_at == -1, "wrong byte at %lld of %zu", c->bad_at, n);
    ASSERT_OK(nc_close(loop, c->h));
    POLL_ASSERT(loop, p_closed, c, 10000);
    peer *s = wait_kid(loop, l, kid);
    POLL_ASSERT(loop, p_closed, s, 10000);
    ASSERT_EQ(c->rx_total, n);
    ASSERT_EQ(s->rx_total, n);
    ASSERT_EQ(c->ev[NC_EV_TLS_READY], 1);
    ASSERT_EQ(s->ev[NC_EV_TLS_READY], 1);
    ASSERT_EQ(s->send_errors, 0);
    ASSERT_CODE(c->close_error, 0);
    ASSERT_CODE(s->close_error, 0);
}

/* Record edges (a TLS record holds at most 16384 plaintext bytes) and a
 * message as large as the default high-water mark (256 KiB when the suite
 * runs slower: sanitizers, valgrind), netcore client to netcore server. */
void test_tls_every_byte_arrives_at_record_edges_and_at_the_high_water_mark(void) {
    certs();
    nc_loop *loop = t_loop();
    int port;
    peer *l = tls_echo_server(loop, &port);
    const size_t sizes[] = {1, 16383, 16384, 16385, t_slow > 1 ? (size_t)256 << 10 : (size_t)1 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        tls_echo_checked(loop, l, i, port, sizes[i], (uint32_t)(20 + i));
}

/* A TCP relay on loopback, run by a thread: it forwards each byte in a
 * send of its own (TCP_NODELAY), both ways, and passes each side's FIN on
 * once everything before it went through. On the test's word it corrupts
 * or cuts what the client sends. It logs the records the server sends. */
typedef struct {
    int fd[2];           /* the client's side and the server's side, non-blocking */
    atomic_int stop;     /* set by the test: give up now */
    atomic_int flip;     /* set by the test: flip a bit of the last byte of the client's next read */
    atomic_int cut;      /* set by the test: send the server a FIN, forward nothing more from the client */
    size_t moved[2];     /* bytes forwarded from fd[i] to fd[1 - i] */
    int failed;          /* an unexpected socket error (errno) */
    /* The TLS records the server sent, logged as each header goes through
     * (read them up to nrecords while the relay runs). */
    struct {
        uint8_t type;
        uint16_t len;
    } records[64];
    atomic_size_t nrecords;
    int records_overflow;
    uint8_t header[5];   /* the record header being read */
    size_t header_have;
    size_t body_left;    /* bytes of the current record's body still to come */
} byte_relay;

/* Follows the record headers in what the server sent, byte by byte. */
static void log_server_byte(byte_relay *r, uint8_t byte) {
    if (r->body_left > 0) {
        r->body_left--;
        return;
    }
    r->header[r->header_have++] = byte;
    if (r->header_have < sizeof r->header) return;
    r->header_have = 0;
    r->body_left = (size_t)r->header[3] << 8 | r->header[4];
    size_t n = atomic_load(&r->nrecords);
    if (n == sizeof r->records / sizeof r->records[0]) {
        r->records_overflow = 1;
        return;
    }
    r->records[n].type = r->header[0];
    r->records[n].len = (uint16_t)r->body_left;
    atomic_store(&r->nrecords, n + 1);
}

static void *byte_relay_thread(void *arg) {
    byte_relay *r = arg;
    uint8_t buf[2][4096];
    size_t have[2] = {0, 0}, off[2] = {0, 0};
    int eof[2] = {0, 0}, fin_sent[2] = {0, 0};
    /* Bounded: a deadline, and a cap on rounds well above what 2 x 16 KiB
     * of TLS one byte at a time needs. */
    int64_t deadline = now_ms() + T_MS(60000);
    for (long round = 0; round < 10000000L && !atomic_load(&r->stop) && now_ms() < deadline; round++) {
        if (atomic_load(&r->cut) && !fin_sent[0]) {
            eof[0] = 1;
            off[0] = have[0];
            shutdown(r->fd[1], SHUT_WR);
            fin_sent[0] = 1;
        }
        if (fin_sent[0] && fin_sent[1]) break;
        struct pollfd pfd[2];
        for (int i = 0; i < 2; i++) {
            pfd[i].fd = r->fd[i];
            pfd[i].revents = 0;
            /* Read from i while its buffer is empty; write to i what the other side sent. */
            pfd[i].events =
                (short)((!eof[i] && have[i] == off[i] ? POLLIN : 0) | (have[1 - i] > off[1 - i] ? POLLOUT : 0));
        }
        if (poll(pfd, 2, 20) < 0 && errno != EINTR) {
            r->failed = errno;
            break;
        }
        for (int i = 0; i < 2; i++) {
            int o = 1 - i;
            if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR) && !eof[i] && have[i] == off[i]) {
                ssize_t n = recv(r->fd[i], buf[i], sizeof buf[i], 0);
                if (n > 0) {
                    /* The end of a record read whole: its authentication tag. */
                    if (i == 0 && atomic_exchange(&r->flip, 0)) buf[0][n - 1] ^= 0x01;
                    have[i] = (size_t)n;
                    off[i] = 0;
                } else if (n == 0) {
                    eof[i] = 1;
                } else if (errno != EAGAIN && errno != EINTR) {
                    r->failed = errno;
                    return NULL;
                }
            }
            while (have[i] > off[i]) {
                ssize_t n = send(r->fd[o], buf[i] + off[i], 1, MSG_NOSIGNAL); /* one byte per send */
                if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
                if (n != 1) {
                    r->failed = n < 0 ? errno : EIO;
                    return NULL;
                }
                if (i == 1) log_server_byte(r, buf[1][off[1]]);
                off[i]++;
                r->moved[i]++;
            }
            if (eof[i] && have[i] == off[i] && !fin_sent[i]) {
                shutdown(r->fd[o], SHUT_WR);
                fin_sent[i] = 1;
            }
        }
    }
    return NULL;
}

/* Accepts one connection on the non-blocking listener `arg` points to. */
typedef struct {
    int lfd, fd;
} accept_try;
static int accepted(void *arg) {
    accept_try *a = arg;
    if (a->fd < 0) a->fd = accept(a->lfd, NULL, NULL);
    return a->fd >= 0;
}

/* Accepts one connection on the POSIX listener `lfd`, polling `loop`
 * meanwhile; returns its descriptor (closed after the test). */
static int accept_polling(nc_loop *loop, int lfd) {
    ASSERT(set_nonblock(lfd, 1) == 0);
    accept_try a = {lfd, -1};
    POLL_ASSERT(loop, accepted, &a, 10000);
    return t_fd(a.fd);
}

/* A TLS client of the server at `port` whose connection ends at r->fd[0];
 * r->fd[1] is connected to the server (both TCP_NODELAY, blocking).
 * Nothing moves between them until the test starts the relay. */
static peer *tls_client_at_relay_sockets(nc_loop *loop, int port, byte_relay *r) {
    int relay_port;
    int lfd = posix_listen("127.0.0.1", &relay_port);
    peer *c = tls_client(loop, relay_port, client_config_for(0, NULL, 0), "localhost");
    r->fd[0] = accept_polling(loop, lfd);
    ASSERT(set_nonblock(r->fd[0], 0) == 0);
    r->fd[1] = posix_connect("127.0.0.1", port);
    int one = 1;
    for (int i = 0; i < 2; i++) ASSERT(setsockopt(r->fd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0);
    return c;
}

/* Starts the relay's thread (*th) on its two sockets. Until the test has
 * joined it, no fatal assertion: the thread uses `r`. */
static void start_relay(byte_relay *r, pthread_t *th) {
    for (int i = 0; i < 2; i++) ASSERT(set_nonblock(r->fd[i], 1) == 0);
    ASSERT(pthread_create(th, NULL, byte_relay_thread, r) == 0);
}

/* A TLS client of the server at `port` through the relay `r`, whose thread
 * (*th) runs when this returns (see start_relay). */
static peer *relayed_tls_client(nc_loop *loop, int port, byte_relay *r, pthread_t *th) {
    peer *c = tls_client_at_relay_sockets(loop, port, r);
    start_relay(r, th);
    return c;
}

/* Two records each way (16 KiB + 1), every TLS byte in a TCP segment of
 * its own: records reassembled from 1-byte reads on both sides, then a
 * graceful close (close_notify, FIN) through the relay. */
void test_tls_every_byte_arrives_through_a_relay_forwarding_one_byte_at_a_time(void) {
    certs();
    nc_loop *loop = t_loop();
    int port;
    peer *l = tls_echo_server(loop, &port);
    enum { N = 16 * 1024 + 1 };
    static uint8_t msg[N];
    fill_pattern(msg, N, 31, 0);
    byte_relay r = {.fd = {-1, -1}};
    pthread_t th;
    peer *c = relayed_tls_client(loop, port, &r, &th);
    /* No fatal assertion until the relay is joined: it uses `r`. */
    c->verify = 1;
    c->seed = 31;
    int sent = nc_send(loop, c->h, msg, N);
    int echoed = sent == 0 && wait_rx(loop, c, N, 60000);
    int closed = 0;
    if (echoed && nc_close(loop, c->h) == 0) closed = poll_until(loop, p_closed, c, 20000);
    atomic_store(&r.stop, 1);
    pthread_join(th, NULL);
    ASSERT_OK(sent);
    ASSERT_MSG(r.failed == 0, "relay: %s", strerror(r.failed));
    ASSERT_MSG(echoed, "%zu of %d bytes echoed; the relay moved %zu and %zu", c->rx_total, N, r.moved[0],
               r.moved[1]);
    ASSERT_MSG(closed, "the client did not close");
    ASSERT_EQ(c->rx_total, N);
    ASSERT_MSG(c->bad_at == -1, "wrong byte at %lld", c->bad_at);
    ASSERT_CODE(c->close_error, 0);
    peer *s = wait_kid(loop, l, 0);
    POLL_ASSERT(loop, p_closed, s, 10000);
    ASSERT_EQ(s->rx_total, N);
    ASSERT_CODE(s->close_error, 0);
    /* Everything, handshake and records, went through the relay. */
    ASSERT_MSG(r.moved[0] > N && r.moved[1] > N, "the relay moved %zu and %zu bytes", r.moved[0],
               r.moved[1]);
}

/* Whether the listener `arg` has a connection past its handshake. */
static int first_kid_tls_ready(void *arg) {
    peer *l = arg;
    return l->nkids > 0 && l->kids[0]->ev[NC_EV_TLS_READY] > 0;
}

/* A gather send of 100 + 1,000 + 5,000 B goes in one TLS 1.3 record
 * (6,100 B + 17: the inner content type and the tag), as the relay sees
 * it on the wire; 3 x 10,000 B go in full records of 16 KiB. */
void test_tls_a_gather_send_goes_in_one_record_where_it_fits(void) {
    certs();
    enum { APPLICATION_DATA = 23, OVERHEAD = 1 + 16 };
    nc_loop *loop = t_loop();
    int port;
    peer *l = tls_listener(loop, server_config_for("server", NC_TLS_CLIENT_AUTH_NONE, NULL, 0, 0), &port,
                           peer_new("server"));
    static uint8_t a[100], b[1000], c5[5000], part[10000];
    memset(a, 'a', sizeof a);
    memset(b, 'b', sizeof b);
    memset(c5, 'c', sizeof c5);
    memset(part, 'd', sizeof part);
    const nc_buf gather[] = {{a, sizeof a}, {b, sizeof b}, {c5, sizeof c5}};
    const nc_buf parts[] = {{part, sizeof part}, {part, sizeof part}, {part, sizeof part}};
    byte_relay r = {.fd = {-1, -1}};
    pthread_t th;
    peer *c = relayed_tls_client(loop, port, &r, &th);
    /* No fatal assertion until the relay is joined: it uses `r`. */
    size_t before = 0, after_gather = 0, after_parts = 0;
    int ok = poll_until(loop, first_kid_tls_ready, l, 10000);
    peer *s = ok ? l->kids[0] : NULL;
    /* What the server sends after its handshake (session tickets) goes first. */
    ok = ok && nc_send(loop, s->h, "ping", 4) == 0 && wait_rx(loop, c, 4, 10000);
    before = atomic_load(&r.nrecords);
    ok = ok && nc_sendv(loop, s->h, gather, 3) == 0 && wait_rx(loop, c, 4 + 6100, 20000);
    after_gather = atomic_load(&r.nrecords);
    ok = ok && nc_sendv(loop, s->h, parts, 3) == 0 && wait_rx(loop, c, 4 + 6100 + 30000, 20000);
    after_parts = atomic_load(&r.nrecords);
    atomic_store(&r.stop, 1);
    pthread_join(th, NULL);
    ASSERT_MSG(r.failed == 0, "relay: %s", strerror(r.failed));
    ASSERT_MSG(ok, "the client got %zu bytes; the relay moved %zu and %zu", c->rx_total, r.moved[0], r.moved[1]);
    ASSERT_EQ(c->rx_total, 4 + 6100 + 30000);
    ASSERT(!r.records_overflow);
    ASSERT_EQ(after_gather - before, 1); /* three buffers, one record */
    ASSERT_EQ(r.records[before].type, APPLICATION_DATA);
    ASSERT_EQ(r.records[before].len, 6100 + OVERHEAD);
    ASSERT_EQ(after_parts - after_gather, 2); /* full records */
    ASSERT_EQ(r.records[after_gather].len, 16384 + OVERHEAD);
    ASSERT_EQ(r.records[after_gather + 1].len, 13616 + OVERHEAD);
}

/* The water marks and nc_queued_bytes count bytes on the wire: each
 * 1,000 B message queued before the handshake ends is a TLS 1.3 record of
 * 1,022 B (5 B header, 1 B content type, 16 B tag), so a high-water mark
 * one byte short of three records refuses the third message (counting
 * plaintext would admit it), and one at three records admits it. */
void test_tls_water_marks_and_queued_bytes_count_the_records_on_the_wire(void) {
    certs();
    enum { WIRE = 1000 + 22 };
    nc_loop *loop = t_loop();
    int port;
    tls_echo_server(loop, &port);
    peer *c = tls_client(loop, port, client_config_for(0, NULL, 0), "localhost");
    c->store = 1;
    static uint8_t msg[3][1000];
    for (int i = 0; i < 3; i++) memset(msg[i], 'a' + i, sizeof msg[i]);
    size_t queued = 0;
    ASSERT_OK(nc_setopt(loop, c->h, NC_OPT_LOW_WATER, 0));
    ASSERT_OK(nc_setopt(loop, c->h, NC_OPT_HIGH_WATER, 3 * WIRE - 1));
    ASSERT_OK(nc_send(loop, c->h, msg[0], sizeof msg[0]));
    ASSERT_OK(nc_send(loop, c->h, msg[1], sizeof msg[1]));
    ASSERT_OK(nc_queued_bytes(loop, c->h, &queued));
    ASSERT_EQ(queued, 2 * WIRE);
    ASSERT_RC(nc_send(loop, c->h, msg[2], sizeof msg[2]), NC_EAGAIN);
    ASSERT_OK(nc_setopt(loop, c->h, NC_OPT_HIGH_WATER, 3 * WIRE));
    ASSERT_OK(nc_send(loop, c->h, msg[2], sizeof msg[2]));
    ASSERT_OK(nc_queued_bytes(loop, c->h, &queued));
    ASSERT_EQ(queued, 3 * WIRE);
    ASSERT(wait_rx(loop, c, sizeof msg, 10000));
    ASSERT_EQ(c->rx_len, sizeof msg);
    ASSERT(memcmp(c->rx, msg, sizeof msg) == 0);
    ASSERT_OK(nc_queued_bytes(loop, c->h, &queued));
    ASSERT_EQ(queued, 0);
}

/* The tokens of NC_EV_SENT, in order of arrival. */
enum { MAX_CHUNKS = 4096 };
typedef struct {
    uint64_t token[MAX_CHUNKS];
    size_t n;
    int overflow;
} tokens_seen;

static void token_hook(peer *p, nc_loop *loop, const nc_event *ev) {
    (void)loop;
    tokens_seen *t = p->arg;
    if (ev->kind != NC_EV_SENT) return;
    if (t->n < MAX_CHUNKS) t->token[t->n++] = ev->value;
    else t->overflow = 1;
}

enum { CHUNK = 16 * 1024 };

/* Sends chunk `i`: stream offset i * CHUNK of pattern 41, token i. */
static int send_chunk(nc_loop *loop, peer *c, size_t i) {
    static uint8_t chunk[CHUNK];
    fill_pattern(chunk, CHUNK, 41, i * CHUNK);
    nc_buf b = {chunk, CHUNK};
    return nc_sendv_token(loop, c->h, &b, 1, i);
}

/* With the server paused, the client's queue fills to its high-water mark
 * (counted in bytes on the wire) and a send is refused whole (NC_EAGAIN);
 * after the resume NC_EV_WRITABLE comes, the refused chunk goes, the tokens
 * arrive in send order, and every byte comes back intact and in order. */
void test_tls_backpressure_tokens_and_pause_resume(void) {
    certs();
    nc_loop *loop = t_loop();
    peer *c, *s;
    tls_pair(loop, echoing_child(), &c, &s);
    tokens_seen *seen = t_alloc(sizeof *seen);
    c->verify = 1;
    c->seed = 41;
    c->hook = token_hook;
    c->arg = seen;
    ASSERT_OK(nc_pause(loop, s->h));
    /* A small kernel send buffer, so that the queue, not the kernel, holds the bytes. */
    ASSERT_OK(nc_setopt(loop, c->h, NC_OPT_SNDBUF, 4096));
    ASSERT_OK(nc_setopt(loop, c->h, NC_OPT_LOW_WATER, 16 * 1024));
    ASSERT_OK(nc_setopt(loop, c->h, NC_OPT_HIGH_WATER, 64 * 1024));
    /* Fill until a refusal outlasts a poll: the kernel may take part of the
     * queue first (then NC_EV_WRITABLE comes while paused: fill again). */
    size_t next = 0;
    int settled = 0, writable = 0;
    for (int round = 0; round < 64 && !settled; round++) {
        int rc = 0;
        while (next < MAX_CHUNKS - 1 && (rc = send_chunk(loop, c, next)) == 0) next++;
        ASSERT_RC(rc, NC_EAGAIN);
        writable = c->ev[NC_EV_WRITABLE];
        poll_for(loop, 50);
        settled = c->ev[NC_EV_WRITABLE] == writable;
    }
    ASSERT_MSG(settled, "the queue kept draining into the kernel while the server was paused");
    /* Refused only when the chunk would take the queue past the mark. */
    ASSERT_MSG((next + 1) * CHUNK > 64 * 1024, "refused after %zu bytes", next * CHUNK);
    ASSERT_EQ(s->rx_total, 0); /* paused: nothing read */
    ASSERT_EQ(c->rx_total, 0);
    ASSERT_OK(nc_resume(loop, s->h)); /* the server echoes what it held */
    WAIT_KIND(loop, c, NC_EV_WRITABLE, writable + 1, 30000);
    /* The refused chunk goes now, with its token. */
    ASSERT_OK(send_chunk(loop, c, next));
    size_t chunks = next + 1, total = chunks * CHUNK;
    ASSERT_MSG(wait_rx(loop, c, total, 60000), "%zu of %zu bytes echoed", c->rx_total, total);
    WAIT_KIND(loop, c, NC_EV_SENT, (int)chunks, 30000);
    ASSERT_MSG(c->bad_at == -1, "wrong byte at %lld", c->bad_at);
    ASSERT_EQ(c->rx_total, total);
    ASSERT_EQ(seen->overflow, 0);
    ASSERT_EQ(seen->n, chunks);
    for (size_t i = 0; i < seen->n; i++)
        ASSERT_MSG(seen->token[i] == i, "token %llu came %zu-th", (unsigned long long)seen->token[i], i);
    ASSERT_EQ(s->send_errors, 0);
}

/* ---------------------------------------------------------- failures */

typedef struct {
    const char *server_cert; /* make-certs.sh name */
    int client_auth;         /* of the server */
    int client_error;        /* the client's NC_EV_TLS_FAILED error; 0: it gets ready, then closes with */
    int client_closed;       /* ... this NC_EV_CLOSED error */
    int client_alert;        /* the alert in the client's failure record (-1: none) */
    int server_error;        /* the server's NC_EV_TLS_FAILED error */
    int server_alert;        /* the alert in its failure record (-1: none) */
    const char *server_alpn; /* the one ALPN protocol each side has (NULL: none) */
    const char *client_alpn;
} failure_case;

/* The error of a peer's NC_EV_TLS_FAILED, and what nc_tls_failure said
 * while its NC_EV_CLOSED was handled (the record goes with the handle at
 * the next poll). */
typedef struct {
    int failed_error;
    int rc, error, alert;
    char reason[256];
} failure_seen;

static void failure_hook(peer *p, nc_loop *loop, const nc_event *ev) {
    failure_seen *f = p->arg;
    if (ev->kind == NC_EV_TLS_FAILED) f->failed_error = ev->error;
    if (ev->kind != NC_EV_CLOSED) return;
    memset(f->reason, 'x', sizeof f->reason);
    f->rc = nc_tls_failure(loop, ev->handle, &f->error, &f->alert, f->reason, sizeof f->reason);
}

static void expect_failure_record(const peer *p, const failure_seen *f, int want_error, int want_alert) {
    ASSERT_MSG(f->rc == 1, "%s: nc_tls_failure returned %s", p->name, t_code(f->rc));
    ASSERT_MSG(f->error == want_error, "%s: error %s, expected %s (%s)", p->name, t_code(f->error),
               t_code(want_error), f->reason);
    ASSERT_MSG(f->alert == want_alert, "%s: alert %d, expected %d (%s)", p->name, f->alert, want_alert, f->reason);
    ASSERT_MSG(memchr(f->reason, 0, sizeof f->reason) != NULL && f->reason[0] != 0, "%s: a reason", p->name);
}

/* A TLS listener whose connections record their failure in *seen. */
static peer *recording_listener(nc_loop *loop, nc_tls_server_config *cfg, failure_seen *seen, int *port) {
    peer *child = peer_new("server");
    child->hook = failure_hook;
    child->arg = seen;
    return tls_listener(loop, cfg, port, child);
}

/* `p`, whose hook is failure_hook, closes (within 10 s) after its
 * handshake failed: its one NC_EV_TLS_FAILED and its NC_EV_CLOSED carry
 * `error`. */
static void expect_handshake_failed(nc_loop *loop, peer *p, const failure_seen *seen, int error) {
    POLL_ASSERT(loop, p_closed, p, 10000);
    ASSERT_EQ(p->ev[NC_EV_TLS_FAILED], 1);
    ASSERT_EQ(p->ev[NC_EV_TLS_READY], 0);
    ASSERT_CODE(seen->failed_error, error);
    ASSERT_CODE(p->close_error, error);
    ASSERT_EQ(p->rx_total, 0);
}

/* A netcore client against a netcore server that fails as `fc` says. */
static void netcore_failure(const failure_case *fc) {
    certs();
    nc_loop *loop = t_loop();
    failure_seen client_seen, server_seen;
    const char *const *server_alpn = fc->server_alpn ? &fc->server_alpn : NULL;
    const char *const *client_alpn = fc->client_alpn ? &fc->client_alpn : NULL;
    int port;
    nc_tls_server_config *cfg =
        server_config_for(fc->server_cert, fc->client_auth, server_alpn, server_alpn != NULL, 0);
    peer *l = recording_listener(loop, cfg, &server_seen, &port);
    peer *c = tls_client(loop, port, client_config_for(0, client_alpn, client_alpn != NULL), "localhost");
    c->hook = failure_hook;
    c->arg = &client_seen;
    if (fc->client_error) {
        expect_handshake_failed(loop, c, &client_seen, fc->client_error);
    } else {
        POLL_ASSERT(loop, p_closed, c, 10000);
        ASSERT_EQ(c->ev[NC_EV_TLS_READY], 1);
        ASSERT_EQ(c->ev[NC_EV_TLS_FAILED], 0);
    }
    ASSERT_CODE(c->close_error, fc->client_closed);
    expect_failure_record(c, &client_seen, fc->client_closed, fc->client_alert);
    peer *s = wait_kid(loop, l, 0);
    expect_handshake_failed(loop, s, &server_seen, fc->server_error);
    expect_failure_record(s, &server_seen, fc->server_error, fc->server_alert);
    ASSERT_EQ(c->rx_total, 0);
    poll_now(loop); /* the poll after both NC_EV_CLOSED: the records went with the handles */
    int error, alert;
    ASSERT_RC(nc_tls_failure(loop, c->h, &error, &alert, NULL, 0), NC_EBADHANDLE);
    ASSERT_RC(nc_tls_failure(loop, s->h, &error, &alert, NULL, 0), NC_EBADHANDLE);
}

void test_tls_unknown_ca_is_etlsunknownca_and_alert_48_at_the_server(void) {
    failure_case fc = {"untrusted", NC_TLS_CLIENT_AUTH_NONE, NC_ETLSUNKNOWNCA, NC_ETLSUNKNOWNCA, -1, NC_ETLSALERT, 48,
                       NULL, NULL};
    netcore_failure(&fc);
}

void test_tls_wrong_name_is_etlsbadname_and_alert_42_at_the_server(void) {
    failure_case fc = {"wrongname", NC_TLS_CLIENT_AUTH_NONE, NC_ETLSBADNAME, NC_ETLSBADNAME, -1, NC_ETLSALERT, 42,
                       NULL, NULL};
    netcore_failure(&fc);
}

void test_tls_expired_is_etlsexpired_and_alert_45_at_the_server(void) {
    failure_case fc = {"expired", NC_TLS_CLIENT_AUTH_NONE, NC_ETLSEXPIRED, NC_ETLSEXPIRED, -1, NC_ETLSALERT, 45,
                       NULL, NULL};
    netcore_failure(&fc);
}

/* TLS 1.3: the client finishes its handshake before the server refuses
 * it, so it learns from the alert (116 certificate_required) that follows. */
void test_tls_missing_required_client_certificate_is_etlsbadcert_and_alert_116(void) {
    failure_case fc = {"server", NC_TLS_CLIENT_AUTH_REQUIRED, 0, NC_ETLSALERT, 116, NC_ETLSBADCERT, -1, NULL, NULL};
    netcore_failure(&fc);
}

/* The server has ALPN "h2" only, the client offers "echo/1" only: the
 * server refuses (alert 120 no_application_protocol). */
void test_tls_alpn_mismatch_is_etlsnoshared_and_alert_120_at_the_client(void) {
    failure_case fc = {"server", NC_TLS_CLIENT_AUTH_NONE, NC_ETLSALERT, NC_ETLSALERT, 120, NC_ETLSNOSHARED, -1,
                       "h2", "echo/1"};
    netcore_failure(&fc);
}

void test_tls_plaintext_to_a_tls_port_is_etlsnottls(void) {
    certs();
    nc_loop *loop = t_loop();
    failure_seen seen;
    int port;
    peer *l = recording_listener(loop, server_config_for("server", NC_TLS_CLIENT_AUTH_NONE, NULL, 0, 0), &seen, &port);
    int fd = posix_connect("127.0.0.1", port);
    const char *request = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    ASSERT_OK(send_all(fd, request, strlen(request)));
    peer *s = wait_kid(loop, l, 0);
    expect_handshake_failed(loop, s, &seen, NC_ETLSNOTTLS);
    expect_failure_record(s, &seen, NC_ETLSNOTTLS, -1);
}

/* A TLS client whose server greets in plaintext (as SMTP does) reads no
 * TLS record: NC_ETLSNOTTLS. */
void test_tls_to_a_plaintext_port_is_etlsnottls(void) {
    certs();
    nc_loop *loop = t_loop();
    failure_seen seen;
    int port;
    int lfd = posix_listen("127.0.0.1", &port);
    peer *c = tls_client(loop, port, client_config_for(0, NULL, 0), "localhost");
    c->hook = failure_hook;
    c->arg = &seen;
    int fd = accept_polling(loop, lfd);
    const char *greeting = "220 plaintext here\r\n";
    ASSERT_OK(send_all(fd, greeting, strlen(greeting)));
    expect_handshake_failed(loop, c, &seen, NC_ETLSNOTTLS);
    expect_failure_record(c, &seen, NC_ETLSNOTTLS, -1);
}

/* A new config on a listener applies to later accepts (certificate
 * rotation); NULL makes them plaintext again. */
void test_tls_listener_config_rotates_for_later_accepts(void) {
    certs();
    nc_loop *loop = t_loop();
    peer *child = peer_new("server");
    child->echo = 1;
    int port;
    peer *l = tls_listener(loop, server_config_for("untrusted", NC_TLS_CLIENT_AUTH_NONE, NULL, 0, 0), &port, child);
    peer *refused = tls_client(loop, port, client_config_for(0, NULL, 0), "localhost");
    POLL_ASSERT(loop, p_closed, refused, 10000);
    ASSERT_CODE(refused->close_error, NC_ETLSUNKNOWNCA);
    nc_tls_server_config *rotated = server_config_for("server", NC_TLS_CLIENT_AUTH_NONE, NULL, 0, 0);
    ASSERT_OK(nc_listener_set_tls(loop, l->h, rotated));
    nc_tls_server_config_free(rotated);
    peer *c = tls_client(loop, port, client_config_for(0, NULL, 0), "localhost");
    WAIT_KIND(loop, c, NC_EV_TLS_READY, 1, 10000);
    ASSERT_OK(nc_send(loop, c->h, "rotated", 7));
    ASSERT(wait_rx(loop, c, 7, 10000));
    ASSERT_OK(nc_listener_set_tls(loop, l->h, NULL));
    peer *plain = connect_peer(loop, "127.0.0.1", port, "plain");
    ASSERT_OK(nc_send(loop, plain->h, "clear", 5));
    ASSERT(wait_rx(loop, plain, 5, 10000));
    peer *s = wait_kid(loop, l, 2);
    struct nc_tls_session_info info = NC_TLS_SESSION_INFO_INIT;
    ASSERT_RC(nc_tls_info(loop, s->h, &info), 0); /* plaintext */
    ASSERT_EQ(s->ev[NC_EV_TLS_READY] + s->ev[NC_EV_TLS_FAILED], 0);
}

/* A server config whose handshakes may take `ms` milliseconds. */
static nc_tls_server_config *server_config_with_handshake_timeout(uint64_t ms) {
    struct nc_tls_server_opts o = NC_TLS_SERVER_OPTS_INIT;
    o.cert.file = path_of("server.pem");
    o.key.file = path_of("server.key");
    o.handshake_timeout_ms = ms;
    nc_tls_server_config *cfg = NULL;
    ASSERT_OK(nc_tls_server_config_new(&o, &cfg));
    return cfg;
}

/* The first TLS record a netcore client sends on `fd` (its ClientHello),
 * read whole; its length in *len. */
static const uint8_t *read_client_hello(nc_loop *loop, int fd, size_t *len) {
    uint8_t header[5];
    int eof, err;
    ASSERT_EQ(recv_some(loop, fd, header, sizeof header, 10000, &eof, &err), (long)sizeof header);
    ASSERT_EQ(header[0], 22); /* a handshake record */
    *len = sizeof header + ((size_t)header[3] << 8 | header[4]);
    uint8_t *hello = t_alloc(*len);
    memcpy(hello, header, sizeof header);
    ASSERT_EQ(recv_some(loop, fd, hello + sizeof header, *len - sizeof header, 10000, &eof, &err),
              (long)(*len - sizeof header));
    return hello;
}

/* The ClientHello a netcore client sends, caught by a POSIX server; its
 * length in *len. */
static const uint8_t *client_hello(nc_loop *loop, size_t *len) {
    int port;
    int lfd = posix_listen("127.0.0.1", &port);
    peer *c = tls_client(loop, port, client_config_for(0, NULL, 0), "localhost");
    const uint8_t *hello = read_client_hello(loop, accept_polling(loop, lfd), len);
    ASSERT_OK(nc_close_reset(loop, c->h));
    POLL_ASSERT(loop, p_closed, c, 10000);
    return hello;
}

/* A POSIX client of the listener `l` (at `port`) that sends the first
 * `len` bytes of `hello` once accepted as its connection `index`; returns
 * its socket, and the server's end in *server. */
static int raw_client(nc_loop *loop, peer *l, int port, size_t index, const uint8_t *hello, size_t len,
                      peer **server) {
    int fd = posix_connect("127.0.0.1", port);
    *server = wait_kid(loop, l, index);
    if (len) ASSERT_OK(send_all(fd, hello, len));
    return fd;
}

/* A client that sends `len` bytes of `hello`, then nothing, is refused
 * with NC_ETLSTIMEDOUT once the server's handshake timeout (200 ms) passes,
 * and no sooner. */
static void silent_client_times_out(nc_loop *loop, const uint8_t *hello, size_t len) {
    failure_seen seen;
    int port;
    peer *l = recording_listener(loop, server_config_with_handshake_timeout(200), &seen, &port);
    int64_t t0 = now_ms();
    peer *s;
    int fd = raw_client(loop, l, port, 0, hello, len, &s);
    expect_handshake_failed(loop, s, &seen, NC_ETLSTIMEDOUT);
    int64_t elapsed = now_ms() - t0;
    ASSERT_MSG(elapsed >= 199, "refused after %lld ms (timeout 200 ms)", (long long)elapsed);
    expect_failure_record(s, &seen, NC_ETLSTIMEDOUT, -1);
    t_close(fd);
}

/* handshake_timeout_ms: a client that connects and says nothing. */
void test_tls_handshake_timeout_option_is_etlstimedout(void) {
    certs();
    silent_client_times_out(t_loop(), NULL, 0);
}

/* ... and one that falls silent after half its ClientHello. */
void test_tls_half_a_client_hello_then_silence_is_etlstimedout(void) {
    certs();
    nc_loop *loop = t_loop();
    size_t len;
    const uint8_t *hello = client_hello(loop, &len);
    silent_client_times_out(loop, hello, len / 2);
}

/* Half a ClientHello, then a FIN: the handshake was cut short. Then
 * another half, and a reset: the OS's error, not TLS's (no record). */
void test_tls_half_a_client_hello_then_fin_is_etlstruncated_then_rst_econnreset(void) {
    certs();
    nc_loop *loop = t_loop();
    size_t len;
    const uint8_t *hello = client_hello(loop, &len);
    failure_seen seen;
    int port;
    peer *l = recording_listener(loop, server_config_for("server", NC_TLS_CLIENT_AUTH_NONE, NULL, 0, 0), &seen, &port);
    peer *s;
    int fd = raw_client(loop, l, port, 0, hello, len / 2, &s);
    ASSERT(shutdown(fd, SHUT_WR) == 0);
    expect_handshake_failed(loop, s, &seen, NC_ETLSTRUNCATED);
    expect_failure_record(s, &seen, NC_ETLSTRUNCATED, -1);
    fd = raw_client(loop, l, port, 1, hello, len / 2, &s);
    struct linger reset = {1, 0};
    ASSERT(setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset) == 0);
    t_close(fd);
    expect_handshake_failed(loop, s, &seen, NC_ECONNRESET);
    ASSERT_EQ(seen.rc, 0);
}

/* Whether the listener's first connection has seen `n` events of `kind`:
 * for waits that must not fail fatally while a relay thread runs. */
typedef struct {
    peer *listener;
    int kind, n;
} first_kid_wait;

static int first_kid_saw(void *arg) {
    first_kid_wait *w = arg;
    return w->listener->nkids > 0 && w->listener->kids[0]->ev[w->kind] >= w->n;
}

/* A relay cuts the client off after its data: the server gets a FIN
 * without close_notify, a truncation (not an EOF), after a handshake that
 * had succeeded. */
void test_tls_fin_without_close_notify_after_data_is_etlstruncated(void) {
    certs();
    nc_loop *loop = t_loop();
    failure_seen seen;
    int port;
    peer *l = recording_listener(loop, server_config_for("server", NC_TLS_CLIENT_AUTH_NONE, NULL, 0, 0), &seen, &port);
    l->child->store = 1;
    byte_relay r = {.fd = {-1, -1}};
    pthread_t th;
    peer *c = relayed_tls_client(loop, port, &r, &th);
    /* No fatal assertion until the relay is joined: it uses `r`. */
    first_kid_wait data = {l, NC_EV_DATA, 1}, closed = {l, NC_EV_CLOSED, 1};
    int arrived = nc_send(loop, c->h, "cut short", 9) == 0 && poll_until(loop, first_kid_saw, &data, 30000);
    atomic_store(&r.cut, 1);
    int server_closed = arrived && poll_until(loop, first_kid_saw, &closed, 30000);
    atomic_store(&r.stop, 1);
    pthread_join(th, NULL);
    ASSERT_MSG(arrived, "the data did not arrive; the relay moved %zu and %zu bytes", r.moved[0], r.moved[1]);
    ASSERT_MSG(server_closed, "the server did not close after the FIN");
    peer *s = l->kids[0];
    ASSERT_MSG(s->rx_len == 9 && memcmp(s->rx, "cut short", 9) == 0, "the server got %zu bytes", s->rx_len);
    ASSERT_EQ(s->ev[NC_EV_TLS_READY], 1);
    ASSERT_EQ(s->ev[NC_EV_TLS_FAILED], 0);
    ASSERT_EQ(s->ev[NC_EV_EOF], 0);
    ASSERT_CODE(s->close_error, NC_ETLSTRUNCATED);
    expect_failure_record(s, &seen, NC_ETLSTRUNCATED, -1);
}

/* A relay flips one bit in the authentication tag of the client's first
 * record after the handshake: the server closes NC_ETLSPROTOCOL (no
 * NC_EV_TLS_FAILED: its handshake had succeeded; nothing delivered) and
 * tells the client with alert 20, bad_record_mac. */
void test_tls_a_flipped_bit_in_a_record_is_etlsprotocol_and_alert_20_at_the_client(void) {
    certs();
    nc_loop *loop = t_loop();
    failure_seen server_seen, client_seen;
    int port;
    peer *l = recording_listener(loop, server_config_for("server", NC_TLS_CLIENT_AUTH_NONE, NULL, 0, 0),
                                 &server_seen, &port);
    byte_relay r = {.fd = {-1, -1}};
    pthread_t th;
    peer *c = relayed_tls_client(loop, port, &r, &th);
    c->hook = failure_hook;
    c->arg = &client_seen;
    /* No fatal assertion until the relay is joined: it uses `r`. */
    first_kid_wait ready = {l, NC_EV_TLS_READY, 1}, closed = {l, NC_EV_CLOSED, 1};
    int handshaken = wait_kind(loop, c, NC_EV_TLS_READY, 1, 30000) && poll_until(loop, first_kid_saw, &ready, 30000);
    int both_closed = 0;
    if (handshaken) {
        atomic_store(&r.flip, 1);
        both_closed = nc_send(loop, c->h, "tampered", 8) == 0 && poll_until(loop, first_kid_saw, &closed, 30000) &&
                      poll_until(loop, p_closed, c, 30000);
    }
    atomic_store(&r.stop, 1);
    pthread_join(th, NULL);
    ASSERT_MSG(handshaken, "no handshake through the relay (it moved %zu and %zu bytes)", r.moved[0], r.moved[1]);
    ASSERT_MSG(both_closed, "the tampered record did not close both ends");
    peer *s = l->kids[0];
    ASSERT_EQ(s->rx_total, 0);
    ASSERT_EQ(s->ev[NC_EV_TLS_FAILED], 0);
    ASSERT_CODE(s->close_error, NC_ETLSPROTOCOL);
    expect_failure_record(s, &server_seen, NC_ETLSPROTOCOL, -1);
    ASSERT_CODE(c->close_error, NC_ETLSALERT);
    expect_failure_record(c, &client_seen, NC_ETLSALERT, 20);
}

/* client_auth optional: a client certificate is verified and readable by
 * the server; a client without one is accepted, unverified. */
void test_tls_optional_client_auth_verifies_a_client_certificate_when_sent(void) {
    certs();
    nc_loop *loop = t_loop();
    int port;
    peer *l = tls_listener(loop, server_config_for("server", NC_TLS_CLIENT_AUTH_OPTIONAL, NULL, 0, 0), &port,
                           peer_new("server"));
    for (int with_cert = 1; with_cert >= 0; with_cert--) {
        peer *c = tls_client(loop, port, client_config_for(with_cert, NULL, 0), "localhost");
        WAIT_KIND(loop, c, NC_EV_TLS_READY, 1, 10000);
        peer *s = wait_kid(loop, l, (size_t)(1 - with_cert));
        WAIT_KIND(loop, s, NC_EV_TLS_READY, 1, 10000);
        struct nc_tls_session_info info = NC_TLS_SESSION_INFO_INIT;
        ASSERT_RC(nc_tls_info(loop, s->h, &info), 1);
        ASSERT_EQ(info.peer_verified, with_cert);
        size_t len = 0;
        int count = nc_tls_peer_certificate(loop, s->h, 0, NULL, 0, &len);
        ASSERT_EQ(count, with_cert ? NC_ENOBUFS : 0);
        if (with_cert) {
            uint8_t *der = t_alloc(len);
            ASSERT_RC(nc_tls_peer_certificate(loop, s->h, 0, der, len, &len), 1);
            ASSERT_EQ(der[0], 0x30); /* a DER SEQUENCE */
        }
    }
}

/* verify_server: NC_TLS_VERIFY_SKIP_NAME forgives a wrong name (the chain
 * is still verified); NC_TLS_VERIFY_OFF takes a certificate nobody trusts,
 * needs no trust roots, and its session says the peer was not verified. */
void test_tls_verify_server_skip_name_and_off_check_less_of_the_server(void) {
    certs();
    const struct {
        const char *cert;
        int verify_server;
        int peer_verified;
    } cases[] = {{"wrongname", NC_TLS_VERIFY_SKIP_NAME, 1}, {"untrusted", NC_TLS_VERIFY_OFF, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nc_loop *loop = t_loop();
        int port;
        tls_listener(loop, server_config_for(cases[i].cert, NC_TLS_CLIENT_AUTH_NONE, NULL, 0, 0), &port,
                     peer_new("server"));
        struct nc_tls_client_opts o = NC_TLS_CLIENT_OPTS_INIT;
        o.system_roots = 0;
        if (cases[i].verify_server != NC_TLS_VERIFY_OFF) o.ca.file = path_of("ca.pem");
        o.verify_server = cases[i].verify_server;
        nc_tls_client_config *cfg = NULL;
        ASSERT_OK(nc_tls_client_config_new(&o, &cfg));
        peer *c = tls_client(loop, port, cfg, "localhost");
        WAIT_KIND(loop, c, NC_EV_TLS_READY, 1, 10000);
        struct nc_tls_session_info info = NC_TLS_SESSION_INFO_INIT;
        ASSERT_RC(nc_tls_info(loop, c->h, &info), 1);
        ASSERT_EQ(info.peer_verified, cases[i].peer_verified);
    }
    struct nc_tls_client_opts bad = NC_TLS_CLIENT_OPTS_INIT;
    bad.verify_server = 3;
    nc_tls_client_config *cfg = NULL;
    ASSERT_RC(nc_tls_client_config_new(&bad, &cfg), NC_EINVAL);
    EXPECT_DETAIL("verify_server");
}

/* `openssl s_client` with `args` against a netcore server with `cfg`
 * that has nothing in common with it: s_client fails its handshake and
 * says `says` (NULL: anything), the server fails NC_ETLSNOSHARED. */
static void s_client_shares_nothing(nc_tls_server_config *cfg, char *const *args, size_t nargs, const char *says) {
    nc_loop *loop = t_loop();
    failure_seen seen;
    int port;
    peer *l = recording_listener(loop, cfg, &seen, &port);
    char connect[32];
    snprintf(connect, sizeof connect, "127.0.0.1:%d", port);
    char *argv[16] = {"openssl", "s_client", "-connect", connect, "-servername", "localhost", "-brief", "-CAfile",
                      (char *)path_of("ca.pem")};
    size_t argc = 9;
    for (size_t i = 0; i < nargs && argc < 15; i++) argv[argc++] = args[i];
    argv[argc] = NULL;
    int status = wait_child(loop, spawn(argv, NULL, NULL, NULL, path_of("s_client.err")), 60000);
    const char *err = read_file(path_of("s_client.err"), NULL);
    ASSERT_MSG(status != 0, "s_client %s connected: %s", args[0], err);
    ASSERT_MSG(!says || contains_nocase(err, says), "s_client %s said: %s", args[0], err);
    peer *s = wait_kid(loop, l, 0);
    expect_handshake_failed(loop, s, &seen, NC_ETLSNOSHARED);
    expect_failure_record(s, &seen, NC_ETLSNOSHARED, -1);
}

/* min_version TLS 1.3 refuses a client that stops at TLS 1.2. */
void test_tls_min_version_tls13_refuses_openssl_s_client_tls12(void) {
    certs();
    char *tls12[] = {"-tls1_2"};
    s_client_shares_nothing(server_config_for("server", NC_TLS_CLIENT_AUTH_NONE, NULL, 0, NC_TLS1_3), tls12, 1, NULL);
}

/* A server with ALPN "h2" refuses an OpenSSL client that speaks only TLS
 * 1.1 (it has to lower OpenSSL's security level to offer it), and one
 * that offers another ALPN protocol. s_client names the alert it got in
 * words that differ between OpenSSL versions ("sslv3 alert ..." in 3.0,
 * "ssl/tls alert ..." from 3.2), and by number alike in all of them. */
void test_tls_openssl_s_client_tls11_only_or_another_alpn_is_etlsnoshared(void) {
    certs();
    const char *alpn[] = {"h2"};
    char *tls11[] = {"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"};
    s_client_shares_nothing(server_config_for("server", NC_TLS_CLIENT_AUTH_NONE, alpn, 1, 0), tls11, 3,
                            "SSL alert number 40"); /* handshake_failure */
    char *other_alpn[] = {"-alpn", "echo/1"};
    s_client_shares_nothing(server_config_for("server", NC_TLS_CLIENT_AUTH_NONE, alpn, 1, 0), other_alpn, 2,
                            "SSL alert number 120"); /* no_application_protocol */
}

/* ------------------------------------------ connection contracts under TLS */

/* A server that accepts (in the kernel's backlog) and never answers the
 * ClientHello: the client fails NC_ETLSTIMEDOUT after its own handshake
 * timeout, or after the connect timeout, which covers the handshake, when
 * that ends first (the handshake timeout is then an hour). The timeout is
 * scaled: a slow run must still connect before it. */
void test_tls_connect_timeout_covers_the_handshake_with_a_silent_server(void) {
    certs();
    nc_loop *loop = t_loop();
    int port;
    posix_listen("127.0.0.1", &port); /* never accepts */
    const uint32_t timeout = (uint32_t)T_MS(200);
    const struct {
        uint64_t handshake_ms;
        uint32_t connect_ms;
    } cases[] = {{timeout, 0}, {3600 * 1000, timeout}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct nc_tls_client_opts o = NC_TLS_CLIENT_OPTS_INIT;
        o.system_roots = 0;
        o.ca.file = path_of("ca.pem");
        o.handshake_timeout_ms = cases[i].handshake_ms;
        nc_tls_client_config *cfg = NULL;
        ASSERT_OK(nc_tls_client_config_new(&o, &cfg));
        nc_connect_opts opts = NC_CONNECT_OPTS_INIT;
        opts.timeout_ms = cases[i].connect_ms;
        failure_seen seen;
        int64_t t0 = now_ms();
        peer *c = tls_client_ex(loop, port, &opts, cfg, "localhost");
        c->hook = failure_hook;
        c->arg = &seen;
        expect_handshake_failed(loop, c, &seen, NC_ETLSTIMEDOUT);
        int64_t elapsed = now_ms() - t0;
        ASSERT_MSG(elapsed >= timeout - 1, "case %zu: failed after %lld ms (timeout %u ms)", i, (long long)elapsed,
                   timeout);
        ASSERT_EQ(c->ev[NC_EV_CONNECTED], 1);
        ASSERT_EQ(c->ev[NC_EV_CONNECT_FAILED], 0);
        expect_failure_record(c, &seen, NC_ETLSTIMEDOUT, -1);
    }
}

/* An auto-reconnecting TLS client whose connection is reset gets a fresh
 * session on the next connection, resumed from the tickets of the first
 * (the client's config keeps its session cache). */
void test_tls_reconnect_makes_a_fresh_handshake_that_resumes_the_session(void) {
    certs();
    nc_loop *loop = t_loop();
    int port;
    peer *l = tls_echo_server(loop, &port);
    static const uint32_t backoff[] = {50};
    nc_connect_opts opts = NC_CONNECT_OPTS_INIT;
    opts.reconnect_ms = backoff;
    opts.reconnect_count = 1;
    peer *c = tls_client_ex(loop, port, &opts, client_config_for(0, NULL, 0), "localhost");
    c->store = 1;
    ASSERT_OK(nc_send(loop, c->h, "one", 3));
    /* The echo comes after the server's session tickets: the client holds them. */
    ASSERT(wait_rx(loop, c, 3, 10000));
    struct nc_tls_session_info info = NC_TLS_SESSION_INFO_INIT;
    ASSERT_RC(nc_tls_info(loop, c->h, &info), 1);
    ASSERT_EQ(info.resumed, 0);
    ASSERT_OK(nc_close_reset(loop, wait_kid(loop, l, 0)->h));
    WAIT_KIND(loop, c, NC_EV_TLS_READY, 2, 10000);
    ASSERT_EQ(c->ev[NC_EV_RECONNECTING], 1);
    ASSERT_EQ(c->ev[NC_EV_CONNECTED], 2);
    ASSERT_EQ(c->ev[NC_EV_TLS_FAILED] + c->ev[NC_EV_CLOSED], 0);
    ASSERT_RC(nc_tls_info(loop, c->h, &info), 1);
    ASSERT_EQ(info.resumed, 1);
    peer *s = wait_kid(loop, l, 1);
    WAIT_KIND(loop, s, NC_EV_TLS_READY, 1, 10000);
    struct nc_tls_session_info sinfo = NC_TLS_SESSION_INFO_INIT;
    ASSERT_RC(nc_tls_info(loop, s->h, &sinfo), 1);
    ASSERT_EQ(sinfo.resumed, 1);
    ASSERT_OK(nc_send(loop, c->h, "two", 3));
    ASSERT(wait_rx(loop, c, 6, 10000));
    ASSERT_MSG(memcmp(c->rx, "onetwo", 6) == 0, "the client got \"%s\"", (char *)c->rx);
}

/* A TLS listener capped at one connection: a second client waits in the
 * kernel's backlog, its handshake unanswered, until the first closes. */
void test_tls_connection_cap_holds_the_next_handshake_until_a_connection_closes(void) {
    certs();
    nc_loop *loop = t_loop();
    peer *child = peer_new("server");
    child->close_on_eof = 1;
    peer *first, *first_end;
    peer *l = tls_pair(loop, child, &first, &first_end);
    ASSERT_OK(nc_set_max_connections(loop, l->h, 1));
    peer *second = tls_client(loop, local_port(loop, l->h), client_config_for(0, NULL, 0), "localhost");
    WAIT_KIND(loop, second, NC_EV_CONNECTED, 1, 10000);
    poll_for(loop, 200);
    ASSERT_EQ(second->ev[NC_EV_TLS_READY] + second->ev[NC_EV_TLS_FAILED], 0);
    ASSERT_EQ(l->nkids, 1);
    ASSERT_OK(nc_close(loop, first->h));
    WAIT_KIND(loop, second, NC_EV_TLS_READY, 1, 10000);
    /* The first server connection closed (cleanly) before the second was accepted. */
    ASSERT_EQ(first_end->ev[NC_EV_CLOSED], 1);
    ASSERT_CODE(first_end->close_error, 0);
    ASSERT_EQ(l->nkids, 2);
}

/* nc_close_reset on a TLS connection: no close_notify (the peer would
 * report it as an EOF before the reset), the peer closes NC_ECONNRESET. */
void test_tls_close_reset_is_a_reset_without_close_notify(void) {
    certs();
    nc_loop *loop = t_loop();
    peer *c, *s;
    tls_pair(loop, peer_new("server"), &c, &s);
    ASSERT_OK(nc_send(loop, c->h, "ping", 4));
    ASSERT(wait_rx(loop, s, 4, 10000));
    ASSERT_OK(nc_close_reset(loop, c->h));
    expect_both_closed(loop, c, 0, s, NC_ECONNRESET);
    ASSERT_EQ(s->ev[NC_EV_EOF], 0);
    ASSERT_EQ(s->ev[NC_EV_TLS_FAILED], 0);
}

/* nc_shutdown on a TLS connection: close_notify, then FIN, after the data;
 * the peer sees a clean EOF, can still answer, and the answer arrives. */
void test_tls_half_close_sends_close_notify_and_the_answer_still_arrives(void) {
    certs();
    nc_loop *loop = t_loop();
    peer *c, *s;
    tls_pair_storing(loop, &c, &s);
    c->store = 1;
    ASSERT_OK(nc_send(loop, c->h, "question", 8));
    ASSERT_OK(nc_shutdown(loop, c->h));
    ASSERT_RC(nc_send(loop, c->h, "more", 4), NC_EPIPE);
    WAIT_KIND(loop, s, NC_EV_EOF, 1, 10000);
    ASSERT_MSG(s->rx_len == 8 && memcmp(s->rx, "question", 8) == 0, "the server got %zu bytes", s->rx_len);
    ASSERT_EQ(s->ev[NC_EV_CLOSED], 0);
    ASSERT_EQ(c->ev[NC_EV_CLOSED], 0);
    ASSERT_OK(nc_send(loop, s->h, "answer", 6));
    ASSERT_OK(nc_close(loop, s->h));
    expect_both_closed(loop, c, 0, s, 0);
    ASSERT_MSG(c->rx_len == 6 && memcmp(c->rx, "answer", 6) == 0, "the client got %zu bytes", c->rx_len);
    ASSERT_EQ(c->ev[NC_EV_EOF], 1); /* the server's close_notify and FIN */
}

static int three_frames(void *arg) {
    return ((peer *)arg)->nframes >= 3;
}

/* Framing applies to the plaintext under TLS: two frames and the start of
 * a third in one record, its end in the next, come out as three whole
 * frames, one NC_EV_DATA each. */
void test_tls_framing_cuts_the_plaintext_across_records(void) {
    certs();
    nc_loop *loop = t_loop();
    peer *c, *s;
    tls_pair_storing(loop, &c, &s);
    ASSERT_OK(nc_frame_delimited(loop, s->h, "\n", 1, 1024));
    ASSERT_OK(nc_send(loop, c->h, "one\ntwo\nthr", 11));
    ASSERT_OK(nc_send(loop, c->h, "ee\n", 3));
    POLL_ASSERT(loop, three_frames, s, 10000);
    ASSERT_EQ(s->nframes, 3);
    ASSERT_EQ(s->frame_len[0], 3);
    ASSERT_EQ(s->frame_len[1], 3);
    ASSERT_EQ(s->frame_len[2], 5);
    ASSERT(s->rx_len == 11 && memcmp(s->rx, "onetwothree", 11) == 0);
}

/* nc_shutdown_server with a TLS connection whose queue holds 256 KiB: the
 * client gets every byte, then close_notify (a clean EOF, on which it
 * closes), then the listener's NC_EV_SHUTDOWN_COMPLETE and NC_EV_CLOSED. */
void test_tls_shutdown_server_delivers_the_queue_then_close_notify(void) {
    certs();
    nc_loop *loop = t_loop();
    peer *c, *s;
    peer *l = tls_pair(loop, peer_new("server"), &c, &s);
    c->verify = 1;
    c->seed = 51;
    c->close_on_eof = 1;
    size_t n = 256 * 1024;
    uint8_t *msg = t_alloc(n);
    fill_pattern(msg, n, 51, 0);
    ASSERT_OK(nc_send(loop, s->h, msg, n));
    ASSERT_OK(nc_shutdown_server(loop, l->h, (uint64_t)T_MS(30000)));
    expect_both_closed(loop, c, 0, s, 0);
    ASSERT_EQ(c->rx_total, n);
    ASSERT_MSG(c->bad_at == -1, "wrong byte at %lld", c->bad_at);
    ASSERT_EQ(c->ev[NC_EV_EOF], 1);
    POLL_ASSERT(loop, p_closed, l, 10000);
    ASSERT_EQ(l->ev[NC_EV_SHUTDOWN_COMPLETE], 1);
}

/* An idle TLS connection gets NC_EV_IDLE (its handshake was its last
 * traffic) and stays usable: protected data still goes through. */
void test_tls_idle_timeout_fires_and_the_connection_stays_usable(void) {
    certs();
    nc_loop *loop = t_loop();
    peer *c, *s;
    tls_pair_storing(loop, &c, &s);
    ASSERT_OK(nc_set_idle_timeout(loop, c->h, 100));
    WAIT_KIND(loop, c, NC_EV_IDLE, 1, 10000);
    ASSERT_EQ(c->ev[NC_EV_CLOSED] + c->ev[NC_EV_TLS_FAILED], 0);
    ASSERT_OK(nc_set_idle_timeout(loop, c->h, 0));
    ASSERT_OK(nc_send(loop, c->h, "after idle", 10));
    ASSERT(wait_rx(loop, s, 10, 10000));
    ASSERT(memcmp(s->rx, "after idle", 10) == 0);
}

/* The idle timeout counts handshake traffic: the server's end gets the
 * client's ClientHello in six pieces a quarter of its 2 s idle timeout
 * apart (3 s in all, never silent for long), then the rest of the
 * handshake through a relay. Its handshake completes with no NC_EV_IDLE;
 * once the connection is silent, NC_EV_IDLE comes, and it still echoes.
 * Not in --quick: it takes 5 s at any speed, and valgrind's slowdown would
 * eat the margin between the pieces' gaps and the timeout. */
void test_tls_handshake_traffic_keeps_a_connection_from_going_idle(void) {
    enum { IDLE_MS = 2000, PIECES = 6 };
    certs();
    nc_loop *loop = t_loop();
    int port;
    peer *l = tls_listener(loop, server_config_for("server", NC_TLS_CLIENT_AUTH_NONE, NULL, 0, 0), &port,
                           echoing_child());
    byte_relay r = {.fd = {-1, -1}};
    peer *c = tls_client_at_relay_sockets(loop, port, &r);
    c->store = 1;
    peer *s = wait_kid(loop, l, 0);
    ASSERT_OK(nc_set_idle_timeout(loop, s->h, IDLE_MS));
    size_t len;
    const uint8_t *hello = read_client_hello(loop, r.fd[0], &len);
    const size_t piece[] = {(len + PIECES - 1) / PIECES, 0};
    ASSERT_OK(send_pieces(loop, r.fd[1], hello, len, piece, IDLE_MS / 4));
    ASSERT_MSG(s->ev[NC_EV_IDLE] == 0, "NC_EV_IDLE while the ClientHello (%zu B) was arriving", len);
    pthread_t th;
    start_relay(&r, &th);
    /* No fatal assertion until the relay is joined: it uses `r`. */
    int handshaken = wait_kind(loop, s, NC_EV_TLS_READY, 1, 10000) && wait_kind(loop, c, NC_EV_TLS_READY, 1, 10000);
    int idled = handshaken && wait_kind(loop, s, NC_EV_IDLE, 1, IDLE_MS + 10000);
    int echoed = idled && nc_send(loop, c->h, "after idle", 10) == 0 && wait_rx(loop, c, 10, 10000);
    atomic_store(&r.stop, 1);
    pthread_join(th, NULL);
    ASSERT_MSG(r.failed == 0, "relay: %s", strerror(r.failed));
    ASSERT_MSG(handshaken, "no handshake through the relay (it moved %zu and %zu bytes)", r.moved[0], r.moved[1]);
    ASSERT_MSG(idled, "no NC_EV_IDLE once the connection was silent");
    ASSERT_EQ(s->kinds_log[0], NC_EV_ACCEPTED);
    ASSERT_EQ(s->kinds_log[1], NC_EV_TLS_READY);
    ASSERT_EQ(s->kinds_log[2], NC_EV_IDLE);
    ASSERT_MSG(echoed, "the echo after NC_EV_IDLE did not arrive (%zu bytes)", c->rx_len);
    ASSERT(memcmp(c->rx, "after idle", 10) == 0);
    ASSERT_EQ(s->ev[NC_EV_CLOSED] + s->ev[NC_EV_TLS_FAILED], 0);
}
/* One echo over TLS on a loop of its own, in its own thread, with configs
 * another thread uses at the same time. No harness peers: they are not
 * thread-safe. */
typedef struct {
    nc_tls_server_config *server;
    nc_tls_client_config *client;
    size_t echoed;  /* bytes the client got back, each checked */
    int wrong;      /* a byte differed */
    int ready;      /* NC_EV_TLS_READY seen by client and server */
} tls_thread;

static void *tls_echo_thread(void *arg) {
    tls_thread *t = arg;
    enum { N = 64 * 1024 };
    static _Thread_local uint8_t msg[N];
    fill_pattern(msg, N, 11, 0);
    nc_loop *loop = nc_loop_new();
    EXPECT(loop != NULL);
    if (!loop) return NULL;
    nc_handle l = nc_tcp_listen(loop, "127.0.0.1", 0, 0, 0, NULL);
    nc_addr a;
    EXPECT(l > 0 && nc_local_addr(loop, l, &a) == 0);
    EXPECT_OK(nc_listener_set_tls(loop, l, t->server));
    nc_handle c = nc_tcp_connect(loop, "localhost", a.port, NULL);
    EXPECT_OK(nc_start_tls_client(loop, c, t->client, "localhost"));
    EXPECT_OK(nc_send(loop, c, msg, N));
    nc_event evs[64];
    int64_t deadline = now_ms() + T_MS(30000);
    while (t->echoed < N && !t->wrong && now_ms() < deadline) {
        int n = nc_poll(loop, evs, 64, 20);
        for (int i = 0; i < n; i++) {
            const nc_event *ev = &evs[i];
            if (ev->kind == NC_EV_TLS_READY) t->ready++;
            if (ev->kind != NC_EV_DATA) continue;
            if (ev->handle != c) { /* the server side: echo (64 KiB fits below the high-water mark) */
                EXPECT_OK(nc_send(loop, ev->handle, ev->data, ev->len));
                continue;
            }
            for (size_t k = 0; k < ev->len; k++) t->wrong |= ev->data[k] != pattern(11, t->echoed + k);
            t->echoed += ev->len;
        }
    }
    nc_loop_free(loop);
    return NULL;
}

/* Configs are shared: one pair serves two loops in two threads at once. */
void test_tls_one_config_pair_serves_two_loops_in_two_threads(void) {
    certs();
    tls_thread t[2] = {{0}, {0}};
    t[0].server = t[1].server = server_config_for("server", NC_TLS_CLIENT_AUTH_NONE, NULL, 0, 0);
    t[0].client = t[1].client = client_config_for(0, NULL, 0);
    pthread_t th[2];
    for (int i = 0; i < 2; i++) ASSERT(pthread_create(&th[i], NULL, tls_echo_thread, &t[i]) == 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    nc_tls_server_config_free(t[0].server);
    nc_tls_client_config_free(t[0].client);
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(t[i].echoed, 64 * 1024);
        ASSERT_EQ(t[i].wrong, 0);
        ASSERT_EQ(t[i].ready, 2);
    }
}

/* ------------------------------------------------------------- OpenSSL */

/* Bytes each way through openssl s_client: 10 MiB, 1 MiB when the suite
 * runs slower (sanitizers, valgrind). */
static size_t big_transfer(void) { return t_slow > 1 ? (size_t)1 << 20 : (size_t)10 << 20; }

typedef struct {
    size_t want;
    int closing;
    struct nc_tls_session_info info; /* read at NC_EV_TLS_READY */
} close_after;

/* Reads the session info when the handshake is over, and closes the
 * connection gracefully once `want` bytes came and all were echoed. */
static void close_after_hook(peer *p, nc_loop *loop, const nc_event *ev) {
    close_after *ca = p->arg;
    if (ev->kind == NC_EV_TLS_READY) EXPECT_RC(nc_tls_info(loop, ev->handle, &ca->info), 1);
    if (!ca->closing && p->rx_total == ca->want && p->pend_len == 0 && !p->ev[NC_EV_CLOSED]) {
        ca->closing = 1;
        EXPECT_OK(nc_close(loop, p->h));
    }
}

/* openssl s_client sends `n` pattern bytes to a netcore echo server (each
 * checked by the server), which closes once it echoed them all; s_client's
 * output is compared with what it sent byte for byte, its report must show
 * the version and no "unexpected eof" (close_notify came), and netcore's
 * session the version and the ALPN protocol s_client offered. */
static void s_client_echo(const char *version_flag, const char *protocol) {
    certs();
    nc_loop *loop = t_loop();
    size_t n = big_transfer();
    const char *alpn[] = {"echo/1"};
    close_after ca = {n, 0, NC_TLS_SESSION_INFO_INIT};
    peer *child = peer_new("server");
    child->echo = 1;
    child->verify = 1;
    child->seed = 3;
    child->hook = close_after_hook;
    child->arg = &ca;
    int port;
    peer *l = tls_listener(loop, server_config_for("server", NC_TLS_CLIENT_AUTH_NONE, alpn, 1, 0), &port, child);
    write_pattern_file(path_of("s_client.in"), n, 3);
    char connect[64];
    snprintf(connect, sizeof connect, "127.0.0.1:%d", port);
    char *argv[] = {"openssl", "s_client", "-connect", connect, "-servername", "localhost", "-verify_return_error",
                    "-brief", "-ign_eof", "-alpn", "echo/1", (char *)version_flag, "-CAfile",
                    (char *)path_of("ca.pem"), NULL};
    pid_t pid = spawn(argv, path_of("s_client.in"), path_of("s_client.out"), NULL, path_of("s_client.err"));
    int status = wait_child(loop, pid, 120000);
    const char *err = read_file(path_of("s_client.err"), NULL);
    ASSERT_MSG(status == 0, "s_client exited %d: %s", status, err);
    ASSERT_MSG(!contains_nocase(err, "unexpected eof"), "close_notify was missing: %s", err);
    ASSERT_MSG(strstr(err, protocol) != NULL, "no %s in: %s", protocol, err);
    size_t out_len;
    const uint8_t *out = (const uint8_t *)read_file(path_of("s_client.out"), &out_len);
    ASSERT_EQ(out_len, n);
    for (size_t i = 0; i < n; i++)
        ASSERT_MSG(out[i] == pattern(3, i), "s_client received a wrong byte at %zu", i);
    peer *s = wait_kid(loop, l, 0);
    POLL_ASSERT(loop, p_closed, s, 10000);
    ASSERT_EQ(s->rx_total, n);
    ASSERT_EQ(s->bad_at, -1);
    ASSERT_EQ(s->ev[NC_EV_TLS_READY], 1);
    ASSERT_CODE(s->close_error, 0);
    ASSERT_MSG(strcmp(ca.info.protocol, protocol) == 0, "netcore saw %s", ca.info.protocol);
    ASSERT_MSG(strcmp(ca.info.alpn, "echo/1") == 0, "ALPN \"%s\"", ca.info.alpn);
}

void test_tls_openssl_s_client_tls13_alpn_every_byte_each_way(void) { s_client_echo("-tls1_3", "TLSv1.3"); }

void test_tls_openssl_s_client_tls12_alpn_every_byte_each_way(void) { s_client_echo("-tls1_2", "TLSv1.2"); }

/* Starts `openssl s_server` on a free port (a port just seen free may be
 * taken before s_server binds it: a bounded number of tries) with `extra`
 * arguments; returns its pid, the port in *port and its stdout in *out. */
static pid_t start_s_server(char *const *extra, size_t nextra, int *port, int *out) {
    for (int attempt = 0; attempt < 5; attempt++) {
        int probe = posix_listen("127.0.0.1", port);
        t_close(probe);
        char accept[32];
        snprintf(accept, sizeof accept, "127.0.0.1:%d", *port);
        char *argv[24] = {"openssl", "s_server", "-accept", accept, "-naccept", "1", "-cert",
                          (char *)path_of("server.pem"), "-key", (char *)path_of("server.key"), "-CAfile",
                          (char *)path_of("ca.pem")};
        size_t argc = 12;
        for (size_t i = 0; i < nextra && argc < 23; i++) argv[argc++] = extra[i];
        argv[argc] = NULL;
        pid_t pid = spawn(argv, NULL, NULL, out, path_of("s_server.err"));
        char text[4096] = "";
        if (wait_output(NULL, *out, text, sizeof text, "ACCEPT", 60000)) return pid;
        int status = wait_child(NULL, pid, 60000);
        const char *err = read_file(path_of("s_server.err"), NULL);
        ASSERT_MSG(strstr(err, "in use") != NULL, "s_server exited %d: %s%s", status, text, err);
        t_close(*out);
    }
    T_FAIL_(1, "no free port for s_server after 5 tries");
    return -1;
}

/* `openssl s_server -rev -Verify 1` (line-reversing; a client certificate
 * required) and peer `c` connecting to it as a TLS client, with the client
 * certificate when `with_cert`; the server name is an IP literal, verified
 * against the certificate's IP SAN. Returns s_server's pid. */
static pid_t s_server_and_client(nc_loop *loop, peer *c, int with_cert) {
    certs();
    char *extra[] = {"-rev", "-Verify", "1"};
    int port, out;
    pid_t pid = start_s_server(extra, 3, &port, &out);
    c->h = ASSERT_HANDLE(nc_tcp_connect(loop, "127.0.0.1", port, c));
    nc_tls_client_config *cfg = client_config_for(with_cert, NULL, 0);
    ASSERT_OK(nc_start_tls_client(loop, c->h, cfg, "127.0.0.1"));
    nc_tls_client_config_free(cfg);
    ASSERT_OK(nc_send(loop, c->h, "netcore\n", 8));
    return pid;
}

void test_tls_netcore_client_with_certificate_to_openssl_s_server(void) {
    nc_loop *loop = t_loop();
    peer *c = peer_new("client");
    c->store = 1;
    pid_t pid = s_server_and_client(loop, c, 1);
    WAIT_KIND(loop, c, NC_EV_DATA, 1, 30000);
    ASSERT_MSG(c->rx_len == 8 && memcmp(c->rx, "erocten\n", 8) == 0, "s_server answered \"%s\"", (char *)c->rx);
    struct nc_tls_session_info info = NC_TLS_SESSION_INFO_INIT;
    ASSERT_RC(nc_tls_info(loop, c->h, &info), 1);
    ASSERT_EQ(info.peer_verified, 1);
    ASSERT_OK(nc_close(loop, c->h));
    POLL_ASSERT(loop, p_closed, c, 10000);
    ASSERT_CODE(c->close_error, 0);
    ASSERT_EQ(wait_child(loop, pid, 60000), 0);
}

/* Without a certificate, s_server -Verify 1 refuses the client: TLS 1.3
 * lets the client finish first, then the alert closes it. */
void test_tls_openssl_s_server_refuses_a_client_without_certificate(void) {
    nc_loop *loop = t_loop();
    failure_seen seen;
    peer *c = peer_new("client");
    c->hook = failure_hook;
    c->arg = &seen;
    pid_t pid = s_server_and_client(loop, c, 0);
    POLL_ASSERT(loop, p_closed, c, 30000);
    ASSERT_EQ(c->rx_total, 0);
    ASSERT_CODE(c->close_error, NC_ETLSALERT);
    expect_failure_record(c, &seen, NC_ETLSALERT, 116);
    wait_child(loop, pid, 60000);
}

/* ------------------------------------------------------------ examples */

/* An example program, built by `make examples` (NC_EXAMPLES_DIR, default
 * build/examples). */
static const char *example(const char *name) {
    static char buf[256];
    const char *dir = getenv("NC_EXAMPLES_DIR");
    snprintf(buf, sizeof buf, "%s/%s", dir ? dir : "build/examples", name);
    ASSERT_MSG(access(buf, X_OK) == 0, "%s is not built (make examples)", buf);
    return buf;
}

/* Starts an example server on 127.0.0.1:0 with the test certificate (in
 * NETCORE_TLS_CERT / NETCORE_TLS_KEY); returns its pid and, from its
 * "listening on" line, its port. */
static pid_t start_example(const char *name, int *port) {
    setenv("NETCORE_TLS_CERT", path_of("server.pem"), 1);
    setenv("NETCORE_TLS_KEY", path_of("server.key"), 1);
    char *argv[] = {(char *)example(name), "127.0.0.1:0", NULL};
    int out;
    pid_t pid = spawn(argv, NULL, NULL, &out, path_of("example.err"));
    char text[256] = "";
    ASSERT_MSG(wait_output(NULL, out, text, sizeof text, "\n", 30000), "%s printed \"%s\"", name, text);
    ASSERT_MSG(sscanf(text, "listening on 127.0.0.1:%d", port) == 1 && *port > 0, "%s printed \"%s\"", name, text);
    return pid;
}

/* SIGTERM: the example shuts down gracefully and exits 0. */
static void stop_example(pid_t pid) {
    ASSERT(kill(pid, SIGTERM) == 0);
    ASSERT_EQ(wait_child(NULL, pid, 30000), 0);
}

void test_tls_examples_echo_server_and_client(void) {
    certs();
    int port;
    pid_t server = start_example("tls_echo_server", &port);
    char target[32];
    snprintf(target, sizeof target, "localhost:%d", port);
    char *argv[] = {(char *)example("tls_client"), target, "hello", "TLS world", NULL};
    setenv("NETCORE_TLS_CA", path_of("ca.pem"), 1);
    ASSERT_EQ(wait_child(NULL, spawn(argv, NULL, path_of("client.out"), NULL, path_of("client.err")), 30000), 0);
    const char *out = read_file(path_of("client.out"), NULL);
    ASSERT_MSG(strcmp(out, "hello\nTLS world\n") == 0, "tls_client printed \"%s\"", out);
    /* Another CA: the client refuses the server, and says why. */
    setenv("NETCORE_TLS_CA", path_of("other-ca.pem"), 1);
    ASSERT_EQ(wait_child(NULL, spawn(argv, NULL, path_of("client.out"), NULL, path_of("client.err")), 30000), 1);
    const char *err = read_file(path_of("client.err"), NULL);
    ASSERT_MSG(strstr(err, "ETLSUNKNOWNCA") != NULL, "tls_client said \"%s\"", err);
    unsetenv("NETCORE_TLS_CA");
    stop_example(server);
    /* Without its certificate the server does not start: exit 2. */
    unsetenv("NETCORE_TLS_KEY");
    char *bare[] = {(char *)example("tls_echo_server"), "127.0.0.1:0", NULL};
    ASSERT_EQ(wait_child(NULL, spawn(bare, NULL, NULL, NULL, NULL), 30000), 2);
}

void test_tls_https_example_answers_curl(void) {
    certs();
    int port;
    pid_t server = start_example("https_server", &port);
    char url[64];
    snprintf(url, sizeof url, "https://localhost:%d/", port);
    char *argv[] = {"curl", "-sS", "--max-time", "60", "--cacert", (char *)path_of("ca.pem"), url, NULL};
    int status = wait_child(NULL, spawn(argv, NULL, path_of("curl.out"), NULL, path_of("curl.err")), 90000);
    ASSERT_MSG(status == 0, "curl exited %d: %s", status, read_file(path_of("curl.err"), NULL));
    const char *page = read_file(path_of("curl.out"), NULL);
    ASSERT_MSG(strcmp(page, "hello from netcore over TLS\n") == 0, "curl got \"%s\"", page);
    stop_example(server);
}

void test_tls_starttls_example_with_openssl_s_client_starttls_smtp(void) {
    certs();
    int port;
    pid_t server = start_example("starttls_server", &port);
    FILE *f = fopen(path_of("smtp.in"), "w");
    ASSERT(f != NULL);
    fputs("EHLO netcore.test\nNOOP\nQUIT\n", f);
    ASSERT(fclose(f) == 0);
    char connect[32];
    snprintf(connect, sizeof connect, "127.0.0.1:%d", port);
    char *argv[] = {"openssl", "s_client", "-starttls", "smtp", "-connect", connect, "-servername", "localhost",
                    "-verify_return_error", "-brief", "-crlf", "-ign_eof", "-CAfile", (char *)path_of("ca.pem"),
                    NULL};
    int status =
        wait_child(NULL, spawn(argv, path_of("smtp.in"), path_of("smtp.out"), NULL, path_of("smtp.err")), 60000);
    const char *err = read_file(path_of("smtp.err"), NULL);
    const char *out = read_file(path_of("smtp.out"), NULL);
    ASSERT_MSG(status == 0, "s_client exited %d: %s", status, err);
    ASSERT_MSG(strstr(err, "Verification: OK") != NULL, "s_client said: %s", err);
    ASSERT_MSG(!contains_nocase(err, "unexpected eof"), "close_notify was missing: %s", err);
    /* Over TLS: EHLO without STARTTLS on offer, NOOP, QUIT. */
    ASSERT_MSG(strcmp(out, "250 localhost greets you\r\n250 OK\r\n221 Bye\r\n") == 0, "s_client got \"%s\"", out);
    stop_example(server);
}

/* Plaintext sent right behind STARTTLS, in the same segment (the injection
 * of CVE-2021-23222), is never answered: the connection is dropped. */
void test_tls_starttls_example_drops_plaintext_injected_behind_starttls(void) {
    certs();
    int port;
    pid_t server = start_example("starttls_server", &port);
    int fd = posix_connect("127.0.0.1", port);
    char buf[512] = "";
    int eof = 0, err = 0;
    long n = recv_some(NULL, fd, (uint8_t *)buf, sizeof buf - 1, 10000, &eof, &err);
    ASSERT_MSG(n > 0 && strncmp(buf, "220 ", 4) == 0, "greeting \"%s\"", buf);
    const char *attack = "STARTTLS\r\nEHLO injected\r\n";
    ASSERT_OK(send_all(fd, attack, strlen(attack)));
    memset(buf, 0, sizeof buf);
    n = recv_some(NULL, fd, (uint8_t *)buf, sizeof buf - 1, 10000, &eof, &err);
    ASSERT_MSG(eof || err, "the connection stays open after an injection: \"%s\"", buf);
    ASSERT_MSG(strstr(buf, "250") == NULL, "the injected EHLO was answered: \"%s\"", buf);
    stop_example(server);
}
