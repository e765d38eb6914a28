/* Framing: stream, delimited, fixed, length-prefixed; split and batched input;
 * oversized frames. The sender is a plain POSIX socket with TCP_NODELAY that
 * writes in odd pieces, polling the loop between them so reads split. */
#include "harness.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

enum { F_STREAM, F_DELIM, F_FIXED, F_LP };

typedef struct {
    int mode;
    const char *delim;
    size_t dlen;
    size_t size; /* fixed */
    int header;  /* length-prefixed */
    size_t max;
} fspec;

static void apply_framing(peer *p, nc_loop *loop, const nc_event *ev) {
    if (ev->kind != NC_EV_ACCEPTED) return;
    fspec *f = p->arg;
    int rc = 0;
    switch (f->mode) {
    case F_STREAM: rc = nc_frame_stream(loop, p->h); break;
    case F_DELIM: rc = nc_frame_delimited(loop, p->h, f->delim, f->dlen, f->max); break;
    case F_FIXED: rc = nc_frame_fixed(loop, p->h, f->size); break;
    case F_LP: rc = nc_frame_length_prefixed(loop, p->h, f->header, f->max); break;
    }
    if (rc) T_FAIL_(0, "setting the framing failed: %s", t_code(rc));
}

/* A listener whose connections use framing `f`, and one POSIX client. */
static peer *framed(nc_loop *loop, fspec *f, int *fd) {
    peer *tmpl = peer_new("framed");
    tmpl->store = 1;
    tmpl->hook = apply_framing;
    tmpl->arg = f;
    int port;
    peer *srv = listener_peer(loop, "127.0.0.1", &port, tmpl);
    *fd = posix_connect("127.0.0.1", port);
    peer *kid = wait_kid(loop, srv, 0);
    return kid;
}

static const uint8_t *frame_at(const peer *p, size_t i) {
    size_t off = 0;
    for (size_t k = 0; k < i; k++) off += p->frame_len[k];
    return p->rx + off;
}

typedef struct {
    peer *p;
    size_t n;
} nwait;
static int frames_reached(void *arg) {
    nwait *w = arg;
    return w->p->nframes >= w->n || w->p->ev[NC_EV_CLOSED] || w->p->ev[NC_EV_ERROR];
}
static void wait_frames(nc_loop *loop, peer *p, size_t n) {
    nwait w = {p, n};
    poll_until(loop, frames_reached, &w, 10000);
    ASSERT_MSG(p->nframes >= n, "got %zu of %zu frames (error %s)", p->nframes, n,
               t_code(p->last_error));
}

/* Checks that the frames received so far start with `want` (NUL-terminated strings). */
static void expect_frames(const peer *p, const char *const *want, size_t n) {
    ASSERT_MSG(p->nframes == n, "got %zu frames, expected %zu", p->nframes, n);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(want[i]);
        ASSERT_MSG(p->frame_len[i] == len, "frame %zu is %zu bytes, expected %zu (\"%s\")", i,
                   p->frame_len[i], len, want[i]);
        ASSERT_MSG(memcmp(frame_at(p, i), want[i], len) == 0, "frame %zu: wrong bytes", i);
    }
}

static const size_t ONE[] = {1, 0};
static const size_t ODD[] = {1, 2, 3, 5, 8, 13, 21, 34, 0};

void test_frame_stream_split(void) {
    nc_loop *loop = t_loop();
    int fd;
    fspec f = {F_STREAM, NULL, 0, 0, 0, 0};
    peer *k = framed(loop, &f, &fd);
    k->verify = 1;
    k->seed = 41;
    uint8_t buf[3000];
    fill_pattern(buf, sizeof buf, 41, 0);
    ASSERT(send_pieces(loop, fd, buf, 500, ONE, 1) == 0);
    ASSERT(send_pieces(loop, fd, buf + 500, sizeof buf - 500, ODD, 1) == 0);
    ASSERT(wait_rx(loop, k, sizeof buf, 5000));
    ASSERT_EQ(k->rx_total, sizeof buf);
    ASSERT_MSG(k->bad_at < 0, "byte %lld differs", k->bad_at);
    ASSERT_MSG(k->nframes > 100, "only %zu reads: the pieces were not split", k->nframes);
    for (size_t i = 0; i < k->nframes; i++) ASSERT(k->frame_len[i] > 0);
}

/* nc_set_read_size bounds every stream chunk; bad sizes are refused. */
void test_frame_stream_read_size(void) {
    nc_loop *loop = t_loop();
    ASSERT_RC(nc_set_read_size(NULL, 65536), NC_EINVAL);
    ASSERT_RC(nc_set_read_size(loop, 4095), NC_EINVAL);
    ASSERT_RC(nc_set_read_size(loop, ((size_t)4 << 20) + 1), NC_EINVAL);
    ASSERT_OK(nc_set_read_size(loop, 4096));
    int fd;
    fspec f = {F_STREAM, NULL, 0, 0, 0, 0};
    peer *k = framed(loop, &f, &fd);
    k->verify = 1;
    k->seed = 43;
    enum { N = 60000 }; /* fits in loopback socket buffers: one blocking send */
    uint8_t *buf = t_alloc(N);
    fill_pattern(buf, N, 43, 0);
    ASSERT(send_all(fd, buf, N) == 0);
    ASSERT(wait_rx(loop, k, N, 5000));
    ASSERT_EQ(k->rx_total, N);
    ASSERT_MSG(k->bad_at < 0, "byte %lld differs", k->bad_at);
    ASSERT_MSG(k->nframes >= N / 4096, "%zu chunks for %d bytes", k->nframes, N);
    for (size_t i = 0; i < k->nframes; i++)
        ASSERT_MSG(k->frame_len[i] <= 4096, "chunk %zu has %zu bytes", i, k->frame_len[i]);
}

void test_frame_delimited_1byte(void) {
    nc_loop *loop = t_loop();
    int fd;
    fspec f = {F_DELIM, "\n", 1, 0, 0, 100};
    peer *k = framed(loop, &f, &fd);
    char input[256], hundred[101];
    memset(hundred, 'x', 100);
    hundred[100] = 0;
    snprintf(input, sizeof input, "hello\n\nworld\n%s\nyyy\n", hundred);
    ASSERT(send_pieces(loop, fd, (const uint8_t *)input, strlen(input), ONE, 1) == 0);
    wait_frames(loop, k, 5);
    const char *want[] = {"hello", "", "world", hundred, "yyy"};
    expect_frames(k, want, 5);
    ASSERT_EQ(k->ev[NC_EV_ERROR], 0);
}

void test_frame_delimited_multibyte(void) {
    nc_loop *loop = t_loop();
    int fd;
    fspec f = {F_DELIM, "\r\n", 2, 0, 0, 16};
    peer *k = framed(loop, &f, &fd);
    const char *input = "a\rb\r\nc\nd\r\n\r\n\r\r\n";
    ASSERT(send_pieces(loop, fd, (const uint8_t *)input, strlen(input), ODD, 1) == 0);
    wait_frames(loop, k, 4);
    const char *want[] = {"a\rb", "c\nd", "", "\r"};
    expect_frames(k, want, 4);

    /* an 8-byte delimiter, with partial look-alikes, split in odd places */
    nc_loop *loop2 = t_loop();
    fspec f8 = {F_DELIM, "--END--!", 8, 0, 0, 16};
    int fd2;
    peer *k2 = framed(loop2, &f8, &fd2);
    const char *input2 = "one--END--!--EN--END--!--END--!two--END--!-END--!x--END--!";
    static const size_t pieces[] = {3, 1, 5, 2, 0};
    ASSERT(send_pieces(loop2, fd2, (const uint8_t *)input2, strlen(input2), pieces, 1) == 0);
    wait_frames(loop2, k2, 5);
    const char *want2[] = {"one", "--EN", "", "two", "-END--!x"};
    expect_frames(k2, want2, 5);
}

void test_frame_delimited_many_per_read(void) {
    nc_loop *loop = t_loop();
    int fd;
    fspec f = {F_DELIM, "\n", 1, 0, 0, 64};
    peer *k = framed(loop, &f, &fd);
    enum { N = 1000 };
    char *buf = t_alloc(N * 24);
    size_t len = 0;
    for (int i = 0; i < N; i++) len += (size_t)sprintf(buf + len, "frame %d\n", i);
    ASSERT(send_all(fd, buf, len) == 0);
    wait_frames(loop, k, N);
    ASSERT_EQ(k->nframes, N);
    ASSERT_MSG(k->ev[NC_EV_DATA] == N, "%d DATA events", k->ev[NC_EV_DATA]);
    const uint8_t *at = k->rx;
    for (int i = 0; i < N; i++) {
        char want[32];
        int wl = sprintf(want, "frame %d", i);
        ASSERT_MSG(k->frame_len[i] == (size_t)wl && memcmp(at, want, (size_t)wl) == 0,
                   "frame %d wrong", i);
        at += k->frame_len[i];
    }

    /* the same with a multi-byte delimiter */
    nc_loop *loop2 = t_loop();
    fspec f2 = {F_DELIM, "<>\r\n", 4, 0, 0, 64};
    int fd2;
    peer *k2 = framed(loop2, &f2, &fd2);
    len = 0;
    for (int i = 0; i < N; i++) len += (size_t)sprintf(buf + len, "frame <%d><>\r\n", i);
    ASSERT(send_all(fd2, buf, len) == 0);
    wait_frames(loop2, k2, N);
    ASSERT_EQ(k2->nframes, N);
    at = k2->rx;
    for (int i = 0; i < N; i++) {
        char want[32];
        int wl = sprintf(want, "frame <%d>", i);
        ASSERT_MSG(k2->frame_len[i] == (size_t)wl && memcmp(at, want, (size_t)wl) == 0,
                   "frame %d wrong", i);
        at += k2->frame_len[i];
    }
}

void test_frame_delimited_tail_at_eof(void) {
    nc_loop *loop = t_loop();
    int fd;
    fspec f = {F_DELIM, "\n", 1, 0, 0, 100};
    peer *k = framed(loop, &f, &fd);
    const char *input = "one\ntwo\npartial";
    ASSERT(send_pieces(loop, fd, (const uint8_t *)input, strlen(input), ODD, 1) == 0);
    ASSERT(shutdown(fd, SHUT_WR) == 0);
    POLL_ASSERT(loop, p_eof, k, 5000);
    const char *want[] = {"one", "two", "partial"};
    expect_frames(k, want, 3);
    ASSERT_EQ(k->ev[NC_EV_EOF], 1);
    ASSERT_EQ(k->kinds_log[k->nlog - 1], NC_EV_EOF);

    /* a multi-byte delimiter: a trailing half-delimiter is part of the tail */
    nc_loop *loop2 = t_loop();
    fspec f2 = {F_DELIM, "\r\n", 2, 0, 0, 100};
    int fd2;
    peer *k2 = framed(loop2, &f2, &fd2);
    ASSERT(send_all(fd2, "x\r\ny\r", 5) == 0);
    ASSERT(shutdown(fd2, SHUT_WR) == 0);
    POLL_ASSERT(loop2, p_eof, k2, 5000);
    const char *want2[] = {"x", "y\r"};
    expect_frames(k2, want2, 2);
}

static int p_error_or_closed(void *p) {
    return ((peer *)p)->ev[NC_EV_ERROR] > 0 || ((peer *)p)->ev[NC_EV_CLOSED] > 0;
}

/* After an oversized frame: one NC_EV_ERROR (EMSGSIZE), no more data, our FIN,
 * then NC_EV_CLOSED (EMSGSIZE) once the peer closes (or the linger ends). */
static void expect_msgsize_close(nc_loop *loop, peer *k, int fd, size_t frames_before,
                                 int peer_closes) {
    POLL_ASSERT(loop, p_error_or_closed, k, 5000);
    ASSERT_EQ(k->ev[NC_EV_ERROR], 1);
    ASSERT_CODE(k->last_error, NC_EMSGSIZE);
    ASSERT_EQ(k->nframes, frames_before);
    uint8_t rb[16];
    int eof = 0, err = 0;
    long r = recv_some(loop, fd, rb, sizeof rb, 5000, &eof, &err);
    ASSERT_MSG(r == 0 && eof, "peer read %ld bytes, eof %d, error %d", r, eof, err);
    if (peer_closes) t_close(fd);
    POLL_ASSERT(loop, p_closed, k, 6000);
    poll_for(loop, 20);
    ASSERT_EQ(k->ev[NC_EV_CLOSED], 1);
    ASSERT_CODE(k->close_error, NC_EMSGSIZE);
    ASSERT_EQ(k->ev[NC_EV_ERROR], 1);
    ASSERT_EQ(k->nframes, frames_before);
    /* the error came after the good frames and before CLOSED */
    int saw_error = 0;
    for (int i = 0; i < k->nlog; i++) {
        if (k->kinds_log[i] == NC_EV_ERROR) saw_error = 1;
        if (saw_error) ASSERT(k->kinds_log[i] != NC_EV_DATA);
    }
    ASSERT_EQ(k->kinds_log[k->nlog - 1], NC_EV_CLOSED);
}

void test_frame_delimited_oversize(void) {
    nc_loop *loop = t_loop();
    int fd;
    fspec f = {F_DELIM, "\n", 1, 0, 0, 10};
    peer *k = framed(loop, &f, &fd);
    const char *input = "0123456789\nshort\n";
    ASSERT(send_pieces(loop, fd, (const uint8_t *)input, strlen(input), ODD, 1) == 0);
    wait_frames(loop, k, 2);
    const char *want[] = {"0123456789", "short"};
    expect_frames(k, want, 2);
    ASSERT_EQ(k->ev[NC_EV_ERROR], 0);
    ASSERT(send_pieces(loop, fd, (const uint8_t *)"0123456789AB", 12, ONE, 1) == 0);
    expect_msgsize_close(loop, k, fd, 2, 1);

    /* a flood without a delimiter is cut off early, not buffered */
    nc_loop *loop2 = t_loop();
    fspec f2 = {F_DELIM, "\r\n", 2, 0, 0, 1000};
    int fd2;
    peer *k2 = framed(loop2, &f2, &fd2);
    uint8_t junk[4096];
    memset(junk, 'j', sizeof junk);
    ASSERT(send_all(fd2, junk, sizeof junk) == 0);
    expect_msgsize_close(loop2, k2, fd2, 0, 1);
}

void test_frame_fixed(void) {
    nc_loop *loop = t_loop();
    int fd;
    fspec f = {F_FIXED, NULL, 0, 5, 0, 0};
    peer *k = framed(loop, &f, &fd);
    k->verify = 1;
    k->seed = 43;
    uint8_t buf[10035];
    fill_pattern(buf, sizeof buf, 43, 0);
    static const size_t pieces[] = {1, 3, 7, 2, 0};
    ASSERT(send_pieces(loop, fd, buf, 35, pieces, 1) == 0);
    wait_frames(loop, k, 7);
    ASSERT_EQ(k->nframes, 7);
    /* many frames in one write */
    ASSERT(send_all(fd, buf + 35, 10000) == 0);
    wait_frames(loop, k, 2007);
    ASSERT_EQ(k->nframes, 2007);
    for (size_t i = 0; i < k->nframes; i++) ASSERT_EQ(k->frame_len[i], 5);
    ASSERT_MSG(k->bad_at < 0, "byte %lld differs", k->bad_at);
    ASSERT_EQ(k->rx_total, sizeof buf);
}

void test_frame_fixed_partial_at_eof_dropped(void) {
    nc_loop *loop = t_loop();
    int fd;
    fspec f = {F_FIXED, NULL, 0, 4, 0, 0};
    peer *k = framed(loop, &f, &fd);
    ASSERT(send_pieces(loop, fd, (const uint8_t *)"abcdefghij", 10, ODD, 1) == 0);
    ASSERT(shutdown(fd, SHUT_WR) == 0);
    POLL_ASSERT(loop, p_eof, k, 5000);
    const char *want[] = {"abcd", "efgh"};
    expect_frames(k, want, 2);
    ASSERT_EQ(k->ev[NC_EV_EOF], 1);
}

/* Builds header+payload for each length; payload bytes follow pattern(seed i). */
static size_t build_lp(uint8_t *out, int header, const size_t *lens, size_t n) {
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        for (int b = header - 1; b >= 0; b--) out[off++] = (uint8_t)(lens[i] >> (8 * b));
        fill_pattern(out + off, lens[i], (uint32_t)i, 0);
        off += lens[i];
    }
    return off;
}

static void check_lp(const peer *k, const size_t *lens, size_t n, size_t first) {
    for (size_t i = 0; i < n; i++) {
        size_t fi = first + i;
        ASSERT_MSG(k->frame_len[fi] == lens[i], "frame %zu is %zu bytes, expected %zu", fi,
                   k->frame_len[fi], lens[i]);
        const uint8_t *p = frame_at(k, fi);
        for (size_t b = 0; b < lens[i]; b++)
            ASSERT_MSG(p[b] == pattern((uint32_t)i, b), "frame %zu byte %zu differs", fi, b);
    }
}

static void lp_test(int header, const size_t *lens, size_t n, size_t max) {
    nc_loop *loop = t_loop();
    int fd;
    fspec f = {F_LP, NULL, 0, 0, header, max};
    peer *k = framed(loop, &f, &fd);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += lens[i] + (size_t)header;
    uint8_t *buf = t_alloc(total);
    size_t len = build_lp(buf, header, lens, n);
    ASSERT_EQ(len, total);
    /* split in odd pieces: headers and payloads straddle reads */
    static const size_t pieces[] = {1, 2, 3, 7, 1, 1500, 0};
    ASSERT(send_pieces(loop, fd, buf, len, pieces, 1) == 0);
    wait_frames(loop, k, n);
    ASSERT_EQ(k->nframes, n);
    check_lp(k, lens, n, 0);
    /* many frames in one write */
    enum { M = 300 };
    size_t many[M];
    size_t mtotal = 0;
    for (size_t i = 0; i < M; i++) {
        many[i] = i % 7;
        mtotal += many[i] + (size_t)header;
    }
    uint8_t *mbuf = t_alloc(mtotal);
    ASSERT_EQ(build_lp(mbuf, header, many, M), mtotal);
    ASSERT(send_all(fd, mbuf, mtotal) == 0);
    wait_frames(loop, k, n + M);
    ASSERT_EQ(k->nframes, n + M);
    check_lp(k, many, M, n);
    ASSERT_EQ(k->ev[NC_EV_ERROR], 0);
}

void test_frame_length_prefixed_1(void) {
    static const size_t lens[] = {0, 1, 5, 255, 17, 0};
    lp_test(1, lens, 6, 255);
}

void test_frame_length_prefixed_2(void) {
    static const size_t lens[] = {0, 1, 256, 300, 1000, 255, 2};
    lp_test(2, lens, 7, 1000);
}

void test_frame_length_prefixed_4(void) {
    static const size_t lens[] = {0, 1, 70000, 65536, 3, 100000};
    lp_test(4, lens, 6, 100000);
}

void test_frame_length_prefixed_oversize(void) {
    nc_loop *loop = t_loop();
    int fd;
    fspec f = {F_LP, NULL, 0, 0, 2, 100};
    peer *k = framed(loop, &f, &fd);
    uint8_t buf[200];
    size_t lens[] = {100};
    size_t len = build_lp(buf, 2, lens, 1);
    ASSERT(send_pieces(loop, fd, buf, len, ODD, 1) == 0);
    wait_frames(loop, k, 1);
    check_lp(k, lens, 1, 0);
    /* a header declaring 101 bytes: refused before any payload is sent */
    ASSERT(send_pieces(loop, fd, (const uint8_t *)"\x00\x65", 2, ONE, 1) == 0);
    expect_msgsize_close(loop, k, fd, 1, 1);

    /* a 1-byte header */
    nc_loop *loop2 = t_loop();
    fspec f1 = {F_LP, NULL, 0, 0, 1, 10};
    int fd2;
    peer *k2 = framed(loop2, &f1, &fd2);
    ASSERT(send_all(fd2, "\x03" "abc" "\x0b", 5) == 0);
    expect_msgsize_close(loop2, k2, fd2, 1, 1);
}

/* A huge declared length fails at once: nothing of it is waited for or
 * buffered. The peer stays open: the connection closes by itself. */
void test_frame_length_prefixed_huge_declared(void) {
    nc_loop *loop = t_loop();
    int fd;
    fspec f = {F_LP, NULL, 0, 0, 4, 1 << 20};
    peer *k = framed(loop, &f, &fd);
    ASSERT(send_all(fd, "\x7f\xff\xff\xff", 4) == 0);
    expect_msgsize_close(loop, k, fd, 0, 0);
}

/* Changing the framing keeps the bytes already received. */
void test_frame_switch_mode_midstream(void) {
    nc_loop *loop = t_loop();
    int fd;
    fspec f = {F_DELIM, "\n", 1, 0, 0, 100};
    peer *k = framed(loop, &f, &fd);
    ASSERT(send_all(fd, "a\nb\n0123456789", 14) == 0);
    wait_frames(loop, k, 2);
    poll_for(loop, 50);
    const char *want[] = {"a", "b"};
    expect_frames(k, want, 2);
    ASSERT_OK(nc_frame_fixed(loop, k->h, 5));
    wait_frames(loop, k, 4);
    const char *want2[] = {"a", "b", "01234", "56789"};
    expect_frames(k, want2, 4);
    ASSERT_OK(nc_frame_stream(loop, k->h));
    ASSERT(send_all(fd, "tail", 4) == 0);
    wait_frames(loop, k, 5);
    const char *want3[] = {"a", "b", "01234", "56789", "tail"};
    expect_frames(k, want3, 5);
}

/* Framing set on an outgoing connection before it is established applies. */
void test_frame_set_before_connected(void) {
    nc_loop *loop = t_loop();
    int port;
    int lfd = posix_listen("127.0.0.1", &port);
    peer *c = peer_new("client");
    c->store = 1;
    c->h = ASSERT_HANDLE(nc_tcp_connect(loop, "127.0.0.1", port, c));
    ASSERT_OK(nc_frame_length_prefixed(loop, c->h, 2, 100));
    int fd = posix_accept(lfd, 5000);
    ASSERT(fd >= 0);
    uint8_t buf[64];
    size_t lens[] = {3, 0, 10};
    size_t len = build_lp(buf, 2, lens, 3);
    ASSERT(send_pieces(loop, fd, buf, len, ODD, 1) == 0);
    wait_frames(loop, c, 3);
    ASSERT_EQ(c->ev[NC_EV_CONNECTED], 1);
    ASSERT_EQ(c->nframes, 3);
    check_lp(c, lens, 3, 0);
}

/* The bytes of every event of a batch stay valid until the next nc_poll,
 * whatever else is called on the loop meanwhile. */
void test_frame_poll_data_stable(void) {
    nc_loop *loop = t_loop();
    int fd;
    fspec f = {F_DELIM, "\n", 1, 0, 0, 100};
    peer *k = framed(loop, &f, &fd);
    enum { N = 300 };
    char *buf = t_alloc(N * 32);
    size_t len = 0;
    for (int i = 0; i < N; i++) len += (size_t)sprintf(buf + len, "line %d %.*s\n", i, i % 20,
                                                       "abcdefghijklmnopqrstuvwxyz");
    ASSERT(send_all(fd, buf, len) == 0);
    nc_event evs[64];
    int next = 0, batches = 0;
    int64_t deadline = now_ms() + T_MS(10000);
    while (next < N && now_ms() < deadline) {
        int n = nc_poll(loop, evs, 64, 20);
        ASSERT(n >= 0);
        if (n == 0) continue;
        batches++;
        /* unrelated calls between the poll and the use of its data */
        ASSERT_OK(nc_send(loop, k->h, "x", 1));
        ASSERT_OK(nc_wake(loop));
        ASSERT(nc_next_timeout(loop) >= -1);
        int64_t v;
        ASSERT_OK(nc_getopt(loop, k->h, NC_OPT_NODELAY, &v));
        for (int i = 0; i < n; i++) {
            ASSERT_EQ(evs[i].handle, k->h);
            ASSERT_EQ(evs[i].kind, NC_EV_DATA);
            char want[64];
            int wl = sprintf(want, "line %d %.*s", next, next % 20, "abcdefghijklmnopqrstuvwxyz");
            ASSERT_MSG(evs[i].len == (size_t)wl && memcmp(evs[i].data, want, (size_t)wl) == 0,
                       "frame %d: wrong bytes after other calls", next);
            next++;
        }
    }
    ASSERT_EQ(next, N);
    ASSERT(batches >= N / 64);
}

/* ------------------------------------------ frames larger than a poll's arena */

#define MIB ((size_t)1 << 20)

/* Sends everything through a blocking `fd` without blocking: whenever the
 * kernel is full, polls the loop (which reads the other end) instead. */
static int send_polling(nc_loop *loop, int fd, const uint8_t *buf, size_t len) {
    size_t off = 0;
    int64_t stalled_since = now_ms();
    while (off < len) {
        ssize_t n = send(fd, buf + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            stalled_since = now_ms();
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
        if (now_ms() - stalled_since > T_MS(60000)) return -1; /* hang guard */
        poll_for(loop, 2);
    }
    return 0;
}

/* Pattern bytes (seed) without the '\n' delimiter. */
static uint8_t *big_payload(size_t len, uint32_t seed) {
    uint8_t *p = t_alloc(len + 4);
    fill_pattern(p, len, seed, 0);
    for (size_t i = 0; i < len; i++)
        if (p[i] == '\n') p[i] = '.';
    return p;
}

/* The frame's wire form: a 4-byte length header, a '\n' after it, or as is. */
static size_t big_wire(const fspec *f, const uint8_t *payload, size_t len, uint8_t **out) {
    uint8_t *w = t_alloc(len + 4);
    size_t off = 0;
    if (f->mode == F_LP)
        for (int b = 3; b >= 0; b--) w[off++] = (uint8_t)(len >> (8 * b));
    memcpy(w + off, payload, len);
    off += len;
    if (f->mode == F_DELIM) w[off++] = '\n';
    *out = w;
    return off;
}

/* A 6 MiB and a 20 MiB frame arrive as one DATA event each, byte-exact. */
static void big_frames_arrive_whole(int mode) {
    static const size_t sizes[] = {6 * MIB, 20 * MIB};
    for (size_t s = 0; s < 2; s++) {
        nc_loop *loop = t_loop();
        size_t size = sizes[s];
        fspec f = {mode, "\n", 1, size, 4, 24 * MIB};
        int fd;
        peer *k = framed(loop, &f, &fd);
        uint8_t *payload = big_payload(size, (uint32_t)s), *wire;
        size_t len = big_wire(&f, payload, size, &wire);
        ASSERT(send_polling(loop, fd, wire, len) == 0);
        wait_frames(loop, k, 1);
        poll_for(loop, 20);
        ASSERT_EQ(k->nframes, 1);
        ASSERT_EQ(k->frame_len[0], size);
        ASSERT_MSG(memcmp(frame_at(k, 0), payload, size) == 0, "the %zu-byte frame differs", size);
        ASSERT_EQ(k->ev[NC_EV_ERROR], 0);
    }
}

void test_frame_length_prefixed_6m_and_20m_arrive_whole(void) { big_frames_arrive_whole(F_LP); }
void test_frame_delimited_6m_and_20m_arrive_whole(void) { big_frames_arrive_whole(F_DELIM); }
void test_frame_fixed_6m_and_20m_arrive_whole(void) { big_frames_arrive_whole(F_FIXED); }

/* Bytes waiting in a socket's receive queue (FIONREAD) or send queue (TIOCOUTQ). */
static int queued_bytes(int fd, unsigned long request) {
    int n = -1;
    ASSERT(ioctl(fd, request, &n) == 0);
    return n;
}

/* The peer sends 5 MiB of an 8 MiB frame (more than a poll's arena) and
 * stops. Once the loop has read it all, it has nothing to do until new input:
 * nc_next_timeout says -1 and non-blocking polls return no events (no
 * spinning on the kept half frame). Then the rest completes the frame. */
void test_frame_large_incomplete_frame_leaves_the_loop_idle(void) {
    nc_loop *loop = t_loop();
    fspec f = {F_LP, NULL, 0, 0, 4, 16 * MIB};
    int fd;
    peer *k = framed(loop, &f, &fd);
    uint8_t *payload = big_payload(8 * MIB, 7), *wire;
    size_t len = big_wire(&f, payload, 8 * MIB, &wire);
    size_t first = 4 + 5 * MIB;
    ASSERT(send_polling(loop, fd, wire, first) == 0);
    int kfd = nc_fd(loop, k->h);
    ASSERT(kfd >= 0);
    int polls = 0;
    while (queued_bytes(fd, TIOCOUTQ) > 0 || queued_bytes(kfd, FIONREAD) > 0 ||
           nc_next_timeout(loop) != -1) {
        ASSERT_MSG(++polls < 2000, "still busy after %d polls (next timeout %d)", polls,
                   nc_next_timeout(loop));
        poll_for(loop, 20);
    }
    for (int i = 0; i < 50; i++) {
        nc_event evs[8];
        int n = nc_poll(loop, evs, 8, 0);
        for (int e = 0; e < n; e++) dispatch(loop, &evs[e]);
        ASSERT_MSG(n == 0, "non-blocking poll %d returned %d events", i, n);
        ASSERT_EQ(nc_next_timeout(loop), -1);
    }
    ASSERT_EQ(k->nframes, 0);
    ASSERT(send_polling(loop, fd, wire + first, len - first) == 0);
    wait_frames(loop, k, 1);
    ASSERT_EQ(k->frame_len[0], 8 * MIB);
    ASSERT_MSG(memcmp(frame_at(k, 0), payload, 8 * MIB) == 0, "the frame differs");
}

/* A header declaring one byte over a 6 MiB limit: EMSGSIZE, then closed. */
void test_frame_length_prefixed_one_over_the_limit_is_emsgsize(void) {
    nc_loop *loop = t_loop();
    fspec f = {F_LP, NULL, 0, 0, 4, 6 * MIB};
    int fd;
    peer *k = framed(loop, &f, &fd);
    size_t over = 6 * MIB + 1;
    uint8_t header[4] = {(uint8_t)(over >> 24), (uint8_t)(over >> 16), (uint8_t)(over >> 8),
                         (uint8_t)over};
    ASSERT(send_all(fd, header, sizeof header) == 0);
    expect_msgsize_close(loop, k, fd, 0, 1);
}

/* 6 MiB + 1 bytes without the delimiter under a 6 MiB limit: EMSGSIZE, then closed. */
void test_frame_delimited_one_over_the_limit_is_emsgsize(void) {
    nc_loop *loop = t_loop();
    fspec f = {F_DELIM, "\n", 1, 0, 0, 6 * MIB};
    int fd;
    peer *k = framed(loop, &f, &fd);
    uint8_t *wire;
    size_t len = big_wire(&f, big_payload(6 * MIB + 1, 3), 6 * MIB + 1, &wire);
    ASSERT(send_polling(loop, fd, wire, len) == 0);
    expect_msgsize_close(loop, k, fd, 0, 1);
}
