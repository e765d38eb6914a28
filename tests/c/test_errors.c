/* Errors: connect failures, names, and the bad-input table. */
#define _GNU_SOURCE 1 /* strerrorname_np: the C library's errno names */
#include "harness.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>

void test_err_connect_refused(void) {
    nc_loop *loop = t_loop();
    peer *l = peer_new("listener");
    l->h = ASSERT_HANDLE(nc_tcp_listen(loop, "127.0.0.1", 0, 0, 0, l));
    int port = local_port(loop, l->h);
    ASSERT_OK(nc_close(loop, l->h));
    POLL_ASSERT(loop, p_closed, l, 5000);
    peer *c = peer_new("client");
    c->h = ASSERT_HANDLE(nc_tcp_connect(loop, "127.0.0.1", port, c));
    POLL_ASSERT(loop, p_closed, c, 5000);
    poll_for(loop, 20);
    ASSERT_EQ(c->ev[NC_EV_CONNECTED], 0);
    ASSERT_EQ(c->ev[NC_EV_CONNECT_FAILED], 1);
    ASSERT_CODE(c->connect_error, NC_ECONNREFUSED);
    ASSERT_EQ(c->ev[NC_EV_CLOSED], 1);
    ASSERT_EQ(c->nlog, 2);
    ASSERT_EQ(c->kinds_log[0], NC_EV_CONNECT_FAILED);
    ASSERT_EQ(c->kinds_log[1], NC_EV_CLOSED);
    ASSERT_CODE(c->close_error, NC_ECONNREFUSED);
    ASSERT_RC(nc_send(loop, c->h, "x", 1), NC_EBADHANDLE);

    /* IPv6 too */
    peer *c6 = peer_new("client6");
    c6->h = ASSERT_HANDLE(nc_tcp_connect(loop, "::1", port, c6));
    POLL_ASSERT(loop, p_closed, c6, 5000);
    ASSERT_EQ(c6->ev[NC_EV_CONNECT_FAILED], 1);
    ASSERT_CODE(c6->connect_error, NC_ECONNREFUSED);
}

void test_err_dns_invalid(void) {
    nc_loop *loop = t_loop();
    peer *c = peer_new("client");
    c->h = ASSERT_HANDLE(nc_tcp_connect(loop, "nosuchhost.invalid", 80, c));
    POLL_ASSERT(loop, p_closed, c, 20000);
    poll_for(loop, 20);
    ASSERT_EQ(c->ev[NC_EV_CONNECTED], 0);
    ASSERT_EQ(c->ev[NC_EV_CONNECT_FAILED], 1);
    ASSERT_CODE(c->connect_error, NC_EDNS);
    ASSERT_EQ(c->ev[NC_EV_CLOSED], 1);
    ASSERT_EQ(c->kinds_log[0], NC_EV_CONNECT_FAILED);
}

/* The handle nc_tcp_connect returns is live until its NC_EV_CLOSED is
 * delivered ("the handle is stale from now on"), even when the outcome is
 * already known (a reserved .invalid name fails without a name server). */
void test_err_connect_handle_live_until_closed(void) {
    nc_loop *loop = t_loop();
    peer *c = peer_new("client");
    peer *other = peer_new("other");
    c->h = ASSERT_HANDLE(nc_tcp_connect(loop, "nosuchhost.invalid", 80, c));
    long long kind = nc_handle_kind(loop, c->h);
    long long ud = nc_set_userdata(loop, c->h, other);
    long long fr = nc_frame_delimited(loop, c->h, "\n", 1, 100);
    POLL_ASSERT(loop, p_closed, other, 20000); /* events carry the new userdata */
    poll_for(loop, 20);
    int closed = c->ev[NC_EV_CLOSED] + other->ev[NC_EV_CLOSED];
    ASSERT_MSG(kind == NC_KIND_TCP_CONNECTION,
               "nc_handle_kind on the handle just returned by nc_tcp_connect: %s (no "
               "NC_EV_CLOSED delivered yet)",
               t_code(kind));
    ASSERT_RC(ud, 0);
    ASSERT_RC(fr, 0);
    ASSERT_EQ(closed, 1);
    ASSERT_EQ(other->ev[NC_EV_CLOSED], 1); /* the userdata set before the event */
}

void test_err_addr_format(void) {
    nc_addr a;
    memset(&a, 0, sizeof a);
    a.family = NC_AF_INET;
    a.port = 8080;
    a.ip[0] = 127;
    a.ip[3] = 1;
    char buf[NC_ADDRSTRLEN];
    ASSERT_EQ(nc_addr_format(&a, buf, sizeof buf), 14);
    ASSERT_MSG(strcmp(buf, "127.0.0.1:8080") == 0, "got \"%s\"", buf);
    /* exactly enough room: the length plus the NUL */
    char small[15];
    ASSERT_EQ(nc_addr_format(&a, small, 15), 14);
    ASSERT(strcmp(small, "127.0.0.1:8080") == 0);
    /* one byte short: NC_ENOBUFS, nothing written */
    memset(small, 'Z', sizeof small);
    ASSERT_RC(nc_addr_format(&a, small, 14), NC_ENOBUFS);
    for (size_t i = 0; i < sizeof small; i++) ASSERT_MSG(small[i] == 'Z', "byte %zu written", i);
    ASSERT_RC(nc_addr_format(&a, small, 1), NC_ENOBUFS);
    ASSERT_RC(nc_addr_format(&a, small, 0), NC_ENOBUFS);
    ASSERT(small[0] == 'Z');

    memset(&a, 0, sizeof a);
    a.family = NC_AF_INET6;
    a.port = 443;
    a.ip[15] = 1;
    ASSERT_EQ(nc_addr_format(&a, buf, sizeof buf), 9);
    ASSERT_MSG(strcmp(buf, "[::1]:443") == 0, "got \"%s\"", buf);
    ASSERT_RC(nc_addr_format(&a, buf, 9), NC_ENOBUFS);

    /* the longest address fits NC_ADDRSTRLEN */
    memset(a.ip, 0xab, sizeof a.ip);
    a.port = 65535;
    a.scope_id = 4294967295u;
    int n = nc_addr_format(&a, buf, sizeof buf);
    ASSERT_MSG(n > 0 && n < NC_ADDRSTRLEN, "returned %s", t_code(n));
    ASSERT_EQ((int)strlen(buf), n);

    /* bad input */
    ASSERT_RC(nc_addr_format(NULL, buf, sizeof buf), NC_EINVAL);
    ASSERT_RC(nc_addr_format(&a, NULL, sizeof buf), NC_EINVAL);
    a.family = NC_AF_NONE;
    ASSERT_RC(nc_addr_format(&a, buf, sizeof buf), NC_EINVAL);
    a.family = 99;
    ASSERT_RC(nc_addr_format(&a, buf, sizeof buf), NC_EINVAL);
}

void test_err_names(void) {
    static const struct {
        int code;
        const char *name;
    } codes[] = {
        {NC_EPERM, "EPERM"},
        {NC_EINTR, "EINTR"},
        {NC_ENOMEM, "ENOMEM"},
        {NC_EACCES, "EACCES"},
        {NC_EBUSY, "EBUSY"},
        {NC_EINVAL, "EINVAL"},
        {NC_ENFILE, "ENFILE"},
        {NC_EMFILE, "EMFILE"},
        {NC_EAGAIN, "EAGAIN"},
        {NC_EPIPE, "EPIPE"},
        {NC_EMSGSIZE, "EMSGSIZE"},
        {NC_EAFNOSUPPORT, "EAFNOSUPPORT"},
        {NC_EADDRINUSE, "EADDRINUSE"},
        {NC_EADDRNOTAVAIL, "EADDRNOTAVAIL"},
        {NC_ENETUNREACH, "ENETUNREACH"},
        {NC_ECONNABORTED, "ECONNABORTED"},
        {NC_ECONNRESET, "ECONNRESET"},
        {NC_ENOBUFS, "ENOBUFS"},
        {NC_ENOTCONN, "ENOTCONN"},
        {NC_ETIMEDOUT, "ETIMEDOUT"},
        {NC_ECONNREFUSED, "ECONNREFUSED"},
        {NC_EHOSTUNREACH, "EHOSTUNREACH"},
        {NC_EBADHANDLE, "EBADHANDLE"},
        {NC_EDNS, "EDNS"},
        {NC_ECLOSED, "ECLOSED"},
        {NC_EWRONGKIND, "EWRONGKIND"},
        {NC_EPANIC, "EPANIC"},
    };
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        const char *name = nc_errname(codes[i].code);
        const char *msg = nc_strerror(codes[i].code);
        ASSERT_MSG(name != NULL, "nc_errname(%d) is NULL", codes[i].code);
        ASSERT_MSG(strcmp(name, codes[i].name) == 0, "nc_errname(%d) is \"%s\", expected \"%s\"",
                   codes[i].code, name, codes[i].name);
        ASSERT_MSG(msg != NULL && msg[0] != 0, "nc_strerror(%d) is empty", codes[i].code);
        ASSERT_MSG(strcmp(msg, nc_strerror(NC_EINVAL - 1000)) != 0,
                   "nc_strerror(%s) is the unknown-code text", codes[i].name);
        ASSERT(nc_errname(codes[i].code) == name); /* static */
        for (size_t k = 0; k < i; k++) ASSERT(strcmp(msg, nc_strerror(codes[k].code)) != 0);
    }
    ASSERT(strcmp(nc_errname(NC_ECONNREFUSED), "ECONNREFUSED") == 0);
    /* OS errors are negated errno values */
    ASSERT_EQ(NC_ECONNREFUSED, -111);
    ASSERT(NC_EBADHANDLE < -3000);
    /* unknown codes */
    int unknown[] = {-41, -58, -9999, -3000, -3006, -4000, INT_MIN, -200};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *name = nc_errname(unknown[i]);
        const char *msg = nc_strerror(unknown[i]);
        ASSERT_MSG(name != NULL && strcmp(name, "EUNKNOWN") == 0, "nc_errname(%d) is \"%s\"",
                   unknown[i], name ? name : "(null)");
        ASSERT_MSG(msg != NULL && msg[0] != 0, "nc_strerror(%d) is empty", unknown[i]);
    }
    int ok[] = {0, 1, 42, INT_MAX};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ASSERT_MSG(strcmp(nc_errname(ok[i]), "OK") == 0, "nc_errname(%d) is \"%s\"", ok[i],
                   nc_errname(ok[i]));
        ASSERT(nc_strerror(ok[i]) != NULL);
    }
    /* event names and the version */
    static const struct {
        int kind;
        const char *name;
    } kinds[] = {{NC_EV_ACCEPTED, "accepted"}, {NC_EV_CONNECTED, "connected"},
                 {NC_EV_CONNECT_FAILED, "connect_failed"}, {NC_EV_DATA, "data"},
                 {NC_EV_EOF, "eof"}, {NC_EV_WRITABLE, "writable"}, {NC_EV_CLOSED, "closed"},
                 {NC_EV_DATAGRAM, "datagram"}, {NC_EV_ERROR, "error"}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        ASSERT_MSG(strcmp(nc_event_name(kinds[i].kind), kinds[i].name) == 0,
                   "nc_event_name(%d) is \"%s\"", kinds[i].kind, nc_event_name(kinds[i].kind));
    ASSERT(strcmp(nc_event_name(0), "unknown") == 0);
    ASSERT(strcmp(nc_event_name(99), "unknown") == 0);
    ASSERT(strcmp(nc_event_name(-1), "unknown") == 0);
    ASSERT(nc_version() != NULL && nc_version()[0] != 0);
}

static void dummy_cb(nc_loop *loop, const nc_event *ev, void *arg) {
    (void)loop;
    (void)ev;
    (void)arg;
}

/* 127.0.0.1:9 (discard), a destination for calls that must fail first. */
static void loopback_port9(nc_addr *a) {
    memset(a, 0, sizeof *a);
    a->family = NC_AF_INET;
    a->port = 9;
    a->ip[0] = 127;
    a->ip[3] = 1;
}

/* Every function that takes a loop rejects NULL with NC_EINVAL. */
/* nc_errname / nc_strerror name every Linux errno value, as the C library
 * does: the library passes OS errors through as negated errno values, e.g.
 * a raw option the kernel does not know is -ENOPROTOOPT, "ENOPROTOOPT". */
void test_err_names_raw_errno(void) {
    nc_loop *loop = t_loop();
    nc_handle u = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, NULL));
    int one = 1;
    size_t len = sizeof one;
    int rc = nc_setsockopt(loop, u, SOL_SOCKET, 9999, &one, sizeof one);
    ASSERT_CODE(rc, -ENOPROTOOPT);
    ASSERT_MSG(strcmp(nc_errname(rc), "ENOPROTOOPT") == 0, "nc_errname(%d) is \"%s\"", rc,
               nc_errname(rc));
    ASSERT_MSG(strcmp(nc_strerror(rc), "protocol not available") == 0, "nc_strerror(%d) is \"%s\"",
               rc, nc_strerror(rc));
    rc = nc_getsockopt(loop, u, 9999, 1, &one, &len);
    ASSERT_MSG(rc < 0 && rc > -3000 && strcmp(nc_errname(rc), strerrorname_np(-rc)) == 0,
               "an unknown level: %s", t_code(rc));
    /* every value Linux defines (1..EHWPOISON; 41 and 58 are unused) */
    const char *unknown_text = nc_strerror(-9999);
    int named = 0;
    for (int e = 1; e <= EHWPOISON; e++) {
        const char *want = strerrorname_np(e);
        if (e == 41 || e == 58) {
            ASSERT_MSG(want == NULL && strcmp(nc_errname(-e), "EUNKNOWN") == 0,
                       "errno %d is unused", e);
            continue;
        }
        ASSERT_MSG(want != NULL && strcmp(nc_errname(-e), want) == 0,
                   "nc_errname(%d) is \"%s\", the C library says \"%s\"", -e, nc_errname(-e),
                   want ? want : "(null)");
        ASSERT_MSG(strcmp(nc_strerror(-e), unknown_text) != 0, "nc_strerror(%d) is \"%s\"", -e,
                   nc_strerror(-e));
        named++;
    }
    ASSERT_EQ(named, EHWPOISON - 2);
}

/* Codes the function comments list (they once did not): a timer has no
 * addresses (NC_EWRONGKIND); multicast on a closed handle is
 * NC_EBADHANDLE; raw options on a connection still resolving its name are
 * NC_ENOTCONN; an IPv6 peer for an IPv4 UDP socket is NC_EAFNOSUPPORT.
 * Each changes nothing. */
void test_err_documented_codes(void) {
    nc_loop *loop = t_loop();
    nc_addr a;
    nc_handle t = ASSERT_HANDLE(nc_timer_start(loop, 60000, 0, NULL));
    ASSERT_RC(nc_local_addr(loop, t, &a), NC_EWRONGKIND);
    ASSERT_RC(nc_peer_addr(loop, t, &a), NC_EWRONGKIND);
    ASSERT_EQ(nc_handle_kind(loop, t), NC_KIND_TIMER);
    nc_handle gone = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, NULL));
    ASSERT_OK(nc_close(loop, gone));
    poll_for(loop, 20);
    ASSERT_RC(nc_udp_multicast(loop, gone, "239.1.2.3", "127.0.0.1", 1), NC_EBADHANDLE);
    /* a name is resolved on a helper thread; the result is taken up by a
     * poll, so until the next poll the connection has no socket */
    nc_handle resolving = ASSERT_HANDLE(nc_tcp_connect(loop, "localhost", 9, NULL));
    int one = 1;
    size_t len = sizeof one;
    ASSERT_RC(nc_setsockopt(loop, resolving, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one),
              NC_ENOTCONN);
    ASSERT_RC(nc_getsockopt(loop, resolving, SOL_SOCKET, SO_KEEPALIVE, &one, &len), NC_ENOTCONN);
    ASSERT_OK(nc_close_reset(loop, resolving));
    nc_handle u = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, NULL));
    ASSERT_RC(nc_udp_connect(loop, u, "::1", 9), NC_EAFNOSUPPORT);
    ASSERT_RC(nc_peer_addr(loop, u, &a), NC_ENOTCONN); /* still unconnected */
}

void test_err_null_loop(void) {
    nc_event ev[4];
    nc_addr a;
    int64_t v;
    void *ud;
    nc_buf b = {"x", 1};
    const char *hosts[1] = {"127.0.0.1"};
    int one = 1;
    size_t onelen = sizeof one;
    struct nc_tls_session_info info = NC_TLS_SESSION_INFO_INIT;
    loopback_port9(&a);
    nc_datagram dg = {"x", 1, &a};
    struct {
        const char *what;
        long long rc;
    } calls[] = {
        {"nc_poll", nc_poll(NULL, ev, 4, 0)},
        {"nc_run", nc_run(NULL, dummy_cb, NULL)},
        {"nc_stop", nc_stop(NULL)},
        {"nc_wake", nc_wake(NULL)},
        {"nc_loop_fd", nc_loop_fd(NULL)},
        {"nc_next_timeout", nc_next_timeout(NULL)},
        {"nc_tcp_listen", nc_tcp_listen(NULL, "127.0.0.1", 0, 0, 0, NULL)},
        {"nc_tcp_connect", nc_tcp_connect(NULL, "127.0.0.1", 80, NULL)},
        {"nc_udp_bind", nc_udp_bind(NULL, "127.0.0.1", 0, 0, NULL)},
        {"nc_udp_connect", nc_udp_connect(NULL, 1, "127.0.0.1", 80)},
        {"nc_send", nc_send(NULL, 1, "x", 1)},
        {"nc_sendv", nc_sendv(NULL, 1, &b, 1)},
        {"nc_send_to", nc_send_to(NULL, 1, "127.0.0.1", 80, "x", 1)},
        {"nc_close", nc_close(NULL, 1)},
        {"nc_close_reset", nc_close_reset(NULL, 1)},
        {"nc_shutdown", nc_shutdown(NULL, 1)},
        {"nc_pause", nc_pause(NULL, 1)},
        {"nc_resume", nc_resume(NULL, 1)},
        {"nc_frame_stream", nc_frame_stream(NULL, 1)},
        {"nc_frame_delimited", nc_frame_delimited(NULL, 1, "\n", 1, 100)},
        {"nc_frame_fixed", nc_frame_fixed(NULL, 1, 4)},
        {"nc_frame_length_prefixed", nc_frame_length_prefixed(NULL, 1, 4, 100)},
        {"nc_setopt", nc_setopt(NULL, 1, NC_OPT_NODELAY, 1)},
        {"nc_getopt", nc_getopt(NULL, 1, NC_OPT_NODELAY, &v)},
        {"nc_local_addr", nc_local_addr(NULL, 1, &a)},
        {"nc_peer_addr", nc_peer_addr(NULL, 1, &a)},
        {"nc_set_userdata", nc_set_userdata(NULL, 1, NULL)},
        {"nc_get_userdata", nc_get_userdata(NULL, 1, &ud)},
        {"nc_handle_kind", nc_handle_kind(NULL, 1)},
        {"nc_timer_start", nc_timer_start(NULL, 10, 0, NULL)},
        {"nc_set_idle_timeout", nc_set_idle_timeout(NULL, 1, 100)},
        {"nc_tcp_connect_ex", nc_tcp_connect_ex(NULL, "127.0.0.1", 80, NULL, NULL)},
        {"nc_set_host_addresses", nc_set_host_addresses(NULL, "x.test", hosts, 1)},
        {"nc_set_max_connections", nc_set_max_connections(NULL, 1, 10)},
        {"nc_shutdown_server", nc_shutdown_server(NULL, 1, 100)},
        {"nc_sendv_token", nc_sendv_token(NULL, 1, &b, 1, 7)},
        {"nc_send_to_addr", nc_send_to_addr(NULL, 1, &a, "x", 1)},
        {"nc_send_batch", nc_send_batch(NULL, 1, &dg, 1)},
        {"nc_udp_multicast", nc_udp_multicast(NULL, 1, "239.1.2.3", "0.0.0.0", 1)},
        {"nc_setsockopt", nc_setsockopt(NULL, 1, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one)},
        {"nc_getsockopt", nc_getsockopt(NULL, 1, SOL_SOCKET, SO_REUSEADDR, &one, &onelen)},
        {"nc_fd", nc_fd(NULL, 1)},
        {"nc_listener_set_tls", nc_listener_set_tls(NULL, 1, NULL)},
        {"nc_start_tls_client", nc_start_tls_client(NULL, 1, NULL, "localhost")},
        {"nc_start_tls_server", nc_start_tls_server(NULL, 1, NULL)},
        {"nc_tls_info", nc_tls_info(NULL, 1, &info)},
        {"nc_tls_peer_certificate", nc_tls_peer_certificate(NULL, 1, 0, NULL, 0, &onelen)},
        {"nc_tls_failure", nc_tls_failure(NULL, 1, &one, &one, NULL, 0)},
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
        ASSERT_MSG(calls[i].rc == NC_EINVAL, "%s(NULL loop) returned %s, expected NC_EINVAL",
                   calls[i].what, t_code(calls[i].rc));
    nc_loop_free(NULL);
}

/* A connected pair on a loop, to check that rejected calls change nothing. */
typedef struct {
    nc_loop *loop;
    peer *srv, *c, *k;
} pair;

static void make_pair(pair *p) {
    p->loop = t_loop();
    int port;
    peer *tmpl = peer_new("server");
    tmpl->store = 1;
    p->srv = listener_peer(p->loop, "127.0.0.1", &port, tmpl);
    p->c = connect_peer(p->loop, "127.0.0.1", port, "client");
    p->k = wait_kid(p->loop, p->srv, 0);
}

/* The pair still works: bytes sent by the client arrive unchanged at the server. */
static void pair_still_works(pair *p, const char *msg) {
    size_t before = p->k->rx_len, n = strlen(msg);
    ASSERT_OK(nc_send(p->loop, p->c->h, msg, n));
    ASSERT(wait_rx(p->loop, p->k, before + n, 5000));
    ASSERT(memcmp(p->k->rx + before, msg, n) == 0);
}

void test_err_null_pointers(void) {
    pair p;
    make_pair(&p);
    nc_loop *loop = p.loop;
    nc_handle h = p.c->h;
    nc_handle u = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, NULL));
    nc_buf nullbuf[2] = {{"ab", 2}, {NULL, 3}};
    nc_buf ok1 = {"x", 1};
    struct {
        const char *what;
        long long rc;
    } calls[] = {
        {"nc_poll(events NULL)", nc_poll(loop, NULL, 4, 0)},
        {"nc_run(cb NULL)", nc_run(loop, NULL, NULL)},
        {"nc_tcp_listen(host NULL)", nc_tcp_listen(loop, NULL, 0, 0, 0, NULL)},
        {"nc_tcp_connect(host NULL)", nc_tcp_connect(loop, NULL, 80, NULL)},
        {"nc_tcp_connect(host \"\")", nc_tcp_connect(loop, "", 80, NULL)},
        {"nc_udp_bind(host NULL)", nc_udp_bind(loop, NULL, 0, 0, NULL)},
        {"nc_udp_connect(host NULL)", nc_udp_connect(loop, u, NULL, 80)},
        {"nc_send(data NULL, len 5)", nc_send(loop, h, NULL, 5)},
        {"nc_send(data NULL, len 0)", nc_send(loop, h, NULL, 0)},
        {"nc_sendv(bufs NULL)", nc_sendv(loop, h, NULL, 1)},
        {"nc_sendv(count 0)", nc_sendv(loop, h, &ok1, 0)},
        {"nc_sendv(count 1025)", nc_sendv(loop, h, &ok1, 1025)},
        {"nc_sendv(buf NULL, len 3)", nc_sendv(loop, h, nullbuf, 2)},
        {"nc_send_to(host NULL)", nc_send_to(loop, u, NULL, 80, "x", 1)},
        {"nc_send_to(data NULL)", nc_send_to(loop, u, "127.0.0.1", 80, NULL, 1)},
        {"nc_frame_delimited(delim NULL)", nc_frame_delimited(loop, h, NULL, 1, 100)},
        {"nc_getopt(value NULL)", nc_getopt(loop, h, NC_OPT_NODELAY, NULL)},
        {"nc_local_addr(addr NULL)", nc_local_addr(loop, h, NULL)},
        {"nc_peer_addr(addr NULL)", nc_peer_addr(loop, h, NULL)},
        {"nc_get_userdata(out NULL)", nc_get_userdata(loop, h, NULL)},
        {"nc_addr_format(addr NULL)", nc_addr_format(NULL, (char[8]){0}, 8)},
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
        ASSERT_MSG(calls[i].rc == NC_EINVAL, "%s returned %s, expected NC_EINVAL", calls[i].what,
                   t_code(calls[i].rc));
    poll_for(loop, 20);
    ASSERT_EQ(p.k->rx_len, 0); /* the partial gather sent nothing */
    ASSERT_EQ(p.c->ev[NC_EV_CLOSED], 0);
    pair_still_works(&p, "still fine");
}

/* Every call that takes a handle returns `code` for `h`; `identity` 0 leaves
 * out the calls a closing handle still answers (kind, userdata). */
void expect_every_call_rejects(nc_loop *loop, nc_handle h, int code, int identity) {
    nc_addr a;
    int64_t v;
    void *ud;
    nc_buf b = {"x", 1};
    int one = 1;
    size_t onelen = sizeof one;
    nc_addr dest;
    struct nc_tls_session_info info = NC_TLS_SESSION_INFO_INIT;
    loopback_port9(&dest);
    nc_datagram dg = {"x", 1, &dest};
    struct {
        const char *what;
        long long rc;
    } calls[] = {
        {"nc_udp_connect", nc_udp_connect(loop, h, "127.0.0.1", 80)},
        {"nc_udp_disconnect", nc_udp_disconnect(loop, h)},
        {"nc_send", nc_send(loop, h, "x", 1)},
        {"nc_sendv", nc_sendv(loop, h, &b, 1)},
        {"nc_send_to", nc_send_to(loop, h, "127.0.0.1", 80, "x", 1)},
        {"nc_close", nc_close(loop, h)},
        {"nc_close_reset", nc_close_reset(loop, h)},
        {"nc_shutdown", nc_shutdown(loop, h)},
        {"nc_pause", nc_pause(loop, h)},
        {"nc_resume", nc_resume(loop, h)},
        {"nc_frame_stream", nc_frame_stream(loop, h)},
        {"nc_frame_delimited", nc_frame_delimited(loop, h, "\n", 1, 100)},
        {"nc_frame_fixed", nc_frame_fixed(loop, h, 4)},
        {"nc_frame_length_prefixed", nc_frame_length_prefixed(loop, h, 2, 100)},
        {"nc_setopt", nc_setopt(loop, h, NC_OPT_NODELAY, 1)},
        {"nc_getopt", nc_getopt(loop, h, NC_OPT_NODELAY, &v)},
        {"nc_local_addr", nc_local_addr(loop, h, &a)},
        {"nc_peer_addr", nc_peer_addr(loop, h, &a)},
        {"nc_set_idle_timeout", nc_set_idle_timeout(loop, h, 100)},
        {"nc_set_max_connections", nc_set_max_connections(loop, h, 10)},
        {"nc_shutdown_server", nc_shutdown_server(loop, h, 100)},
        {"nc_sendv_token", nc_sendv_token(loop, h, &b, 1, 7)},
        {"nc_send_to_addr", nc_send_to_addr(loop, h, &dest, "x", 1)},
        {"nc_send_batch", nc_send_batch(loop, h, &dg, 1)},
        {"nc_udp_multicast", nc_udp_multicast(loop, h, "239.1.2.3", "0.0.0.0", 1)},
        {"nc_setsockopt", nc_setsockopt(loop, h, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one)},
        {"nc_getsockopt", nc_getsockopt(loop, h, SOL_SOCKET, SO_REUSEADDR, &one, &onelen)},
        {"nc_fd", nc_fd(loop, h)},
        {"nc_listener_set_tls", nc_listener_set_tls(loop, h, NULL)},
        {"nc_tls_info", nc_tls_info(loop, h, &info)},
        {"nc_tls_peer_certificate", nc_tls_peer_certificate(loop, h, 0, NULL, 0, &onelen)},
        /* a closed handle's failure record stays readable until the poll after NC_EV_CLOSED */
        {"nc_tls_failure", code == NC_EBADHANDLE ? nc_tls_failure(loop, h, &one, &one, NULL, 0) : code},
        {"nc_set_userdata", identity ? nc_set_userdata(loop, h, NULL) : code},
        {"nc_get_userdata", identity ? nc_get_userdata(loop, h, &ud) : code},
        {"nc_handle_kind", identity ? nc_handle_kind(loop, h) : code},
    };
    for (size_t k = 0; k < sizeof calls / sizeof calls[0]; k++)
        ASSERT_MSG(calls[k].rc == code, "%s(handle %lld) returned %s, expected %s", calls[k].what,
                   (long long)h, t_code(calls[k].rc), t_code(code));
}

void test_err_bad_handles(void) {
    pair p;
    make_pair(&p);
    nc_loop *loop = p.loop;
    /* a closed handle */
    nc_handle closed = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, NULL));
    ASSERT_OK(nc_close(loop, closed));
    poll_for(loop, 20);
    nc_handle bad[] = {0, -1, 123456789, INT64_MAX, INT64_MIN, (int64_t)1 << 32, -3001, closed,
                       p.c->h + ((int64_t)1 << 32), p.c->h | ((int64_t)1 << 53)};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_every_call_rejects(loop, bad[i], NC_EBADHANDLE, 1);
    poll_for(loop, 20);
    ASSERT_EQ(p.c->ev[NC_EV_CLOSED], 0);
    ASSERT_EQ(p.k->ev[NC_EV_CLOSED], 0);
    pair_still_works(&p, "unharmed");
}

/* Two loops hand out the same slot numbers, but never the same handle: each
 * loop rejects the other's with NC_EBADHANDLE, and nothing changes on either. */
void test_err_handle_of_another_loop(void) {
    pair a, b;
    make_pair(&a);
    make_pair(&b);
    nc_handle ua = ASSERT_HANDLE(nc_udp_bind(a.loop, "127.0.0.1", 0, 0, NULL));
    nc_handle ta = ASSERT_HANDLE(nc_timer_start(a.loop, 3600 * 1000, 0, NULL));
    nc_handle ub = ASSERT_HANDLE(nc_udp_bind(b.loop, "127.0.0.1", 0, 0, NULL));
    nc_handle tb = ASSERT_HANDLE(nc_timer_start(b.loop, 3600 * 1000, 0, NULL));
    nc_handle on_a[] = {a.srv->h, a.c->h, a.k->h, ua, ta};
    nc_handle on_b[] = {b.srv->h, b.c->h, b.k->h, ub, tb};
    for (size_t i = 0; i < 5; i++) {
        ASSERT_MSG(on_a[i] > 0 && on_a[i] < ((int64_t)1 << 53), "handle %lld", (long long)on_a[i]);
        ASSERT_MSG(on_b[i] > 0 && on_b[i] < ((int64_t)1 << 53), "handle %lld", (long long)on_b[i]);
        ASSERT(on_a[i] != on_b[i]);
        ASSERT_EQ(nc_handle_kind(a.loop, on_a[i]), nc_handle_kind(b.loop, on_b[i]));
    }
    for (size_t i = 0; i < 5; i++) {
        expect_every_call_rejects(b.loop, on_a[i], NC_EBADHANDLE, 1);
        expect_every_call_rejects(a.loop, on_b[i], NC_EBADHANDLE, 1);
    }
    poll_for(a.loop, 20);
    poll_for(b.loop, 20);
    pair *pairs[] = {&a, &b};
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(pairs[i]->srv->ev[NC_EV_CLOSED], 0);
        ASSERT_EQ(pairs[i]->c->ev[NC_EV_CLOSED], 0);
        ASSERT_EQ(pairs[i]->k->ev[NC_EV_CLOSED], 0);
        ASSERT_EQ(nc_handle_kind(pairs[i]->loop, pairs[i]->srv->h), NC_KIND_TCP_LISTENER);
    }
    ASSERT_EQ(nc_handle_kind(a.loop, ua), NC_KIND_UDP);
    ASSERT_EQ(nc_handle_kind(b.loop, tb), NC_KIND_TIMER);
    pair_still_works(&a, "loop a unharmed");
    pair_still_works(&b, "loop b unharmed");
}

void test_err_wrong_kind(void) {
    pair p;
    make_pair(&p);
    nc_loop *loop = p.loop;
    nc_handle l = p.srv->h, c = p.c->h;
    nc_handle u = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, NULL));
    ASSERT_EQ(nc_handle_kind(loop, l), NC_KIND_TCP_LISTENER);
    ASSERT_EQ(nc_handle_kind(loop, c), NC_KIND_TCP_CONNECTION);
    ASSERT_EQ(nc_handle_kind(loop, p.k->h), NC_KIND_TCP_CONNECTION);
    ASSERT_EQ(nc_handle_kind(loop, u), NC_KIND_UDP);
    nc_buf b = {"x", 1};
    nc_addr a;
    ASSERT_RC(nc_send(loop, l, "x", 1), NC_EWRONGKIND);
    ASSERT_RC(nc_sendv(loop, l, &b, 1), NC_EWRONGKIND);
    ASSERT_RC(nc_send_to(loop, c, "127.0.0.1", 80, "x", 1), NC_EWRONGKIND);
    ASSERT_RC(nc_send_to(loop, l, "127.0.0.1", 80, "x", 1), NC_EWRONGKIND);
    ASSERT_RC(nc_udp_connect(loop, c, "127.0.0.1", 80), NC_EWRONGKIND);
    ASSERT_RC(nc_udp_connect(loop, l, "127.0.0.1", 80), NC_EWRONGKIND);
    ASSERT_RC(nc_udp_disconnect(loop, c), NC_EWRONGKIND);
    ASSERT_RC(nc_shutdown(loop, l), NC_EWRONGKIND);
    ASSERT_RC(nc_shutdown(loop, u), NC_EWRONGKIND);
    ASSERT_RC(nc_pause(loop, l), NC_EWRONGKIND);
    ASSERT_RC(nc_resume(loop, l), NC_EWRONGKIND);
    ASSERT_RC(nc_frame_stream(loop, l), NC_EWRONGKIND);
    ASSERT_RC(nc_frame_delimited(loop, u, "\n", 1, 10), NC_EWRONGKIND);
    ASSERT_RC(nc_frame_length_prefixed(loop, l, 2, 10), NC_EWRONGKIND);
    ASSERT_RC(nc_peer_addr(loop, l, &a), NC_EWRONGKIND);
    ASSERT_RC(nc_setopt(loop, c, NC_OPT_BROADCAST, 1), NC_EWRONGKIND);
    ASSERT_RC(nc_setopt(loop, u, NC_OPT_HIGH_WATER, 100), NC_EWRONGKIND);
    /* nothing changed */
    ASSERT_EQ(nc_handle_kind(loop, l), NC_KIND_TCP_LISTENER);
    pair_still_works(&p, "same as before");
}

void test_err_bad_addresses(void) {
    nc_loop *loop = t_loop();
    nc_handle u = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, NULL));
    const char *bad_hosts[] = {"300.1.1.1", "not an ip", "", "1.2.3", "127.0.0.1:80",
                               "::1::2", "[::1", "example.com", " 127.0.0.1"};
    for (size_t i = 0; i < sizeof bad_hosts / sizeof bad_hosts[0]; i++) {
        const char *h = bad_hosts[i];
        long long rc = nc_tcp_listen(loop, h, 0, 0, 0, NULL);
        ASSERT_MSG(rc == NC_EINVAL, "nc_tcp_listen(\"%s\") returned %s", h, t_code(rc));
        rc = nc_udp_bind(loop, h, 0, 0, NULL);
        ASSERT_MSG(rc == NC_EINVAL, "nc_udp_bind(\"%s\") returned %s", h, t_code(rc));
        rc = nc_send_to(loop, u, h, 9, "x", 1);
        ASSERT_MSG(rc == NC_EINVAL, "nc_send_to(\"%s\") returned %s", h, t_code(rc));
        rc = nc_udp_connect(loop, u, h, 9);
        ASSERT_MSG(rc == NC_EINVAL, "nc_udp_connect(\"%s\") returned %s", h, t_code(rc));
    }
    int bad_ports[] = {70000, -1, 65536, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof bad_ports / sizeof bad_ports[0]; i++) {
        int port = bad_ports[i];
        long long rc = nc_tcp_listen(loop, "127.0.0.1", port, 0, 0, NULL);
        ASSERT_MSG(rc == NC_EINVAL, "nc_tcp_listen(port %d) returned %s", port, t_code(rc));
        rc = nc_tcp_connect(loop, "127.0.0.1", port, NULL);
        ASSERT_MSG(rc == NC_EINVAL, "nc_tcp_connect(port %d) returned %s", port, t_code(rc));
        rc = nc_udp_bind(loop, "127.0.0.1", port, 0, NULL);
        ASSERT_MSG(rc == NC_EINVAL, "nc_udp_bind(port %d) returned %s", port, t_code(rc));
        rc = nc_send_to(loop, u, "127.0.0.1", port, "x", 1);
        ASSERT_MSG(rc == NC_EINVAL, "nc_send_to(port %d) returned %s", port, t_code(rc));
        rc = nc_udp_connect(loop, u, "127.0.0.1", port);
        ASSERT_MSG(rc == NC_EINVAL, "nc_udp_connect(port %d) returned %s", port, t_code(rc));
    }
    /* port 0 is "any" for listen/bind, but not a destination */
    ASSERT_RC(nc_tcp_connect(loop, "127.0.0.1", 0, NULL), NC_EINVAL);
    ASSERT_RC(nc_send_to(loop, u, "127.0.0.1", 0, "x", 1), NC_EINVAL);
    /* listen flags and backlog */
    ASSERT_RC(nc_tcp_listen(loop, "127.0.0.1", 0, -1, 0, NULL), NC_EINVAL);
    ASSERT_RC(nc_tcp_listen(loop, "127.0.0.1", 0, 0, 0x80, NULL), NC_EINVAL);
    ASSERT_RC(nc_udp_bind(loop, "127.0.0.1", 0, 0x80, NULL), NC_EINVAL);
    /* nothing was created: the only handle is still the UDP socket */
    nc_event ev[8];
    ASSERT_EQ(nc_poll(loop, ev, 8, 0), 0);
    ASSERT_EQ(nc_handle_kind(loop, u), NC_KIND_UDP);
}

void test_err_bad_values(void) {
    pair p;
    make_pair(&p);
    nc_loop *loop = p.loop;
    nc_event ev[4];
    int64_t v;
    ASSERT_RC(nc_send(loop, p.c->h, "x", 0), NC_EINVAL);
    ASSERT_RC(nc_poll(loop, ev, 0, 0), NC_EINVAL);
    ASSERT_MSG(strncmp(nc_last_error_detail(), "max_events:", 11) == 0, "detail \"%s\"", nc_last_error_detail());
    ASSERT_RC(nc_poll(loop, ev, 4, -2), NC_EINVAL);
    ASSERT_RC(nc_poll(loop, ev, 4, INT_MIN), NC_EINVAL);
    ASSERT_RC(nc_setopt(loop, p.c->h, 12345, 1), NC_EINVAL);
    ASSERT_RC(nc_getopt(loop, p.c->h, 12345, &v), NC_EINVAL);
    ASSERT_RC(nc_setopt(loop, p.c->h, NC_OPT_NODELAY, 7), NC_EINVAL);
    ASSERT_RC(nc_setopt(loop, p.c->h, NC_OPT_HIGH_WATER, -1), NC_EINVAL);
    ASSERT_RC(nc_setopt(loop, p.srv->h, NC_OPT_KEEPALIVE, 40000), NC_EINVAL);
    poll_for(loop, 20);
    ASSERT_EQ(p.k->rx_len, 0);
    pair_still_works(&p, "ok");
}

void test_err_framing_params(void) {
    pair p;
    make_pair(&p);
    nc_loop *loop = p.loop;
    nc_handle h = p.k->h;
    /* the limits themselves are fine */
    ASSERT_OK(nc_frame_delimited(loop, h, "12345678", 8, (size_t)1 << 30));
    ASSERT_OK(nc_frame_fixed(loop, h, (size_t)1 << 30));
    ASSERT_OK(nc_frame_length_prefixed(loop, h, 1, (size_t)1 << 30));
    ASSERT_OK(nc_frame_stream(loop, h));
    ASSERT_RC(nc_frame_delimited(loop, h, "\n", 0, 100), NC_EINVAL);
    ASSERT_RC(nc_frame_delimited(loop, h, "123456789", 9, 100), NC_EINVAL);
    ASSERT_RC(nc_frame_delimited(loop, h, "\n", 1, 0), NC_EINVAL);
    ASSERT_RC(nc_frame_delimited(loop, h, "\n", 1, ((size_t)1 << 30) + 1), NC_EINVAL);
    ASSERT_RC(nc_frame_delimited(loop, h, "\n", 1, SIZE_MAX), NC_EINVAL);
    ASSERT_RC(nc_frame_fixed(loop, h, 0), NC_EINVAL);
    ASSERT_RC(nc_frame_fixed(loop, h, ((size_t)1 << 30) + 1), NC_EINVAL);
    int headers[] = {0, 3, 5, 8, -1, -4, INT_MIN};
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++)
        ASSERT_MSG(nc_frame_length_prefixed(loop, h, headers[i], 100) == NC_EINVAL,
                   "header_bytes %d accepted", headers[i]);
    ASSERT_RC(nc_frame_length_prefixed(loop, h, 4, 0), NC_EINVAL);
    ASSERT_RC(nc_frame_length_prefixed(loop, h, 2, ((size_t)1 << 30) + 1), NC_EINVAL);
    /* after the rejections the connection is still in stream mode */
    pair_still_works(&p, "a\nb\n");
    ASSERT_EQ(p.k->rx_len, 4);
}

void test_err_listen_addr_in_use(void) {
    nc_loop *loop = t_loop();
    nc_handle a = ASSERT_HANDLE(nc_tcp_listen(loop, "127.0.0.1", 0, 0, 0, NULL));
    int port = local_port(loop, a);
    ASSERT_RC(nc_tcp_listen(loop, "127.0.0.1", port, 0, 0, NULL), NC_EADDRINUSE);
    nc_handle u = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, NULL));
    ASSERT_RC(nc_udp_bind(loop, "127.0.0.1", local_port(loop, u), 0, NULL), NC_EADDRINUSE);
    /* with SO_REUSEPORT on both, two listeners share a port */
    nc_handle r1 = ASSERT_HANDLE(nc_tcp_listen(loop, "127.0.0.1", 0, 0, NC_REUSEPORT, NULL));
    int rport = local_port(loop, r1);
    nc_handle r2 = ASSERT_HANDLE(nc_tcp_listen(loop, "127.0.0.1", rport, 0, NC_REUSEPORT, NULL));
    ASSERT(r2 != r1);
    /* an IPv6-only listener */
    nc_handle v6 = ASSERT_HANDLE(nc_tcp_listen(loop, "::1", 0, 16, NC_IPV6ONLY, NULL));
    ASSERT_EQ(nc_handle_kind(loop, v6), NC_KIND_TCP_LISTENER);
    /* after closing, the port can be listened on again (SO_REUSEADDR) */
    peer *pa = peer_new("a");
    ASSERT_OK(nc_set_userdata(loop, a, pa));
    pa->h = a;
    ASSERT_OK(nc_close(loop, a));
    POLL_ASSERT(loop, p_closed, pa, 5000);
    nc_handle again = ASSERT_HANDLE(nc_tcp_listen(loop, "127.0.0.1", port, 0, 0, NULL));
    ASSERT_EQ(local_port(loop, again), port);
}
