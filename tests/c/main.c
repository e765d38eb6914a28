/* The test runner, resource tracking, peers and socket helpers. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PEER_MAGIC 0x9eef5eedu

int t_slow = 1;
int t_unclaimed_events;

/* ------------------------------------------------------------- the table */

typedef struct {
    const char *name;
    void (*fn)(void);
    int quick;
} test_case;

#define TEST_ENTRY(name, quick) {#name, test_##name, quick},
static const test_case tests[] = {TEST_LIST(TEST_ENTRY)};
#undef TEST_ENTRY
#define NTESTS (sizeof tests / sizeof tests[0])

/* ------------------------------------------------------------- failures */

static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t main_thread;
static jmp_buf t_jmp;
static int cur_failed;
static char cur_msg[1024];
static const char *cur_name;
static int passed, failed;

void t_fail_at(const char *file, int line, int fatal, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&fail_lock);
    if (!cur_failed) {
        cur_failed = 1;
        snprintf(cur_msg, sizeof cur_msg, "%s:%d: %s", file, line, msg);
    }
    pthread_mutex_unlock(&fail_lock);
    if (fatal && pthread_equal(pthread_self(), main_thread)) longjmp(t_jmp, 1);
}

int t_failed(void) {
    pthread_mutex_lock(&fail_lock);
    int f = cur_failed;
    pthread_mutex_unlock(&fail_lock);
    return f;
}

const char *t_code(long long code) {
    static _Thread_local char ring[8][96];
    static _Thread_local int next;
    char *buf = ring[next++ % 8];
    if (code < 0 && code >= INT32_MIN)
        snprintf(buf, 96, "%lld (%s)", code, nc_errname((int)code));
    else
        snprintf(buf, 96, "%lld", code);
    return buf;
}

nc_handle t_handle_at(const char *file, int line, const char *expr, nc_handle h) {
    if (h <= 0) t_fail_at(file, line, 1, "%s returned %s, expected a handle", expr, t_code(h));
    return h;
}

/* ------------------------------------------------------------ resources */

enum { R_LOOP, R_FD, R_MEM };
typedef struct {
    int kind;
    void *ptr;
    int fd;
} resource;
static resource *res;
static size_t nres, res_cap;

static void res_add(int kind, void *ptr, int fd) {
    if (nres == res_cap) {
        res_cap = res_cap ? res_cap * 2 : 64;
        res = realloc(res, res_cap * sizeof *res);
        if (!res) abort();
    }
    res[nres].kind = kind;
    res[nres].ptr = ptr;
    res[nres].fd = fd;
    nres++;
}

static void res_drop(int kind, void *ptr, int fd) {
    for (size_t i = nres; i-- > 0;) {
        if (res[i].kind == kind && res[i].ptr == ptr && res[i].fd == fd) {
            res[i] = res[--nres];
            return;
        }
    }
}

nc_loop *t_loop(void) {
    nc_loop *l = nc_loop_new();
    if (!l) T_FAIL_(1, "nc_loop_new returned NULL");
    res_add(R_LOOP, l, -1);
    return l;
}

void t_loop_free(nc_loop *l) {
    res_drop(R_LOOP, l, -1);
    nc_loop_free(l);
}

int t_fd(int fd) {
    if (fd >= 0) res_add(R_FD, NULL, fd);
    return fd;
}

void t_close(int fd) {
    if (fd < 0) return;
    res_drop(R_FD, NULL, fd);
    close(fd);
}

void *t_alloc(size_t n) {
    void *p = calloc(1, n ? n : 1);
    if (!p) T_FAIL_(1, "out of memory (%zu bytes)", n);
    res_add(R_MEM, p, -1);
    return p;
}

void t_free(void *p) {
    if (!p) return;
    res_drop(R_MEM, p, -1);
    free(p);
}

static void release_all(void) {
    /* loops first (they may reference peers as userdata, never dereferenced) */
    for (size_t i = 0; i < nres; i++)
        if (res[i].kind == R_LOOP) nc_loop_free(res[i].ptr);
    for (size_t i = 0; i < nres; i++) {
        if (res[i].kind == R_FD) close(res[i].fd);
        if (res[i].kind == R_MEM) free(res[i].ptr);
    }
    nres = 0;
}

int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* --------------------------------------------------------------- peers */

static void *grow(void *ptr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return ptr;
    size_t n = *cap ? *cap : 64;
    while (n < need) n *= 2;
    void *q = realloc(ptr, n * elem);
    if (!q) abort();
    *cap = n;
    return q;
}

peer *peer_new(const char *name) {
    peer *p = t_alloc(sizeof *p);
    p->magic = PEER_MAGIC;
    p->name = name;
    p->bad_at = -1;
    return p;
}

/* Peers own growable buffers: they are released through this list. */
static peer **all_peers;
static size_t npeers, peers_cap;

static void track_peer(peer *p) {
    all_peers = grow(all_peers, &peers_cap, npeers + 1, sizeof *all_peers);
    all_peers[npeers++] = p;
}

static void release_peers(void) {
    for (size_t i = 0; i < npeers; i++) {
        peer *p = all_peers[i];
        free(p->rx);
        free(p->frame_len);
        free(p->pend);
        free(p->kids);
        p->rx = NULL;
        p->frame_len = NULL;
        p->pend = NULL;
        p->kids = NULL;
    }
    npeers = 0;
}

void fill_pattern(uint8_t *buf, size_t len, uint32_t seed, size_t offset) {
    for (size_t i = 0; i < len; i++) buf[i] = pattern(seed, offset + i);
}

int count_kind(const peer *p, int kind) {
    return kind >= 0 && kind < MAX_KIND ? p->ev[kind] : 0;
}

static void rx_bytes(peer *p, const uint8_t *data, size_t len) {
    if (p->verify && p->bad_at < 0) {
        for (size_t i = 0; i < len; i++) {
            if (data[i] != pattern(p->seed, p->rx_total + i)) {
                p->bad_at = (long long)(p->rx_total + i);
                break;
            }
        }
    }
    if (p->store) {
        if (!p->rx_len && !p->rx) track_peer(p);
        p->rx = grow(p->rx, &p->rx_cap, p->rx_len + len + 1, 1);
        if (len) memcpy(p->rx + p->rx_len, data, len);
        p->rx_len += len;
        p->rx[p->rx_len] = 0;
        if (!p->frame_len) track_peer(p);
        p->frame_len = grow(p->frame_len, &p->frames_cap, p->nframes + 1, sizeof(size_t));
        p->frame_len[p->nframes++] = len;
    }
    p->rx_total += len;
}

static void pend_add(peer *p, const uint8_t *data, size_t len) {
    if (!p->pend) track_peer(p);
    p->pend = grow(p->pend, &p->pend_cap, p->pend_len + len, 1);
    memcpy(p->pend + p->pend_len, data, len);
    p->pend_len += len;
}

/* Sends what echo could not send before; resumes reading when all went out. */
static void echo_flush(peer *p, nc_loop *loop) {
    size_t off = 0;
    while (off < p->pend_len) {
        size_t n = p->pend_len - off;
        if (n > 65536) n = 65536;
        int rc = nc_send(loop, p->h, p->pend + off, n);
        if (rc == NC_EAGAIN) break;
        if (rc != 0) {
            p->send_errors++;
            p->last_send_error = rc;
            off = p->pend_len;
            break;
        }
        off += n;
    }
    memmove(p->pend, p->pend + off, p->pend_len - off);
    p->pend_len -= off;
    if (p->pend_len == 0 && p->echo_paused) {
        p->echo_paused = 0;
        int rc = nc_resume(loop, p->h);
        if (rc != 0 && rc != NC_EBADHANDLE) {
            p->send_errors++;
            p->last_send_error = rc;
        }
    }
}

static void eof_actions(peer *p, nc_loop *loop) {
    if (p->pend_len) return; /* after the flush */
    if (p->close_on_eof) {
        p->close_on_eof = 0;
        int rc = nc_close(loop, p->h);
        if (rc != 0) p->last_send_error = rc;
    }
    if (p->shutdown_on_eof) {
        p->shutdown_on_eof = 0;
        int rc = nc_shutdown(loop, p->h);
        if (rc != 0) p->last_send_error = rc;
    }
}

/* Invariants every event must satisfy, whatever the test. */
static void check_event(peer *p, const nc_event *ev) {
    const char *who = p->name ? p->name : "?";
    const char *kind = nc_event_name(ev->kind);
    if (p->ev[NC_EV_CLOSED] > 0)
        t_fail_at(__FILE__, __LINE__, 0, "%s: event %s after NC_EV_CLOSED", who, kind);
    if (ev->kind == NC_EV_DATA || ev->kind == NC_EV_DATAGRAM) {
        if (ev->len == 0 && ev->data != NULL)
            t_fail_at(__FILE__, __LINE__, 0, "%s: %s with len 0 has data != NULL", who, kind);
        if (ev->len > 0 && ev->data == NULL)
            t_fail_at(__FILE__, __LINE__, 0, "%s: %s with len %zu has data NULL", who, kind,
                      ev->len);
    }
    /* EOF is per connection: an auto-reconnecting handle starts afresh */
    if (ev->kind == NC_EV_DATA && p->conn_eofs > 0)
        t_fail_at(__FILE__, __LINE__, 0, "%s: NC_EV_DATA after NC_EV_EOF", who);
    if (ev->kind == NC_EV_EOF && p->conn_eofs > 0)
        t_fail_at(__FILE__, __LINE__, 0, "%s: a second NC_EV_EOF", who);
    /* a second NC_EV_CONNECTED only after NC_EV_RECONNECTING */
    if (ev->kind == NC_EV_CONNECTED && (p->ev[NC_EV_CONNECTED] || p->ev[NC_EV_CONNECT_FAILED]) &&
        p->last_kind != NC_EV_RECONNECTING)
        t_fail_at(__FILE__, __LINE__, 0, "%s: NC_EV_CONNECTED after a connect outcome", who);
    if (ev->kind == NC_EV_RECONNECTING && p->ev[NC_EV_CONNECT_FAILED])
        t_fail_at(__FILE__, __LINE__, 0, "%s: NC_EV_RECONNECTING after NC_EV_CONNECT_FAILED", who);
    if (ev->kind == NC_EV_RECONNECTING && ev->value == 0)
        t_fail_at(__FILE__, __LINE__, 0, "%s: NC_EV_RECONNECTING with attempt number 0", who);
    if (ev->kind != NC_EV_SENT && ev->kind != NC_EV_RECONNECTING && ev->value != 0)
        t_fail_at(__FILE__, __LINE__, 0, "%s: %s carries value %llu (must be 0)", who, kind,
                  (unsigned long long)ev->value);
    if (ev->kind != NC_EV_ACCEPTED && ev->listener != 0)
        t_fail_at(__FILE__, __LINE__, 0, "%s: %s has listener %lld (must be 0)", who, kind,
                  (long long)ev->listener);
    if (ev->kind != NC_EV_CONNECT_FAILED && ev->kind != NC_EV_ERROR && ev->kind != NC_EV_CLOSED &&
        ev->kind != NC_EV_RECONNECTING && ev->kind != NC_EV_TLS_FAILED && ev->error != 0)
        t_fail_at(__FILE__, __LINE__, 0, "%s: %s carries error %s", who, kind, t_code(ev->error));
    if ((ev->kind == NC_EV_CONNECT_FAILED || ev->kind == NC_EV_ERROR || ev->kind == NC_EV_TLS_FAILED) &&
        ev->error >= 0)
        t_fail_at(__FILE__, __LINE__, 0, "%s: %s without an error code", who, kind);
    if (p->h && ev->handle != p->h)
        t_fail_at(__FILE__, __LINE__, 0, "%s: event for handle %lld, expected %lld", who,
                  (long long)ev->handle, (long long)p->h);
}

static void record(peer *p, nc_loop *loop, const nc_event *ev) {
    check_event(p, ev);
    if (p->ev[NC_EV_CLOSED] > 0) p->after_closed++;
    if (ev->kind >= 0 && ev->kind < MAX_KIND) p->ev[ev->kind]++;
    if (p->nlog < 64) p->kinds_log[p->nlog++] = ev->kind;
    p->last_kind = ev->kind;
    if (ev->kind == NC_EV_EOF) p->conn_eofs++;
    if (ev->kind == NC_EV_RECONNECTING) p->conn_eofs = 0;
    switch (ev->kind) {
    case NC_EV_ACCEPTED:
    case NC_EV_CONNECTED:
        p->addr = ev->addr;
        break;
    case NC_EV_CONNECT_FAILED:
        p->connect_error = ev->error;
        break;
    case NC_EV_DATAGRAM:
        p->addr = ev->addr;
        rx_bytes(p, ev->data, ev->len);
        break;
    case NC_EV_DATA:
        rx_bytes(p, ev->data, ev->len);
        if (p->echo && ev->len) {
            if (p->pend_len) {
                pend_add(p, ev->data, ev->len);
            } else {
                int rc = nc_send(loop, p->h, ev->data, ev->len);
                if (rc == NC_EAGAIN) {
                    pend_add(p, ev->data, ev->len);
                    if (!p->echo_paused) {
                        p->echo_paused = 1;
                        rc = nc_pause(loop, p->h);
                        if (rc != 0) {
                            p->send_errors++;
                            p->last_send_error = rc;
                        }
                    }
                } else if (rc != 0) {
                    p->send_errors++;
                    p->last_send_error = rc;
                }
            }
        }
        break;
    case NC_EV_WRITABLE:
        if (p->pend_len) {
            echo_flush(p, loop);
            if (!p->pend_len && p->ev[NC_EV_EOF]) eof_actions(p, loop);
        }
        break;
    case NC_EV_EOF:
        eof_actions(p, loop);
        break;
    case NC_EV_ERROR:
        p->last_error = ev->error;
        break;
    case NC_EV_CLOSED:
        p->close_error = ev->error;
        break;
    default:
        break;
    }
    if (p->hook) p->hook(p, loop, ev);
}

static peer *find_kid(peer *l, nc_handle h) {
    for (size_t i = 0; i < l->nkids; i++)
        if (l->kids[i]->h == h) return l->kids[i];
    return NULL;
}

void dispatch(nc_loop *loop, const nc_event *ev) {
    peer *p = ev->userdata;
    if (!p || p->magic != PEER_MAGIC) {
        t_unclaimed_events++;
        return;
    }
    if (p->child && ev->handle != p->h) {
        /* an event of a connection accepted by p */
        if (ev->kind == NC_EV_ACCEPTED) {
            if (ev->listener != p->h) t_fail_at(__FILE__, __LINE__, 0, "accepted.listener wrong");
            p->ev[NC_EV_ACCEPTED]++;
            peer *kid = peer_new(p->child->name);
            uint32_t magic = kid->magic;
            *kid = *p->child;
            kid->magic = magic;
            kid->h = ev->handle;
            kid->child = NULL;
            kid->kids = NULL;
            kid->nkids = kid->kids_cap = 0;
            kid->rx = NULL;
            kid->pend = NULL;
            kid->frame_len = NULL;
            if (!p->kids) track_peer(p);
            p->kids = grow(p->kids, &p->kids_cap, p->nkids + 1, sizeof *p->kids);
            p->kids[p->nkids++] = kid;
            int rc = nc_set_userdata(loop, ev->handle, kid);
            if (rc != 0) t_fail_at(__FILE__, __LINE__, 0, "nc_set_userdata: %s", t_code(rc));
            record(kid, loop, ev);
            return;
        }
        peer *kid = find_kid(p, ev->handle);
        if (!kid) {
            t_unclaimed_events++;
            return;
        }
        p = kid;
    }
    record(p, loop, ev);
}

static int poll_until_abs(nc_loop *loop, pred_fn pred, void *arg, int64_t deadline) {
    nc_event evs[64];
    for (long iter = 0; iter < 50000000L; iter++) {
        if (pred && pred(arg)) return 1;
        int64_t left = deadline - now_ms();
        if (left <= 0) break;
        int rc = nc_poll(loop, evs, 64, left > 20 ? 20 : (int)left);
        if (rc < 0) {
            t_fail_at(__FILE__, __LINE__, 1, "nc_poll returned %s", t_code(rc));
            return 0;
        }
        for (int i = 0; i < rc; i++) dispatch(loop, &evs[i]);
    }
    return pred ? pred(arg) : 1;
}

int poll_until(nc_loop *loop, pred_fn pred, void *arg, int timeout_ms) {
    return poll_until_abs(loop, pred, arg, now_ms() + (int64_t)T_MS(timeout_ms));
}

/* not scaled: a pause between actions, not a bound */
void poll_for(nc_loop *loop, int ms) { poll_until_abs(loop, NULL, NULL, now_ms() + ms); }

int poll_now(nc_loop *loop) {
    nc_event evs[64];
    int rc = nc_poll(loop, evs, 64, 0);
    if (rc < 0) t_fail_at(__FILE__, __LINE__, 1, "nc_poll returned %s", t_code(rc));
    for (int i = 0; i < rc; i++) dispatch(loop, &evs[i]);
    return rc;
}

int p_closed(void *p) { return ((peer *)p)->ev[NC_EV_CLOSED] > 0; }
int p_connected(void *p) {
    peer *q = p;
    return q->ev[NC_EV_CONNECTED] > 0 || q->ev[NC_EV_CONNECT_FAILED] > 0 || q->ev[NC_EV_CLOSED] > 0;
}
int p_eof(void *p) { return ((peer *)p)->ev[NC_EV_EOF] > 0 || ((peer *)p)->ev[NC_EV_CLOSED] > 0; }
int p_has_kid(void *p) { return ((peer *)p)->nkids > 0; }

typedef struct {
    peer *p;
    size_t n;
} rx_wait;
static int rx_reached(void *arg) {
    rx_wait *w = arg;
    return w->p->rx_total >= w->n || w->p->ev[NC_EV_CLOSED] > 0;
}
typedef struct {
    peer *p;
    int kind, n;
} kind_wait;
static int kind_reached(void *arg) {
    kind_wait *w = arg;
    return w->p->ev[w->kind] >= w->n;
}
int wait_kind(nc_loop *loop, peer *p, int kind, int n, int timeout_ms) {
    kind_wait w = {p, kind, n};
    return poll_until(loop, kind_reached, &w, timeout_ms);
}

int wait_rx(nc_loop *loop, peer *p, size_t n, int timeout_ms) {
    rx_wait w = {p, n};
    poll_until(loop, rx_reached, &w, timeout_ms);
    return p->rx_total >= n;
}

int local_port(nc_loop *loop, nc_handle h) {
    nc_addr a;
    memset(&a, 0, sizeof a);
    int rc = nc_local_addr(loop, h, &a);
    if (rc != 0) {
        t_fail_at(__FILE__, __LINE__, 1, "nc_local_addr returned %s", t_code(rc));
        return -1;
    }
    return a.port;
}

peer *listener_peer(nc_loop *loop, const char *host, int *port, peer *child) {
    peer *l = peer_new("listener");
    l->child = child;
    l->h = ASSERT_HANDLE(nc_tcp_listen(loop, host, 0, 0, 0, l));
    int p = local_port(loop, l->h);
    ASSERT(p > 0);
    if (port) *port = p;
    return l;
}

peer *echo_server(nc_loop *loop, const char *host, int *port) {
    peer *child = peer_new("echo");
    child->echo = 1;
    child->close_on_eof = 1;
    return listener_peer(loop, host, port, child);
}

peer *connect_peer(nc_loop *loop, const char *host, int port, const char *name) {
    peer *c = peer_new(name);
    c->h = ASSERT_HANDLE(nc_tcp_connect(loop, host, port, c));
    POLL_ASSERT(loop, p_connected, c, 5000);
    ASSERT_MSG(c->ev[NC_EV_CONNECTED] == 1, "connect to %s:%d failed: %s", host, port,
               t_code(c->connect_error));
    return c;
}

typedef struct {
    peer *l;
    size_t n;
} kid_wait;
static int kid_reached(void *arg) {
    kid_wait *w = arg;
    return w->l->nkids > w->n;
}
peer *wait_kid(nc_loop *loop, peer *l, size_t index) {
    kid_wait w = {l, index};
    POLL_ASSERT(loop, kid_reached, &w, 5000);
    return l->kids[index];
}

/* ------------------------------------------------------------ POSIX peers */

static int fill_sockaddr(const char *ip, int port, struct sockaddr_storage *ss, socklen_t *len) {
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *len = sizeof *in4;
        return AF_INET;
    }
    if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof *in6;
        return AF_INET6;
    }
    return -1;
}

int posix_listen(const char *ip, int *port) {
    struct sockaddr_storage ss;
    socklen_t len;
    int fam = fill_sockaddr(ip, 0, &ss, &len);
    ASSERT(fam > 0);
    int fd = t_fd(socket(fam, SOCK_STREAM, 0));
    ASSERT_MSG(fd >= 0, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ASSERT_MSG(bind(fd, (struct sockaddr *)&ss, len) == 0, "bind: %s", strerror(errno));
    ASSERT_MSG(listen(fd, 128) == 0, "listen: %s", strerror(errno));
    len = sizeof ss;
    ASSERT(getsockname(fd, (struct sockaddr *)&ss, &len) == 0);
    *port = fam == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                           : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

int posix_connect(const char *ip, int port) {
    struct sockaddr_storage ss;
    socklen_t len;
    int fam = fill_sockaddr(ip, port, &ss, &len);
    ASSERT(fam > 0);
    int fd = t_fd(socket(fam, SOCK_STREAM, 0));
    ASSERT_MSG(fd >= 0, "socket: %s", strerror(errno));
    ASSERT_MSG(connect(fd, (struct sockaddr *)&ss, len) == 0, "connect %s:%d: %s", ip, port,
               strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

int posix_accept(int lfd, int timeout_ms) {
    struct pollfd pfd = {lfd, POLLIN, 0};
    if (poll(&pfd, 1, T_MS(timeout_ms)) != 1) return -1;
    int fd = accept(lfd, NULL, NULL);
    if (fd >= 0) {
        t_fd(fd);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

int set_nonblock(int fd, int on) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return -1;
    return fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

int send_all(int fd, const void *buf, size_t len) {
    const uint8_t *b = buf;
    while (len) {
        ssize_t n = send(fd, b, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

int send_pieces(nc_loop *loop, int fd, const uint8_t *buf, size_t len, const size_t *pieces,
                int gap_ms) {
    size_t off = 0, k = 0;
    while (off < len) {
        size_t n = pieces[k];
        if (!n) {
            k = 0;
            n = pieces[0];
        }
        k++;
        if (n > len - off) n = len - off;
        if (send_all(fd, buf + off, n) != 0) return -1;
        off += n;
        if (loop) poll_for(loop, gap_ms);
        else sleep_ms(gap_ms);
    }
    return 0;
}

long recv_some(nc_loop *loop, int fd, uint8_t *buf, size_t len, int timeout_ms, int *eof,
               int *err) {
    int64_t deadline = now_ms() + T_MS(timeout_ms);
    size_t got = 0;
    if (eof) *eof = 0;
    if (err) *err = 0;
    while (got < len && now_ms() < deadline) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int ready = poll(&pfd, 1, loop ? 0 : 10);
        if (ready == 1) {
            ssize_t n = recv(fd, buf + got, len - got, MSG_DONTWAIT);
            if (n == 0) {
                if (eof) *eof = 1;
                break;
            }
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) continue;
                if (err) *err = errno;
                break;
            }
            got += (size_t)n;
            continue;
        }
        if (loop) poll_for(loop, 2);
    }
    return (long)got;
}

const char *addr_ip(const nc_addr *a, char *buf, size_t size) {
    if (a->family == NC_AF_INET) return inet_ntop(AF_INET, a->ip, buf, (socklen_t)size);
    if (a->family == NC_AF_INET6) return inet_ntop(AF_INET6, a->ip, buf, (socklen_t)size);
    snprintf(buf, size, "?");
    return buf;
}

/* --------------------------------------------------------------- runner */

static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t wd_deadline; /* 0: no test running */

static int wd_quit;

static void *watchdog(void *arg) {
    (void)arg;
    for (;;) {
        sleep_ms(50);
        pthread_mutex_lock(&wd_lock);
        int64_t d = wd_deadline;
        int quit = wd_quit;
        pthread_mutex_unlock(&wd_lock);
        if (quit) break;
        if (d && now_ms() > d) {
            printf("FAIL %s: watchdog: the test exceeded its time bound (hung?)\n", cur_name);
            printf("%d passed, %d failed\n", passed, failed + 1);
            fflush(stdout);
            _exit(1);
        }
    }
    return NULL;
}

volatile sig_atomic_t t_sigpipes;
static void on_sigpipe(int sig) {
    (void)sig;
    t_sigpipes++;
}

static int under_valgrind(void) {
    const char *pre = getenv("LD_PRELOAD");
    return pre && (strstr(pre, "vgpreload") || strstr(pre, "valgrind"));
}

static void run_one(const test_case *t) {
    cur_name = t->name;
    cur_failed = 0;
    cur_msg[0] = 0;
    t_unclaimed_events = 0;
    pthread_mutex_lock(&wd_lock);
    wd_deadline = now_ms() + (int64_t)(t->quick ? 60000 : 240000) * t_slow;
    pthread_mutex_unlock(&wd_lock);
    int pipes_before = t_sigpipes;
    if (setjmp(t_jmp) == 0) t->fn();
    if (t_sigpipes != pipes_before)
        t_fail_at(__FILE__, __LINE__, 0, "SIGPIPE was raised %d time(s) during the test",
                  (int)(t_sigpipes - pipes_before));
    release_peers();
    release_all();
    pthread_mutex_lock(&wd_lock);
    wd_deadline = 0;
    pthread_mutex_unlock(&wd_lock);
    if (cur_failed) {
        failed++;
        printf("FAIL %s: %s\n", t->name, cur_msg);
    } else {
        passed++;
        printf("ok %s\n", t->name);
    }
    fflush(stdout);
}

int main(int argc, char **argv) {
    int quick = 0, named = 0;
    main_thread = pthread_self();
    /* netcore promises never to raise SIGPIPE: count them instead of ignoring */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigpipe;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
    if (under_valgrind()) t_slow = 10;
    const char *slow = getenv("NC_TEST_SLOW");
    if (slow && atoi(slow) > 0) t_slow = atoi(slow);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) quick = 1;
        else if (strcmp(argv[i], "--list") == 0) {
            for (size_t k = 0; k < NTESTS; k++)
                printf("%s%s\n", tests[k].name, tests[k].quick ? "" : " (slow)");
            return 0;
        } else named++;
    }
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') continue;
        size_t k;
        for (k = 0; k < NTESTS; k++)
            if (strcmp(argv[i], tests[k].name) == 0) break;
        if (k == NTESTS) {
            fprintf(stderr, "unknown test: %s (try --list)\n", argv[i]);
            return 2;
        }
    }
    pthread_t wd;
    pthread_create(&wd, NULL, watchdog, NULL);
    for (size_t k = 0; k < NTESTS; k++) {
        const test_case *t = &tests[k];
        if (named) {
            int want = 0;
            for (int i = 1; i < argc; i++)
                if (strcmp(argv[i], t->name) == 0) want = 1;
            if (!want) continue;
        } else if (quick && !t->quick) {
            continue;
        }
        run_one(t);
    }
    pthread_mutex_lock(&wd_lock);
    wd_quit = 1;
    pthread_mutex_unlock(&wd_lock);
    pthread_join(wd, NULL);
    free(res);
    free(all_peers);
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}
