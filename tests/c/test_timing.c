/* Durations and deadlines: the NC_MAX_DURATION_MS rule (a longer duration is
 * accepted and means "never", without a panic or partial state).
 *
 * Everything runs on loopback with bounded waits; no assertion depends on
 * how fast the machine is. */
#include "harness.h"

#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <string.h>

/* Polls without waiting until no event is left (bounded). */
static void settle(nc_loop *loop) {
    nc_event evs[16];
    for (int i = 0; i < 100; i++) {
        int n = nc_poll(loop, evs, 16, 0);
        ASSERT_MSG(n >= 0, "nc_poll: %s", t_code(n));
        for (int k = 0; k < n; k++) dispatch(loop, &evs[k]);
        if (n == 0 && nc_next_timeout(loop) != 0) return;
    }
    T_FAIL_(1, "the loop kept producing events");
}

static const uint64_t huge_ms[] = {NC_MAX_DURATION_MS + 1, UINT64_MAX / 2, UINT64_MAX};
enum { NHUGE = sizeof huge_ms / sizeof huge_ms[0] };

/* A delay beyond NC_MAX_DURATION_MS never fires (no deadline at all); a
 * period beyond it fires once and the timer stays open; both close on
 * nc_close with exactly one NC_EV_CLOSED. */
void test_timing_huge_timer_durations_mean_never(void) {
    nc_loop *loop = t_loop();
    for (int i = 0; i < NHUGE; i++) {
        peer *never = peer_new("never");
        never->h = ASSERT_HANDLE(nc_timer_start(loop, huge_ms[i], 0, never));
        peer *once = peer_new("once");
        once->h = ASSERT_HANDLE(nc_timer_start(loop, 1, huge_ms[i], once));
        WAIT_KIND(loop, once, NC_EV_TIMER, 1, 5000);
        settle(loop);
        ASSERT_MSG(nc_next_timeout(loop) == -1, "%llu ms: nc_next_timeout is %d",
                   (unsigned long long)huge_ms[i], nc_next_timeout(loop));
        ASSERT_EQ(never->ev[NC_EV_TIMER], 0);
        ASSERT_EQ(once->ev[NC_EV_TIMER], 1);
        ASSERT_EQ(once->ev[NC_EV_CLOSED], 0);
        ASSERT_OK(nc_close(loop, never->h));
        ASSERT_OK(nc_close(loop, once->h));
        POLL_ASSERT(loop, p_closed, never, 5000);
        POLL_ASSERT(loop, p_closed, once, 5000);
        ASSERT_EQ(never->ev[NC_EV_CLOSED], 1);
        ASSERT_EQ(once->ev[NC_EV_CLOSED], 1);
    }
    /* the longest honoured delay is a real deadline (reported clamped) */
    nc_handle at_max = ASSERT_HANDLE(nc_timer_start(loop, NC_MAX_DURATION_MS, 0, NULL));
    ASSERT_EQ(nc_next_timeout(loop), INT_MAX);
    ASSERT_OK(nc_close(loop, at_max));
}

/* An idle timeout beyond NC_MAX_DURATION_MS is accepted and never fires. */
void test_timing_huge_idle_timeout_never_fires(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *srv = listener_peer(loop, "127.0.0.1", &port, peer_new("server"));
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    wait_kid(loop, srv, 0);
    for (int i = 0; i < NHUGE; i++) {
        ASSERT_OK(nc_set_idle_timeout(loop, c->h, huge_ms[i]));
        settle(loop);
        ASSERT_MSG(nc_next_timeout(loop) == -1, "%llu ms: nc_next_timeout is %d",
                   (unsigned long long)huge_ms[i], nc_next_timeout(loop));
    }
    ASSERT_EQ(c->ev[NC_EV_IDLE], 0);
    /* a real one still fires afterwards */
    ASSERT_OK(nc_set_idle_timeout(loop, c->h, 5));
    WAIT_KIND(loop, c, NC_EV_IDLE, 1, 5000);
}

/* nc_shutdown_server with a drain beyond NC_MAX_DURATION_MS never forces a
 * reset: once the clients close, NC_EV_SHUTDOWN_COMPLETE then NC_EV_CLOSED. */
void test_timing_huge_shutdown_drain_completes_when_clients_close(void) {
    for (int i = 0; i < NHUGE; i++) {
        nc_loop *loop = t_loop();
        int port;
        peer *srv = listener_peer(loop, "127.0.0.1", &port, peer_new("server"));
        peer *c = connect_peer(loop, "127.0.0.1", port, "client");
        c->close_on_eof = 1;
        peer *k = wait_kid(loop, srv, 0);
        ASSERT_OK(nc_shutdown_server(loop, srv->h, huge_ms[i]));
        POLL_ASSERT(loop, p_closed, srv, 10000);
        ASSERT_MSG(srv->nlog == 2 && srv->kinds_log[0] == NC_EV_SHUTDOWN_COMPLETE &&
                       srv->kinds_log[1] == NC_EV_CLOSED,
                   "listener events: %d (last %s)", srv->nlog, nc_event_name(srv->last_kind));
        ASSERT_CODE(srv->close_error, 0);
        ASSERT_EQ(k->ev[NC_EV_CLOSED], 1);
        ASSERT_CODE(k->close_error, 0);
        POLL_ASSERT(loop, p_closed, c, 5000);
    }
}

/* The longest connect options (UINT32_MAX ms each, below the maximum) are
 * honoured: the connection is made, a loss waits for the reconnect delay
 * (a deadline, reported clamped to INT_MAX), and nc_close ends it. */
void test_timing_longest_connect_options_are_honoured(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *srv = listener_peer(loop, "127.0.0.1", &port, peer_new("server"));
    static const uint32_t reconnect[] = {UINT32_MAX};
    nc_connect_opts opts = NC_CONNECT_OPTS_INIT;
    opts.timeout_ms = UINT32_MAX;
    opts.reconnect_ms = reconnect;
    opts.reconnect_count = 1;
    peer *c = peer_new("client");
    c->h = ASSERT_HANDLE(nc_tcp_connect_ex(loop, "127.0.0.1", port, &opts, c));
    POLL_ASSERT(loop, p_connected, c, 5000);
    ASSERT_EQ(c->ev[NC_EV_CONNECTED], 1);
    peer *k = wait_kid(loop, srv, 0);
    ASSERT_OK(nc_close_reset(loop, k->h));
    WAIT_KIND(loop, c, NC_EV_RECONNECTING, 1, 5000);
    settle(loop);
    ASSERT_EQ(nc_next_timeout(loop), INT_MAX);
    ASSERT_OK(nc_close(loop, c->h));
    POLL_ASSERT(loop, p_closed, c, 5000);
    ASSERT_EQ(c->ev[NC_EV_CLOSED], 1);
    ASSERT_EQ(c->ev[NC_EV_CONNECTED], 1);
}

/* nc_next_timeout rounds up: a host loop that sleeps in poll(2) on
 * nc_loop_fd for nc_next_timeout ms, then calls nc_poll(loop, .., 0), wakes
 * about once per tick of a 5 ms timer instead of spinning with timeout 0
 * before each deadline (a count bound, not a time bound). */
void test_timing_next_timeout_rounds_up_so_a_host_loop_does_not_spin(void) {
    enum { TICKS = 40, MAX_POLLS = 3 * TICKS + 5 };
    nc_loop *loop = t_loop();
    peer *p = peer_new("tick");
    p->h = ASSERT_HANDLE(nc_timer_start(loop, 5, 5, p));
    int first = nc_next_timeout(loop);
    ASSERT_MSG(first >= 1 && first <= 5, "a 5 ms timer: nc_next_timeout %d", first);
    struct pollfd pfd = {.fd = nc_loop_fd(loop), .events = POLLIN};
    int polls = 0;
    int64_t give_up = now_ms() + T_MS(20000);
    while (p->ev[NC_EV_TIMER] < TICKS && polls < 100 * MAX_POLLS && now_ms() < give_up) {
        int wait = nc_next_timeout(loop);
        ASSERT_MSG(wait >= 0, "a repeating timer is pending: nc_next_timeout %d", wait);
        poll(&pfd, 1, wait);
        polls++;
        nc_event evs[16];
        int n = nc_poll(loop, evs, 16, 0);
        ASSERT_MSG(n >= 0, "nc_poll: %s", t_code(n));
        for (int k = 0; k < n; k++) dispatch(loop, &evs[k]);
    }
    ASSERT_MSG(p->ev[NC_EV_TIMER] >= TICKS, "%d ticks after %d polls", p->ev[NC_EV_TIMER], polls);
    ASSERT_MSG(polls <= MAX_POLLS, "%d host polls for %d ticks of a 5 ms timer", polls, TICKS);
}

/* Heap bytes in use (glibc). */
static size_t heap_in_use(void) { return mallinfo2().uordblks; }

/* Cancelled timers leave nothing behind: 200,000 one-hour timers started
 * and cancelled keep the heap within 1 MiB (it grew by 8 MiB when each kept
 * its deadline until expiry) and nc_next_timeout reports no deadline. */
void test_timing_cancelled_timers_leave_no_deadline_behind(void) {
    enum { N = 200000, MAX_GROWTH = 1 << 20 };
    const uint64_t hour_ms = 3600 * 1000;
    nc_loop *loop = t_loop();
    nc_event evs[256];
    size_t before = 0;
    for (int i = 0; i < N; i++) {
        nc_handle t = ASSERT_HANDLE(nc_timer_start(loop, hour_ms, 0, NULL));
        ASSERT_OK(nc_close(loop, t));
        if (i % 1000 == 999) {
            /* deliver the NC_EV_CLOSED of the cancelled timers */
            while (nc_poll(loop, evs, 256, 0) > 0) {
            }
            if (i == 999) before = heap_in_use();
        }
    }
    ASSERT_EQ(nc_next_timeout(loop), -1);
    size_t after = heap_in_use();
    ASSERT_MSG(after < before + MAX_GROWTH, "the heap grew by %zu bytes over %d cancelled timers",
               after - before, N);
    /* a live timer among cancelled ones is the deadline reported */
    nc_handle kept = ASSERT_HANDLE(nc_timer_start(loop, 2 * hour_ms, 0, NULL));
    for (int i = 0; i < 1000; i++) ASSERT_OK(nc_close(loop, ASSERT_HANDLE(nc_timer_start(loop, hour_ms, 0, NULL))));
    while (nc_poll(loop, evs, 256, 0) > 0) {
    }
    ASSERT_MSG(nc_next_timeout(loop) > (int)(hour_ms), "nc_next_timeout %d", nc_next_timeout(loop));
    ASSERT_OK(nc_close(loop, kept));
    while (nc_poll(loop, evs, 256, 0) > 0) {
    }
    ASSERT_EQ(nc_next_timeout(loop), -1);
}
