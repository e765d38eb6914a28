/* Timers, timeouts, resilience and server control: timers, idle timeout,
 * connect timeout, Happy Eyeballs, auto-reconnect, the connection cap,
 * EMFILE, graceful server shutdown, send tokens, raw options and the fd,
 * SO_REUSEPORT across loops, UDP multicast.
 *
 * Everything runs on loopback (127.0.0.1 / ::1) with bounded waits. Helper
 * threads and forked children never use ASSERT: they record results that the
 * main thread checks afterwards. */
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ helpers */

/* A global, ordered log of the events of peers whose hook is log_hook. */
typedef struct {
    peer *p;
    nc_handle h;
    int kind;
    int error;
    uint64_t value;
    int64_t t;
} log_entry;

#define LOG_MAX 4096
static log_entry g_log[LOG_MAX];
static int g_nlog;

static void log_reset(void) { g_nlog = 0; }

static void log_hook(peer *p, nc_loop *loop, const nc_event *ev) {
    (void)loop;
    if (g_nlog < LOG_MAX)
        g_log[g_nlog++] = (log_entry){p, ev->handle, ev->kind, ev->error, ev->value, now_ms()};
}

/* The n-th (0-based) log entry of `kind` for peer p, or NULL. */
static const log_entry *log_find(const peer *p, int kind, int n) {
    for (int i = 0; i < g_nlog; i++)
        if (g_log[i].p == p && g_log[i].kind == kind && n-- == 0) return &g_log[i];
    return NULL;
}

static int log_index(const log_entry *e) { return e ? (int)(e - g_log) : -1; }

/* Open descriptors of this process. */
static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

/* connect(2) of `fd` to 127.0.0.1:port: 0, or -1 with errno (no ASSERT:
 * also used where a failure must not skip cleanup). */
static int connect_loopback(int fd, int port) {
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return connect(fd, (struct sockaddr *)&sin, sizeof sin);
}

/* The local port of a POSIX socket. */
static int sock_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* The accepted child of listener `l` whose peer is the POSIX socket `fd`. */
static peer *kid_of(peer *l, int fd) {
    int port = sock_port(fd);
    for (size_t i = 0; i < l->nkids; i++)
        if (l->kids[i]->addr.port == port) return l->kids[i];
    T_FAIL_(1, "no accepted connection has peer port %d", port);
    return NULL;
}

typedef struct {
    peer *l;
    size_t n;
} nkids_wait;
static int nkids_reached(void *arg) {
    nkids_wait *w = arg;
    return w->l->nkids >= w->n;
}
static void wait_nkids(nc_loop *loop, peer *l, size_t n) {
    nkids_wait w = {l, n};
    ASSERT_MSG(poll_until(loop, nkids_reached, &w, 5000), "%zu of %zu connections accepted",
               l->nkids, n);
}

/* A non-blocking connect that has not completed after `ms`: -1 if it has. */
static int try_connect_nb(const char *ip, int port, int ms, int *completed) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    int fam;
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
        fam = in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        len = sizeof *in4;
    } else {
        ASSERT(inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1);
        fam = in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        len = sizeof *in6;
    }
    int fd = t_fd(socket(fam, SOCK_STREAM | SOCK_NONBLOCK, 0));
    ASSERT_MSG(fd >= 0, "socket: %s", strerror(errno));
    int rc = connect(fd, (struct sockaddr *)&ss, len);
    ASSERT_MSG(rc == 0 || errno == EINPROGRESS, "connect: %s", strerror(errno));
    *completed = rc == 0;
    if (!*completed) {
        struct pollfd pfd = {fd, POLLOUT, 0};
        if (poll(&pfd, 1, ms) == 1) {
            int err = 0;
            socklen_t el = sizeof err;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
            ASSERT_MSG(err == 0, "filler connect failed: %s", strerror(err));
            *completed = 1;
        }
    }
    return fd;
}

/* A netcore listener with backlog 1 on a loop that is never polled, its
 * accept queue filled by connects: further SYNs to it go unanswered.
 * `port` 0 picks one; returns the port. */
static int stalled_listener(const char *ip, int port, uint32_t flags) {
    nc_loop *unpolled = t_loop();
    nc_handle l = ASSERT_HANDLE(nc_tcp_listen(unpolled, ip, port, 1, flags, NULL));
    port = local_port(unpolled, l);
    for (int i = 0; i < 16; i++) {
        int completed;
        try_connect_nb(ip, port, 200, &completed);
        if (!completed) return port; /* this one stalls: the queue is full */
    }
    T_FAIL_(1, "the backlog of %s:%d never filled", ip, port);
    return -1;
}

static peer *plain_server(nc_loop *loop, const char *host, int *port) {
    peer *child = peer_new("server");
    child->hook = log_hook;
    peer *l = listener_peer(loop, host, port, child);
    l->hook = log_hook;
    return l;
}

/* ------------------------------------------------------------- timers */

static peer *timer_peer(nc_loop *loop, uint64_t delay, uint64_t repeat, const char *name) {
    peer *p = peer_new(name);
    p->hook = log_hook;
    p->h = ASSERT_HANDLE(nc_timer_start(loop, delay, repeat, p));
    ASSERT_EQ(nc_handle_kind(loop, p->h), NC_KIND_TIMER);
    return p;
}

/* One-shot timers fire once each, in deadline order, never early; each
 * one's NC_EV_CLOSED follows its NC_EV_TIMER and the handle is then stale.
 * A deadline is the start plus the delay: each start is bracketed by clock
 * readings, and two timers' order is checked whenever the brackets tell
 * their deadlines apart (all pairs, unless the machine stalls between
 * starts for about the 20 ms that separate the delays). */
void test_ctl_timer_order(void) {
    nc_loop *loop = t_loop();
    log_reset();
    static const uint64_t delays[] = {60, 20, 0, 40, 90};
    enum { N = sizeof delays / sizeof delays[0] };
    peer *t[N];
    int64_t before[N], after[N];
    static const char *names[N] = {"t60", "t20", "t0", "t40", "t90"};
    for (int i = 0; i < N; i++) {
        before[i] = now_ms();
        t[i] = timer_peer(loop, delays[i], 0, names[i]);
        after[i] = now_ms();
    }
    POLL_ASSERT(loop, p_closed, t[4], 5000);
    poll_for(loop, 20);
    int pos[N], k = 0;
    for (int i = 0; i < N; i++) pos[i] = -1;
    for (int i = 0; i < g_nlog; i++) {
        if (g_log[i].kind != NC_EV_TIMER) continue;
        int j = 0;
        while (j < N && g_log[i].p != t[j]) j++;
        ASSERT_MSG(j < N && pos[j] < 0, "timer event %d is not the first of one of the timers", k);
        ASSERT_MSG(g_log[i].t - before[j] >= (int64_t)delays[j] - 1,
                   "%s fired after %lld ms, before its delay", g_log[i].p->name,
                   (long long)(g_log[i].t - before[j]));
        pos[j] = k++;
    }
    ASSERT_EQ(k, N);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            if (after[i] + (int64_t)delays[i] < before[j] + (int64_t)delays[j])
                ASSERT_MSG(pos[i] < pos[j], "%s (deadline first) fired after %s", names[i],
                           names[j]);
    for (int i = 0; i < N; i++) {
        ASSERT_MSG(t[i]->nlog == 2 && t[i]->kinds_log[0] == NC_EV_TIMER &&
                       t[i]->kinds_log[1] == NC_EV_CLOSED,
                   "%s: %d events, expected TIMER then CLOSED", t[i]->name, t[i]->nlog);
        ASSERT_CODE(t[i]->close_error, 0);
        ASSERT_EQ(t[i]->after_closed, 0);
        /* the timer is gone: its handle is stale */
        ASSERT_RC(nc_close(loop, t[i]->h), NC_EBADHANDLE);
        ASSERT_RC(nc_handle_kind(loop, t[i]->h), NC_EBADHANDLE);
    }
    /* timers have no descriptor */
    peer *x = timer_peer(loop, 10000, 0, "x");
    ASSERT_RC(nc_fd(loop, x->h), NC_EWRONGKIND);
    size_t queued = 0;
    ASSERT_RC(nc_queued_bytes(loop, x->h, &queued), NC_EWRONGKIND); /* nor a send queue */
    ASSERT_OK(nc_close(loop, x->h));
    POLL_ASSERT(loop, p_closed, x, 5000);
    ASSERT_EQ(x->ev[NC_EV_TIMER], 0);
    ASSERT_EQ(t_unclaimed_events, 0);
}

/* A repeating timer fires every repeat_ms (never early; how late is not
 * asserted) until nc_close. */
void test_ctl_timer_repeat(void) {
    nc_loop *loop = t_loop();
    log_reset();
    int64_t t0 = now_ms();
    peer *r = timer_peer(loop, 10, 25, "repeat");
    WAIT_KIND(loop, r, NC_EV_TIMER, 6, 5000);
    ASSERT_EQ(r->ev[NC_EV_CLOSED], 0);
    for (int n = 0; n < 6; n++) {
        const log_entry *e = log_find(r, NC_EV_TIMER, n);
        ASSERT(e != NULL);
        int64_t due = 10 + 25 * n;
        ASSERT_MSG(e->t - t0 >= due - 1, "firing %d came after %lld ms, before %lld ms", n,
                   (long long)(e->t - t0), (long long)due);
    }
    /* cancel: NC_EV_CLOSED, then nothing more */
    ASSERT_OK(nc_close(loop, r->h));
    POLL_ASSERT(loop, p_closed, r, 5000);
    int fired = r->ev[NC_EV_TIMER];
    poll_for(loop, 100);
    ASSERT_EQ(r->ev[NC_EV_TIMER], fired);
    ASSERT_EQ(r->ev[NC_EV_CLOSED], 1);
    ASSERT_CODE(r->close_error, 0);
    ASSERT_EQ(r->after_closed, 0);
    ASSERT_EQ(r->kinds_log[r->nlog - 1], NC_EV_CLOSED);
}

/* nc_close cancels: NC_EV_CLOSED and no NC_EV_TIMER, even for a due timer. */
void test_ctl_timer_cancel(void) {
    nc_loop *loop = t_loop();
    log_reset();
    /* the cancelled timers are due long after their close, however slow the
     * machine (b is due at once, but is closed before any poll) */
    peer *a = timer_peer(loop, 60000, 0, "one-shot");
    peer *b = timer_peer(loop, 0, 0, "due-now");
    peer *c = timer_peer(loop, 60000, 30, "repeating");
    peer *keep = timer_peer(loop, 120, 0, "kept");
    ASSERT_OK(nc_close(loop, b->h));
    poll_for(loop, 10);
    ASSERT_OK(nc_close(loop, a->h));
    ASSERT_OK(nc_close(loop, c->h));
    POLL_ASSERT(loop, p_closed, keep, 5000);
    poll_for(loop, 100);
    peer *cancelled[] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        peer *p = cancelled[i];
        ASSERT_MSG(p->ev[NC_EV_TIMER] == 0, "%s fired %d times after nc_close", p->name,
                   p->ev[NC_EV_TIMER]);
        ASSERT_EQ(p->ev[NC_EV_CLOSED], 1);
        ASSERT_CODE(p->close_error, 0);
        ASSERT_EQ(p->nlog, 1);
        ASSERT_RC(nc_close(loop, p->h), NC_EBADHANDLE);
    }
    ASSERT_EQ(keep->ev[NC_EV_TIMER], 1);
    ASSERT_EQ(keep->ev[NC_EV_CLOSED], 1);
}

/* 10,000 timers with delays spread over 0..200 ms all fire once, none early,
 * and each then closes (how late is the machine's business: not asserted). */
void test_ctl_timer_10000(void) {
    enum { N = 10000 };
    nc_loop *loop = t_loop();
    int *delay = t_alloc(N * sizeof *delay);
    int *fired = t_alloc(N * sizeof *fired);
    int *closed = t_alloc(N * sizeof *closed);
    int64_t t0 = now_ms();
    for (int i = 0; i < N; i++) {
        delay[i] = (int)(((unsigned)i * 7919u) % 201u); /* 0..200, shuffled */
        nc_handle h = nc_timer_start(loop, (uint64_t)delay[i], 0, (void *)(uintptr_t)(i + 1));
        ASSERT_MSG(h > 0, "timer %d: nc_timer_start returned %s", i, t_code(h));
    }
    int64_t created = now_ms() - t0;
    nc_event *evs = t_alloc(1024 * sizeof *evs);
    int nfired = 0, nclosed = 0, early = 0, twice = 0, bad = 0;
    int64_t deadline = now_ms() + T_MS(10000);
    while (nclosed < N && now_ms() < deadline) {
        int n = nc_poll(loop, evs, 1024, 50);
        ASSERT_MSG(n >= 0, "nc_poll returned %s", t_code(n));
        int64_t t = now_ms() - t0;
        for (int k = 0; k < n; k++) {
            uintptr_t id = (uintptr_t)evs[k].userdata;
            if (id < 1 || id > N) {
                bad++;
                continue;
            }
            int i = (int)id - 1;
            if (evs[k].kind == NC_EV_TIMER) {
                if (fired[i]++) twice++;
                nfired++;
                if (t < delay[i] - 1) early++;
            } else if (evs[k].kind == NC_EV_CLOSED) {
                if (!fired[i] || closed[i]) bad++;
                closed[i]++;
                nclosed++;
            } else {
                bad++;
            }
        }
    }
    ASSERT_MSG(nfired == N, "%d of %d timers fired (creating them took %lld ms)", nfired, N,
               (long long)created);
    ASSERT_MSG(nclosed == N, "%d of %d timers closed", nclosed, N);
    ASSERT_EQ(twice, 0);
    ASSERT_EQ(bad, 0);
    ASSERT_MSG(early == 0, "%d timers fired before their delay", early);
}

/* ------------------------------------------------------- idle timeout */

/* NC_EV_IDLE fires (and re-fires) on a silent connection, not on one that
 * reads or one that writes; I/O resets the timer; 0 turns it off. */
void test_ctl_idle_timeout(void) {
    nc_loop *loop = t_loop();
    log_reset();
    int port;
    peer *srv = plain_server(loop, "127.0.0.1", &port);
    int silent_fd = posix_connect("127.0.0.1", port);
    int reading_fd = posix_connect("127.0.0.1", port);
    int writing_fd = posix_connect("127.0.0.1", port);
    wait_nkids(loop, srv, 3);
    peer *silent = kid_of(srv, silent_fd);
    peer *reading = kid_of(srv, reading_fd); /* the server reads: the client sends */
    peer *writing = kid_of(srv, writing_fd); /* the server writes */
    silent->name = "silent";
    reading->name = "reading";
    writing->name = "writing";
    enum { IDLE = 200 };
    int64_t t0 = now_ms();
    ASSERT_OK(nc_set_idle_timeout(loop, silent->h, IDLE));
    ASSERT_OK(nc_set_idle_timeout(loop, reading->h, IDLE));
    ASSERT_OK(nc_set_idle_timeout(loop, writing->h, IDLE));
    /* I/O every ~20 ms; a loaded machine may leave longer gaps, and an idle
     * event after a gap of IDLE ms or more would be right: count those */
    int64_t longest_gap = 0, last_io = t0;
    /* at least 700 ms, and on until the silent connection has fired twice
     * (a loaded machine may deliver late; 30 s is only a hang guard) */
    while ((now_ms() - t0 < 700 || silent->ev[NC_EV_IDLE] < 2) && now_ms() - t0 < T_MS(30000)) {
        ASSERT(send_all(reading_fd, "x", 1) == 0);
        ASSERT_OK(nc_send(loop, writing->h, "y", 1));
        poll_for(loop, 20);
        int64_t t = now_ms();
        if (t - last_io > longest_gap) longest_gap = t - last_io;
        last_io = t;
    }
    int64_t elapsed = now_ms() - t0;
    ASSERT_MSG(reading->ev[NC_EV_IDLE] == 0 || longest_gap >= IDLE,
               "a connection receiving data got %d idle events", reading->ev[NC_EV_IDLE]);
    ASSERT_MSG(writing->ev[NC_EV_IDLE] == 0 || longest_gap >= IDLE,
               "a connection sending data got %d idle events", writing->ev[NC_EV_IDLE]);
    int n = silent->ev[NC_EV_IDLE];
    ASSERT_MSG(n >= 2 && n <= elapsed / IDLE + 1,
               "the silent connection got %d idle events in %lld ms (timeout %d ms)", n,
               (long long)elapsed, IDLE);
    /* Each event fires a full timeout after the previous one fired, so the
     * i-th comes at least (i + 1) timeouts after t0 (however late the one
     * before it was delivered). */
    for (int i = 0; i < n; i++) {
        const log_entry *e = log_find(silent, NC_EV_IDLE, i);
        ASSERT_MSG(e->t - t0 >= (int64_t)(i + 1) * IDLE - 1, "idle event %d came %lld ms after the timeout was set",
                   i, (long long)(e->t - t0));
    }
    ASSERT_EQ(silent->ev[NC_EV_CLOSED], 0); /* the application decides */
    /* any I/O resets it: data 100 ms after an idle event pushes the next one
     * to IDLE ms after the data, not IDLE ms after the previous event */
    WAIT_KIND(loop, silent, NC_EV_IDLE, n + 1, 2000);
    const log_entry *last = log_find(silent, NC_EV_IDLE, n);
    poll_for(loop, 100);
    int64_t tw = now_ms();
    ASSERT(send_all(silent_fd, "z", 1) == 0);
    WAIT_KIND(loop, silent, NC_EV_IDLE, n + 2, 2000);
    const log_entry *next = log_find(silent, NC_EV_IDLE, n + 1);
    ASSERT_MSG(silent->rx_total == 1, "silent got %zu bytes", silent->rx_total);
    ASSERT_MSG(next->t - tw >= IDLE - 1,
               "the idle event came %lld ms after data arrived (%lld ms after the previous "
               "idle event): data did not reset the timer",
               (long long)(next->t - tw), (long long)(next->t - last->t));
    /* 0 turns it off */
    ASSERT_OK(nc_set_idle_timeout(loop, silent->h, 0));
    int before = silent->ev[NC_EV_IDLE];
    poll_for(loop, IDLE * 2 + 100);
    ASSERT_EQ(silent->ev[NC_EV_IDLE], before);
    /* a client-side connection has an idle timeout too */
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    c->hook = log_hook;
    ASSERT_OK(nc_set_idle_timeout(loop, c->h, 50));
    WAIT_KIND(loop, c, NC_EV_IDLE, 2, 2000);
    ASSERT_RC(nc_set_idle_timeout(loop, srv->h, 100), NC_EWRONGKIND);
}

/* ---------------------------------------------------- connect timeout */

/* A connect whose SYNs go unanswered fails with NC_ETIMEDOUT after the
 * timeout, then closes; no descriptor is left behind. */
void test_ctl_connect_timeout(void) {
    nc_loop *loop = t_loop();
    int port = stalled_listener("127.0.0.1", 0, 0);
    int fds_before = count_fds();
    ASSERT(fds_before > 0);
    peer *c = peer_new("client");
    nc_connect_opts opts = NC_CONNECT_OPTS_INIT;
    opts.timeout_ms = 300;
    int64_t t0 = now_ms();
    c->h = ASSERT_HANDLE(nc_tcp_connect_ex(loop, "127.0.0.1", port, &opts, c));
    /* still connecting: no descriptor for the caller yet */
    ASSERT_RC(nc_fd(loop, c->h), NC_ENOTCONN);
    POLL_ASSERT(loop, p_closed, c, 5000);
    int64_t elapsed = now_ms() - t0; /* no upper bound: a loaded machine may be late */
    ASSERT_MSG(c->ev[NC_EV_CONNECT_FAILED] == 1, "connect_failed %d times, connected %d",
               c->ev[NC_EV_CONNECT_FAILED], c->ev[NC_EV_CONNECTED]);
    ASSERT_CODE(c->connect_error, NC_ETIMEDOUT);
    ASSERT_EQ(c->nlog, 2);
    ASSERT_EQ(c->kinds_log[0], NC_EV_CONNECT_FAILED);
    ASSERT_MSG(elapsed >= 299, "timed out after %lld ms (timeout 300)", (long long)elapsed);
    poll_for(loop, 50);
    ASSERT_EQ(c->after_closed, 0);
    int fds_after = count_fds();
    ASSERT_MSG(fds_after == fds_before, "%d descriptors open before the connect, %d after",
               fds_before, fds_after);
    /* the timeout covers connecting only: an established connection outlives it */
    int lport;
    plain_server(loop, "127.0.0.1", &lport);
    peer *ok = peer_new("ok");
    ok->h = ASSERT_HANDLE(nc_tcp_connect_ex(loop, "127.0.0.1", lport, &opts, ok));
    POLL_ASSERT(loop, p_connected, ok, 5000);
    ASSERT_EQ(ok->ev[NC_EV_CONNECTED], 1);
    poll_for(loop, 500);
    ASSERT_EQ(ok->ev[NC_EV_CLOSED], 0);
    ASSERT_OK(nc_send(loop, ok->h, "alive", 5));
}

/* ---------------------------------------------------- Happy Eyeballs */

/* "dual.test" is ::1 then 127.0.0.1; ::1 stalls on the port, 127.0.0.1
 * accepts: the IPv4 attempt starts after the attempt delay and wins, the
 * IPv6 attempt is closed. Forced IPv6 times out; forced IPv4 with a local
 * bind address connects from it. */
void test_ctl_happy_eyeballs(void) {
    nc_loop *loop = t_loop();
    log_reset();
    int port;
    peer *srv = plain_server(loop, "127.0.0.1", &port);
    stalled_listener("::1", port, NC_IPV6ONLY);
    const char *addrs[] = {"::1", "127.0.0.1"};
    ASSERT_OK(nc_set_host_addresses(loop, "dual.test", addrs, 2));
    int fds_before = count_fds();

    peer *c = peer_new("dual");
    nc_connect_opts opts = NC_CONNECT_OPTS_INIT;
    opts.attempt_delay_ms = 100;
    int64_t t0 = now_ms();
    c->h = ASSERT_HANDLE(nc_tcp_connect_ex(loop, "dual.test", port, &opts, c));
    POLL_ASSERT(loop, p_connected, c, 5000);
    int64_t elapsed = now_ms() - t0;
    ASSERT_MSG(c->ev[NC_EV_CONNECTED] == 1, "connect failed: %s", t_code(c->connect_error));
    char ip[NC_ADDRSTRLEN];
    ASSERT_MSG(c->addr.family == NC_AF_INET && strcmp(addr_ip(&c->addr, ip, sizeof ip),
                                                      "127.0.0.1") == 0 &&
                   c->addr.port == port,
               "connected to %s:%d", addr_ip(&c->addr, ip, sizeof ip), c->addr.port);
    ASSERT_MSG(elapsed >= 99, "IPv4 connected after %lld ms: before the 100 ms attempt delay",
               (long long)elapsed);
    wait_nkids(loop, srv, 1);
    poll_for(loop, 50);
    /* the client socket and the accepted one; the losing IPv6 attempt is gone */
    int fds_after = count_fds();
    ASSERT_MSG(fds_after == fds_before + 2,
               "%d descriptors before, %d after (expected +2: client and accepted)", fds_before,
               fds_after);
    ASSERT_OK(nc_send(loop, c->h, "hi", 2));
    ASSERT(wait_rx(loop, srv->kids[0], 2, 5000));

    /* IPv6 only: only the stalled address is tried */
    peer *c6 = peer_new("v6");
    nc_connect_opts o6 = NC_CONNECT_OPTS_INIT;
    o6.family = NC_FAMILY_IPV6;
    o6.timeout_ms = 300;
    c6->h = ASSERT_HANDLE(nc_tcp_connect_ex(loop, "dual.test", port, &o6, c6));
    POLL_ASSERT(loop, p_closed, c6, 5000);
    ASSERT_EQ(c6->ev[NC_EV_CONNECTED], 0);
    ASSERT_EQ(c6->ev[NC_EV_CONNECT_FAILED], 1);
    ASSERT_CODE(c6->connect_error, NC_ETIMEDOUT);
    ASSERT_EQ(srv->nkids, 1);
    poll_for(loop, 20);
    ASSERT_EQ(count_fds(), fds_before + 2);

    /* IPv4 only, bound to 127.0.0.1 */
    peer *c4 = peer_new("v4");
    nc_connect_opts o4 = NC_CONNECT_OPTS_INIT;
    o4.family = NC_FAMILY_IPV4;
    o4.local_host = "127.0.0.1";
    c4->h = ASSERT_HANDLE(nc_tcp_connect_ex(loop, "dual.test", port, &o4, c4));
    POLL_ASSERT(loop, p_connected, c4, 5000);
    ASSERT_MSG(c4->ev[NC_EV_CONNECTED] == 1, "connect failed: %s", t_code(c4->connect_error));
    nc_addr la;
    memset(&la, 0, sizeof la);
    ASSERT_OK(nc_local_addr(loop, c4->h, &la));
    ASSERT_EQ(la.family, NC_AF_INET);
    ASSERT_MSG(strcmp(addr_ip(&la, ip, sizeof ip), "127.0.0.1") == 0, "local address %s", ip);
    ASSERT_MSG(c4->addr.family == NC_AF_INET, "v4-only connected to family %d", c4->addr.family);
    wait_nkids(loop, srv, 2);

    /* an IPv4 local address cannot go with IPv6 only */
    o6.local_host = "127.0.0.1";
    ASSERT_RC(nc_tcp_connect_ex(loop, "dual.test", port, &o6, NULL), NC_EINVAL);
    /* removing the entry: the name no longer resolves (.test is reserved) */
    ASSERT_OK(nc_set_host_addresses(loop, "dual.test", NULL, 0));
    peer *gone = peer_new("gone");
    gone->h = ASSERT_HANDLE(nc_tcp_connect(loop, "dual.test", port, gone));
    POLL_ASSERT(loop, p_closed, gone, 10000);
    ASSERT_EQ(gone->ev[NC_EV_CONNECTED], 0);
    ASSERT_CODE(gone->connect_error, NC_EDNS);
}

/* A local port given without a local host binds on the any-address of the
 * peer's family: the server sees the connection come from that port. */
void test_ctl_local_port_alone(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *srv = plain_server(loop, "127.0.0.1", &port);
    /* a port that was free a moment ago */
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ASSERT(probe >= 0 && bind(probe, (struct sockaddr *)&sin, sizeof sin) == 0);
    int lport = sock_port(probe);
    close(probe);
    peer *c = peer_new("client");
    nc_connect_opts opts = NC_CONNECT_OPTS_INIT;
    opts.local_port = lport;
    c->h = ASSERT_HANDLE(nc_tcp_connect_ex(loop, "127.0.0.1", port, &opts, c));
    POLL_ASSERT(loop, p_connected, c, 5000);
    wait_nkids(loop, srv, 1);
    ASSERT_EQ(srv->kids[0]->addr.port, lport);
    opts.local_port = 70000;
    ASSERT_RC(nc_tcp_connect_ex(loop, "127.0.0.1", port, &opts, NULL), NC_EINVAL);
}

/* ------------------------------------------------------ auto-reconnect */

static int reconnecting_values_ok(const peer *p, int from, int count, char *why, size_t n) {
    for (int i = 0; i < count; i++) {
        const log_entry *e = log_find(p, NC_EV_RECONNECTING, from + i);
        if (!e) {
            snprintf(why, n, "reconnecting event %d missing", from + i);
            return 0;
        }
        if (e->value != (uint64_t)(i + 1)) {
            snprintf(why, n, "reconnecting event %d has attempt %llu, expected %d", from + i,
                     (unsigned long long)e->value, i + 1);
            return 0;
        }
    }
    return 1;
}

/* The server goes away (connection reset, listener closed): the client
 * reports NC_EV_RECONNECTING 1, 2, ... with the backoff schedule (the last
 * delay repeats); bytes sent meanwhile are queued; the server comes back on
 * the same port and the client reconnects by itself; traffic resumes both
 * ways; the attempt count restarts after a success. */
void test_ctl_reconnect(void) {
    nc_loop *loop = t_loop();
    log_reset();
    int port;
    peer *srv = plain_server(loop, "127.0.0.1", &port);
    srv->child->store = 1;
    srv->child->close_on_eof = 1;
    peer *c = peer_new("client");
    c->hook = log_hook;
    c->store = 1;
    static const uint32_t backoff[] = {50, 120};
    nc_connect_opts opts = NC_CONNECT_OPTS_INIT;
    opts.reconnect_ms = backoff;
    opts.reconnect_count = 2;
    c->h = ASSERT_HANDLE(nc_tcp_connect_ex(loop, "127.0.0.1", port, &opts, c));
    POLL_ASSERT(loop, p_connected, c, 5000);
    ASSERT_EQ(c->ev[NC_EV_CONNECTED], 1);
    peer *k1 = wait_kid(loop, srv, 0);
    ASSERT_OK(nc_send(loop, c->h, "one", 3));
    ASSERT(wait_rx(loop, k1, 3, 5000));

    /* the server goes away */
    int64_t t_loss = now_ms();
    ASSERT_OK(nc_close_reset(loop, k1->h));
    ASSERT_OK(nc_close(loop, srv->h));
    POLL_ASSERT(loop, p_closed, srv, 5000);
    WAIT_KIND(loop, c, NC_EV_RECONNECTING, 4, 5000);
    ASSERT_EQ(c->ev[NC_EV_CLOSED], 0);
    ASSERT_EQ(c->ev[NC_EV_CONNECT_FAILED], 0);
    char why[160];
    ASSERT_MSG(reconnecting_values_ok(c, 0, 4, why, sizeof why), "%s", why);
    const log_entry *r[4];
    for (int i = 0; i < 4; i++) r[i] = log_find(c, NC_EV_RECONNECTING, i);
    ASSERT_MSG(r[0]->error == NC_ECONNRESET || r[0]->error == 0,
               "the loss is reported with %s", t_code(r[0]->error));
    for (int i = 1; i < 4; i++)
        ASSERT_MSG(r[i]->error == NC_ECONNREFUSED, "attempt %d failed with %s", i + 1,
                   t_code(r[i]->error));
    /* the schedule: 50, then 120 repeating. Each delay runs from the loss or
     * the failed attempt before it, so attempt i + 1 fails no earlier than
     * the sum of the delays before it after the loss, however late earlier
     * events were delivered. */
    for (int i = 1; i < 4; i++)
        ASSERT_MSG(r[i]->t - t_loss >= 50 + 120 * (i - 1) - 1, "attempt %d failed %lld ms after the loss", i + 1,
                   (long long)(r[i]->t - t_loss));
    /* sent while reconnecting: queued for the next connection */
    ASSERT_OK(nc_send(loop, c->h, "queued", 6));

    /* the server comes back on the same port */
    peer *srv2 = peer_new("listener2");
    srv2->child = srv->child;
    srv2->hook = log_hook;
    srv2->h = ASSERT_HANDLE(nc_tcp_listen(loop, "127.0.0.1", port, 0, 0, srv2));
    WAIT_KIND(loop, c, NC_EV_CONNECTED, 2, 5000);
    ASSERT_EQ(c->ev[NC_EV_CLOSED], 0);
    ASSERT_EQ(c->addr.port, port);
    peer *k2 = wait_kid(loop, srv2, 0);
    ASSERT_MSG(wait_rx(loop, k2, 6, 5000), "the new connection got %zu bytes", k2->rx_total);
    ASSERT_MSG(k2->rx_len == 6 && memcmp(k2->rx, "queued", 6) == 0,
               "bytes queued while reconnecting: got %zu bytes", k2->rx_len);
    ASSERT_OK(nc_send(loop, c->h, "again", 5));
    ASSERT(wait_rx(loop, k2, 11, 5000));
    ASSERT(memcmp(k2->rx, "queuedagain", 11) == 0);
    ASSERT_OK(nc_send(loop, k2->h, "back", 4));
    ASSERT(wait_rx(loop, c, 4, 5000));
    ASSERT(memcmp(c->rx, "back", 4) == 0);

    /* a second loss (the peer closes): attempts count from 1 again */
    int before = c->ev[NC_EV_RECONNECTING];
    ASSERT_OK(nc_close(loop, k2->h));
    WAIT_KIND(loop, c, NC_EV_RECONNECTING, before + 1, 5000);
    ASSERT_MSG(reconnecting_values_ok(c, before, 1, why, sizeof why), "%s", why);
    /* the listener is still there: it reconnects */
    WAIT_KIND(loop, c, NC_EV_CONNECTED, 3, 5000);
    wait_nkids(loop, srv2, 2);
    ASSERT_OK(nc_send(loop, c->h, "third", 5));
    ASSERT(wait_rx(loop, srv2->kids[1], 5, 5000));
    ASSERT_EQ(c->ev[NC_EV_CLOSED], 0);
    ASSERT_OK(nc_close(loop, c->h));
    POLL_ASSERT(loop, p_closed, c, 5000);
    ASSERT_CODE(c->close_error, 0);
}

/* Logs the event, then closes the handle on its first NC_EV_RECONNECTING:
 * within the same batch, so the backoff cannot run out first however slow
 * the machine. */
static void close_on_reconnecting(peer *p, nc_loop *loop, const nc_event *ev) {
    log_hook(p, loop, ev);
    if (ev->kind == NC_EV_RECONNECTING && p->ev[NC_EV_RECONNECTING] == 1)
        EXPECT_OK(nc_close(loop, p->h));
}

/* nc_close during the backoff stops reconnecting: exactly one NC_EV_CLOSED,
 * nothing after it, and no further attempt reaches the (present) listener. */
void test_ctl_reconnect_close_during_backoff(void) {
    nc_loop *loop = t_loop();
    log_reset();
    int port;
    peer *srv = plain_server(loop, "127.0.0.1", &port);
    peer *c = peer_new("client");
    c->hook = close_on_reconnecting;
    static const uint32_t backoff[] = {400};
    nc_connect_opts opts = NC_CONNECT_OPTS_INIT;
    opts.reconnect_ms = backoff;
    opts.reconnect_count = 1;
    c->h = ASSERT_HANDLE(nc_tcp_connect_ex(loop, "127.0.0.1", port, &opts, c));
    POLL_ASSERT(loop, p_connected, c, 5000);
    peer *k = wait_kid(loop, srv, 0);
    ASSERT_OK(nc_close_reset(loop, k->h));
    WAIT_KIND(loop, c, NC_EV_RECONNECTING, 1, 5000);
    POLL_ASSERT(loop, p_closed, c, 5000);
    poll_for(loop, 700); /* well past the 400 ms backoff */
    ASSERT_EQ(c->ev[NC_EV_CLOSED], 1);
    ASSERT_EQ(c->after_closed, 0);
    ASSERT_EQ(c->ev[NC_EV_CONNECTED], 1);
    ASSERT_EQ(c->ev[NC_EV_RECONNECTING], 1);
    ASSERT_MSG(srv->nkids == 1, "the listener accepted %zu connections: a closed handle "
                                "reconnected", srv->nkids);
    ASSERT_RC(nc_send(loop, c->h, "x", 1), NC_EBADHANDLE);
    ASSERT_RC(nc_close(loop, c->h), NC_EBADHANDLE);
    /* a connection without auto-reconnect just closes */
    peer *plain = connect_peer(loop, "127.0.0.1", port, "plain");
    peer *k2 = wait_kid(loop, srv, 1);
    ASSERT_OK(nc_close_reset(loop, k2->h));
    POLL_ASSERT(loop, p_closed, plain, 5000);
    ASSERT_EQ(plain->ev[NC_EV_RECONNECTING], 0);
}

/* ------------------------------------------------------ connection cap */

/* Cap 10: ten of twelve POSIX clients are accepted, the others wait in the
 * backlog; each close (ours, or the peer's) lets one more in. */
void test_ctl_max_connections(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *child = peer_new("server");
    child->close_on_eof = 1;
    peer *srv = listener_peer(loop, "127.0.0.1", &port, child);
    ASSERT_OK(nc_set_max_connections(loop, srv->h, 10));
    int fds[12];
    for (int i = 0; i < 12; i++) fds[i] = posix_connect("127.0.0.1", port);
    wait_nkids(loop, srv, 10);
    poll_for(loop, 200);
    ASSERT_MSG(srv->nkids == 10, "%zu accepted with a cap of 10", srv->nkids);
    /* we close one: the 11th comes in */
    peer *first = srv->kids[0];
    ASSERT_OK(nc_close(loop, first->h));
    wait_nkids(loop, srv, 11);
    ASSERT_EQ(first->ev[NC_EV_CLOSED], 1);
    poll_for(loop, 100);
    ASSERT_EQ(srv->nkids, 11);
    /* the peer closes one: the 12th comes in */
    int victim = -1;
    for (int i = 0; i < 12 && victim < 0; i++)
        if (sock_port(fds[i]) == srv->kids[1]->addr.port) victim = i;
    ASSERT(victim >= 0);
    t_close(fds[victim]);
    POLL_ASSERT(loop, p_closed, srv->kids[1], 5000);
    wait_nkids(loop, srv, 12);
    /* the accepted ones work */
    peer *last = srv->kids[11];
    int lastfd = -1;
    for (int i = 0; i < 12; i++)
        if (i != victim && sock_port(fds[i]) == last->addr.port) lastfd = fds[i];
    ASSERT(lastfd >= 0);
    ASSERT(send_all(lastfd, "late", 4) == 0);
    ASSERT(wait_rx(loop, last, 4, 5000));
    /* 0 lifts the cap */
    ASSERT_OK(nc_set_max_connections(loop, srv->h, 0));
    int more = posix_connect("127.0.0.1", port);
    (void)more;
    wait_nkids(loop, srv, 13);
    ASSERT_RC(nc_set_max_connections(loop, last->h, 5), NC_EWRONGKIND);
}

/* --------------------------------------------------------------- EMFILE */

/* The child's report to the parent (also its exit status: `code`). */
typedef struct {
    int code;          /* 0 ok, else the step that failed */
    int accepted;      /* connections accepted before the shortage */
    int errors;        /* NC_EV_ERROR on the listener while at the limit */
    int error_code;    /* the error of the first one */
    long cpu_us;       /* process CPU time over ~1 s at the limit */
    long wall_ms;
    int accepted_after;
    int rc;            /* a failing call's return code */
    char msg[160];
} emfile_report;

enum { EM_FLOOD = 14, EM_HEADROOM = 10 };

static int read_full(int fd, void *buf, size_t len, int timeout_ms) {
    uint8_t *b = buf;
    int64_t deadline = now_ms() + timeout_ms;
    while (len) {
        int64_t left = deadline - now_ms();
        if (left <= 0) return -1;
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, (int)left) <= 0) continue;
        ssize_t n = read(fd, b, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

static long cpu_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (long)ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

typedef struct {
    nc_loop *loop;
    nc_handle listener;
    nc_handle conns[64];
    int nconns;
    int accepted, errors, error_code, closed;
} em_server;

/* One poll of the child's echo server. */
static int em_poll(em_server *s, int timeout_ms) {
    nc_event evs[64];
    int n = nc_poll(s->loop, evs, 64, timeout_ms);
    for (int i = 0; i < n; i++) {
        const nc_event *ev = &evs[i];
        switch (ev->kind) {
        case NC_EV_ACCEPTED:
            s->accepted++;
            if (s->nconns < 64) s->conns[s->nconns++] = ev->handle;
            break;
        case NC_EV_ERROR:
            if (ev->handle == s->listener) {
                if (!s->errors++) s->error_code = ev->error;
            }
            break;
        case NC_EV_DATA:
            nc_send(s->loop, ev->handle, ev->data, ev->len);
            break;
        case NC_EV_EOF:
            nc_close(s->loop, ev->handle);
            break;
        case NC_EV_CLOSED:
            s->closed++;
            for (int k = 0; k < s->nconns; k++)
                if (s->conns[k] == ev->handle) s->conns[k] = s->conns[--s->nconns];
            break;
        default:
            break;
        }
    }
    return n;
}

/* Polls until the byte `want` arrives on fd (or the time is up). */
static int em_wait_byte(em_server *s, int fd, char want, int timeout_ms) {
    int64_t deadline = now_ms() + timeout_ms;
    while (now_ms() < deadline) {
        if (em_poll(s, 10) < 0) return 0;
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 0) == 1) {
            char b;
            if (read(fd, &b, 1) != 1) return 0;
            return b == want;
        }
    }
    return 0;
}

#define EM_FAIL(r, step, ...)                                                            \
    do {                                                                                  \
        (r)->code = (step);                                                               \
        snprintf((r)->msg, sizeof (r)->msg, __VA_ARGS__);                                \
        goto out;                                                                         \
    } while (0)

/* The forked child: an echo server that runs out of descriptors. */
static int emfile_child(int to_parent, int from_parent) {
    emfile_report r;
    memset(&r, 0, sizeof r);
    alarm((unsigned)(60 * t_slow)); /* never outlive the parent's patience */
    em_server s;
    memset(&s, 0, sizeof s);
    s.loop = nc_loop_new();
    if (!s.loop) EM_FAIL(&r, 10, "nc_loop_new failed");
    s.listener = nc_tcp_listen(s.loop, "127.0.0.1", 0, 0, 0, NULL);
    if (s.listener <= 0) EM_FAIL(&r, 11, "nc_tcp_listen: %s", t_code(s.listener));
    nc_addr a;
    if (nc_local_addr(s.loop, s.listener, &a) != 0) EM_FAIL(&r, 12, "nc_local_addr failed");
    int port = a.port;
    /* a few descriptors to spare, no more */
    int open_now = count_fds();
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = (rlim_t)(open_now + EM_HEADROOM);
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) EM_FAIL(&r, 13, "setrlimit: %s", strerror(errno));
    if (write(to_parent, &port, sizeof port) != (ssize_t)sizeof port)
        EM_FAIL(&r, 14, "write to parent failed");
    /* the parent floods us with EM_FLOOD connections */
    if (!em_wait_byte(&s, from_parent, 'F', 10000 * t_slow)) EM_FAIL(&r, 15, "no flood");
    int64_t deadline = now_ms() + 5000 * t_slow;
    while (!s.errors && now_ms() < deadline) em_poll(&s, 20);
    if (!s.errors)
        EM_FAIL(&r, 16, "no NC_EV_ERROR on the listener after %d accepts", s.accepted);
    r.error_code = s.error_code;
    if (s.error_code != NC_EMFILE)
        EM_FAIL(&r, 17, "the listener's error is %s, expected NC_EMFILE", t_code(s.error_code));
    if (s.accepted >= EM_FLOOD) EM_FAIL(&r, 18, "all %d accepted: no shortage", s.accepted);
    /* about a second at the limit: the loop must not spin */
    r.accepted = s.accepted;
    long c0 = cpu_us();
    int64_t w0 = now_ms();
    while (now_ms() - w0 < 1000) em_poll(&s, 100);
    r.cpu_us = cpu_us() - c0;
    r.wall_ms = (long)(now_ms() - w0);
    r.errors = s.errors;
    if (s.accepted != r.accepted)
        EM_FAIL(&r, 19, "accepted %d more while out of descriptors", s.accepted - r.accepted);
    if (s.errors != 1) EM_FAIL(&r, 20, "%d NC_EV_ERROR for one shortage", s.errors);
    if (r.cpu_us > 300000)
        EM_FAIL(&r, 21, "%ld us of CPU in %ld ms at the descriptor limit", r.cpu_us, r.wall_ms);
    /* free descriptors: close every connection we hold */
    int held = s.nconns;
    for (int i = 0; i < held; i++) {
        int rc = nc_close(s.loop, s.conns[i]);
        if (rc != 0) {
            r.rc = rc;
            EM_FAIL(&r, 22, "nc_close: %s", t_code(rc));
        }
    }
    deadline = now_ms() + 5000 * t_slow;
    while (s.closed < held && now_ms() < deadline) em_poll(&s, 20);
    if (s.closed < held) EM_FAIL(&r, 23, "%d of %d closed", s.closed, held);
    char go = 'R';
    if (write(to_parent, &go, 1) != 1) EM_FAIL(&r, 24, "write to parent failed");
    /* the parent closes its flood and connects a new client, which we echo */
    if (!em_wait_byte(&s, from_parent, 'D', 20000 * t_slow))
        EM_FAIL(&r, 25, "the parent's new client was not served (accepted %d after freeing)",
                s.accepted - r.accepted);
    r.accepted_after = s.accepted - r.accepted;
out:
    if (s.loop) nc_loop_free(s.loop);
    if (write(to_parent, "X", 1) != 1 || write(to_parent, &r, sizeof r) != (ssize_t)sizeof r)
        return 99;
    return r.code;
}

/* Accept hits EMFILE (RLIMIT_NOFILE lowered in a forked child so the suite is
 * unaffected): one NC_EV_ERROR (NC_EMFILE) on the listener, no spinning
 * (process CPU time stays low), and once descriptors are freed new clients
 * are served again. Not in --quick: valgrind keeps RLIMIT_NOFILE to itself
 * (the kernel never sees the lower limit), and its CPU time is no measure. */
void test_ctl_emfile(void) {
    int up[2], down[2];
    ASSERT(pipe(up) == 0);
    t_fd(up[0]);
    t_fd(up[1]);
    ASSERT(pipe(down) == 0);
    t_fd(down[0]);
    t_fd(down[1]);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ASSERT_MSG(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(up[0]);
        close(down[1]);
        _exit(emfile_child(up[1], down[0]));
    }
    t_close(up[1]);
    t_close(down[0]);
    char failure[512] = "";
    int port = 0;
    int flood[EM_FLOOD];
    int nflood = 0;
    emfile_report r;
    memset(&r, 0, sizeof r);
    int have_report = 0;
    if (read_full(up[0], &port, sizeof port, T_MS(10000)) != 0) {
        snprintf(failure, sizeof failure, "the child did not report its port");
        goto reap;
    }
    for (int i = 0; i < EM_FLOOD; i++) {
        /* plain blocking connects: they complete in the kernel backlog */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect_loopback(fd, port) != 0) {
            snprintf(failure, sizeof failure, "flood connect %d: %s", i, strerror(errno));
            if (fd >= 0) close(fd);
            goto reap;
        }
        flood[nflood++] = t_fd(fd);
    }
    if (write(down[1], "F", 1) != 1) {
        snprintf(failure, sizeof failure, "write to child failed");
        goto reap;
    }
    char ready = 0;
    if (read_full(up[0], &ready, 1, T_MS(20000)) != 0 || ready != 'R') {
        if (ready != 'X') /* 'X': the child failed and its report follows */
            snprintf(failure, sizeof failure, "the child did not get through the shortage");
        goto reap;
    }
    /* our flood goes away too; then a new client must be served */
    for (int i = 0; i < nflood; i++) t_close(flood[i]);
    nflood = 0;
    {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        t_fd(fd);
        if (fd < 0 || connect_loopback(fd, port) != 0) {
            snprintf(failure, sizeof failure, "new client connect: %s", strerror(errno));
            goto reap;
        }
        if (send_all(fd, "served again", 12) != 0) {
            snprintf(failure, sizeof failure, "new client send: %s", strerror(errno));
            goto reap;
        }
        uint8_t buf[16];
        int eof, err;
        long got = recv_some(NULL, fd, buf, 12, 10000, &eof, &err);
        if (got != 12 || memcmp(buf, "served again", 12) != 0) {
            snprintf(failure, sizeof failure,
                     "a new client after freeing descriptors got %ld of 12 echoed bytes "
                     "(eof %d, errno %d)",
                     got, eof, err);
            goto reap;
        }
    }
    if (write(down[1], "D", 1) != 1) snprintf(failure, sizeof failure, "write to child failed");
    if (read_full(up[0], &ready, 1, T_MS(10000)) != 0 || ready != 'X')
        snprintf(failure, sizeof failure, "the child sent no report");
reap:;
    /* the child's report, then its exit */
    if (read_full(up[0], &r, sizeof r, failure[0] ? 2000 : T_MS(10000)) == 0) have_report = 1;
    int status = 0;
    int64_t deadline = now_ms() + T_MS(10000);
    pid_t w;
    while ((w = waitpid(pid, &status, WNOHANG)) == 0 && now_ms() < deadline) sleep_ms(10);
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        if (!failure[0]) snprintf(failure, sizeof failure, "the child hung (killed)");
    }
    ASSERT_MSG(!have_report || r.code == 0,
               "child step %d: %s (accepted %d before the shortage, %d errors, cpu %ld us "
               "in %ld ms)%s%s",
               r.code, r.msg, r.accepted, r.errors, r.cpu_us, r.wall_ms, failure[0] ? "; " : "",
               failure);
    ASSERT_MSG(!failure[0], "%s", failure);
    ASSERT_MSG(have_report, "no report from the child");
    ASSERT_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
               "the child ended with status %d (signal %d)",
               WIFEXITED(status) ? WEXITSTATUS(status) : -1,
               WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    ASSERT(r.accepted > 0 && r.accepted < EM_FLOOD);
    ASSERT_EQ(r.errors, 1);
    ASSERT_CODE(r.error_code, NC_EMFILE);
    ASSERT(r.accepted_after >= 1);
}

/* ---------------------------------------------------- graceful shutdown */

typedef struct {
    int fd;
    size_t want;     /* stop after this many (0 = until EOF) */
    uint32_t seed;
    int timeout_ms;
    atomic_size_t got;
    long long bad_at;
    int eof, err;
} reader;

/* Reads fd (blocking, bounded) until EOF or `want` bytes, checking the pattern. */
static void *reader_thread(void *arg) {
    reader *r = arg;
    r->bad_at = -1;
    uint8_t *buf = malloc(65536);
    if (!buf) {
        r->err = ENOMEM;
        return NULL;
    }
    int64_t deadline = now_ms() + r->timeout_ms;
    size_t got = 0;
    while (now_ms() < deadline && (!r->want || got < r->want)) {
        struct pollfd pfd = {r->fd, POLLIN, 0};
        if (poll(&pfd, 1, 50) != 1) continue;
        size_t room = 65536;
        if (r->want && r->want - got < room) room = r->want - got;
        ssize_t n = recv(r->fd, buf, room, MSG_DONTWAIT);
        if (n == 0) {
            r->eof = 1;
            shutdown(r->fd, SHUT_WR); /* answer the FIN */
            break;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            r->err = errno;
            break;
        }
        if (r->seed && r->bad_at < 0) {
            for (ssize_t i = 0; i < n; i++)
                if (buf[i] != pattern(r->seed, got + (size_t)i)) {
                    r->bad_at = (long long)(got + (size_t)i);
                    break;
                }
        }
        got += (size_t)n;
        atomic_store(&r->got, got);
    }
    free(buf);
    return NULL;
}

/* A POSIX client with a small receive buffer (set before connecting). */
static int small_rcvbuf_client(int port) {
    int fd = t_fd(socket(AF_INET, SOCK_STREAM, 0));
    ASSERT(fd >= 0);
    int sz = 4096;
    ASSERT(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz) == 0);
    ASSERT_MSG(connect_loopback(fd, port) == 0, "connect: %s", strerror(errno));
    return fd;
}

/* Checks that the listener's last two events are NC_EV_SHUTDOWN_COMPLETE
 * then NC_EV_CLOSED (error 0), and that the completion came after `conn`'s
 * NC_EV_CLOSED. */
static void assert_shutdown_completed_after(const peer *srv, const peer *conn) {
    ASSERT_MSG(srv->nlog == 2 && srv->kinds_log[0] == NC_EV_SHUTDOWN_COMPLETE &&
                   srv->kinds_log[1] == NC_EV_CLOSED,
               "listener events: %d (last %s)", srv->nlog, nc_event_name(srv->last_kind));
    ASSERT_CODE(srv->close_error, 0);
    ASSERT_EQ(conn->ev[NC_EV_CLOSED], 1);
    ASSERT(log_index(log_find(srv, NC_EV_SHUTDOWN_COMPLETE, 0)) >
           log_index(log_find(conn, NC_EV_CLOSED, 0)));
}

/* A plain server with one accepted connection from a small-buffered POSIX
 * client (*client_fd), named `name`, with `len` pattern bytes (seed 77)
 * queued toward that client: its send buffer is 4 KiB, so nearly all of them
 * wait in netcore's queue. Returns the listener's peer; *conn the connection's. */
static peer *server_with_queued_client(nc_loop *loop, int *port, int *client_fd, peer **conn,
                                       const char *name, size_t len) {
    log_reset();
    peer *srv = plain_server(loop, "127.0.0.1", port);
    *client_fd = small_rcvbuf_client(*port);
    wait_nkids(loop, srv, 1);
    *conn = kid_of(srv, *client_fd);
    (*conn)->name = name;
    uint8_t *bytes = t_alloc(len);
    fill_pattern(bytes, len, 77, 0);
    ASSERT_OK(nc_setopt(loop, (*conn)->h, NC_OPT_HIGH_WATER, 16 << 20));
    ASSERT_OK(nc_setopt(loop, (*conn)->h, NC_OPT_SNDBUF, 4096));
    ASSERT_OK(nc_send(loop, (*conn)->h, bytes, len));
    t_free(bytes);
    poll_for(loop, 20);
    return srv;
}

/* nc_shutdown_server: accepting stops at once (new connects are refused); a
 * connection with far more queued than the socket buffers hold delivers all
 * of it to its reading client and closes cleanly (error 0, not ETIMEDOUT:
 * the drain is far longer than the hang guard, so it plays no part); then
 * NC_EV_SHUTDOWN_COMPLETE and NC_EV_CLOSED arrive for the listener, without
 * waiting for the drain. */
void test_ctl_shutdown_server_flushes_readers(void) {
    nc_loop *loop = t_loop();
    enum { QUEUED = 1 << 20 };
    int port, reader_fd;
    peer *to_reader;
    peer *srv = server_with_queued_client(loop, &port, &reader_fd, &to_reader, "to_reader", QUEUED);
    ASSERT_OK(nc_shutdown_server(loop, srv->h, 3600 * 1000));
    ASSERT_RC(nc_shutdown_server(loop, srv->h, 3600 * 1000), NC_ECLOSED);
    /* no longer accepting: refused at once */
    {
        int fd = t_fd(socket(AF_INET, SOCK_STREAM, 0));
        int rc = connect_loopback(fd, port);
        ASSERT_MSG(rc != 0 && errno == ECONNREFUSED,
                   "a connect after nc_shutdown_server %s", rc == 0 ? "succeeded" : strerror(errno));
        t_close(fd);
    }
    reader rd;
    memset(&rd, 0, sizeof rd);
    rd.fd = reader_fd;
    rd.seed = 77;
    rd.timeout_ms = T_MS(60000); /* hang guard only */
    pthread_t th;
    ASSERT(pthread_create(&th, NULL, reader_thread, &rd) == 0);
    int done = poll_until(loop, p_closed, srv, 30000);
    pthread_join(th, NULL);
    ASSERT_MSG(done, "the listener did not close");
    ASSERT_MSG(atomic_load(&rd.got) == QUEUED, "the reading client got %zu of %d bytes",
               (size_t)atomic_load(&rd.got), QUEUED);
    ASSERT_MSG(rd.bad_at < 0, "byte %lld differs", rd.bad_at);
    ASSERT_MSG(rd.eof && !rd.err, "the reading client: eof %d, errno %d", rd.eof, rd.err);
    ASSERT_CODE(to_reader->close_error, 0);
    assert_shutdown_completed_after(srv, to_reader);
    poll_for(loop, 20);
    ASSERT_EQ(srv->after_closed, 0);
    ASSERT_RC(nc_shutdown_server(loop, srv->h, 10), NC_EBADHANDLE);
}

/* nc_shutdown_server: a connection whose client never reads is reset when
 * the drain runs out — NC_EV_CLOSED with NC_ETIMEDOUT, not before the drain
 * (lower bound only), the client sees ECONNRESET — and the listener's
 * NC_EV_SHUTDOWN_COMPLETE and NC_EV_CLOSED follow. */
void test_ctl_shutdown_server_resets_stuck_after_drain(void) {
    nc_loop *loop = t_loop();
    int port, stuck_fd;
    peer *to_stuck;
    peer *srv = server_with_queued_client(loop, &port, &stuck_fd, &to_stuck, "to_stuck", 1 << 20);
    enum { DRAIN = 300 };
    int64_t t0 = now_ms();
    ASSERT_OK(nc_shutdown_server(loop, srv->h, DRAIN));
    POLL_ASSERT(loop, p_closed, srv, 30000);
    int64_t elapsed = now_ms() - t0;
    ASSERT_CODE(to_stuck->close_error, NC_ETIMEDOUT);
    ASSERT_MSG(elapsed >= DRAIN - 1, "the stuck connection was reset after %lld ms, drain %d ms",
               (long long)elapsed, DRAIN);
    assert_shutdown_completed_after(srv, to_stuck);
    /* the stuck client sees the reset once it reads what had arrived */
    uint8_t buf[65536];
    int eof, err;
    long got;
    int reads = 0;
    do got = recv_some(NULL, stuck_fd, buf, sizeof buf, 5000, &eof, &err);
    while (got > 0 && !err && !eof && ++reads < 10000);
    ASSERT_MSG(err == ECONNRESET, "the stuck client: errno %d, eof %d", err, eof);
    poll_for(loop, 20);
    ASSERT_EQ(srv->after_closed, 0);
}

/* With nothing open, a shutdown completes at once; a connection is no listener. */
void test_ctl_shutdown_server_no_connections(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *srv = plain_server(loop, "127.0.0.1", &port);
    srv->child->close_on_eof = 1;
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    ASSERT_RC(nc_shutdown_server(loop, c->h, 10), NC_EWRONGKIND);
    peer *k = wait_kid(loop, srv, 0);
    ASSERT_OK(nc_close(loop, c->h));
    POLL_ASSERT(loop, p_closed, k, 5000);
    ASSERT_OK(nc_shutdown_server(loop, srv->h, 60000));
    POLL_ASSERT(loop, p_closed, srv, 2000);
    ASSERT_EQ(srv->ev[NC_EV_SHUTDOWN_COMPLETE], 1);
    ASSERT_EQ(srv->kinds_log[srv->nlog - 2], NC_EV_SHUTDOWN_COMPLETE);
    ASSERT_CODE(srv->close_error, 0);
    /* the port is free again */
    nc_handle again = ASSERT_HANDLE(nc_tcp_listen(loop, "127.0.0.1", port, 0, 0, NULL));
    ASSERT_EQ(local_port(loop, again), port);
}

/* -------------------------------------------------------- send tokens */

static size_t token2_read_at;

/* Notes how much the peer had read when token 2 was reported. */
static void token_hook(peer *p, nc_loop *loop, const nc_event *ev);

static int has_sent(void *arg) {
    peer *p = arg;
    return log_find(p, NC_EV_SENT, 2) != NULL;
}

static void token_hook(peer *p, nc_loop *loop, const nc_event *ev) {
    log_hook(p, loop, ev);
    if (ev->kind == NC_EV_SENT && ev->value == 2)
        token2_read_at = atomic_load(&((reader *)p->arg)->got);
}

/* NC_EV_SENT arrives in send order, only once the bytes reached the kernel:
 * a token after a big send the peer does not read is not reported until the
 * peer reads. */
void test_ctl_send_tokens(void) {
    nc_loop *loop = t_loop();
    log_reset();
    token2_read_at = 0;
    int port;
    peer *srv = plain_server(loop, "127.0.0.1", &port);
    int fd = small_rcvbuf_client(port);
    wait_nkids(loop, srv, 1);
    peer *k = srv->kids[0];
    ASSERT_OK(nc_setopt(loop, k->h, NC_OPT_HIGH_WATER, 64 << 20));
    ASSERT_OK(nc_setopt(loop, k->h, NC_OPT_SNDBUF, 65536));
    enum { BIG = 8 << 20 };
    uint8_t *big = t_alloc(BIG);
    memset(big, 'b', BIG);
    nc_buf small = {"small", 5};
    nc_buf bigb[2] = {{big, BIG / 2}, {big + BIG / 2, BIG / 2}};
    nc_buf tail = {"tail", 4};
    ASSERT_OK(nc_sendv_token(loop, k->h, &small, 1, 1));
    ASSERT_OK(nc_sendv_token(loop, k->h, bigb, 2, 2));
    ASSERT_OK(nc_sendv_token(loop, k->h, &tail, 1, 3));
    t_free(big);
    WAIT_KIND(loop, k, NC_EV_SENT, 1, 5000);
    poll_for(loop, 300);
    ASSERT_MSG(k->ev[NC_EV_SENT] == 1,
               "%d tokens reported while the peer reads nothing (8 MiB are queued)",
               k->ev[NC_EV_SENT]);
    ASSERT_EQ(log_find(k, NC_EV_SENT, 0)->value, 1);
    /* the peer reads everything */
    reader rd;
    memset(&rd, 0, sizeof rd);
    rd.fd = fd;
    rd.want = 5 + BIG + 4;
    rd.timeout_ms = T_MS(20000);
    pthread_t th;
    ASSERT(pthread_create(&th, NULL, reader_thread, &rd) == 0);
    k->hook = token_hook;
    k->arg = &rd;
    int done = poll_until(loop, has_sent, k, 20000);
    pthread_join(th, NULL);
    ASSERT_MSG(done, "token 3 not reported; the peer read %zu bytes",
               (size_t)atomic_load(&rd.got));
    size_t read_at_2 = token2_read_at;
    ASSERT_MSG(k->ev[NC_EV_SENT] == 3, "%d of 3 tokens reported", k->ev[NC_EV_SENT]);
    for (int i = 0; i < 3; i++)
        ASSERT_MSG(log_find(k, NC_EV_SENT, i)->value == (uint64_t)(i + 1),
                   "token %d reported as %d-th", (int)log_find(k, NC_EV_SENT, i)->value, i + 1);
    ASSERT_EQ(atomic_load(&rd.got), 5 + BIG + 4);
    /* when token 2 was reported, all but what kernel buffers hold had been read */
    ASSERT_MSG(read_at_2 + (2u << 20) >= 5 + (size_t)BIG,
               "token 2 reported when the peer had read only %zu of %d bytes", read_at_2,
               5 + BIG);
    /* tokens are for TCP connections only */
    nc_handle u = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, NULL));
    ASSERT_RC(nc_sendv_token(loop, u, &small, 1, 9), NC_EWRONGKIND);
    ASSERT_RC(nc_sendv_token(loop, srv->h, &small, 1, 9), NC_EWRONGKIND);
    /* a token on a send that goes out at once is reported at the next poll */
    ASSERT_OK(nc_sendv_token(loop, k->h, &tail, 1, 42));
    WAIT_KIND(loop, k, NC_EV_SENT, 4, 5000);
    ASSERT_EQ(log_find(k, NC_EV_SENT, 3)->value, 42);
}

/* nc_notify_when_sent: NC_EV_SENT with the token at the next poll when
 * nothing is queued, else only once the kernel took every byte sent before. */
void test_ctl_notify_when_sent(void) {
    nc_loop *loop = t_loop();
    log_reset();
    int port;
    peer *srv = plain_server(loop, "127.0.0.1", &port);
    int fd = small_rcvbuf_client(port);
    wait_nkids(loop, srv, 1);
    peer *k = srv->kids[0];
    ASSERT_RC(nc_notify_when_sent(loop, srv->h, 1), NC_EWRONGKIND);
    ASSERT_OK(nc_notify_when_sent(loop, k->h, 1));
    WAIT_KIND(loop, k, NC_EV_SENT, 1, 5000);
    ASSERT_EQ(log_find(k, NC_EV_SENT, 0)->value, 1);
    ASSERT_OK(nc_setopt(loop, k->h, NC_OPT_HIGH_WATER, 64 << 20));
    ASSERT_OK(nc_setopt(loop, k->h, NC_OPT_SNDBUF, 65536));
    enum { BIG = 8 << 20 };
    uint8_t *big = t_alloc(BIG);
    memset(big, 'n', BIG);
    ASSERT_OK(nc_send(loop, k->h, big, BIG));
    t_free(big);
    ASSERT_OK(nc_notify_when_sent(loop, k->h, 2));
    poll_for(loop, 300);
    ASSERT_MSG(k->ev[NC_EV_SENT] == 1, "the notice came while the peer reads nothing (8 MiB are queued)");
    reader rd;
    memset(&rd, 0, sizeof rd);
    rd.fd = fd;
    rd.want = BIG;
    rd.timeout_ms = T_MS(20000);
    pthread_t th;
    ASSERT(pthread_create(&th, NULL, reader_thread, &rd) == 0);
    WAIT_KIND(loop, k, NC_EV_SENT, 2, 20000);
    size_t queued = 1;
    ASSERT_OK(nc_queued_bytes(loop, k->h, &queued));
    pthread_join(th, NULL);
    ASSERT_EQ(log_find(k, NC_EV_SENT, 1)->value, 2);
    ASSERT_MSG(queued == 0, "%zu bytes still queued at the notice", queued);
    ASSERT_EQ(atomic_load(&rd.got), BIG);
}

/* --------------------------------------------------- raw options, fd */

/* nc_setsockopt / nc_getsockopt round trip, the negated errno for an unknown
 * option, and nc_fd naming the real socket. */
void test_ctl_raw_options_and_fd(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *srv = plain_server(loop, "127.0.0.1", &port);
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    nc_handle u = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, NULL));
    nc_handle hs[3] = {c->h, srv->h, u};
    for (int i = 0; i < 3; i++) {
        nc_handle h = hs[i];
        int one = 1, zero = 0, v = -1;
        size_t len = sizeof v;
        ASSERT_OK(nc_setsockopt(loop, h, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one));
        ASSERT_OK(nc_getsockopt(loop, h, SOL_SOCKET, SO_KEEPALIVE, &v, &len));
        ASSERT_EQ(len, sizeof v);
        ASSERT_EQ(v, 1);
        ASSERT_OK(nc_setsockopt(loop, h, SOL_SOCKET, SO_KEEPALIVE, &zero, sizeof zero));
        /* more room than needed: *len says what the OS wrote */
        int64_t wide = -1;
        len = sizeof wide;
        ASSERT_OK(nc_getsockopt(loop, h, SOL_SOCKET, SO_KEEPALIVE, &wide, &len));
        ASSERT_EQ(len, sizeof(int));
        int narrow;
        memcpy(&narrow, &wide, sizeof narrow);
        ASSERT_EQ(narrow, 0);
        /* unknown options: the OS's errno, negated */
        ASSERT_RC(nc_setsockopt(loop, h, SOL_SOCKET, 9999, &one, sizeof one), -ENOPROTOOPT);
        len = sizeof v;
        ASSERT_RC(nc_getsockopt(loop, h, SOL_SOCKET, 9999, &v, &len), -ENOPROTOOPT);
        ASSERT_RC(nc_setsockopt(loop, h, SOL_SOCKET, SO_KEEPALIVE, NULL, sizeof one), NC_EINVAL);
        ASSERT_RC(nc_getsockopt(loop, h, SOL_SOCKET, SO_KEEPALIVE, &v, NULL), NC_EINVAL);

        /* the descriptor is the socket: fstat, getsockname, getsockopt agree */
        int fd = nc_fd(loop, h);
        ASSERT_MSG(fd >= 0, "nc_fd returned %s", t_code(fd));
        struct stat st;
        ASSERT_MSG(fstat(fd, &st) == 0, "fstat(nc_fd): %s", strerror(errno));
        ASSERT(S_ISSOCK(st.st_mode));
        ASSERT_EQ(sock_port(fd), local_port(loop, h));
        ASSERT_OK(nc_setsockopt(loop, h, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one));
        socklen_t sl = sizeof v;
        v = -1;
        ASSERT(getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, &sl) == 0);
        ASSERT_EQ(v, 1);
        int type = -1;
        sl = sizeof type;
        ASSERT(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &sl) == 0);
        ASSERT_EQ(type, i == 2 ? SOCK_DGRAM : SOCK_STREAM);
    }
    /* a TCP-level option on the connection */
    int v = -1;
    size_t len = sizeof v;
    ASSERT_OK(nc_getsockopt(loop, c->h, IPPROTO_TCP, TCP_NODELAY, &v, &len));
    ASSERT_EQ(v != 0, 1); /* on by default */
    /* the connection still works */
    peer *k = wait_kid(loop, srv, 0);
    ASSERT_OK(nc_send(loop, c->h, "ok", 2));
    ASSERT(wait_rx(loop, k, 2, 5000));
}

/* NC_OPT_LINGER: -1 (off, the default), 0, 1..32767 seconds; range-checked. */
void test_ctl_linger(void) {
    nc_loop *loop = t_loop();
    int port;
    peer *srv = plain_server(loop, "127.0.0.1", &port);
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    nc_handle hs[2] = {c->h, srv->h};
    for (int i = 0; i < 2; i++) {
        nc_handle h = hs[i];
        int64_t v = 99;
        ASSERT_OK(nc_getopt(loop, h, NC_OPT_LINGER, &v));
        ASSERT_EQ(v, -1);
        static const int64_t good[] = {3, 0, 1, 32767, -1};
        for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
            ASSERT_OK(nc_setopt(loop, h, NC_OPT_LINGER, good[k]));
            ASSERT_OK(nc_getopt(loop, h, NC_OPT_LINGER, &v));
            ASSERT_EQ(v, good[k]);
            struct linger lg = {-1, -1};
            size_t len = sizeof lg;
            ASSERT_OK(nc_getsockopt(loop, h, SOL_SOCKET, SO_LINGER, &lg, &len));
            ASSERT_EQ(lg.l_onoff != 0, good[k] >= 0);
            if (good[k] >= 0) ASSERT_EQ(lg.l_linger, good[k]);
        }
        ASSERT_OK(nc_setopt(loop, h, NC_OPT_LINGER, 3));
        static const int64_t bad[] = {-2, 32768, -100, INT64_MAX, INT64_MIN};
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
            ASSERT_MSG(nc_setopt(loop, h, NC_OPT_LINGER, bad[k]) == NC_EINVAL,
                       "NC_OPT_LINGER %lld accepted", (long long)bad[k]);
        ASSERT_OK(nc_getopt(loop, h, NC_OPT_LINGER, &v));
        ASSERT_EQ(v, 3);
    }
    /* SO_LINGER 0 is what the socket has */
    ASSERT_OK(nc_setopt(loop, c->h, NC_OPT_LINGER, 0));
    int fd = nc_fd(loop, c->h);
    ASSERT(fd >= 0);
    struct linger lg;
    socklen_t sl = sizeof lg;
    ASSERT(getsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, &sl) == 0);
    ASSERT(lg.l_onoff == 1 && lg.l_linger == 0);
    /* timers have no socket */
    nc_handle t = ASSERT_HANDLE(nc_timer_start(loop, 100000, 0, NULL));
    int64_t v;
    ASSERT_RC(nc_setopt(loop, t, NC_OPT_LINGER, 1), NC_EWRONGKIND);
    ASSERT_RC(nc_getopt(loop, t, NC_OPT_LINGER, &v), NC_EWRONGKIND);
}

/* -------------------------------------------------------- SO_REUSEPORT */

typedef struct {
    nc_loop *loop;
    atomic_int stop, accepted, poll_error;
} reuse_side;

static void *reuse_thread(void *arg) {
    reuse_side *s = arg;
    nc_event evs[64];
    while (!atomic_load(&s->stop)) {
        int n = nc_poll(s->loop, evs, 64, 20);
        if (n < 0) {
            atomic_store(&s->poll_error, n);
            break;
        }
        for (int i = 0; i < n; i++)
            if (evs[i].kind == NC_EV_ACCEPTED) atomic_fetch_add(&s->accepted, 1);
    }
    return NULL;
}

/* Two loops in two threads listen on one port with NC_REUSEPORT: the kernel
 * spreads connections, and both accept. */
void test_ctl_reuseport_two_loops(void) {
    nc_loop *la = t_loop(), *lb = t_loop();
    peer *a = peer_new("a");
    a->child = peer_new("a-conn");
    a->h = ASSERT_HANDLE(nc_tcp_listen(la, "127.0.0.1", 0, 0, NC_REUSEPORT, a));
    int port = local_port(la, a->h);
    nc_handle b = ASSERT_HANDLE(nc_tcp_listen(lb, "127.0.0.1", port, 0, NC_REUSEPORT, NULL));
    ASSERT_EQ(local_port(lb, b), port);
    /* without the flag the port is taken */
    nc_loop *lc = t_loop();
    ASSERT_RC(nc_tcp_listen(lc, "127.0.0.1", port, 0, 0, NULL), NC_EADDRINUSE);
    reuse_side sb;
    memset(&sb, 0, sizeof sb);
    sb.loop = lb;
    pthread_t th;
    ASSERT(pthread_create(&th, NULL, reuse_thread, &sb) == 0);
    int clients = 0;
    int64_t deadline = now_ms() + T_MS(10000);
    while ((a->nkids == 0 || atomic_load(&sb.accepted) == 0) && clients < 64 &&
           now_ms() < deadline) {
        posix_connect("127.0.0.1", port);
        clients++;
        /* wait until one of the loops has it */
        while ((int)a->nkids + atomic_load(&sb.accepted) < clients && now_ms() < deadline)
            poll_for(la, 5);
    }
    atomic_store(&sb.stop, 1);
    pthread_join(th, NULL);
    int acc_b = atomic_load(&sb.accepted);
    ASSERT_RC(atomic_load(&sb.poll_error), 0);
    ASSERT_MSG(a->nkids > 0 && acc_b > 0,
               "after %d clients: loop A accepted %zu, loop B %d (both should accept)", clients,
               a->nkids, acc_b);
    ASSERT_EQ((int)a->nkids + acc_b, clients);
}

/* ------------------------------------------------------- UDP multicast */

static int p_has_datagram(void *p) { return ((peer *)p)->ev[NC_EV_DATAGRAM] >= 1; }
static int p_two_datagrams(void *p) { return ((peer *)p)->ev[NC_EV_DATAGRAM] >= 2; }

/* Join a 239.77.x.y group on the 127.0.0.1 interface; a datagram to the group
 * (sent with IP_MULTICAST_IF 127.0.0.1 and loopback on) is received; the
 * receiver answers with nc_send_to_addr to the sender's address; after
 * leaving, group datagrams no longer arrive. */
void test_ctl_udp_multicast(void) {
    nc_loop *loop = t_loop();
    /* a group of our own (other processes may run this test at once) */
    char group[32];
    unsigned pid = (unsigned)getpid();
    snprintf(group, sizeof group, "239.77.%u.%u", (pid >> 8) & 0xff, (pid & 0xff) | 1);
    peer *rx = peer_new("rx"), *tx = peer_new("tx");
    rx->store = tx->store = 1;
    rx->h = ASSERT_HANDLE(nc_udp_bind(loop, "0.0.0.0", 0, 0, rx));
    int rport = local_port(loop, rx->h);
    /* only the groups this socket joined, not every group the host is in */
    int off = 0;
    ASSERT_OK(nc_setsockopt(loop, rx->h, IPPROTO_IP, IP_MULTICAST_ALL, &off, sizeof off));
    ASSERT_OK(nc_udp_multicast(loop, rx->h, group, "127.0.0.1", 1));
    tx->h = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, tx));
    int tport = local_port(loop, tx->h);
    ASSERT_OK(nc_setopt(loop, tx->h, NC_OPT_MULTICAST_LOOP, 1));
    int64_t v = -1;
    ASSERT_OK(nc_getopt(loop, tx->h, NC_OPT_MULTICAST_LOOP, &v));
    ASSERT_EQ(v, 1);
    ASSERT_OK(nc_setopt(loop, tx->h, NC_OPT_MULTICAST_TTL, 3));
    ASSERT_OK(nc_getopt(loop, tx->h, NC_OPT_MULTICAST_TTL, &v));
    ASSERT_EQ(v, 3);
    ASSERT_RC(nc_setopt(loop, tx->h, NC_OPT_MULTICAST_TTL, 256), NC_EINVAL);
    ASSERT_OK(nc_setopt(loop, tx->h, NC_OPT_TTL, 7));
    ASSERT_OK(nc_getopt(loop, tx->h, NC_OPT_TTL, &v));
    ASSERT_EQ(v, 7);
    int ttl = 0;
    socklen_t ttl_len = sizeof ttl;
    ASSERT_OK(getsockopt(nc_fd(loop, tx->h), IPPROTO_IP, IP_TTL, &ttl, &ttl_len));
    ASSERT_EQ(ttl, 7);
    ASSERT_RC(nc_setopt(loop, tx->h, NC_OPT_TTL, 0), NC_EINVAL);
    ASSERT_RC(nc_setopt(loop, tx->h, NC_OPT_TTL, 256), NC_EINVAL);
    ASSERT_RC(nc_setopt(loop, tx->h, NC_OPT_MULTICAST_LOOP, 2), NC_EINVAL);
    ASSERT_RC(nc_udp_multicast_interface(loop, tx->h, "not an address"), NC_EINVAL);
    ASSERT_OK(nc_udp_multicast_interface(loop, tx->h, "127.0.0.1"));
    struct in_addr lo;
    socklen_t lo_len = sizeof lo;
    ASSERT_OK(getsockopt(nc_fd(loop, tx->h), IPPROTO_IP, IP_MULTICAST_IF, &lo, &lo_len));
    ASSERT_EQ(ntohl(lo.s_addr), INADDR_LOOPBACK);
    lo.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_OK(nc_setsockopt(loop, tx->h, IPPROTO_IP, IP_MULTICAST_IF, &lo, sizeof lo));

    ASSERT_OK(nc_send_to(loop, tx->h, group, rport, "to the group", 12));
    POLL_ASSERT(loop, p_has_datagram, rx, 5000);
    ASSERT_EQ(rx->rx_len, 12);
    ASSERT(memcmp(rx->rx, "to the group", 12) == 0);
    char ip[NC_ADDRSTRLEN];
    ASSERT_MSG(rx->addr.family == NC_AF_INET && rx->addr.port == tport &&
                   strcmp(addr_ip(&rx->addr, ip, sizeof ip), "127.0.0.1") == 0,
               "sender %s:%d, expected 127.0.0.1:%d", ip, rx->addr.port, tport);
    /* reply to the sender's address */
    nc_addr sender = rx->addr;
    ASSERT_OK(nc_send_to_addr(loop, rx->h, &sender, "reply", 5));
    POLL_ASSERT(loop, p_has_datagram, tx, 5000);
    ASSERT(tx->rx_len == 5 && memcmp(tx->rx, "reply", 5) == 0);
    ASSERT_EQ(tx->addr.port, rport);
    nc_addr none;
    memset(&none, 0, sizeof none);
    ASSERT_RC(nc_send_to_addr(loop, rx->h, &none, "x", 1), NC_EINVAL);
    ASSERT_RC(nc_send_to_addr(loop, rx->h, NULL, "x", 1), NC_EINVAL);

    /* leave: group datagrams stop, unicast still arrives */
    ASSERT_OK(nc_udp_multicast(loop, rx->h, group, "127.0.0.1", 0));
    ASSERT_OK(nc_send_to(loop, tx->h, group, rport, "gone", 4));
    poll_for(loop, 300);
    ASSERT_MSG(rx->ev[NC_EV_DATAGRAM] == 1, "%d datagrams after leaving the group",
               rx->ev[NC_EV_DATAGRAM] - 1);
    ASSERT_OK(nc_send_to(loop, tx->h, "127.0.0.1", rport, "unicast", 7));
    POLL_ASSERT(loop, p_two_datagrams, rx, 5000);
    ASSERT(memcmp(rx->rx + 12, "unicast", 7) == 0);
    /* leaving again is the OS's error; a unicast address is no group */
    int rc = nc_udp_multicast(loop, rx->h, group, "127.0.0.1", 0);
    ASSERT_MSG(rc < 0, "leaving a group not joined returned %s", t_code(rc));
    ASSERT_RC(nc_udp_multicast(loop, rx->h, "127.0.0.1", "127.0.0.1", 1), NC_EINVAL);
    ASSERT_RC(nc_udp_multicast(loop, rx->h, "not an ip", "127.0.0.1", 1), NC_EINVAL);
    ASSERT_EQ(rx->ev[NC_EV_ERROR], 0);
}

