/*
 * openssl_echo — the OpenSSL anchor of the benchmark suite's TLS table: a TLS
 * echo server written the way a C programmer on an event loop (libuv, or
 * epoll by hand) wires up OpenSSL, following OpenSSL's manual pages for
 * non-blocking I/O (SSL_accept(3), SSL_read(3), SSL_write(3),
 * SSL_get_error(3)): one SSL_CTX with the certificate chain and key, one SSL
 * per accepted socket, edge-triggered epoll, SSL_accept until it is done,
 * then SSL_read until SSL_ERROR_WANT_READ and SSL_write of what was read.
 * A write the socket refuses is kept and retried when epoll reports the
 * socket writable (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER lets the retry use
 * the kept copy); meanwhile the connection is not read (backpressure).
 * SSL_MODE_RELEASE_BUFFERS frees an idle connection's record buffers, as
 * servers with many connections do (nginx sets it). TCP_NODELAY on every
 * accepted socket. Protocol versions, cipher suites and groups are
 * OpenSSL's defaults: the load generator chooses TLS 1.3, the cipher suite
 * and the group from the client side.
 *
 *   usage: openssl_echo [HOST:]PORT    (HOST defaults to 127.0.0.1; PORT 0
 *                                       picks a free port; IPv6 as [::1]:PORT)
 *   environment: NETCORE_TLS_CERT (PEM certificate chain), NETCORE_TLS_KEY
 *                (PEM private key)
 *
 * Same contract as netcore's TLS example servers: prints one line
 * "listening on HOST:PORT" once it accepts connections, echoes the
 * plaintext, exits 0 on SIGINT or SIGTERM after freeing its connections.
 *
 * Build: cc -O2 openssl_echo.c -o openssl_echo -lssl -lcrypto
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define BACKLOG 1024
#define READ_SIZE 16384 /* one TLS record's worth of plaintext */

typedef struct conn {
    int fd;
    SSL *ssl;
    int handshaken;
    unsigned char *pending; /* plaintext SSL_write has not taken yet */
    size_t pending_len;
    struct conn *prev, *next; /* every live connection, freed at exit */
} conn;

static SSL_CTX *ctx;
static int ep;
static conn *conns;
static unsigned char rbuf[READ_SIZE];
/* epoll data for the two descriptors that are not connections */
static char listener_tag, signal_tag;

static void conn_free(conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    SSL_free(c->ssl);
    close(c->fd);
    free(c->pending);
    free(c);
}

/* SSL_write of buf[0..len) until done or refused; a refused rest is kept.
 * Returns 0 when all was written or kept, -1 when the connection failed. */
static int write_all(conn *c, const unsigned char *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        int n = SSL_write(c->ssl, buf + off, (int)(len - off));
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ)
            return -1;
        if (buf != c->pending) {
            unsigned char *keep = malloc(len - off);
            if (keep == NULL)
                return -1;
            memcpy(keep, buf + off, len - off);
            c->pending = keep;
        } else if (off > 0) {
            memmove(c->pending, c->pending + off, len - off);
        }
        c->pending_len = len - off;
        return 0;
    }
    if (buf == c->pending) {
        free(c->pending);
        c->pending = NULL;
        c->pending_len = 0;
    }
    return 0;
}

/* Everything a readiness event allows: finish the handshake, retry a kept
 * write, then echo until the socket has nothing more (edge-triggered). */
static void serve(conn *c)
{
    if (!c->handshaken) {
        int r = SSL_accept(c->ssl);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                conn_free(c);
            return;
        }
        c->handshaken = 1;
    }
    if (c->pending) {
        if (write_all(c, c->pending, c->pending_len) != 0) {
            conn_free(c);
            return;
        }
        if (c->pending)
            return;
    }
    for (;;) {
        int n = SSL_read(c->ssl, rbuf, sizeof rbuf);
        if (n <= 0) {
            int e = SSL_get_error(c->ssl, n);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return;
            if (e == SSL_ERROR_ZERO_RETURN)
                SSL_shutdown(c->ssl); /* the peer's close_notify: answer it */
            conn_free(c);
            return;
        }
        if (write_all(c, rbuf, (size_t)n) != 0) {
            conn_free(c);
            return;
        }
        if (c->pending)
            return;
    }
}

static void accept_all(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                perror("openssl_echo: accept");
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn *c = calloc(1, sizeof *c);
        SSL *ssl = c ? SSL_new(ctx) : NULL;
        if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
            SSL_free(ssl);
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->ssl = ssl;
        c->next = conns;
        if (conns)
            conns->prev = c;
        conns = c;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            conn_free(c);
            continue;
        }
        serve(c);
    }
}

/* "PORT", "HOST:PORT" or "[IPV6]:PORT" -> a listening socket, or -1. */
static int listen_on(const char *arg)
{
    char host[256] = "127.0.0.1";
    const char *port = arg;
    const char *colon = strrchr(arg, ':');
    if (colon) {
        const char *h = arg;
        size_t hl = (size_t)(colon - arg);
        if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
            h++;
            hl -= 2;
        }
        if (hl == 0 || hl >= sizeof host)
            return -1;
        memcpy(host, h, hl);
        host[hl] = '\0';
        port = colon + 1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai;
    if (*port == '\0' || getaddrinfo(host, port, &hints, &ai) != 0)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
                    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, BACKLOG) != 0)) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static void print_address(int fd)
{
    struct sockaddr_storage a;
    socklen_t len = sizeof a;
    char ip[INET6_ADDRSTRLEN];
    getsockname(fd, (struct sockaddr *)&a, &len);
    if (a.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
        printf("listening on [%s]:%d\n", ip, ntohs(s6->sin6_port));
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&a;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
        printf("listening on %s:%d\n", ip, ntohs(s4->sin_port));
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: openssl_echo [HOST:]PORT\n");
        return 2;
    }
    const char *cert = getenv("NETCORE_TLS_CERT"), *key = getenv("NETCORE_TLS_KEY");
    if (cert == NULL || key == NULL) {
        fprintf(stderr, "openssl_echo: set NETCORE_TLS_CERT and NETCORE_TLS_KEY\n");
        return 2;
    }
    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        fprintf(stderr, "openssl_echo: certificate or key: ");
        ERR_print_errors_fp(stderr);
        return 1;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    int lfd = listen_on(argv[1]);
    if (lfd < 0) {
        fprintf(stderr, "openssl_echo: cannot listen on '%s'\n", argv[1]);
        return 1;
    }
    /* A write to a socket the peer closed fails with EPIPE, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigprocmask(SIG_BLOCK, &stop, NULL);
    int sfd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC);
    ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &listener_tag};
    struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &signal_tag};
    if (sfd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) != 0 ||
        epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &sev) != 0) {
        perror("openssl_echo: epoll");
        return 1;
    }
    print_address(lfd);

    struct epoll_event evs[256];
    for (int running = 1; running;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0 && errno != EINTR) {
            perror("openssl_echo: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &listener_tag)
                accept_all(lfd);
            else if (p == &signal_tag)
                running = 0;
            else
                serve(p);
        }
    }
    while (conns)
        conn_free(conns);
    close(lfd);
    close(sfd);
    close(ep);
    SSL_CTX_free(ctx);
    return 0;
}
