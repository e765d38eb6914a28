/*
 * Handle lifetimes: between a close and its NC_EV_CLOSED every call on the
 * handle returns NC_ECLOSED (nc_handle_kind and the user data still answer);
 * from the poll after the one that delivered NC_EV_CLOSED on, NC_EBADHANDLE;
 * NC_EV_CLOSED comes exactly once; no event but NC_EV_CLOSED follows a close.
 */
#include "harness.h"

#include <dirent.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Polls until every peer of `ps` has its NC_EV_CLOSED. While the batch that
 * delivered a peer's NC_EV_CLOSED is handled, every call on its handle
 * returns NC_ECLOSED; after the next poll, NC_EBADHANDLE. */
static void closes_once(nc_loop *loop, peer **ps, size_t n) {
    int delivered[8] = {0};
    int64_t deadline = now_ms() + T_MS(10000);
    int polls_after = 0;
    ASSERT(n <= 8);
    while (polls_after < 3) {
        ASSERT_MSG(now_ms() < deadline, "timed out waiting for NC_EV_CLOSED");
        nc_event evs[64];
        int got = nc_poll(loop, evs, 64, 10);
        ASSERT(got >= 0);
        for (size_t i = 0; i < n; i++)
            if (delivered[i]) expect_every_call_rejects(loop, ps[i]->h, NC_EBADHANDLE, 1);
        for (int k = 0; k < got; k++) {
            dispatch(loop, &evs[k]);
            for (size_t i = 0; i < n; i++) {
                if (evs[k].kind != NC_EV_CLOSED || evs[k].handle != ps[i]->h) continue;
                expect_every_call_rejects(loop, ps[i]->h, NC_ECLOSED, 0);
                ASSERT(nc_handle_kind(loop, ps[i]->h) > 0);
                delivered[i] = 1;
            }
        }
        int all = 1;
        for (size_t i = 0; i < n; i++) all &= delivered[i];
        polls_after += all;
    }
    for (size_t i = 0; i < n; i++) {
        ASSERT_EQ(ps[i]->ev[NC_EV_CLOSED], 1);
        ASSERT_EQ(ps[i]->after_closed, 0);
    }
}

void test_life_close_reset_eclosed_until_closed_delivered(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *srv = listener_peer(loop, "127.0.0.1", &port, peer_new("server"));
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    wait_kid(loop, srv, 0);
    ASSERT_OK(nc_close_reset(loop, c->h));
    expect_every_call_rejects(loop, c->h, NC_ECLOSED, 0);
    void *ud = NULL;
    ASSERT_OK(nc_get_userdata(loop, c->h, &ud));
    ASSERT(ud == c);
    ASSERT_EQ(nc_handle_kind(loop, c->h), NC_KIND_TCP_CONNECTION);
    closes_once(loop, &c, 1);
    ASSERT_EQ(c->nlog, 2); /* connected, closed */
}

/* A client connected to a server whose connection closes on EOF (*kid). */
static peer *client_of_closing_server(nc_loop *loop, peer **kid) {
    int port;
    peer *tmpl = peer_new("server");
    tmpl->close_on_eof = 1;
    peer *srv = listener_peer(loop, "127.0.0.1", &port, tmpl);
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    *kid = wait_kid(loop, srv, 0);
    return c;
}

void test_life_graceful_close_eclosed_until_closed_delivered(void) {
    nc_loop *loop = t_loop();
    peer *kid, *c = client_of_closing_server(loop, &kid);
    ASSERT_OK(nc_close(loop, c->h));
    ASSERT_RC(nc_send(loop, c->h, "x", 1), NC_ECLOSED);
    ASSERT_RC(nc_pause(loop, c->h), NC_ECLOSED);
    ASSERT_RC(nc_shutdown(loop, c->h), NC_ECLOSED);
    ASSERT_RC(nc_close(loop, c->h), NC_ECLOSED);
    peer *both[] = {c, kid};
    closes_once(loop, both, 2);
}

void test_life_shutdown_server_drain_eclosed_until_closed_delivered(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *srv = listener_peer(loop, "127.0.0.1", &port, peer_new("server"));
    int fd = t_fd(posix_connect("127.0.0.1", port)); /* never closes: reset at the drain */
    peer *kid = wait_kid(loop, srv, 0);
    ASSERT(fd >= 0);
    ASSERT_OK(nc_shutdown_server(loop, srv->h, 50));
    peer *both[] = {kid, srv};
    closes_once(loop, both, 2);
    ASSERT_CODE(kid->close_error, NC_ETIMEDOUT);
    ASSERT_EQ(srv->ev[NC_EV_SHUTDOWN_COMPLETE], 1);
}

/* After nc_shutdown, the peer's EOF closes the connection by itself:
 * NC_EV_EOF and NC_EV_CLOSED in one batch, and nc_close while NC_EV_EOF is
 * handled returns NC_ECLOSED. */
static void close_on_eof_expect_eclosed(peer *p, nc_loop *loop, const nc_event *ev) {
    if (ev->kind == NC_EV_EOF) EXPECT_RC(nc_close(loop, p->h), NC_ECLOSED);
}

void test_life_half_close_eof_eclosed_until_closed_delivered(void) {
    nc_loop *loop = t_loop();
    peer *kid, *c = client_of_closing_server(loop, &kid);
    c->hook = close_on_eof_expect_eclosed;
    ASSERT_OK(nc_shutdown(loop, c->h));
    peer *both[] = {c, kid};
    closes_once(loop, both, 2);
    ASSERT_EQ(c->ev[NC_EV_EOF], 1);
    ASSERT_EQ(c->kinds_log[c->nlog - 2], NC_EV_EOF);
}

void test_life_one_shot_timer_eclosed_until_closed_delivered(void) {
    nc_loop *loop = t_loop();
    peer *t = peer_new("timer");
    t->h = ASSERT_HANDLE(nc_timer_start(loop, 1, 0, t));
    closes_once(loop, &t, 1);
    ASSERT_EQ(t->ev[NC_EV_TIMER], 1);
}

/* nc_run: once nc_close_reset returned in a callback, the rest of the batch
 * brings nothing for that handle but its NC_EV_CLOSED. */
typedef struct {
    nc_handle conn;
    int data, closed, other;
} reset_run;

static void reset_on_first_data(nc_loop *loop, const nc_event *ev, void *arg) {
    reset_run *r = arg;
    if (ev->handle != r->conn) {
        if (ev->kind == NC_EV_TIMER) nc_stop(loop); /* hang guard */
        return;
    }
    if (ev->kind == NC_EV_DATA && r->data++ == 0) EXPECT_OK(nc_close_reset(loop, r->conn));
    else if (ev->kind == NC_EV_CLOSED && r->closed++ == 0) nc_stop(loop);
    else if (ev->kind != NC_EV_DATA) r->other++;
}

/* An accepted connection that frames its input byte by byte, with "abc"
 * sent to it (three NC_EV_DATA in one batch from one read), and a 10 s
 * timer as an nc_run callback's hang guard. */
static nc_handle three_frames_coming(nc_loop *loop) {
    int port;
    peer *srv = listener_peer(loop, "127.0.0.1", &port, peer_new("server"));
    int fd = t_fd(posix_connect("127.0.0.1", port));
    peer *kid = wait_kid(loop, srv, 0);
    ASSERT_OK(nc_frame_fixed(loop, kid->h, 1));
    ASSERT_EQ(send_all(fd, "abc", 3), 0);
    ASSERT_HANDLE(nc_timer_start(loop, T_MS(10000), 0, NULL));
    return kid->h;
}

void test_life_run_no_data_after_close_reset(void) {
    nc_loop *loop = t_loop();
    reset_run r = {three_frames_coming(loop), 0, 0, 0};
    ASSERT_OK(nc_run(loop, reset_on_first_data, &r));
    ASSERT_EQ(r.data, 1);
    ASSERT_EQ(r.closed, 1);
    ASSERT_EQ(r.other, 0);
}

/* nc_pause from an nc_run callback: no NC_EV_DATA of the connection
 * follows, not even the rest of the batch in progress, until nc_resume;
 * then the rest comes, in order. */
typedef struct {
    nc_handle conn;
    char got[4];
    size_t len;
} pause_run;

static void pause_on_first_data(nc_loop *loop, const nc_event *ev, void *arg) {
    pause_run *r = arg;
    if (ev->kind == NC_EV_TIMER) {
        nc_stop(loop); /* the guard: something is missing */
    } else if (ev->handle == r->conn && ev->kind == NC_EV_DATA) {
        if (r->len + ev->len <= sizeof r->got) memcpy(r->got + r->len, ev->data, ev->len);
        r->len += ev->len;
        if (r->len == ev->len) EXPECT_OK(nc_pause(loop, r->conn));
        if (r->len == ev->len || r->len >= 3) nc_stop(loop);
    }
}

void test_life_run_no_data_after_pause(void) {
    nc_loop *loop = t_loop();
    pause_run r = {three_frames_coming(loop), {0}, 0};
    ASSERT_OK(nc_run(loop, pause_on_first_data, &r));
    ASSERT_EQ(r.len, 1);
    ASSERT_OK(nc_resume(loop, r.conn));
    ASSERT_OK(nc_run(loop, pause_on_first_data, &r));
    ASSERT(r.len == 3 && memcmp(r.got, "abc", 3) == 0);
}

/* Pausing stops reading, not the news of the peer's close: NC_EV_EOF comes
 * while paused once every byte before it was delivered. */
static void pause_after_data(peer *p, nc_loop *loop, const nc_event *ev) {
    if (ev->kind == NC_EV_DATA) EXPECT_OK(nc_pause(loop, p->h));
}

void test_life_paused_connection_reports_eof_after_all_data(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *tmpl = peer_new("server");
    tmpl->store = 1;
    tmpl->hook = pause_after_data;
    peer *srv = listener_peer(loop, "127.0.0.1", &port, tmpl);
    int fd = posix_connect("127.0.0.1", port);
    peer *kid = wait_kid(loop, srv, 0);
    ASSERT_EQ(send_all(fd, "all", 3), 0);
    ASSERT(wait_rx(loop, kid, 3, 5000));
    close(fd);
    POLL_ASSERT(loop, p_eof, kid, 5000); /* still paused */
    ASSERT_EQ(kid->ev[NC_EV_EOF], 1);
    ASSERT_EQ(kid->rx_len, 3);
}

/* ------------------------------------------------------- nc_loop_close */

typedef struct {
    nc_loop *loop;
    int run; /* nc_run instead of nc_poll(-1) */
    int rc;
    int events;
} waiter;

static void count_event(nc_loop *loop, const nc_event *ev, void *arg) {
    (void)loop;
    (void)ev;
    ((waiter *)arg)->events++;
}

static void *wait_on_loop(void *arg) {
    waiter *w = arg;
    nc_event evs[8];
    w->rc = w->run ? nc_run(w->loop, count_event, w) : nc_poll(w->loop, evs, 8, -1);
    return NULL;
}

/* A thread waiting forever in nc_poll or nc_run returns NC_ECLOSED when
 * another thread closes the loop. */
static void closing_wakes(int run) {
    nc_loop *loop = t_loop();
    waiter w = {loop, run, 1, 0};
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, wait_on_loop, &w), 0);
    sleep_ms(20); /* most likely asleep in its wait by now; either way it must end */
    ASSERT_OK(nc_loop_close(loop));
    ASSERT_EQ(pthread_join(t, NULL), 0);
    ASSERT_CODE(w.rc, NC_ECLOSED);
    ASSERT_EQ(w.events, 0);
    ASSERT_OK(nc_loop_close(loop)); /* idempotent */
}

void test_life_loop_close_wakes_poll_forever(void) { closing_wakes(0); }

void test_life_loop_close_wakes_run(void) { closing_wakes(1); }

/* A listener with a client waiting in its backlog: after nc_loop_close, no
 * NC_EV_ACCEPTED, the listening socket is gone, every call returns NC_ECLOSED. */
void test_life_loop_close_delivers_nothing_and_rejects_every_call(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *srv = listener_peer(loop, "127.0.0.1", &port, peer_new("server"));
    nc_handle t = ASSERT_HANDLE(nc_timer_start(loop, 0, 0, NULL));
    int fd = t_fd(posix_connect("127.0.0.1", port));
    ASSERT(fd >= 0);
    ASSERT_OK(nc_loop_close(loop));
    nc_event evs[8];
    ASSERT_RC(nc_poll(loop, evs, 8, 100), NC_ECLOSED);
    ASSERT_EQ(srv->nkids, 0);
    expect_every_call_rejects(loop, srv->h, NC_ECLOSED, 1);
    expect_every_call_rejects(loop, t, NC_ECLOSED, 1);
    ASSERT_RC(nc_tcp_listen(loop, "127.0.0.1", 0, 0, 0, NULL), NC_ECLOSED);
    ASSERT_RC(nc_tcp_connect(loop, "127.0.0.1", port, NULL), NC_ECLOSED);
    ASSERT_RC(nc_udp_bind(loop, "127.0.0.1", 0, 0, NULL), NC_ECLOSED);
    ASSERT_RC(nc_timer_start(loop, 1, 0, NULL), NC_ECLOSED);
    ASSERT_RC(nc_run(loop, count_event, NULL), NC_ECLOSED);
    /* the client in the backlog sees its connection end */
    uint8_t b;
    int eof = 0, err = 0;
    recv_some(NULL, fd, &b, 1, 5000, &eof, &err);
    ASSERT_MSG(eof || err, "the backlog's client is still connected");
}

/* ------------------------------------------------------------ resolver */

#define BURST 200
#define POOL_THREADS 4

static int task_count(void) {
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

typedef struct {
    peer **clients;
    int base, most;
} burst;

/* Every client has its outcome; samples the thread count meanwhile. */
static int burst_done(void *arg) {
    burst *b = arg;
    int now = task_count();
    if (now > b->most) b->most = now;
    for (int i = 0; i < BURST; i++)
        if (!b->clients[i]->ev[NC_EV_CONNECTED] && !b->clients[i]->ev[NC_EV_CLOSED]) return 0;
    return 1;
}

/* A burst of connects to "localhost" (resolved by the system resolver) runs
 * at most 4 resolver threads, and each connect gets exactly one outcome. */
void test_life_resolver_burst_bounded(void) {
    nc_loop *loop = t_loop();
    int port;
    listener_peer(loop, "127.0.0.1", &port, peer_new("server"));
    burst b = {t_alloc(BURST * sizeof(peer *)), task_count(), 0};
    ASSERT(b.base > 0);
    for (int i = 0; i < BURST; i++) {
        b.clients[i] = peer_new("client");
        b.clients[i]->h = ASSERT_HANDLE(nc_tcp_connect(loop, "localhost", port, b.clients[i]));
    }
    POLL_ASSERT(loop, burst_done, &b, 30000);
    ASSERT_MSG(b.most <= b.base + POOL_THREADS, "%d threads, %d before the burst", b.most, b.base);
    for (int i = 0; i < BURST; i++) {
        ASSERT_EQ(b.clients[i]->ev[NC_EV_CONNECTED], 1);
        ASSERT_EQ(b.clients[i]->ev[NC_EV_CONNECT_FAILED], 0);
    }
}

/* Connects closed while their name waits for a resolver thread are
 * cancelled: NC_EV_CLOSED once, nothing else. */
void test_life_resolver_close_cancels_queued(void) {
    nc_loop *loop = t_loop();
    burst b = {t_alloc(BURST * sizeof(peer *)), task_count(), 0};
    for (int i = 0; i < BURST; i++) {
        b.clients[i] = peer_new("client");
        b.clients[i]->h = ASSERT_HANDLE(nc_tcp_connect(loop, "localhost", 9, b.clients[i]));
        ASSERT_OK(nc_close(loop, b.clients[i]->h));
    }
    POLL_ASSERT(loop, burst_done, &b, 30000);
    poll_for(loop, 50); /* a late resolver result must bring nothing */
    ASSERT_MSG(b.most <= b.base + POOL_THREADS, "%d threads, %d before", b.most, b.base);
    for (int i = 0; i < BURST; i++) {
        ASSERT_EQ(b.clients[i]->ev[NC_EV_CLOSED], 1);
        ASSERT_EQ(b.clients[i]->nlog, 1);
    }
}
