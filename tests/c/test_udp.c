/* UDP: datagrams with sender addresses, connected UDP, close. */
#include "harness.h"

#include <string.h>

static int addr_is(const nc_addr *a, int family, const char *ip, int port) {
    char buf[NC_ADDRSTRLEN];
    addr_ip(a, buf, sizeof buf);
    return a->family == family && strcmp(buf, ip) == 0 && a->port == port;
}

typedef struct {
    peer *p;
    int n;
} dgram_wait;
static int dgrams_reached(void *arg) {
    dgram_wait *w = arg;
    return w->p->ev[NC_EV_DATAGRAM] >= w->n;
}
static void wait_dgrams(nc_loop *loop, peer *p, int n) {
    dgram_wait w = {p, n};
    POLL_ASSERT(loop, dgrams_reached, &w, 5000);
}

static void round_trip(const char *ip, int family) {
    nc_loop *loop = t_loop();
    peer *a = peer_new("a"), *b = peer_new("b");
    a->store = b->store = 1;
    a->h = ASSERT_HANDLE(nc_udp_bind(loop, ip, 0, 0, a));
    b->h = ASSERT_HANDLE(nc_udp_bind(loop, ip, 0, 0, b));
    ASSERT_EQ(nc_handle_kind(loop, a->h), NC_KIND_UDP);
    int pa = local_port(loop, a->h), pb = local_port(loop, b->h);
    ASSERT(pa > 0 && pb > 0 && pa != pb);

    ASSERT_OK(nc_send_to(loop, a->h, ip, pb, "ping", 4));
    wait_dgrams(loop, b, 1);
    ASSERT_EQ(b->rx_len, 4);
    ASSERT(memcmp(b->rx, "ping", 4) == 0);
    ASSERT_MSG(addr_is(&b->addr, family, ip, pa), "sender address is not a's (port %d)",
               b->addr.port);

    /* reply to the address the datagram came from */
    char from[NC_ADDRSTRLEN];
    addr_ip(&b->addr, from, sizeof from);
    ASSERT_OK(nc_send_to(loop, b->h, from, b->addr.port, "pong", 4));
    wait_dgrams(loop, a, 1);
    ASSERT(memcmp(a->rx, "pong", 4) == 0);
    ASSERT(addr_is(&a->addr, family, ip, pb));

    /* boundaries are kept: one event per datagram, exact sizes */
    static uint8_t big[60000];
    fill_pattern(big, sizeof big, 51, 0);
    ASSERT_OK(nc_send_to(loop, a->h, ip, pb, big, 1));
    ASSERT_OK(nc_send_to(loop, a->h, ip, pb, big, 1200));
    ASSERT_OK(nc_send_to(loop, a->h, ip, pb, big, sizeof big));
    wait_dgrams(loop, b, 4);
    ASSERT_EQ(b->nframes, 4);
    ASSERT_EQ(b->frame_len[1], 1);
    ASSERT_EQ(b->frame_len[2], 1200);
    ASSERT_EQ(b->frame_len[3], sizeof big);
    ASSERT(memcmp(b->rx + 4 + 1 + 1200, big, sizeof big) == 0);
    ASSERT_EQ(b->ev[NC_EV_ERROR], 0);
    /* too large for one datagram */
    static uint8_t huge[70000];
    ASSERT_RC(nc_send_to(loop, a->h, ip, pb, huge, sizeof huge), NC_EMSGSIZE);
}

void test_udp_round_trip(void) {
    round_trip("127.0.0.1", NC_AF_INET);
    /* "localhost" is 127.0.0.1 for send_to too */
    nc_loop *loop = t_loop();
    peer *b = peer_new("b");
    b->store = 1;
    nc_handle a = ASSERT_HANDLE(nc_udp_bind(loop, "localhost", 0, 0, NULL));
    b->h = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, b));
    ASSERT_OK(nc_send_to(loop, a, "localhost", local_port(loop, b->h), "hi", 2));
    wait_dgrams(loop, b, 1);
    ASSERT(addr_is(&b->addr, NC_AF_INET, "127.0.0.1", local_port(loop, a)));
}
void test_udp_round_trip_ipv6(void) { round_trip("::1", NC_AF_INET6); }

void test_udp_connected(void) {
    nc_loop *loop = t_loop();
    peer *a = peer_new("a"), *b = peer_new("b"), *c = peer_new("c");
    a->store = b->store = 1;
    a->h = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, a));
    b->h = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, b));
    c->h = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, c));
    int pa = local_port(loop, a->h), pb = local_port(loop, b->h);
    nc_addr peer_addr;
    ASSERT_OK(nc_udp_connect(loop, a->h, "127.0.0.1", pb));
    ASSERT_OK(nc_peer_addr(loop, a->h, &peer_addr));
    ASSERT(addr_is(&peer_addr, NC_AF_INET, "127.0.0.1", pb));

    ASSERT_OK(nc_send(loop, a->h, "hello", 5));
    nc_buf parts[2] = {{"wor", 3}, {"ld", 2}};
    ASSERT_OK(nc_sendv(loop, a->h, parts, 2));
    wait_dgrams(loop, b, 2);
    ASSERT_EQ(b->nframes, 2);
    ASSERT(memcmp(b->rx, "helloworld", 10) == 0);
    ASSERT_EQ(b->frame_len[1], 5);
    ASSERT(addr_is(&b->addr, NC_AF_INET, "127.0.0.1", pa));

    /* the connected peer's datagrams arrive; others are filtered */
    ASSERT_OK(nc_send_to(loop, c->h, "127.0.0.1", pa, "intruder", 8));
    ASSERT_OK(nc_send_to(loop, b->h, "127.0.0.1", pa, "back", 4));
    wait_dgrams(loop, a, 1);
    poll_for(loop, 100);
    ASSERT_EQ(a->ev[NC_EV_DATAGRAM], 1);
    ASSERT_EQ(a->rx_len, 4);
    ASSERT(memcmp(a->rx, "back", 4) == 0);
    ASSERT(addr_is(&a->addr, NC_AF_INET, "127.0.0.1", pb));

    /* disconnected: no default peer, and any sender's datagrams arrive again */
    ASSERT_OK(nc_udp_disconnect(loop, a->h));
    ASSERT_RC(nc_udp_disconnect(loop, a->h), NC_ENOTCONN);
    ASSERT_RC(nc_peer_addr(loop, a->h, &peer_addr), NC_ENOTCONN);
    ASSERT_RC(nc_send(loop, a->h, "x", 1), NC_ENOTCONN);
    ASSERT_OK(nc_send_to(loop, c->h, "127.0.0.1", pa, "anyone", 6));
    wait_dgrams(loop, a, 2);
    ASSERT(addr_is(&a->addr, NC_AF_INET, "127.0.0.1", local_port(loop, c->h)));
}

void test_udp_close_and_kinds(void) {
    nc_loop *loop = t_loop();
    peer *u = peer_new("udp");
    u->h = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, u));
    nc_addr a;
    ASSERT_OK(nc_local_addr(loop, u->h, &a));
    ASSERT(a.family == NC_AF_INET && a.port != 0);
    ASSERT_RC(nc_shutdown(loop, u->h), NC_EWRONGKIND);
    ASSERT_RC(nc_pause(loop, u->h), NC_EWRONGKIND);
    ASSERT_RC(nc_resume(loop, u->h), NC_EWRONGKIND);
    ASSERT_RC(nc_frame_fixed(loop, u->h, 4), NC_EWRONGKIND);
    ASSERT_OK(nc_close(loop, u->h));
    POLL_ASSERT(loop, p_closed, u, 5000);
    poll_for(loop, 20);
    ASSERT_EQ(u->ev[NC_EV_CLOSED], 1);
    ASSERT_CODE(u->close_error, 0);
    ASSERT_RC(nc_send_to(loop, u->h, "127.0.0.1", 9, "x", 1), NC_EBADHANDLE);
    ASSERT_RC(nc_close(loop, u->h), NC_EBADHANDLE);
    /* the port is free again */
    nc_handle again = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", a.port, 0, NULL));
    ASSERT(again != u->h);
}

/* A zero-length datagram is a valid UDP datagram: nc_send_to, nc_send and
 * nc_sendv of no bytes each send one, and it arrives as an empty
 * NC_EV_DATAGRAM (a TCP send of no bytes stays NC_EINVAL: test_errors.c). */
void test_udp_empty_datagram_is_sent_and_received(void) {
    nc_loop *loop = t_loop();
    peer *b = peer_new("b");
    b->store = 1;
    nc_handle a = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, NULL));
    b->h = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, b));
    int pb = local_port(loop, b->h);
    ASSERT_OK(nc_send_to(loop, a, "127.0.0.1", pb, "", 0));
    ASSERT_OK(nc_send_to(loop, a, "127.0.0.1", pb, NULL, 0));
    ASSERT_OK(nc_udp_connect(loop, a, "127.0.0.1", pb));
    ASSERT_OK(nc_send(loop, a, "x", 0));
    nc_buf empty[2] = {{"", 0}, {NULL, 0}};
    ASSERT_OK(nc_sendv(loop, a, empty, 2));
    wait_dgrams(loop, b, 4);
    ASSERT_EQ(b->nframes, 4);
    for (size_t i = 0; i < 4; i++) ASSERT_EQ(b->frame_len[i], 0);
    ASSERT_EQ(b->rx_len, 0);
    ASSERT_EQ(b->ev[NC_EV_ERROR], 0);
}

/* A gather send on connected UDP is one datagram, whatever the number of
 * buffers (up to the documented 1024). */
void test_udp_sendv_many_buffers(void) {
    nc_loop *loop = t_loop();
    peer *b = peer_new("b");
    b->store = 1;
    nc_handle a = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, NULL));
    b->h = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, b));
    ASSERT_OK(nc_udp_connect(loop, a, "127.0.0.1", local_port(loop, b->h)));
    static const int counts[] = {64, 65, 100, 1024};
    static uint8_t src[1024 * 10];
    static nc_buf bufs[1024];
    fill_pattern(src, sizeof src, 52, 0);
    size_t off = 0;
    for (int t = 0; t < 4; t++) {
        int nb = counts[t];
        for (int i = 0; i < nb; i++) {
            bufs[i].data = src + i * 10;
            bufs[i].len = 10;
        }
        ASSERT_OK(nc_sendv(loop, a, bufs, (size_t)nb));
        wait_dgrams(loop, b, t + 1);
        ASSERT_MSG(b->frame_len[t] == (size_t)nb * 10,
                   "nc_sendv of %d 10-byte buffers on connected UDP arrived as a %zu-byte "
                   "datagram (expected %d)",
                   nb, b->frame_len[t], nb * 10);
        ASSERT(memcmp(b->rx + off, src, (size_t)nb * 10) == 0);
        off += b->frame_len[t];
    }
}

/* nc_send on a UDP socket without a default peer fails with a code from
 * netcore's taxonomy (one nc_errname knows). */
void test_udp_send_unconnected(void) {
    nc_loop *loop = t_loop();
    nc_handle a = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, NULL));
    int rc = nc_send(loop, a, "x", 1);
    ASSERT_MSG(rc < 0, "nc_send on an unconnected UDP socket returned %d", rc);
    ASSERT_MSG(strcmp(nc_errname(rc), "EUNKNOWN") != 0,
               "nc_send on an unconnected UDP socket returned %d, which nc_errname calls "
               "\"%s\" (expected a netcore code such as NC_ENOTCONN)",
               rc, nc_errname(rc));
    ASSERT_EQ(nc_handle_kind(loop, a), NC_KIND_UDP);
}

/* nc_send_batch: many datagrams per call, each to its own address (here
 * alternating between two receivers) or to the connected peer; the count
 * says how far a batch went when a datagram in the middle cannot go. */
void test_udp_send_batch(void) {
    nc_loop *loop = t_loop();
    peer *b = peer_new("b"), *c = peer_new("c");
    b->store = c->store = 1;
    nc_handle a = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, NULL));
    b->h = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, b));
    c->h = ASSERT_HANDLE(nc_udp_bind(loop, "127.0.0.1", 0, 0, c));
    nc_addr to[2], from;
    ASSERT_OK(nc_local_addr(loop, b->h, &to[0]));
    ASSERT_OK(nc_local_addr(loop, c->h, &to[1]));
    ASSERT_OK(nc_local_addr(loop, a, &from));

    /* 100 datagrams of 0..=990 bytes: more than one sendmmsg's worth */
    static uint8_t src[100 * 10];
    static nc_datagram batch[100];
    fill_pattern(src, sizeof src, 53, 0);
    for (size_t i = 0; i < 100; i++)
        batch[i] = (nc_datagram){src, i * 10, &to[i % 2]};
    ASSERT_EQ(nc_send_batch(loop, a, batch, 100), 100);
    wait_dgrams(loop, b, 50);
    wait_dgrams(loop, c, 50);
    size_t off[2] = {0, 0};
    for (size_t i = 0; i < 100; i++) {
        peer *p = i % 2 ? c : b;
        ASSERT_EQ(p->frame_len[i / 2], i * 10);
        ASSERT(memcmp(p->rx + off[i % 2], src, i * 10) == 0);
        off[i % 2] += i * 10;
    }
    ASSERT(addr_is(&b->addr, NC_AF_INET, "127.0.0.1", from.port));
    ASSERT(addr_is(&c->addr, NC_AF_INET, "127.0.0.1", from.port));

    /* an empty batch sends nothing; a NULL array with a count is refused */
    ASSERT_EQ(nc_send_batch(loop, a, NULL, 0), 0);
    ASSERT_RC(nc_send_batch(loop, a, NULL, 1), NC_EINVAL);

    /* a bad datagram in the middle: the ones before it go, it and the ones
     * after it do not; a call from it says why */
    nc_addr port0 = to[0], no_family = to[0];
    port0.port = 0;
    no_family.family = NC_AF_NONE;
    static uint8_t huge[70000];
    nc_datagram mixed[4] = {{"0", 1, &to[0]}, {"1", 1, &to[0]}, {"2", 1, &port0}, {"3", 1, &to[0]}};
    ASSERT_EQ(nc_send_batch(loop, a, mixed, 4), 2);
    ASSERT_RC(nc_send_batch(loop, a, mixed + 2, 2), NC_EINVAL);
    mixed[2].to = &no_family;
    ASSERT_RC(nc_send_batch(loop, a, mixed + 2, 2), NC_EINVAL);
    mixed[2] = (nc_datagram){NULL, 1, &to[0]};
    ASSERT_EQ(nc_send_batch(loop, a, mixed + 1, 3), 1);
    mixed[2] = (nc_datagram){huge, sizeof huge, &to[0]};
    ASSERT_EQ(nc_send_batch(loop, a, mixed + 1, 3), 1);
    ASSERT_RC(nc_send_batch(loop, a, mixed + 2, 2), NC_EMSGSIZE);
    wait_dgrams(loop, b, 50 + 4);
    poll_for(loop, 50);
    ASSERT_EQ(b->ev[NC_EV_DATAGRAM], 54); /* "0", "1", "1", "1": nothing after a refusal */
    ASSERT(memcmp(b->rx + off[0], "0111", 4) == 0);

    /* without a destination: the connected peer, or NC_ENOTCONN */
    nc_datagram to_peer[2] = {{"p", 1, NULL}, {"", 0, NULL}};
    ASSERT_RC(nc_send_batch(loop, a, to_peer, 2), NC_ENOTCONN);
    ASSERT_OK(nc_udp_connect(loop, a, "127.0.0.1", to[1].port));
    ASSERT_EQ(nc_send_batch(loop, a, to_peer, 2), 2);
    wait_dgrams(loop, c, 52);
    ASSERT_EQ(c->frame_len[50], 1);
    ASSERT_EQ(c->frame_len[51], 0);
    ASSERT_EQ(b->ev[NC_EV_ERROR] + c->ev[NC_EV_ERROR], 0);
}
