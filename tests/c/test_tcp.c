/* TCP: echo, backpressure, close semantics, half-close, pause, userdata, options. */
#include "harness.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------------ echo */

/* Both ends are closed and each got NC_EV_CLOSED once, without error. */
static void close_pair(nc_loop *loop, peer *client, peer *server_kid) {
    ASSERT_OK(nc_close(loop, client->h));
    POLL_ASSERT(loop, p_closed, client, 10000);
    POLL_ASSERT(loop, p_closed, server_kid, 10000);
    poll_for(loop, 20);
    ASSERT_EQ(client->ev[NC_EV_CLOSED], 1);
    ASSERT_EQ(server_kid->ev[NC_EV_CLOSED], 1);
    ASSERT_CODE(client->close_error, 0);
    ASSERT_CODE(server_kid->close_error, 0);
    ASSERT_EQ(client->after_closed, 0);
    ASSERT_EQ(server_kid->after_closed, 0);
}

static void echo_n(const char *host, size_t n, uint32_t seed, int timeout_ms) {
    nc_loop *loop = t_loop();
    int port;
    peer *srv = echo_server(loop, host, &port);
    peer *c = connect_peer(loop, host, port, "client");
    c->verify = 1;
    c->seed = seed;
    uint8_t *buf = t_alloc(n);
    fill_pattern(buf, n, seed, 0);
    /* A message larger than the high-water mark is accepted into an empty queue. */
    ASSERT_OK(nc_send(loop, c->h, buf, n));
    t_free(buf);
    ASSERT_MSG(wait_rx(loop, c, n, timeout_ms), "echoed %zu of %zu bytes", c->rx_total, n);
    ASSERT_MSG(c->bad_at < 0, "echoed byte %lld differs from what was sent", c->bad_at);
    ASSERT_EQ(c->rx_total, n);
    peer *kid = srv->kids[0];
    ASSERT_EQ(kid->rx_total, n);
    ASSERT_EQ(kid->send_errors, 0);
    /* no send of the client was refused: no NC_EV_WRITABLE is owed */
    ASSERT_EQ(c->ev[NC_EV_WRITABLE], 0);
    close_pair(loop, c, kid);
    ASSERT_EQ(t_unclaimed_events, 0);
}

void test_tcp_echo_1b(void) { echo_n("127.0.0.1", 1, 1, 5000); }
void test_tcp_echo_1k(void) { echo_n("127.0.0.1", 1024, 2, 5000); }
void test_tcp_echo_64k(void) { echo_n("127.0.0.1", 64 * 1024, 3, 5000); }
void test_tcp_echo_16m(void) { echo_n("127.0.0.1", 16u << 20, 4, 60000); }
void test_tcp_echo_ipv6(void) { echo_n("::1", 64 * 1024, 5, 5000); }

/* 1,000 connections open at once, all echoing. */
#define MANY 1000
#define MANY_BYTES 4096

static void send_on_connect(peer *p, nc_loop *loop, const nc_event *ev) {
    if (ev->kind != NC_EV_CONNECTED) return;
    uint8_t buf[MANY_BYTES];
    fill_pattern(buf, sizeof buf, p->seed, 0);
    int rc = nc_send(loop, p->h, buf, sizeof buf);
    if (rc != 0) {
        p->send_errors++;
        p->last_send_error = rc;
    }
}

typedef struct {
    peer **c;
    size_t n;
} group;

static int all_echoed(void *arg) {
    group *g = arg;
    for (size_t i = 0; i < g->n; i++)
        if (g->c[i]->rx_total < MANY_BYTES && !g->c[i]->ev[NC_EV_CLOSED]) return 0;
    return 1;
}
static int all_closed(void *arg) {
    group *g = arg;
    for (size_t i = 0; i < g->n; i++)
        if (!g->c[i]->ev[NC_EV_CLOSED]) return 0;
    return 1;
}

void test_tcp_echo_1000_connections(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *srv = echo_server(loop, "127.0.0.1", &port);
    peer **c = t_alloc(MANY * sizeof *c);
    for (size_t i = 0; i < MANY; i++) {
        c[i] = peer_new("client");
        c[i]->verify = 1;
        c[i]->seed = (uint32_t)i;
        c[i]->hook = send_on_connect;
        c[i]->h = ASSERT_HANDLE(nc_tcp_connect(loop, "127.0.0.1", port, c[i]));
    }
    group g = {c, MANY};
    POLL_ASSERT(loop, all_echoed, &g, 60000);
    ASSERT_EQ(srv->nkids, MANY);
    for (size_t i = 0; i < MANY; i++) {
        ASSERT_MSG(c[i]->ev[NC_EV_CONNECTED] == 1, "client %zu: connected %d times, error %s", i,
                   c[i]->ev[NC_EV_CONNECTED], t_code(c[i]->connect_error));
        ASSERT_MSG(c[i]->send_errors == 0, "client %zu: send failed: %s", i,
                   t_code(c[i]->last_send_error));
        ASSERT_MSG(c[i]->rx_total == MANY_BYTES, "client %zu got %zu bytes", i, c[i]->rx_total);
        ASSERT_MSG(c[i]->bad_at < 0, "client %zu: byte %lld differs", i, c[i]->bad_at);
        ASSERT_EQ(c[i]->ev[NC_EV_CLOSED], 0);
    }
    for (size_t i = 0; i < MANY; i++) ASSERT_OK(nc_close(loop, c[i]->h));
    POLL_ASSERT(loop, all_closed, &g, 30000);
    group kids = {srv->kids, srv->nkids};
    POLL_ASSERT(loop, all_closed, &kids, 30000);
    poll_for(loop, 20);
    for (size_t i = 0; i < MANY; i++) {
        ASSERT_EQ(c[i]->ev[NC_EV_CLOSED], 1);
        ASSERT_EQ(srv->kids[i]->ev[NC_EV_CLOSED], 1);
        ASSERT_EQ(srv->kids[i]->rx_total, MANY_BYTES);
    }
}

/* nc_sendv: several buffers go out as one message, in order. */
void test_tcp_sendv_gather(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *srv = echo_server(loop, "127.0.0.1", &port);
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    c->verify = 1;
    c->seed = 9;
    uint8_t buf[10000];
    fill_pattern(buf, sizeof buf, 9, 0);
    nc_buf bufs[5] = {{buf, 1}, {NULL, 0}, {buf + 1, 4999}, {buf + 5000, 3}, {buf + 5003, 4997}};
    ASSERT_OK(nc_sendv(loop, c->h, bufs, 5));
    ASSERT(wait_rx(loop, c, sizeof buf, 5000));
    ASSERT_EQ(c->rx_total, sizeof buf);
    ASSERT_MSG(c->bad_at < 0, "byte %lld differs", c->bad_at);
    /* all-empty gather: nothing to send */
    nc_buf empty[2] = {{NULL, 0}, {buf, 0}};
    ASSERT_RC(nc_sendv(loop, c->h, empty, 2), NC_EINVAL);
    /* the most buffers one call takes (1024), of varied sizes */
    enum { NB = 1024 };
    nc_buf *many = t_alloc(NB * sizeof *many);
    uint8_t *src = t_alloc(NB * 8);
    size_t total = 0;
    for (size_t i = 0; i < NB; i++) {
        size_t len = i % 8; /* 0..7 bytes, some empty */
        many[i].data = len ? src + total : NULL;
        many[i].len = len;
        total += len;
    }
    fill_pattern(src, total, 9, sizeof buf);
    ASSERT_OK(nc_sendv(loop, c->h, many, NB));
    ASSERT_MSG(wait_rx(loop, c, sizeof buf + total, 5000), "echoed %zu of %zu bytes",
               c->rx_total, sizeof buf + total);
    ASSERT_EQ(c->rx_total, sizeof buf + total);
    ASSERT_MSG(c->bad_at < 0, "byte %lld differs", c->bad_at);
    close_pair(loop, c, srv->kids[0]);
}

/* Data sent before NC_EV_CONNECTED is queued and delivered. */
void test_tcp_send_before_connected_is_queued(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *srv = echo_server(loop, "127.0.0.1", &port);
    peer *c = peer_new("client");
    c->verify = 1;
    c->seed = 11;
    c->h = ASSERT_HANDLE(nc_tcp_connect(loop, "127.0.0.1", port, c));
    uint8_t buf[3000];
    fill_pattern(buf, sizeof buf, 11, 0);
    ASSERT_OK(nc_send(loop, c->h, buf, 1000));
    ASSERT_OK(nc_send(loop, c->h, buf + 1000, 2000));
    ASSERT(wait_rx(loop, c, sizeof buf, 5000));
    ASSERT_EQ(c->ev[NC_EV_CONNECTED], 1);
    ASSERT_EQ(c->kinds_log[0], NC_EV_CONNECTED);
    ASSERT_MSG(c->bad_at < 0, "byte %lld differs", c->bad_at);
    close_pair(loop, c, srv->kids[0]);
}

/* ---------------------------------------------------------- backpressure */

/* Sends `chunk`-byte pattern pieces until NC_EAGAIN; returns the bytes accepted. */
static size_t fill_until_eagain(nc_loop *loop, nc_handle h, uint32_t seed, size_t chunk,
                                size_t limit) {
    uint8_t *buf = t_alloc(chunk);
    size_t sent = 0;
    int rc = 0;
    while (sent < limit) {
        fill_pattern(buf, chunk, seed, sent);
        rc = nc_send(loop, h, buf, chunk);
        if (rc != 0) break;
        sent += chunk;
    }
    t_free(buf);
    ASSERT_MSG(rc == NC_EAGAIN, "nc_send returned %s after %zu bytes, expected NC_EAGAIN",
               t_code(rc), sent);
    return sent;
}

/* Reads `n` bytes from a POSIX socket while polling the loop; checks the pattern. */
static void posix_read_verify(nc_loop *loop, int fd, size_t n, uint32_t seed, size_t offset,
                              int timeout_ms) {
    uint8_t *buf = t_alloc(1 << 16);
    size_t got = 0;
    int64_t deadline = now_ms() + T_MS(timeout_ms);
    while (got < n && now_ms() < deadline) {
        size_t want = n - got < (1u << 16) ? n - got : (1u << 16);
        int eof, err;
        long r = recv_some(loop, fd, buf, want, 50, &eof, &err);
        for (long i = 0; i < r; i++)
            ASSERT_MSG(buf[i] == pattern(seed, offset + got + (size_t)i),
                       "byte %zu differs", offset + got + (size_t)i);
        got += (size_t)r;
        ASSERT_MSG(!eof && !err, "reader: eof %d, error %s after %zu of %zu bytes", eof,
                   strerror(err), got, n);
    }
    t_free(buf);
    ASSERT_MSG(got == n, "reader got %zu of %zu bytes", got, n);
}

static int p_writable(void *p) { return ((peer *)p)->ev[NC_EV_WRITABLE] > 0; }

/* Socket buffers are 4 KiB on both sides, so while the reader does not read
 * the kernel can take only a few KiB off netcore's queue, however long the
 * loop runs; a 256 KiB message is then refused (the queue stays within
 * 256 KiB of the 1 MiB mark), with no NC_EV_WRITABLE. */
void test_tcp_backpressure_posix_reader(void) {
    nc_loop *loop = t_loop();
    int port;
    int lfd = posix_listen("127.0.0.1", &port);
    int small = 4096;
    ASSERT(setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    ASSERT_OK(nc_setopt(loop, c->h, NC_OPT_SNDBUF, small));
    int fd = posix_accept(lfd, 5000);
    ASSERT(fd >= 0);
    /* the reader does not read: the kernel buffers fill, then the queue */
    size_t sent = fill_until_eagain(loop, c->h, 21, 64 * 1024, (size_t)512 << 20);
    ASSERT(sent >= ((size_t)1 << 20) - 64 * 1024);
    poll_for(loop, 50);
    ASSERT_EQ(c->ev[NC_EV_WRITABLE], 0);
    /* still refused: the queue is above the mark */
    enum { MORE = 256 * 1024 };
    uint8_t *more = t_alloc(MORE);
    fill_pattern(more, MORE, 21, sent);
    ASSERT_RC(nc_send(loop, c->h, more, MORE), NC_EAGAIN);
    /* the reader resumes: every byte arrives in order, then WRITABLE */
    posix_read_verify(loop, fd, sent, 21, 0, 30000);
    POLL_ASSERT(loop, p_writable, c, 5000);
    ASSERT_EQ(c->ev[NC_EV_WRITABLE], 1);
    ASSERT_OK(nc_send(loop, c->h, more, MORE));
    posix_read_verify(loop, fd, MORE, 21, sent, 10000);
    ASSERT_EQ(c->ev[NC_EV_CLOSED], 0);
}

static void pause_on_accept(peer *p, nc_loop *loop, const nc_event *ev) {
    if (ev->kind == NC_EV_ACCEPTED) {
        int rc = nc_pause(loop, p->h);
        if (rc) T_FAIL_(0, "nc_pause: %s", t_code(rc));
    }
}

void test_tcp_backpressure_paused_reader(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *tmpl = peer_new("paused");
    tmpl->hook = pause_on_accept;
    tmpl->close_on_eof = 1;
    tmpl->verify = 1;
    tmpl->seed = 22;
    peer *srv = listener_peer(loop, "127.0.0.1", &port, tmpl);
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    peer *kid = wait_kid(loop, srv, 0);
    size_t sent = 0;
    /* interleave polling so the loop would deliver data if it were reading */
    for (int round = 0; round < 64; round++) {
        uint8_t buf[64 * 1024];
        fill_pattern(buf, sizeof buf, 22, sent);
        int rc = nc_send(loop, c->h, buf, sizeof buf);
        if (rc == NC_EAGAIN) break;
        ASSERT_OK(rc);
        sent += sizeof buf;
        if (round % 8 == 0) poll_for(loop, 5);
    }
    size_t more = fill_until_eagain(loop, c->h, 22, 64 * 1024, (size_t)512 << 20);
    (void)more;
    sent += more;
    poll_for(loop, 100);
    ASSERT_EQ(kid->ev[NC_EV_DATA], 0);
    ASSERT_EQ(c->ev[NC_EV_WRITABLE], 0);
    ASSERT_OK(nc_resume(loop, kid->h));
    ASSERT_MSG(wait_rx(loop, kid, sent, 30000), "reader got %zu of %zu bytes", kid->rx_total,
               sent);
    ASSERT_EQ(kid->rx_total, sent);
    ASSERT_MSG(kid->bad_at < 0, "byte %lld differs", kid->bad_at);
    POLL_ASSERT(loop, p_writable, c, 5000);
    ASSERT_EQ(c->ev[NC_EV_WRITABLE], 1);
    close_pair(loop, c, kid);
}

/* The exact whole-or-nothing rule against the mark, checked before the
 * connection is established (nothing can leave the queue yet). */
void test_tcp_backpressure_big_message_rule(void) {
    nc_loop *loop = t_loop();
    int port;
    int lfd = posix_listen("127.0.0.1", &port);
    peer *c = peer_new("client");
    c->h = ASSERT_HANDLE(nc_tcp_connect(loop, "127.0.0.1", port, c));
    ASSERT_OK(nc_setopt(loop, c->h, NC_OPT_LOW_WATER, 100));
    ASSERT_OK(nc_setopt(loop, c->h, NC_OPT_HIGH_WATER, 1000));
    uint8_t buf[4000];
    fill_pattern(buf, sizeof buf, 23, 0);
    ASSERT_OK(nc_send(loop, c->h, buf, 600));
    ASSERT_OK(nc_send(loop, c->h, buf + 600, 400));     /* exactly at the mark */
    ASSERT_RC(nc_send(loop, c->h, buf + 1000, 1), NC_EAGAIN); /* would pass it */
    ASSERT_RC(nc_send(loop, c->h, buf + 1000, 3000), NC_EAGAIN);
    size_t queued = 0;
    ASSERT_OK(nc_queued_bytes(loop, c->h, &queued));
    ASSERT_EQ(queued, 1000); /* what the mark is compared with; refusals add nothing */
    ASSERT_RC(nc_queued_bytes(loop, c->h, NULL), NC_EINVAL);
    int fd = posix_accept(lfd, 5000);
    ASSERT(fd >= 0);
    posix_read_verify(loop, fd, 1000, 23, 0, 5000);
    POLL_ASSERT(loop, p_writable, c, 5000);
    ASSERT_EQ(c->ev[NC_EV_WRITABLE], 1);
    ASSERT_EQ(c->ev[NC_EV_CONNECTED], 1);
    ASSERT_OK(nc_queued_bytes(loop, c->h, &queued));
    ASSERT_EQ(queued, 0); /* the reader has every byte */
    /* larger than the mark, into an empty queue: accepted whole */
    ASSERT_OK(nc_send(loop, c->h, buf + 1000, 3000));
    posix_read_verify(loop, fd, 3000, 23, 1000, 5000);

    /* a second connection: a message larger than the mark into an empty queue
     * is accepted; anything more is refused until it drains */
    peer *d = peer_new("client2");
    d->h = ASSERT_HANDLE(nc_tcp_connect(loop, "127.0.0.1", port, d));
    uint8_t *big = t_alloc(2u << 20);
    fill_pattern(big, 2u << 20, 24, 0);
    ASSERT_OK(nc_send(loop, d->h, big, 2u << 20)); /* default mark: 1 MiB */
    ASSERT_RC(nc_send(loop, d->h, big, 1), NC_EAGAIN);
    ASSERT_OK(nc_queued_bytes(loop, d->h, &queued));
    ASSERT_EQ(queued, 2u << 20);
    int fd2 = posix_accept(lfd, 5000);
    ASSERT(fd2 >= 0);
    posix_read_verify(loop, fd2, 2u << 20, 24, 0, 10000);
    POLL_ASSERT(loop, p_writable, d, 5000);
    ASSERT_EQ(d->ev[NC_EV_WRITABLE], 1);
}

/* ----------------------------------------------------------------- close */

static void graceful_close_posix(size_t total, size_t chunk, int timeout_ms) {
    nc_loop *loop = t_loop();
    int port;
    int lfd = posix_listen("127.0.0.1", &port);
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    int fd = posix_accept(lfd, 5000);
    ASSERT(fd >= 0);
    ASSERT_OK(nc_setopt(loop, c->h, NC_OPT_HIGH_WATER, (int64_t)total + (1 << 20)));
    uint8_t *buf = t_alloc(chunk);
    for (size_t off = 0; off < total; off += chunk) {
        fill_pattern(buf, chunk, 31, off);
        ASSERT_OK(nc_send(loop, c->h, buf, chunk));
    }
    t_free(buf);
    ASSERT_OK(nc_close(loop, c->h));
    ASSERT_RC(nc_send(loop, c->h, "x", 1), NC_ECLOSED);
    ASSERT_RC(nc_close(loop, c->h), NC_ECLOSED);
    posix_read_verify(loop, fd, total, 31, 0, timeout_ms);
    /* then EOF */
    uint8_t one;
    int eof = 0, err = 0;
    long r = recv_some(loop, fd, &one, 1, 5000, &eof, &err);
    ASSERT_MSG(r == 0 && eof && !err, "after the data: read %ld, eof %d, error %s", r, eof,
               strerror(err));
    t_close(fd);
    POLL_ASSERT(loop, p_closed, c, 5000);
    poll_for(loop, 20);
    ASSERT_EQ(c->ev[NC_EV_CLOSED], 1);
    ASSERT_CODE(c->close_error, 0);
}

void test_tcp_graceful_close_32m(void) { graceful_close_posix(32u << 20, 1u << 20, 60000); }

/* Graceful close right after queuing, with a netcore peer. */
void test_tcp_graceful_close_flushes_queue(void) {
    graceful_close_posix(4u << 20, 256u << 10, 20000);
    {
        /* closed before the connection is established: the data still goes out */
        nc_loop *l0 = t_loop();
        int p0;
        int lfd = posix_listen("127.0.0.1", &p0);
        peer *e = peer_new("early");
        e->h = ASSERT_HANDLE(nc_tcp_connect(l0, "127.0.0.1", p0, e));
        ASSERT_OK(nc_send(l0, e->h, "before connect", 14));
        ASSERT_OK(nc_close(l0, e->h));
        int fd = posix_accept(lfd, 5000);
        ASSERT(fd >= 0);
        uint8_t rb[32];
        int eof = 0, err = 0;
        long r = recv_some(l0, fd, rb, sizeof rb, 5000, &eof, &err);
        ASSERT_MSG(r == 14 && memcmp(rb, "before connect", 14) == 0 && eof,
                   "peer read %ld bytes, eof %d, error %s", r, eof, strerror(err));
        t_close(fd);
        POLL_ASSERT(l0, p_closed, e, 5000);
        poll_for(l0, 20);
        ASSERT_EQ(e->ev[NC_EV_CLOSED], 1);
    }
    nc_loop *loop = t_loop();
    int port;
    peer *tmpl = peer_new("reader");
    tmpl->verify = 1;
    tmpl->seed = 32;
    tmpl->close_on_eof = 1;
    peer *srv = listener_peer(loop, "127.0.0.1", &port, tmpl);
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    peer *kid = wait_kid(loop, srv, 0);
    size_t total = 6u << 20, chunk = 100000;
    ASSERT_OK(nc_setopt(loop, c->h, NC_OPT_HIGH_WATER, 8 << 20));
    uint8_t *buf = t_alloc(chunk);
    size_t off = 0;
    while (off < total) {
        size_t n = total - off < chunk ? total - off : chunk;
        fill_pattern(buf, n, 32, off);
        ASSERT_OK(nc_send(loop, c->h, buf, n));
        off += n;
    }
    ASSERT_OK(nc_close(loop, c->h));
    POLL_ASSERT(loop, p_closed, kid, 20000);
    POLL_ASSERT(loop, p_closed, c, 10000);
    poll_for(loop, 20);
    ASSERT_EQ(kid->rx_total, total);
    ASSERT_MSG(kid->bad_at < 0, "byte %lld differs", kid->bad_at);
    ASSERT_EQ(kid->ev[NC_EV_EOF], 1);
    ASSERT_EQ(kid->ev[NC_EV_CLOSED], 1);
    ASSERT_EQ(c->ev[NC_EV_CLOSED], 1);
    ASSERT_CODE(kid->close_error, 0);
    ASSERT_CODE(c->close_error, 0);
}

/* A connection to the POSIX listener `lfd` whose peer reads nothing: its queue is filled, then
 * `close_at_once` closes it, and the peer must see a reset before the whole queue. */
static void assert_queue_dropped_with_a_reset(nc_loop *loop, int lfd, int port,
                                              int (*close_at_once)(nc_loop *, nc_handle)) {
    peer *d = connect_peer(loop, "127.0.0.1", port, "client2");
    int fd = posix_accept(lfd, 5000);
    ASSERT(fd >= 0);
    size_t queued = fill_until_eagain(loop, d->h, 2, 64 * 1024, (size_t)512 << 20);
    ASSERT_OK(close_at_once(loop, d->h));
    POLL_ASSERT(loop, p_closed, d, 5000);
    uint8_t *sink = t_alloc(1 << 20);
    size_t got = 0;
    int64_t deadline = now_ms() + T_MS(10000);
    int eof = 0, err = 0;
    while (!eof && !err && now_ms() < deadline && got <= queued) {
        got += (size_t)recv_some(NULL, fd, sink, 1 << 20, 100, &eof, &err);
    }
    ASSERT_MSG(err == ECONNRESET, "peer read %zu of %zu queued bytes, eof %d, error %d (%s); "
                                  "expected ECONNRESET",
               got, queued, eof, err, strerror(err));
    ASSERT_MSG(got < queued, "the reset delivered the whole queue (%zu bytes)", got);
}

void test_tcp_close_reset_posix_peer(void) {
    nc_loop *loop = t_loop();
    int port;
    int lfd = posix_listen("127.0.0.1", &port);
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    int fd = posix_accept(lfd, 5000);
    ASSERT(fd >= 0);
    uint8_t buf[100000];
    fill_pattern(buf, sizeof buf, 0, 0);
    ASSERT_OK(nc_close_reset(loop, c->h));
    ASSERT_RC(nc_send(loop, c->h, buf, 1), NC_ECLOSED);
    POLL_ASSERT(loop, p_closed, c, 5000);
    poll_for(loop, 20);
    ASSERT_EQ(c->ev[NC_EV_CLOSED], 1);
    int eof = 0, err = 0;
    uint8_t rb[16];
    recv_some(NULL, fd, rb, sizeof rb, 5000, &eof, &err);
    ASSERT_MSG(err == ECONNRESET, "peer read: eof %d, error %d (%s); expected ECONNRESET", eof,
               err, strerror(err));

    /* with a queue that the peer is not reading: dropped, and the peer sees the reset */
    assert_queue_dropped_with_a_reset(loop, lfd, port, nc_close_reset);
}

void test_tcp_close_abort_posix_peer(void) {
    nc_loop *loop = t_loop();
    int port;
    int lfd = posix_listen("127.0.0.1", &port);
    /* nothing left queued: the peer gets every byte, then a clean EOF, and CLOSED comes at once */
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    int fd = posix_accept(lfd, 5000);
    ASSERT(fd >= 0);
    ASSERT_OK(nc_send(loop, c->h, "last words", 10));
    ASSERT_OK(nc_close_abort(loop, c->h));
    ASSERT_RC(nc_send(loop, c->h, "x", 1), NC_ECLOSED);
    ASSERT_RC(nc_close_abort(loop, c->h), NC_ECLOSED);
    nc_event ev[8];
    int n = nc_poll(loop, ev, 8, 0);
    int closed_at_once = 0;
    for (int i = 0; i < n; i++) closed_at_once |= ev[i].kind == NC_EV_CLOSED && ev[i].handle == c->h;
    ASSERT_MSG(closed_at_once, "no NC_EV_CLOSED in the first poll after nc_close_abort (%d events)", n);
    uint8_t rb[32];
    int eof = 0, err = 0;
    long r = recv_some(NULL, fd, rb, sizeof rb, 5000, &eof, &err);
    ASSERT_MSG(r == 10 && memcmp(rb, "last words", 10) == 0 && eof && !err,
               "peer read %ld bytes, eof %d, error %s", r, eof, strerror(err));

    /* with a queue that the peer is not reading: dropped, and the peer sees a reset, not an EOF */
    assert_queue_dropped_with_a_reset(loop, lfd, port, nc_close_abort);
}

void test_tcp_close_reset_netcore_peer(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *tmpl = peer_new("server");
    peer *srv = listener_peer(loop, "127.0.0.1", &port, tmpl);
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    peer *kid = wait_kid(loop, srv, 0);
    ASSERT_OK(nc_send(loop, c->h, "hello", 5));
    ASSERT(wait_rx(loop, kid, 5, 5000));
    /* the reset side queues a lot, then resets: the queue is dropped */
    ASSERT_OK(nc_close_reset(loop, c->h));
    POLL_ASSERT(loop, p_closed, kid, 5000);
    POLL_ASSERT(loop, p_closed, c, 5000);
    poll_for(loop, 20);
    ASSERT_EQ(kid->ev[NC_EV_CLOSED], 1);
    ASSERT_EQ(c->ev[NC_EV_CLOSED], 1);
    ASSERT_CODE(kid->close_error, NC_ECONNRESET);
    ASSERT_RC(nc_send(loop, kid->h, "x", 1), NC_EBADHANDLE);
}

/* ------------------------------------------------------------ half-close */

static void half_close(int client_first) {
    nc_loop *loop = t_loop();
    int port;
    peer *tmpl = peer_new("server");
    tmpl->store = 1;
    peer *srv = listener_peer(loop, "127.0.0.1", &port, tmpl);
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    c->store = 1;
    peer *kid = wait_kid(loop, srv, 0);
    peer *first = client_first ? c : kid, *second = client_first ? kid : c;

    ASSERT_OK(nc_send(loop, first->h, "last words", 10));
    ASSERT_OK(nc_shutdown(loop, first->h));
    POLL_ASSERT(loop, p_eof, second, 5000);
    ASSERT_EQ(second->ev[NC_EV_EOF], 1);
    ASSERT_EQ(second->ev[NC_EV_CLOSED], 0);
    ASSERT_EQ(first->ev[NC_EV_CLOSED], 0);
    ASSERT_EQ(second->rx_len, 10);
    ASSERT(memcmp(second->rx, "last words", 10) == 0);
    /* the shut side can no longer send; shutting again is EPIPE */
    ASSERT_RC(nc_send(loop, first->h, "x", 1), NC_EPIPE);
    ASSERT_RC(nc_shutdown(loop, first->h), NC_EPIPE);
    /* the other side still can, and the shut side still reads */
    ASSERT_OK(nc_send(loop, second->h, "reply", 5));
    ASSERT(wait_rx(loop, first, 5, 5000));
    ASSERT_EQ(first->rx_len, 5);
    ASSERT(memcmp(first->rx, "reply", 5) == 0);
    ASSERT_EQ(first->ev[NC_EV_CLOSED], 0);
    /* both shut: both close, once, cleanly */
    ASSERT_OK(nc_shutdown(loop, second->h));
    POLL_ASSERT(loop, p_closed, first, 5000);
    POLL_ASSERT(loop, p_closed, second, 5000);
    poll_for(loop, 20);
    ASSERT_EQ(first->ev[NC_EV_EOF], 1);
    ASSERT_EQ(first->ev[NC_EV_CLOSED], 1);
    ASSERT_EQ(second->ev[NC_EV_CLOSED], 1);
    ASSERT_CODE(first->close_error, 0);
    ASSERT_CODE(second->close_error, 0);
    ASSERT_RC(nc_shutdown(loop, first->h), NC_EBADHANDLE);
}

void test_tcp_half_close_client_first(void) { half_close(1); }
void test_tcp_half_close_server_first(void) { half_close(0); }

void test_tcp_half_close_posix_peer(void) {
    nc_loop *loop = t_loop();
    int port;
    int lfd = posix_listen("127.0.0.1", &port);
    /* netcore shuts first, right after queuing 4 MiB: all of it, then EOF */
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    c->store = 1;
    int fd = posix_accept(lfd, 5000);
    ASSERT(fd >= 0);
    size_t total = 4u << 20;
    uint8_t *buf = t_alloc(total);
    fill_pattern(buf, total, 33, 0);
    ASSERT_OK(nc_send(loop, c->h, buf, total));
    ASSERT_OK(nc_shutdown(loop, c->h));
    posix_read_verify(loop, fd, total, 33, 0, 20000);
    uint8_t rb[16];
    int eof = 0, err = 0;
    long r = recv_some(loop, fd, rb, sizeof rb, 5000, &eof, &err);
    ASSERT_MSG(r == 0 && eof, "peer read %ld bytes, eof %d, error %s", r, eof, strerror(err));
    ASSERT(send_all(fd, "back", 4) == 0);
    ASSERT(wait_rx(loop, c, 4, 5000));
    ASSERT(memcmp(c->rx, "back", 4) == 0);
    ASSERT_EQ(c->ev[NC_EV_CLOSED], 0);
    ASSERT(shutdown(fd, SHUT_WR) == 0);
    POLL_ASSERT(loop, p_closed, c, 5000);
    ASSERT_EQ(c->ev[NC_EV_EOF], 1);
    ASSERT_EQ(c->ev[NC_EV_CLOSED], 1);
    ASSERT_CODE(c->close_error, 0);
    t_close(fd);

    /* the POSIX peer shuts first: netcore sees EOF and can still send */
    peer *d = connect_peer(loop, "127.0.0.1", port, "client2");
    fd = posix_accept(lfd, 5000);
    ASSERT(fd >= 0);
    ASSERT(shutdown(fd, SHUT_WR) == 0);
    POLL_ASSERT(loop, p_eof, d, 5000);
    ASSERT_EQ(d->ev[NC_EV_EOF], 1);
    ASSERT_EQ(d->ev[NC_EV_CLOSED], 0);
    ASSERT_OK(nc_send(loop, d->h, "after eof", 9));
    r = recv_some(loop, fd, rb, 9, 5000, &eof, &err);
    ASSERT_EQ(r, 9);
    ASSERT(memcmp(rb, "after eof", 9) == 0);
    ASSERT_OK(nc_shutdown(loop, d->h));
    POLL_ASSERT(loop, p_closed, d, 5000);
    ASSERT_EQ(d->ev[NC_EV_CLOSED], 1);
    ASSERT_CODE(d->close_error, 0);
    r = recv_some(loop, fd, rb, sizeof rb, 5000, &eof, &err);
    ASSERT_MSG(r == 0 && eof, "peer read %ld bytes, eof %d, error %s", r, eof, strerror(err));
    t_close(fd);

    /* shut down before the connection is even established: data, then FIN */
    peer *e = peer_new("client3");
    e->h = ASSERT_HANDLE(nc_tcp_connect(loop, "127.0.0.1", port, e));
    ASSERT_OK(nc_send(loop, e->h, "early", 5));
    ASSERT_OK(nc_shutdown(loop, e->h));
    ASSERT_RC(nc_send(loop, e->h, "x", 1), NC_EPIPE);
    fd = posix_accept(lfd, 5000);
    ASSERT(fd >= 0);
    r = recv_some(loop, fd, rb, sizeof rb, 5000, &eof, &err);
    ASSERT_MSG(r == 5 && memcmp(rb, "early", 5) == 0 && eof,
               "peer read %ld bytes, eof %d, error %s", r, eof, strerror(err));
    ASSERT_EQ(e->ev[NC_EV_CONNECTED], 1);
    ASSERT(send_all(fd, "ok", 2) == 0);
    ASSERT(shutdown(fd, SHUT_WR) == 0);
    POLL_ASSERT(loop, p_closed, e, 5000);
    ASSERT_EQ(e->rx_total, 2);
    ASSERT_CODE(e->close_error, 0);
}

/* --------------------------------------------------- closed exactly once */

static void assert_stale(nc_loop *loop, nc_handle h) {
    int64_t v;
    void *ud;
    nc_addr a;
    ASSERT_RC(nc_send(loop, h, "x", 1), NC_EBADHANDLE);
    ASSERT_RC(nc_close(loop, h), NC_EBADHANDLE);
    ASSERT_RC(nc_close_reset(loop, h), NC_EBADHANDLE);
    ASSERT_RC(nc_shutdown(loop, h), NC_EBADHANDLE);
    ASSERT_RC(nc_pause(loop, h), NC_EBADHANDLE);
    ASSERT_RC(nc_resume(loop, h), NC_EBADHANDLE);
    ASSERT_RC(nc_handle_kind(loop, h), NC_EBADHANDLE);
    ASSERT_RC(nc_getopt(loop, h, NC_OPT_NODELAY, &v), NC_EBADHANDLE);
    ASSERT_RC(nc_get_userdata(loop, h, &ud), NC_EBADHANDLE);
    ASSERT_RC(nc_set_userdata(loop, h, NULL), NC_EBADHANDLE);
    ASSERT_RC(nc_local_addr(loop, h, &a), NC_EBADHANDLE);
}

static void closed_once(nc_loop *loop, peer *p) {
    POLL_ASSERT(loop, p_closed, p, 10000);
    poll_for(loop, 30);
    ASSERT_MSG(p->ev[NC_EV_CLOSED] == 1, "%s: NC_EV_CLOSED %d times", p->name,
               p->ev[NC_EV_CLOSED]);
    ASSERT_MSG(p->after_closed == 0, "%s: %d events after NC_EV_CLOSED", p->name,
               p->after_closed);
    assert_stale(loop, p->h);
}

void test_tcp_closed_exactly_once(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *srv = echo_server(loop, "127.0.0.1", &port);

    /* graceful close by the client; the echo side closes on EOF */
    peer *a = connect_peer(loop, "127.0.0.1", port, "graceful");
    peer *ak = wait_kid(loop, srv, 0);
    ASSERT_OK(nc_send(loop, a->h, "abc", 3));
    ASSERT(wait_rx(loop, a, 3, 5000));
    ASSERT_OK(nc_close(loop, a->h));
    closed_once(loop, a);
    closed_once(loop, ak);

    /* close, then reset while closing */
    peer *b = connect_peer(loop, "127.0.0.1", port, "close+reset");
    peer *bk = wait_kid(loop, srv, 1);
    ASSERT_OK(nc_close(loop, b->h));
    ASSERT_RC(nc_close(loop, b->h), NC_ECLOSED);
    ASSERT_OK(nc_close_reset(loop, b->h));
    closed_once(loop, b);
    closed_once(loop, bk);

    /* reset of an accepted connection */
    peer *d = connect_peer(loop, "127.0.0.1", port, "reset-by-server");
    peer *dk = wait_kid(loop, srv, 2);
    ASSERT_OK(nc_close_reset(loop, dk->h));
    closed_once(loop, dk);
    closed_once(loop, d);

    /* closed while still connecting */
    peer *e = peer_new("close-while-connecting");
    e->h = ASSERT_HANDLE(nc_tcp_connect(loop, "127.0.0.1", port, e));
    ASSERT_OK(nc_close(loop, e->h));
    closed_once(loop, e);
    peer *e2 = peer_new("reset-while-connecting");
    e2->h = ASSERT_HANDLE(nc_tcp_connect(loop, "127.0.0.1", port, e2));
    ASSERT_OK(nc_close_reset(loop, e2->h));
    closed_once(loop, e2);

    /* closed while connecting, with data queued, and the connection is refused */
    peer *gone = peer_new("gone-listener");
    gone->h = ASSERT_HANDLE(nc_tcp_listen(loop, "127.0.0.1", 0, 0, 0, gone));
    int gone_port = local_port(loop, gone->h);
    ASSERT_OK(nc_close(loop, gone->h));
    closed_once(loop, gone);
    peer *e3 = peer_new("close-refused-with-queue");
    e3->h = ASSERT_HANDLE(nc_tcp_connect(loop, "127.0.0.1", gone_port, e3));
    ASSERT_OK(nc_send(loop, e3->h, "queued", 6));
    ASSERT_OK(nc_close(loop, e3->h));
    closed_once(loop, e3);
    ASSERT_EQ(e3->ev[NC_EV_CONNECTED], 0);

    /* closed while resolving a name (names go to a resolver thread) */
    peer *f = peer_new("close-while-resolving");
    f->h = ASSERT_HANDLE(nc_tcp_connect(loop, "localhost", port, f));
    ASSERT_OK(nc_close(loop, f->h));
    closed_once(loop, f);
    poll_for(loop, 100);
    ASSERT_EQ(f->ev[NC_EV_CLOSED], 1);
    ASSERT_EQ(f->after_closed, 0);

    /* the peer closes first (POSIX), then we close */
    int lfd = posix_listen("127.0.0.1", &port);
    peer *g = connect_peer(loop, "127.0.0.1", port, "peer-closes");
    int fd = posix_accept(lfd, 5000);
    ASSERT(fd >= 0);
    t_close(fd);
    POLL_ASSERT(loop, p_eof, g, 5000);
    ASSERT_OK(nc_close(loop, g->h));
    closed_once(loop, g);

    /* the peer resets while we have a queue: closed once, with an error */
    peer *q = connect_peer(loop, "127.0.0.1", port, "reset-with-queue");
    fd = posix_accept(lfd, 5000);
    ASSERT(fd >= 0);
    fill_until_eagain(loop, q->h, 1, 64 * 1024, (size_t)512 << 20);
    struct linger lg = {1, 0};
    ASSERT(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
    t_close(fd);
    closed_once(loop, q);
    ASSERT_MSG(q->close_error < 0, "abnormal end, but NC_EV_CLOSED has error %s",
               t_code(q->close_error));

    /* closing a paused connection with unread input */
    peer *r = connect_peer(loop, "127.0.0.1", port, "paused-unread");
    fd = posix_accept(lfd, 5000);
    ASSERT(fd >= 0);
    ASSERT_OK(nc_pause(loop, r->h));
    ASSERT(send_all(fd, "unread input", 12) == 0);
    poll_for(loop, 30);
    ASSERT_OK(nc_close(loop, r->h));
    uint8_t rb[4];
    int eof = 0, err = 0;
    recv_some(loop, fd, rb, sizeof rb, 5000, &eof, &err);
    ASSERT_MSG(eof, "the peer did not see our FIN (error %d)", err);
    t_close(fd);
    closed_once(loop, r);

    /* the listener itself, and a UDP socket */
    ASSERT_OK(nc_close(loop, srv->h));
    closed_once(loop, srv);
    peer *u = peer_new("udp");
    u->h = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, u));
    ASSERT_OK(nc_close_reset(loop, u->h));
    closed_once(loop, u);
    ASSERT_EQ(t_unclaimed_events, 0);
}

/* A closed handle stays invalid even when its slot is reused. */
void test_tcp_stale_handle_not_reused(void) {
    nc_loop *loop = t_loop();
    nc_handle old[50];
    for (int i = 0; i < 50; i++) {
        peer *u = peer_new("udp");
        u->h = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, u));
        old[i] = u->h;
        for (int k = 0; k < i; k++) ASSERT_MSG(old[k] != u->h, "handle %lld reused", (long long)u->h);
        ASSERT_OK(nc_close(loop, u->h));
        POLL_ASSERT(loop, p_closed, u, 5000);
        /* stale once the poll after the one that delivered NC_EV_CLOSED ran */
        poll_now(loop);
        ASSERT_RC(nc_handle_kind(loop, u->h), NC_EBADHANDLE);
    }
    peer *live = peer_new("live");
    live->h = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, live));
    for (int i = 0; i < 50; i++) {
        ASSERT(old[i] != live->h);
        ASSERT_RC(nc_close(loop, old[i]), NC_EBADHANDLE);
    }
    ASSERT_EQ(nc_handle_kind(loop, live->h), NC_KIND_UDP);
}

/* ---------------------------------------------------------- pause/resume */

void test_tcp_pause_resume(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *tmpl = peer_new("server");
    tmpl->store = 1;
    tmpl->hook = pause_on_accept;
    peer *srv = listener_peer(loop, "127.0.0.1", &port, tmpl);
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    peer *kid = wait_kid(loop, srv, 0);
    ASSERT_OK(nc_send(loop, c->h, "hello", 5));
    poll_for(loop, 150);
    ASSERT_EQ(kid->ev[NC_EV_DATA], 0);
    ASSERT_OK(nc_resume(loop, kid->h));
    ASSERT(wait_rx(loop, kid, 5, 5000));
    ASSERT(memcmp(kid->rx, "hello", 5) == 0);
    /* pause again mid-stream; resume twice is harmless */
    ASSERT_OK(nc_pause(loop, kid->h));
    ASSERT_OK(nc_pause(loop, kid->h));
    ASSERT_OK(nc_send(loop, c->h, " world", 6));
    poll_for(loop, 150);
    ASSERT_EQ(kid->rx_total, 5);
    ASSERT_OK(nc_resume(loop, kid->h));
    ASSERT_OK(nc_resume(loop, kid->h));
    ASSERT(wait_rx(loop, kid, 11, 5000));
    ASSERT_EQ(kid->rx_len, 11);
    ASSERT(memcmp(kid->rx, "hello world", 11) == 0);
    /* a paused connection can still send */
    ASSERT_OK(nc_pause(loop, kid->h));
    c->store = 1;
    ASSERT_OK(nc_send(loop, kid->h, "pong", 4));
    ASSERT(wait_rx(loop, c, 4, 5000));
    ASSERT(memcmp(c->rx, "pong", 4) == 0);
}

/* Peer close while paused with nothing unread is still reported. */
void test_tcp_pause_peer_close_noticed(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *tmpl = peer_new("server");
    tmpl->hook = pause_on_accept;
    peer *srv = listener_peer(loop, "127.0.0.1", &port, tmpl);

    /* a POSIX peer closes */
    int fd = posix_connect("127.0.0.1", port);
    peer *kid = wait_kid(loop, srv, 0);
    poll_for(loop, 20);
    t_close(fd);
    POLL_ASSERT(loop, p_eof, kid, 3000);
    ASSERT_EQ(kid->ev[NC_EV_EOF], 1);
    ASSERT_EQ(kid->ev[NC_EV_DATA], 0);
    ASSERT_OK(nc_close(loop, kid->h));
    POLL_ASSERT(loop, p_closed, kid, 5000);

    /* a netcore peer closes gracefully: both ends finish */
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    peer *kid2 = wait_kid(loop, srv, 1);
    kid2->close_on_eof = 1;
    poll_for(loop, 20);
    ASSERT_OK(nc_close(loop, c->h));
    POLL_ASSERT(loop, p_eof, kid2, 3000);
    POLL_ASSERT(loop, p_closed, kid2, 5000);
    POLL_ASSERT(loop, p_closed, c, 5000);
}

/* A reset while paused is reported too. */
void test_tcp_pause_peer_reset_noticed(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *tmpl = peer_new("server");
    tmpl->hook = pause_on_accept;
    peer *srv = listener_peer(loop, "127.0.0.1", &port, tmpl);
    int fd = posix_connect("127.0.0.1", port);
    peer *kid3 = wait_kid(loop, srv, 0);
    poll_for(loop, 20);
    struct linger lg = {1, 0};
    ASSERT(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
    t_close(fd);
    POLL_ASSERT(loop, p_closed, kid3, 3000);
    ASSERT_CODE(kid3->close_error, NC_ECONNRESET);
}

/* Unread data while paused, then the peer closes: data first, then EOF, after resume. */
void test_tcp_pause_unread_then_close(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *tmpl = peer_new("server");
    tmpl->hook = pause_on_accept;
    tmpl->store = 1;
    peer *srv = listener_peer(loop, "127.0.0.1", &port, tmpl);
    int fd = posix_connect("127.0.0.1", port);
    peer *kid = wait_kid(loop, srv, 0);
    ASSERT(send_all(fd, "unread", 6) == 0);
    t_close(fd);
    poll_for(loop, 150);
    ASSERT_EQ(kid->ev[NC_EV_DATA], 0);
    ASSERT_EQ(kid->ev[NC_EV_EOF], 0);
    ASSERT_EQ(kid->ev[NC_EV_CLOSED], 0);
    ASSERT_OK(nc_resume(loop, kid->h));
    POLL_ASSERT(loop, p_eof, kid, 5000);
    ASSERT_EQ(kid->rx_len, 6);
    ASSERT(memcmp(kid->rx, "unread", 6) == 0);
    ASSERT_EQ(kid->ev[NC_EV_EOF], 1);
    /* order: accepted, data..., eof */
    ASSERT_EQ(kid->kinds_log[kid->nlog - 1], NC_EV_EOF);
}

/* -------------------------------------------------------------- userdata */

static nc_event found;
static int find_event(nc_loop *loop, nc_handle h, int kind, int timeout_ms) {
    nc_event evs[16];
    int64_t deadline = now_ms() + T_MS(timeout_ms);
    while (now_ms() < deadline) {
        int n = nc_poll(loop, evs, 16, 20);
        if (n < 0) return n;
        for (int i = 0; i < n; i++) {
            if ((h == 0 || evs[i].handle == h) && evs[i].kind == kind) {
                found = evs[i];
                return 1;
            }
        }
    }
    return 0;
}

void test_tcp_userdata(void) {
    nc_loop *loop = t_loop();
    void *lud = (void *)(uintptr_t)0x1111, *cud = (void *)(uintptr_t)0x2222,
         *kud = (void *)(uintptr_t)0x3333;
    nc_handle l = ASSERT_HANDLE(nc_tcp_listen(loop, "127.0.0.1", 0, 0, 0, lud));
    void *ud = NULL;
    ASSERT_OK(nc_get_userdata(loop, l, &ud));
    ASSERT(ud == lud);
    nc_handle c = ASSERT_HANDLE(nc_tcp_connect(loop, "127.0.0.1", local_port(loop, l), cud));
    ASSERT_OK(nc_get_userdata(loop, c, &ud));
    ASSERT(ud == cud);
    ASSERT_EQ(find_event(loop, 0, NC_EV_ACCEPTED, 5000), 1);
    nc_handle k = found.handle;
    ASSERT(k > 0 && k != l && k != c);
    ASSERT_EQ(found.listener, l);
    ASSERT_MSG(found.userdata == lud, "accepted event userdata %p, listener's is %p",
               found.userdata, lud);
    ASSERT_OK(nc_get_userdata(loop, k, &ud));
    ASSERT_MSG(ud == lud, "accepted connection starts with %p, listener's is %p", ud, lud);
    ASSERT_OK(nc_set_userdata(loop, k, kud));
    ASSERT_OK(nc_get_userdata(loop, k, &ud));
    ASSERT(ud == kud);
    ASSERT_OK(nc_send(loop, c, "x", 1));
    ASSERT_EQ(find_event(loop, k, NC_EV_DATA, 5000), 1);
    ASSERT(found.userdata == kud);
    ASSERT_OK(nc_send(loop, k, "y", 1));
    ASSERT_EQ(find_event(loop, c, NC_EV_DATA, 5000), 1);
    ASSERT(found.userdata == cud);
    /* the listener keeps its own */
    ASSERT_OK(nc_get_userdata(loop, l, &ud));
    ASSERT(ud == lud);
    /* NULL is a valid value; CLOSED carries the latest */
    ASSERT_OK(nc_set_userdata(loop, c, NULL));
    ASSERT_OK(nc_get_userdata(loop, c, &ud));
    ASSERT(ud == NULL);
    ASSERT_OK(nc_set_userdata(loop, c, cud));
    ASSERT_OK(nc_close_reset(loop, c));
    ASSERT_EQ(find_event(loop, c, NC_EV_CLOSED, 5000), 1);
    ASSERT(found.userdata == cud);
    ASSERT_OK(nc_close(loop, l));
    ASSERT_EQ(find_event(loop, l, NC_EV_CLOSED, 5000), 1);
    ASSERT(found.userdata == lud);
    ASSERT_EQ(found.listener, 0);
    /* UDP too */
    nc_handle u = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, kud));
    ASSERT_OK(nc_get_userdata(loop, u, &ud));
    ASSERT(ud == kud);
}

/* --------------------------------------------------------------- options */

void test_tcp_options(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *srv = listener_peer(loop, "127.0.0.1", &port, peer_new("server"));
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    peer *k = wait_kid(loop, srv, 0);
    int64_t v = -7;
    ASSERT_OK(nc_getopt(loop, c->h, NC_OPT_NODELAY, &v));
    ASSERT_MSG(v == 1, "NODELAY on a connected socket is %lld", (long long)v);
    v = -7;
    ASSERT_OK(nc_getopt(loop, k->h, NC_OPT_NODELAY, &v));
    ASSERT_MSG(v == 1, "NODELAY on an accepted socket is %lld", (long long)v);
    ASSERT_OK(nc_setopt(loop, c->h, NC_OPT_NODELAY, 0));
    ASSERT_OK(nc_getopt(loop, c->h, NC_OPT_NODELAY, &v));
    ASSERT_EQ(v, 0);
    ASSERT_OK(nc_setopt(loop, c->h, NC_OPT_NODELAY, 1));
    ASSERT_OK(nc_getopt(loop, c->h, NC_OPT_NODELAY, &v));
    ASSERT_EQ(v, 1);

    ASSERT_OK(nc_setopt(loop, c->h, NC_OPT_KEEPALIVE, 60));
    ASSERT_OK(nc_getopt(loop, c->h, NC_OPT_KEEPALIVE, &v));
    ASSERT_EQ(v, 60);
    ASSERT_OK(nc_setopt(loop, c->h, NC_OPT_KEEPALIVE, 32767));
    ASSERT_OK(nc_getopt(loop, c->h, NC_OPT_KEEPALIVE, &v));
    ASSERT_EQ(v, 32767);
    ASSERT_OK(nc_setopt(loop, c->h, NC_OPT_KEEPALIVE, 0));
    ASSERT_OK(nc_getopt(loop, c->h, NC_OPT_KEEPALIVE, &v));
    ASSERT_EQ(v, 0);

    ASSERT_OK(nc_setopt(loop, c->h, NC_OPT_RCVBUF, 65536));
    ASSERT_OK(nc_getopt(loop, c->h, NC_OPT_RCVBUF, &v));
    ASSERT_MSG(v >= 65536, "RCVBUF %lld", (long long)v);
    ASSERT_OK(nc_setopt(loop, c->h, NC_OPT_SNDBUF, 131072));
    ASSERT_OK(nc_getopt(loop, c->h, NC_OPT_SNDBUF, &v));
    ASSERT_MSG(v >= 131072, "SNDBUF %lld", (long long)v);

    ASSERT_OK(nc_getopt(loop, c->h, NC_OPT_HIGH_WATER, &v));
    ASSERT_EQ(v, 1 << 20);
    ASSERT_OK(nc_getopt(loop, c->h, NC_OPT_LOW_WATER, &v));
    ASSERT_EQ(v, 256 << 10);
    ASSERT_OK(nc_setopt(loop, c->h, NC_OPT_HIGH_WATER, 4 << 20));
    ASSERT_OK(nc_getopt(loop, c->h, NC_OPT_HIGH_WATER, &v));
    ASSERT_EQ(v, 4 << 20);
    ASSERT_OK(nc_setopt(loop, c->h, NC_OPT_LOW_WATER, 4 << 20)); /* equal is allowed */
    ASSERT_OK(nc_getopt(loop, c->h, NC_OPT_LOW_WATER, &v));
    ASSERT_EQ(v, 4 << 20);
    ASSERT_RC(nc_setopt(loop, c->h, NC_OPT_LOW_WATER, (4 << 20) + 1), NC_EINVAL);
    ASSERT_RC(nc_setopt(loop, c->h, NC_OPT_HIGH_WATER, (4 << 20) - 1), NC_EINVAL);
    ASSERT_OK(nc_setopt(loop, c->h, NC_OPT_LOW_WATER, 0));
    ASSERT_OK(nc_setopt(loop, c->h, NC_OPT_HIGH_WATER, 1));
    ASSERT_OK(nc_setopt(loop, c->h, NC_OPT_HIGH_WATER, 1 << 30));
    ASSERT_OK(nc_getopt(loop, c->h, NC_OPT_HIGH_WATER, &v));
    ASSERT_EQ(v, 1 << 30);

    /* out of range: refused, and nothing changes */
    struct {
        int opt;
        int64_t value;
    } bad[] = {
        {NC_OPT_NODELAY, 2},          {NC_OPT_NODELAY, -1},
        {NC_OPT_KEEPALIVE, -1},       {NC_OPT_KEEPALIVE, 32768},
        {NC_OPT_RCVBUF, 0},           {NC_OPT_RCVBUF, (1LL << 30) + 1},
        {NC_OPT_SNDBUF, 0},           {NC_OPT_SNDBUF, -5},
        {NC_OPT_HIGH_WATER, 0},       {NC_OPT_HIGH_WATER, (1LL << 30) + 1},
        {NC_OPT_LOW_WATER, -1},       {NC_OPT_LOW_WATER, (1LL << 30) + 1},
        {NC_OPT_HIGH_WATER, INT64_MAX}, {NC_OPT_RCVBUF, INT64_MIN},
        {NC_OPT_KEEPALIVE, (1LL << 32) + 60},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long long rc = nc_setopt(loop, c->h, bad[i].opt, bad[i].value);
        ASSERT_MSG(rc == NC_EINVAL, "nc_setopt(opt %d, %lld) returned %s, expected NC_EINVAL",
                   bad[i].opt, (long long)bad[i].value, t_code(rc));
    }
    ASSERT_OK(nc_getopt(loop, c->h, NC_OPT_HIGH_WATER, &v));
    ASSERT_EQ(v, 1 << 30);
    ASSERT_OK(nc_getopt(loop, c->h, NC_OPT_NODELAY, &v));
    ASSERT_EQ(v, 1);
    ASSERT_OK(nc_getopt(loop, c->h, NC_OPT_KEEPALIVE, &v));
    ASSERT_EQ(v, 0);

    /* broadcast is UDP-only */
    ASSERT_RC(nc_setopt(loop, c->h, NC_OPT_BROADCAST, 1), NC_EWRONGKIND);
    ASSERT_RC(nc_getopt(loop, c->h, NC_OPT_BROADCAST, &v), NC_EWRONGKIND);
    ASSERT_RC(nc_setopt(loop, srv->h, NC_OPT_BROADCAST, 1), NC_EWRONGKIND);
    /* unknown options */
    int unknown[] = {0, -1, 1000, 1000000, INT32_MIN};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        ASSERT_RC(nc_setopt(loop, c->h, unknown[i], 1), NC_EINVAL);
        ASSERT_RC(nc_getopt(loop, c->h, unknown[i], &v), NC_EINVAL);
    }
    /* UDP: buffers and broadcast, no TCP or queue options */
    nc_handle u = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, NULL));
    ASSERT_OK(nc_setopt(loop, u, NC_OPT_BROADCAST, 1));
    ASSERT_OK(nc_getopt(loop, u, NC_OPT_BROADCAST, &v));
    ASSERT_EQ(v, 1);
    ASSERT_OK(nc_setopt(loop, u, NC_OPT_BROADCAST, 0));
    ASSERT_OK(nc_getopt(loop, u, NC_OPT_BROADCAST, &v));
    ASSERT_EQ(v, 0);
    ASSERT_RC(nc_setopt(loop, u, NC_OPT_BROADCAST, 2), NC_EINVAL);
    ASSERT_OK(nc_setopt(loop, u, NC_OPT_RCVBUF, 65536));
    ASSERT_RC(nc_setopt(loop, u, NC_OPT_HIGH_WATER, 1000), NC_EWRONGKIND);
    ASSERT_RC(nc_setopt(loop, u, NC_OPT_LOW_WATER, 10), NC_EWRONGKIND);
    ASSERT_RC(nc_setopt(loop, u, NC_OPT_NODELAY, 1), NC_EWRONGKIND);
}

/* ------------------------------------------------------------- addresses */

static int addr_is(const nc_addr *a, int family, const char *ip, int port) {
    char buf[NC_ADDRSTRLEN];
    addr_ip(a, buf, sizeof buf);
    return a->family == family && strcmp(buf, ip) == 0 && (port < 0 || a->port == port);
}

void test_tcp_addresses(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *srv = listener_peer(loop, "127.0.0.1", &port, peer_new("server"));
    ASSERT(port > 0 && port <= 65535);
    nc_addr a, b;
    ASSERT_OK(nc_local_addr(loop, srv->h, &a));
    ASSERT(addr_is(&a, NC_AF_INET, "127.0.0.1", port));
    ASSERT_RC(nc_peer_addr(loop, srv->h, &a), NC_EWRONGKIND);
    /* the port is real: a plain socket can connect to it */
    int fd = posix_connect("127.0.0.1", port);
    ASSERT(fd >= 0);
    peer *k0 = wait_kid(loop, srv, 0);
    (void)k0;
    t_close(fd);

    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    peer *k = wait_kid(loop, srv, 1);
    ASSERT(addr_is(&c->addr, NC_AF_INET, "127.0.0.1", port)); /* CONNECTED: the peer */
    ASSERT_OK(nc_peer_addr(loop, c->h, &a));
    ASSERT(addr_is(&a, NC_AF_INET, "127.0.0.1", port));
    ASSERT_OK(nc_local_addr(loop, c->h, &a));
    ASSERT(a.family == NC_AF_INET && a.port != 0 && a.port != port);
    /* the accepted side sees the client's local address */
    ASSERT(addr_is(&k->addr, NC_AF_INET, "127.0.0.1", a.port));
    ASSERT_OK(nc_peer_addr(loop, k->h, &b));
    ASSERT(addr_is(&b, NC_AF_INET, "127.0.0.1", a.port));
    ASSERT_OK(nc_local_addr(loop, k->h, &b));
    ASSERT(addr_is(&b, NC_AF_INET, "127.0.0.1", port));

    char text[NC_ADDRSTRLEN], want[NC_ADDRSTRLEN];
    snprintf(want, sizeof want, "127.0.0.1:%d", port);
    ASSERT_EQ(nc_addr_format(&b, text, sizeof text), (int)strlen(want));
    ASSERT_MSG(strcmp(text, want) == 0, "formatted \"%s\", expected \"%s\"", text, want);

    /* "localhost" listens on 127.0.0.1 */
    nc_handle lh = ASSERT_HANDLE(nc_tcp_listen(loop, "localhost", 0, 0, 0, NULL));
    ASSERT_OK(nc_local_addr(loop, lh, &a));
    ASSERT(addr_is(&a, NC_AF_INET, "127.0.0.1", -1));
    ASSERT(a.port != 0);

    /* IPv6 */
    peer *srv6 = listener_peer(loop, "::1", &port, peer_new("server6"));
    ASSERT_OK(nc_local_addr(loop, srv6->h, &a));
    ASSERT(addr_is(&a, NC_AF_INET6, "::1", port));
    snprintf(want, sizeof want, "[::1]:%d", port);
    ASSERT_EQ(nc_addr_format(&a, text, sizeof text), (int)strlen(want));
    ASSERT_MSG(strcmp(text, want) == 0, "formatted \"%s\", expected \"%s\"", text, want);
    peer *c6 = connect_peer(loop, "::1", port, "client6");
    ASSERT(addr_is(&c6->addr, NC_AF_INET6, "::1", port));
    peer *k6 = wait_kid(loop, srv6, 0);
    ASSERT(k6->addr.family == NC_AF_INET6);
    /* an IPv6 literal in brackets */
    peer *c6b = connect_peer(loop, "[::1]", port, "client6b");
    (void)c6b;
}

/* Closing a listener leaves the connections it accepted open. */
void test_tcp_listener_close_keeps_connections(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *srv = echo_server(loop, "127.0.0.1", &port);
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    peer *k = wait_kid(loop, srv, 0);
    ASSERT_OK(nc_close(loop, srv->h));
    POLL_ASSERT(loop, p_closed, srv, 5000);
    c->verify = 1;
    c->seed = 35;
    uint8_t buf[1000];
    fill_pattern(buf, sizeof buf, 35, 0);
    ASSERT_OK(nc_send(loop, c->h, buf, sizeof buf));
    ASSERT(wait_rx(loop, c, sizeof buf, 5000));
    ASSERT_MSG(c->bad_at < 0, "byte %lld differs", c->bad_at);
    /* and new connections are refused */
    peer *d = peer_new("late");
    d->h = ASSERT_HANDLE(nc_tcp_connect(loop, "127.0.0.1", port, d));
    POLL_ASSERT(loop, p_closed, d, 5000);
    ASSERT_CODE(d->connect_error, NC_ECONNREFUSED);
    close_pair(loop, c, k);
}

/* Connecting by name: a resolver thread answers, the result is taken in by
 * nc_poll; until then there is no socket (NC_ENOTCONN) but data is queued. */
void test_tcp_connect_by_name(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *srv = echo_server(loop, "127.0.0.1", &port);
    peer *c = peer_new("client");
    c->verify = 1;
    c->seed = 34;
    c->h = ASSERT_HANDLE(nc_tcp_connect(loop, "localhost", port, c));
    ASSERT_EQ(nc_handle_kind(loop, c->h), NC_KIND_TCP_CONNECTION);
    nc_addr a;
    ASSERT_RC(nc_peer_addr(loop, c->h, &a), NC_ENOTCONN);
    ASSERT_RC(nc_local_addr(loop, c->h, &a), NC_ENOTCONN);
    ASSERT_RC(nc_setopt(loop, c->h, NC_OPT_NODELAY, 1), NC_ENOTCONN);
    ASSERT_OK(nc_setopt(loop, c->h, NC_OPT_HIGH_WATER, 5000000));
    uint8_t buf[5000];
    fill_pattern(buf, sizeof buf, 34, 0);
    ASSERT_OK(nc_send(loop, c->h, buf, sizeof buf));
    POLL_ASSERT(loop, p_connected, c, 10000);
    ASSERT_MSG(c->ev[NC_EV_CONNECTED] == 1, "connect to localhost failed: %s",
               t_code(c->connect_error));
    ASSERT(addr_is(&c->addr, NC_AF_INET, "127.0.0.1", port));
    ASSERT(wait_rx(loop, c, sizeof buf, 5000));
    ASSERT_MSG(c->bad_at < 0, "byte %lld differs", c->bad_at);
    close_pair(loop, c, srv->kids[0]);
}

/* Socket options set while connecting are kept once connected (or refused
 * with NC_ENOTCONN, as documented) - never silently reverted. */
void test_tcp_options_while_connecting(void) {
    nc_loop *loop = t_loop();
    int port;
    int lfd = posix_listen("127.0.0.1", &port);
    (void)lfd;
    peer *c = peer_new("client");
    c->h = ASSERT_HANDLE(nc_tcp_connect(loop, "127.0.0.1", port, c));
    int nodelay_rc = nc_setopt(loop, c->h, NC_OPT_NODELAY, 0);
    int keep_rc = nc_setopt(loop, c->h, NC_OPT_KEEPALIVE, 77);
    ASSERT_MSG(nodelay_rc == 0 || nodelay_rc == NC_ENOTCONN, "NODELAY while connecting: %s",
               t_code(nodelay_rc));
    ASSERT_MSG(keep_rc == 0 || keep_rc == NC_ENOTCONN, "KEEPALIVE while connecting: %s",
               t_code(keep_rc));
    /* queue options are not socket options: always accepted */
    ASSERT_OK(nc_setopt(loop, c->h, NC_OPT_HIGH_WATER, 3000000));
    POLL_ASSERT(loop, p_connected, c, 5000);
    ASSERT_EQ(c->ev[NC_EV_CONNECTED], 1);
    int64_t v = -1;
    ASSERT_OK(nc_getopt(loop, c->h, NC_OPT_NODELAY, &v));
    if (nodelay_rc == 0)
        ASSERT_MSG(v == 0, "nc_setopt(NODELAY, 0) returned 0 while connecting, but NODELAY is "
                           "%lld once connected",
                   (long long)v);
    else
        ASSERT_EQ(v, 1);
    ASSERT_OK(nc_getopt(loop, c->h, NC_OPT_KEEPALIVE, &v));
    if (keep_rc == 0) ASSERT_EQ(v, 77);
    ASSERT_OK(nc_getopt(loop, c->h, NC_OPT_HIGH_WATER, &v));
    ASSERT_EQ(v, 3000000);
}

/* Freeing a loop with everything still open (valgrind checks for leaks). */
void test_tcp_loop_free_with_open_handles(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *srv = echo_server(loop, "127.0.0.1", &port);
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    wait_kid(loop, srv, 0);
    peer *c2 = connect_peer(loop, "127.0.0.1", port, "client2");
    ASSERT_OK(nc_pause(loop, c2->h));
    uint8_t *big = t_alloc(8u << 20);
    ASSERT_OK(nc_send(loop, c->h, big, 8u << 20)); /* a queue is left behind */
    ASSERT_OK(nc_frame_delimited(loop, c2->h, "\n", 1, 100));
    ASSERT_OK(nc_send(loop, c2->h, "partial line", 12));
    nc_handle u = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, NULL));
    ASSERT_OK(nc_send_to(loop, u, "127.0.0.1", local_port(loop, u), "self", 4));
    nc_handle pending = ASSERT_HANDLE(nc_tcp_connect(loop, "127.0.0.1", port, NULL));
    (void)pending;
    nc_handle resolving = ASSERT_HANDLE(nc_tcp_connect(loop, "nosuchhost.invalid", 80, NULL));
    (void)resolving;
    poll_for(loop, 30);
    ASSERT_OK(nc_close(loop, c->h)); /* closing, not yet closed */
    t_loop_free(loop);
    /* a fresh loop works afterwards */
    loop = t_loop();
    nc_handle l = ASSERT_HANDLE(nc_tcp_listen(loop, "127.0.0.1", 0, 0, 0, NULL));
    ASSERT_EQ(nc_handle_kind(loop, l), NC_KIND_TCP_LISTENER);
    nc_loop_free(NULL);
}

/* Sending to a peer that is gone returns an error; no SIGPIPE is raised
 * (the runner counts SIGPIPEs and fails any test that saw one). */
void test_tcp_no_sigpipe(void) {
    nc_loop *loop = t_loop();
    int port;
    int lfd = posix_listen("127.0.0.1", &port);
    /* direct sends after the peer closed */
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    int fd = posix_accept(lfd, 5000);
    ASSERT(fd >= 0);
    t_close(fd);
    int rc = 0;
    for (int i = 0; i < 50 && rc == 0; i++) {
        rc = nc_send(loop, c->h, "data", 4);
        if (rc == 0) poll_for(loop, 5);
    }
    ASSERT_MSG(rc != 0 || c->ev[NC_EV_CLOSED], "sends to a closed peer kept succeeding");
    if (rc != 0)
        ASSERT_MSG(rc == NC_EPIPE || rc == NC_ECONNRESET || rc == NC_ECLOSED || rc == NC_EBADHANDLE,
                   "send to a closed peer returned %s", t_code(rc));
    /* queued bytes flushed by the loop after the peer reset */
    peer *d = connect_peer(loop, "127.0.0.1", port, "client2");
    fd = posix_accept(lfd, 5000);
    ASSERT(fd >= 0);
    fill_until_eagain(loop, d->h, 3, 64 * 1024, (size_t)512 << 20);
    t_close(fd); /* unread data: the kernel answers with a reset */
    POLL_ASSERT(loop, p_closed, d, 5000);
    ASSERT_MSG(d->close_error < 0, "abnormal end, but NC_EV_CLOSED has error %s",
               t_code(d->close_error));
}
