/* Threads (cross-thread operations, wake, EBUSY, run/stop) and embedding
 * (nc_loop_fd, nc_next_timeout).
 *
 * Helper threads never use ASSERT (it would longjmp across threads): they
 * record results that the main thread checks after joining them. Blocking
 * polls (-1) are bounded by a rescuer: if the expected wake-up does not come,
 * the helper makes some I/O on the loop so the test can fail instead of hang. */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fd_readable(int fd, int timeout_ms) {
    struct pollfd pfd = {fd, POLLIN, 0};
    return poll(&pfd, 1, timeout_ms) == 1 && (pfd.revents & POLLIN);
}

/* Makes I/O happen on `loop`: a datagram from `u` to itself. */
static void poke(nc_loop *loop, nc_handle u, int port) {
    (void)nc_send_to(loop, u, "127.0.0.1", port, "poke", 4);
}

/* ----------------------------------------- send + close from another thread */

typedef struct {
    nc_loop *loop;
    nc_handle h;
    size_t n;
    int send_rc, close_rc;
    atomic_int done, rescued;
} xthread;

static void *send_close_thread(void *arg) {
    xthread *x = arg;
    sleep_ms(100); /* the main thread is blocked in nc_poll(-1) by now */
    uint8_t *buf = malloc(x->n);
    if (buf) {
        fill_pattern(buf, x->n, 61, 0);
        x->send_rc = nc_send(x->loop, x->h, buf, x->n);
        free(buf);
    } else {
        x->send_rc = -1000;
    }
    x->close_rc = nc_close(x->loop, x->h);
    int64_t deadline = now_ms() + T_MS(10000);
    while (!atomic_load(&x->done)) {
        if (now_ms() > deadline) {
            atomic_store(&x->rescued, 1);
            nc_wake(x->loop);
        }
        sleep_ms(10);
    }
    return NULL;
}

void test_thr_send_close_from_other_thread(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *tmpl = peer_new("server");
    tmpl->verify = 1;
    tmpl->seed = 61;
    tmpl->close_on_eof = 1;
    peer *srv = listener_peer(loop, "127.0.0.1", &port, tmpl);
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    peer *k = wait_kid(loop, srv, 0);
    poll_for(loop, 20);
    xthread x;
    memset(&x, 0, sizeof x);
    x.loop = loop;
    x.h = c->h;
    x.n = 4u << 20;
    pthread_t t;
    ASSERT(pthread_create(&t, NULL, send_close_thread, &x) == 0);
    nc_event evs[64];
    int poll_error = 0;
    for (long iter = 0; iter < 1000000; iter++) {
        if (c->ev[NC_EV_CLOSED] && k->ev[NC_EV_CLOSED]) break;
        if (atomic_load(&x.rescued)) break;
        int n = nc_poll(loop, evs, 64, -1);
        if (n < 0) {
            poll_error = n;
            break;
        }
        for (int i = 0; i < n; i++) dispatch(loop, &evs[i]);
    }
    atomic_store(&x.done, 1);
    pthread_join(t, NULL);
    ASSERT_RC(poll_error, 0);
    ASSERT_MSG(!atomic_load(&x.rescued), "nc_poll(-1) was not woken by the other thread's "
                                         "send/close (rx %zu of %zu, client closed %d)",
               k->rx_total, x.n, c->ev[NC_EV_CLOSED]);
    ASSERT_RC(x.send_rc, 0);
    ASSERT_RC(x.close_rc, 0);
    ASSERT_EQ(k->rx_total, x.n);
    ASSERT_MSG(k->bad_at < 0, "byte %lld differs", k->bad_at);
    poll_for(loop, 20);
    ASSERT_EQ(c->ev[NC_EV_CLOSED], 1);
    ASSERT_EQ(k->ev[NC_EV_CLOSED], 1);
    ASSERT_CODE(c->close_error, 0);
}

/* ------------------------------------------------------------------ wake */

typedef struct {
    nc_loop *loop;
    nc_handle u;
    int port;
    int delay_ms;
    int wake_rc;
    atomic_int done, rescued, started;
} waker;

static void *wake_thread(void *arg) {
    waker *w = arg;
    atomic_store(&w->started, 1);
    sleep_ms(w->delay_ms);
    w->wake_rc = nc_wake(w->loop);
    int64_t deadline = now_ms() + T_MS(10000); /* hang guard */
    while (!atomic_load(&w->done)) {
        if (now_ms() > deadline) {
            atomic_store(&w->rescued, 1);
            poke(w->loop, w->u, w->port);
        }
        sleep_ms(10);
    }
    return NULL;
}

void test_thr_wake_interrupts_poll(void) {
    nc_loop *loop = t_loop();
    nc_handle u = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, NULL));
    int port = local_port(loop, u);
    for (int round = 0; round < 3; round++) {
        waker w;
        memset(&w, 0, sizeof w);
        w.loop = loop;
        w.u = u;
        w.port = port;
        w.delay_ms = 100;
        pthread_t t;
        ASSERT(pthread_create(&t, NULL, wake_thread, &w) == 0);
        nc_event evs[8];
        int n = nc_poll(loop, evs, 8, -1);
        atomic_store(&w.done, 1);
        pthread_join(t, NULL);
        ASSERT_MSG(!atomic_load(&w.rescued), "round %d: nc_wake did not interrupt nc_poll(-1)",
                   round);
        ASSERT_RC(w.wake_rc, 0);
        ASSERT_MSG(n == 0, "round %d: nc_poll returned %s after a wake, expected 0", round,
                   t_code(n));
        /* drain whatever the rescue may have produced */
        poll_for(loop, 5);
    }
    /* a finite timeout is cut short too: the poll returns before its own
     * timeout, with no event (the rescue's datagram would be one) */
    waker w;
    memset(&w, 0, sizeof w);
    w.loop = loop;
    w.u = u;
    w.port = port;
    w.delay_ms = 50;
    pthread_t t;
    ASSERT(pthread_create(&t, NULL, wake_thread, &w) == 0);
    nc_event evs[8];
    int64_t t0 = now_ms();
    int n = nc_poll(loop, evs, 8, T_MS(60000));
    int64_t elapsed = now_ms() - t0;
    atomic_store(&w.done, 1);
    pthread_join(t, NULL);
    ASSERT_MSG(!atomic_load(&w.rescued), "nc_wake did not interrupt nc_poll(%d)", T_MS(60000));
    ASSERT_EQ(n, 0);
    ASSERT_MSG(elapsed < T_MS(60000), "nc_poll waited out its timeout (%lld ms)",
               (long long)elapsed);
}

/* ----------------------------------------------------------- EBUSY polls */

typedef struct {
    nc_loop *loop;
    int rc;
    atomic_int in_poll, finished;
} poller;

static void *poll_thread(void *arg) {
    poller *p = arg;
    nc_event evs[8];
    atomic_store(&p->in_poll, 1);
    p->rc = nc_poll(p->loop, evs, 8, -1);
    atomic_store(&p->finished, 1);
    return NULL;
}

static void noop_cb(nc_loop *loop, const nc_event *ev, void *arg) {
    (void)loop;
    (void)ev;
    (void)arg;
}

void test_thr_concurrent_poll_ebusy(void) {
    nc_loop *loop = t_loop();
    nc_handle u = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, NULL));
    int port = local_port(loop, u);
    poll_for(loop, 20); /* consume the new socket's first readiness */
    poller p;
    memset(&p, 0, sizeof p);
    p.loop = loop;
    pthread_t t;
    ASSERT(pthread_create(&t, NULL, poll_thread, &p) == 0);
    int64_t deadline = now_ms() + T_MS(5000);
    while (!atomic_load(&p.in_poll) && now_ms() < deadline) sleep_ms(1);
    sleep_ms(100 * t_slow); /* let it enter nc_poll */
    nc_event evs[8];
    int finished_early = atomic_load(&p.finished);
    int busy_poll = nc_poll(loop, evs, 8, 0);
    int busy_poll2 = nc_poll(loop, evs, 8, 100);
    /* nc_run would block for good if it were (wrongly) allowed in */
    int busy_run = finished_early ? NC_EBUSY : nc_run(loop, noop_cb, NULL);
    finished_early |= atomic_load(&p.finished);
    int wake_rc = nc_wake(loop);
    deadline = now_ms() + T_MS(5000);
    while (!atomic_load(&p.finished) && now_ms() < deadline) sleep_ms(1);
    int rescued = 0;
    while (!atomic_load(&p.finished)) { /* rescue: the wake did not work */
        rescued = 1;
        poke(loop, u, port);
        sleep_ms(50);
    }
    pthread_join(t, NULL);
    ASSERT_MSG(!finished_early, "the other thread's nc_poll(-1) returned %s early",
               t_code(p.rc));
    ASSERT_RC(busy_poll, NC_EBUSY);
    ASSERT_RC(busy_poll2, NC_EBUSY);
    ASSERT_RC(busy_run, NC_EBUSY);
    ASSERT_RC(wake_rc, 0);
    ASSERT_MSG(!rescued, "nc_wake did not interrupt the other thread's poll");
    ASSERT_MSG(p.rc >= 0, "the polling thread got %s", t_code(p.rc));
    /* the loop is free again */
    ASSERT(nc_poll(loop, evs, 8, 0) >= 0);
}

/* ------------------------------------------------------------ run / stop */

typedef struct {
    peer *c;
    size_t n;
    int stopped;
    int calls, calls_after_stop;
    int poll_rc, run_rc, checked;
    atomic_int rescue;
} runctx;

static void run_cb(nc_loop *loop, const nc_event *ev, void *arg) {
    runctx *r = arg;
    r->calls++;
    if (r->stopped) r->calls_after_stop++;
    if (!r->checked) {
        nc_event tmp[4];
        r->checked = 1;
        r->poll_rc = nc_poll(loop, tmp, 4, 0);
        r->run_rc = nc_run(loop, noop_cb, NULL);
    }
    EXPECT(ev != NULL);
    dispatch(loop, ev);
    if (!r->stopped && (r->c->rx_total >= r->n || atomic_load(&r->rescue))) {
        r->stopped = 1;
        EXPECT_OK(nc_stop(loop));
    }
}

typedef struct {
    nc_loop *loop;
    nc_handle u;
    int port;
    int stop_after_ms; /* 0: only rescue */
    int stop_rc;
    atomic_int done, rescued;
    atomic_int *flag;
} stopper;

static void *stop_thread(void *arg) {
    stopper *s = arg;
    if (s->stop_after_ms) {
        sleep_ms(s->stop_after_ms);
        s->stop_rc = nc_stop(s->loop);
    }
    int64_t deadline = now_ms() + T_MS(10000);
    while (!atomic_load(&s->done)) {
        if (now_ms() > deadline) {
            atomic_store(&s->rescued, 1);
            if (s->flag) atomic_store(s->flag, 1);
            poke(s->loop, s->u, s->port);
        }
        sleep_ms(10);
    }
    return NULL;
}

void test_thr_run_stop_from_callback(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *srv = echo_server(loop, "127.0.0.1", &port);
    (void)srv;
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    c->verify = 1;
    c->seed = 71;
    nc_handle u = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, NULL));
    runctx r;
    memset(&r, 0, sizeof r);
    r.c = c;
    r.n = 300000;
    uint8_t *buf = t_alloc(r.n);
    fill_pattern(buf, r.n, 71, 0);
    ASSERT_OK(nc_send(loop, c->h, buf, r.n));
    stopper s;
    memset(&s, 0, sizeof s);
    s.loop = loop;
    s.u = u;
    s.port = local_port(loop, u);
    s.flag = &r.rescue;
    pthread_t t;
    ASSERT(pthread_create(&t, NULL, stop_thread, &s) == 0);
    int rc = nc_run(loop, run_cb, &r);
    atomic_store(&s.done, 1);
    pthread_join(t, NULL);
    ASSERT_RC(rc, 0);
    ASSERT_MSG(!atomic_load(&s.rescued), "the run did not reach the goal (rx %zu of %zu)",
               c->rx_total, r.n);
    ASSERT(r.stopped);
    ASSERT_RC(r.poll_rc, NC_EBUSY);
    ASSERT_RC(r.run_rc, NC_EBUSY);
    ASSERT_EQ(c->rx_total, r.n);
    ASSERT_MSG(c->bad_at < 0, "byte %lld differs", c->bad_at);

    /* nc_stop before nc_run: the next nc_run returns at once */
    ASSERT_OK(nc_stop(loop));
    memset(&s, 0, sizeof s);
    s.loop = loop;
    s.u = u;
    s.port = local_port(loop, u);
    runctx r2;
    memset(&r2, 0, sizeof r2);
    r2.c = c;
    r2.n = (size_t)-1;
    s.flag = &r2.rescue;
    ASSERT(pthread_create(&t, NULL, stop_thread, &s) == 0);
    rc = nc_run(loop, run_cb, &r2);
    atomic_store(&s.done, 1);
    pthread_join(t, NULL);
    ASSERT_RC(rc, 0);
    ASSERT_MSG(!atomic_load(&s.rescued), "nc_run after nc_stop did not return at once");
    /* the loop polls normally afterwards */
    nc_event evs[4];
    ASSERT(nc_poll(loop, evs, 4, 0) >= 0);
}

static void count_cb(nc_loop *loop, const nc_event *ev, void *arg) {
    runctx *r = arg;
    r->calls++;
    dispatch(loop, ev);
    if (atomic_load(&r->rescue)) EXPECT_OK(nc_stop(loop));
}

void test_thr_run_stop_from_other_thread(void) {
    nc_loop *loop = t_loop();
    nc_handle u = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, NULL));
    /* some traffic keeps the loop busy meanwhile */
    int port;
    peer *srv = echo_server(loop, "127.0.0.1", &port);
    (void)srv;
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    ASSERT_OK(nc_send(loop, c->h, "busy", 4));
    for (int round = 0; round < 2; round++) {
        runctx r;
        memset(&r, 0, sizeof r);
        stopper s;
        memset(&s, 0, sizeof s);
        s.loop = loop;
        s.u = u;
        s.port = local_port(loop, u);
        s.stop_after_ms = 100;
        s.flag = &r.rescue;
        pthread_t t;
        int64_t t0 = now_ms(); /* before the thread starts its 100 ms */
        ASSERT(pthread_create(&t, NULL, stop_thread, &s) == 0);
        int rc = nc_run(loop, count_cb, &r);
        int64_t elapsed = now_ms() - t0;
        atomic_store(&s.done, 1);
        pthread_join(t, NULL);
        ASSERT_RC(rc, 0);
        ASSERT_RC(s.stop_rc, 0);
        ASSERT_MSG(!atomic_load(&s.rescued), "round %d: nc_stop from another thread did not "
                                             "end nc_run", round);
        ASSERT_MSG(elapsed >= 99, "round %d: nc_run returned after %lld ms, before the stop",
                   round, (long long)elapsed);
    }
    ASSERT_EQ(c->rx_total, 4);
}

/* ------------------------------------------- several threads send at once */

#define NSEND_THREADS 4
#define SEND_MSGS 400
#define SEND_MSG_LEN 2500

typedef struct {
    nc_loop *loop;
    nc_handle h;
    uint32_t seed;
    int rc;
    int eagains;
} sendthr;

static void *bulk_send_thread(void *arg) {
    sendthr *s = arg;
    uint8_t buf[SEND_MSG_LEN];
    int64_t deadline = now_ms() + T_MS(20000);
    for (size_t m = 0; m < SEND_MSGS; m++) {
        fill_pattern(buf, sizeof buf, s->seed, m * SEND_MSG_LEN);
        for (;;) {
            int rc = nc_send(s->loop, s->h, buf, sizeof buf);
            if (rc == 0) break;
            if (rc != NC_EAGAIN || now_ms() > deadline) {
                s->rc = rc;
                return NULL;
            }
            s->eagains++;
            sleep_ms(1);
        }
    }
    return NULL;
}

typedef struct {
    peer **c;
    size_t want;
} allrx;
static int all_rx(void *arg) {
    allrx *a = arg;
    for (int i = 0; i < NSEND_THREADS; i++)
        if (a->c[i]->rx_total < a->want && !a->c[i]->ev[NC_EV_CLOSED]) return 0;
    return 1;
}

void test_thr_many_threads_send(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *srv = echo_server(loop, "127.0.0.1", &port);
    (void)srv;
    peer *c[NSEND_THREADS];
    sendthr s[NSEND_THREADS];
    pthread_t t[NSEND_THREADS];
    for (int i = 0; i < NSEND_THREADS; i++) {
        c[i] = connect_peer(loop, "127.0.0.1", port, "client");
        c[i]->verify = 1;
        c[i]->seed = 80 + (uint32_t)i;
        memset(&s[i], 0, sizeof s[i]);
        s[i].loop = loop;
        s[i].h = c[i]->h;
        s[i].seed = c[i]->seed;
    }
    int started = 0;
    for (int i = 0; i < NSEND_THREADS; i++)
        if (pthread_create(&t[i], NULL, bulk_send_thread, &s[i]) == 0) started++;
    allrx a = {c, (size_t)SEND_MSGS * SEND_MSG_LEN};
    int ok = poll_until(loop, all_rx, &a, 30000);
    for (int i = 0; i < started; i++) pthread_join(t[i], NULL);
    ASSERT_EQ(started, NSEND_THREADS);
    for (int i = 0; i < NSEND_THREADS; i++) {
        ASSERT_MSG(s[i].rc == 0, "thread %d: nc_send returned %s", i, t_code(s[i].rc));
        ASSERT_MSG(c[i]->bad_at < 0, "connection %d: byte %lld differs", i, c[i]->bad_at);
    }
    ASSERT_MSG(ok, "not every echo arrived");
    for (int i = 0; i < NSEND_THREADS; i++) ASSERT_EQ(c[i]->rx_total, a.want);
}

/* ------------------------------------------------------------- embedding */

/* Polls with timeout 0 until the loop fd is quiet (bounded). */
static int settle(nc_loop *loop, int fd) {
    nc_event evs[64];
    for (int i = 0; i < 20; i++) {
        if (!fd_readable(fd, 0)) return 1;
        int n = nc_poll(loop, evs, 64, 0);
        for (int k = 0; k < n; k++) dispatch(loop, &evs[k]);
    }
    return !fd_readable(fd, 0);
}

/* Waits for the fd with poll(2), then drains with nc_poll(0), like a host loop. */
static int host_loop_until(nc_loop *loop, int fd, pred_fn pred, void *arg, int timeout_ms) {
    int64_t deadline = now_ms() + T_MS(timeout_ms);
    nc_event evs[64];
    for (long iter = 0; iter < 100000 && !pred(arg); iter++) {
        int64_t left = deadline - now_ms();
        if (left <= 0) break;
        if (!fd_readable(fd, (int)left)) continue;
        int n = nc_poll(loop, evs, 64, 0);
        for (int k = 0; k < n; k++) dispatch(loop, &evs[k]);
    }
    return pred(arg);
}

void test_embed_loop_fd_accept(void) {
    nc_loop *loop = t_loop();
    int fd = nc_loop_fd(loop);
    ASSERT(fd >= 0);
    ASSERT_EQ(nc_loop_fd(loop), fd);
    int port;
    peer *srv = listener_peer(loop, "127.0.0.1", &port, peer_new("server"));
    ASSERT_MSG(settle(loop, fd), "the loop fd stays readable with nothing to deliver");
    ASSERT_EQ(nc_next_timeout(loop), -1);
    int cfd = posix_connect("127.0.0.1", port);
    (void)cfd;
    ASSERT_MSG(fd_readable(fd, T_MS(5000)), "a connection arrived but the loop fd is not readable");
    ASSERT_MSG(host_loop_until(loop, fd, p_has_kid, srv, 5000), "no NC_EV_ACCEPTED");
    ASSERT_EQ(srv->ev[NC_EV_ACCEPTED], 1);
    ASSERT_MSG(settle(loop, fd), "the loop fd stays readable after the accept");
}

static int p_has_data(void *p) { return ((peer *)p)->ev[NC_EV_DATA] > 0; }

void test_embed_loop_fd_data(void) {
    nc_loop *loop = t_loop();
    int fd = nc_loop_fd(loop);
    int port;
    peer *tmpl = peer_new("server");
    tmpl->store = 1;
    peer *srv = listener_peer(loop, "127.0.0.1", &port, tmpl);
    int cfd = posix_connect("127.0.0.1", port);
    peer *k = wait_kid(loop, srv, 0);
    ASSERT_MSG(settle(loop, fd), "the loop fd stays readable with nothing to deliver");
    ASSERT(send_all(cfd, "ping", 4) == 0);
    ASSERT_MSG(fd_readable(fd, T_MS(5000)), "data arrived but the loop fd is not readable");
    ASSERT(host_loop_until(loop, fd, p_has_data, k, 5000));
    ASSERT_EQ(k->rx_len, 4);
    ASSERT(memcmp(k->rx, "ping", 4) == 0);
    ASSERT_MSG(settle(loop, fd), "the loop fd stays readable after the data");

    /* events left over by a small nc_poll keep the fd readable */
    peer *u[3];
    for (int i = 0; i < 3; i++) {
        u[i] = peer_new("udp");
        u[i]->h = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, u[i]));
    }
    ASSERT(settle(loop, fd));
    for (int i = 0; i < 3; i++) ASSERT_OK(nc_close(loop, u[i]->h));
    for (int i = 0; i < 3; i++) {
        ASSERT_MSG(fd_readable(fd, T_MS(1000)), "%d events pending but the fd is not readable",
                   3 - i);
        ASSERT_EQ(nc_next_timeout(loop), 0);
        nc_event ev;
        ASSERT_EQ(nc_poll(loop, &ev, 1, 0), 1);
        dispatch(loop, &ev);
        ASSERT_EQ(ev.kind, NC_EV_CLOSED);
    }
    for (int i = 0; i < 3; i++) ASSERT_EQ(u[i]->ev[NC_EV_CLOSED], 1);
    ASSERT(settle(loop, fd));
}

void test_embed_next_timeout(void) {
    nc_loop *loop = t_loop();
    ASSERT_EQ(nc_next_timeout(loop), -1);
    peer *u = peer_new("udp");
    u->h = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, u));
    nc_event evs[8];
    while (nc_poll(loop, evs, 8, 0) > 0) {
    }
    ASSERT_EQ(nc_next_timeout(loop), -1);
    ASSERT_OK(nc_close(loop, u->h));
    ASSERT_MSG(nc_next_timeout(loop) == 0, "an event is pending but nc_next_timeout is %d",
               nc_next_timeout(loop));
    ASSERT_EQ(nc_poll(loop, evs, 8, 0), 1);
    ASSERT_EQ(evs[0].kind, NC_EV_CLOSED);
    ASSERT_EQ(nc_next_timeout(loop), -1);

    /* a pending connect failure */
    peer *l = peer_new("l");
    l->h = ASSERT_HANDLE(nc_tcp_listen(loop, "127.0.0.1", 0, 0, 0, l));
    int port = local_port(loop, l->h);
    ASSERT_OK(nc_close(loop, l->h));
    poll_for(loop, 10);
    peer *c = peer_new("c");
    c->h = ASSERT_HANDLE(nc_tcp_connect(loop, "127.0.0.1", port, c));
    int fd = nc_loop_fd(loop);
    ASSERT(fd_readable(fd, T_MS(5000)));
    POLL_ASSERT(loop, p_closed, c, 5000);
    ASSERT_EQ(nc_next_timeout(loop), -1);
}

/* ------------------------------- closes racing with traffic, from a thread */

#define RACE_N 40

typedef struct {
    nc_loop *loop;
    nc_handle h[RACE_N];
    int rc[RACE_N];
    int send_rc[RACE_N];
} closer;

static void *close_thread(void *arg) {
    closer *c = arg;
    uint8_t buf[8192];
    memset(buf, 'r', sizeof buf);
    for (int i = 0; i < RACE_N; i++) {
        c->send_rc[i] = nc_send(c->loop, c->h[i], buf, sizeof buf);
        switch (i % 3) {
        case 0: c->rc[i] = nc_close(c->loop, c->h[i]); break;
        case 1: c->rc[i] = nc_close_reset(c->loop, c->h[i]); break;
        default: c->rc[i] = nc_shutdown(c->loop, c->h[i]); break;
        }
        if (i % 4 == 0) sleep_ms(1);
    }
    return NULL;
}

typedef struct {
    peer **p;
    size_t n;
} plist;
static int plist_closed(void *arg) {
    plist *l = arg;
    for (size_t i = 0; i < l->n; i++)
        if (!l->p[i]->ev[NC_EV_CLOSED]) return 0;
    return 1;
}

/* Every handle gets exactly one NC_EV_CLOSED when closes race with traffic. */
void test_thr_close_race(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *srv = echo_server(loop, "127.0.0.1", &port);
    peer *c[RACE_N];
    closer cl;
    memset(&cl, 0, sizeof cl);
    cl.loop = loop;
    for (int i = 0; i < RACE_N; i++) {
        c[i] = connect_peer(loop, "127.0.0.1", port, "client");
        c[i]->shutdown_on_eof = 0;
        cl.h[i] = c[i]->h;
        uint8_t buf[32768];
        memset(buf, 'a', sizeof buf);
        ASSERT_OK(nc_send(loop, c[i]->h, buf, sizeof buf));
    }
    poll_for(loop, 5);
    pthread_t t;
    ASSERT(pthread_create(&t, NULL, close_thread, &cl) == 0);
    /* keep polling while the other thread closes */
    poll_for(loop, 200);
    pthread_join(t, NULL);
    plist pl = {c, RACE_N};
    int ok = poll_until(loop, plist_closed, &pl, 10000);
    for (int i = 0; i < RACE_N; i++) {
        ASSERT_MSG(cl.send_rc[i] == 0, "client %d: send returned %s", i, t_code(cl.send_rc[i]));
        ASSERT_MSG(cl.rc[i] == 0, "client %d: close returned %s", i, t_code(cl.rc[i]));
    }
    ASSERT_MSG(ok, "not every client got NC_EV_CLOSED");
    ASSERT_EQ(srv->nkids, RACE_N);
    plist kl = {srv->kids, srv->nkids};
    POLL_ASSERT(loop, plist_closed, &kl, 10000);
    poll_for(loop, 50);
    for (int i = 0; i < RACE_N; i++) {
        ASSERT_MSG(c[i]->ev[NC_EV_CLOSED] == 1, "client %d: %d NC_EV_CLOSED", i,
                   c[i]->ev[NC_EV_CLOSED]);
        ASSERT_MSG(srv->kids[i]->ev[NC_EV_CLOSED] == 1, "server side %d: %d NC_EV_CLOSED", i,
                   srv->kids[i]->ev[NC_EV_CLOSED]);
    }
}

/* nc_poll(-1) waits until there is an event, a wake or a signal: it does not
 * return 0 on its own (here: after a new socket's first readiness). */
static void *late_datagram_thread(void *arg) {
    int *port = arg;
    sleep_ms(300);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0) return NULL;
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)*port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sendto(s, "late", 4, 0, (struct sockaddr *)&sin, sizeof sin);
    close(s);
    return NULL;
}

void test_thr_poll_forever_no_spurious_return(void) {
    nc_loop *loop = t_loop();
    peer *u = peer_new("udp");
    u->h = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, u));
    int port = local_port(loop, u->h);
    pthread_t t;
    ASSERT(pthread_create(&t, NULL, late_datagram_thread, &port) == 0);
    nc_event evs[8];
    int64_t t0 = now_ms();
    int n = nc_poll(loop, evs, 8, -1);
    int64_t elapsed = now_ms() - t0;
    int spurious = n == 0;
    /* make sure the datagram is consumed before the thread is gone */
    for (int i = 0; i < 8 && n >= 0; i++) {
        for (int k = 0; k < n; k++) dispatch(loop, &evs[k]);
        if (u->ev[NC_EV_DATAGRAM]) break;
        n = nc_poll(loop, evs, 8, T_MS(1000));
    }
    pthread_join(t, NULL);
    ASSERT_MSG(!spurious, "nc_poll(-1) returned 0 after %lld ms with no event, wake or signal",
               (long long)elapsed);
    ASSERT_EQ(u->ev[NC_EV_DATAGRAM], 1);
}
