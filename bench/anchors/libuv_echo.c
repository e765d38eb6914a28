/*
 * libuv_echo — the libuv anchor of the benchmark suite: a TCP echo server
 * written the way libuv's own guide teaches it (uvbook "Networking":
 * uv_tcp_init / uv_tcp_bind / uv_listen, uv_accept in the connection
 * callback, uv_read_start with an alloc_cb that mallocs the suggested size,
 * uv_write of the bytes read, freed in the write callback), plus
 * uv_tcp_nodelay on every accepted connection.
 *
 *   usage: libuv_echo [--udp] [HOST:]PORT   (HOST defaults to 127.0.0.1; PORT 0
 *                                            picks a free port; IPv6 as [::1]:PORT)
 *
 * With --udp it is the anchor of the UDP comparison instead: it sends every
 * datagram back to its sender. The socket is made with
 * uv_udp_init_ex(UV_UDP_RECVMMSG), so libuv receives with recvmmsg (up to 20
 * datagrams a call, one 64 KiB chunk of the receive buffer each); the
 * receive buffer is one static block handed out again on every alloc_cb
 * (libuv calls back with UV_UDP_MMSG_CHUNK for the datagrams of a batch and
 * UV_UDP_MMSG_FREE once the block may be reused: nothing to free). Replies
 * go out with uv_udp_try_send; when the kernel has no room (UV_EAGAIN) the
 * reply is copied and queued with uv_udp_send, which libuv sends in order.
 *
 * Same contract as netcore's example servers: prints one line
 * "listening on HOST:PORT" once it accepts connections (or is bound),
 * echoes raw bytes (datagrams), exits 0 on SIGINT or SIGTERM after closing
 * its handles.
 *
 * Build: cc -O2 libuv_echo.c -o libuv_echo -luv
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define BACKLOG 1024
/* libuv's recvmmsg width (UV__MMSG_MAXWIDTH) times its chunk size. */
#define RECV_BLOCK (20 * 65536)

static uv_loop_t *loop;
static uv_tcp_t server;
static uv_udp_t udp;
static uv_signal_t sigint_watcher, sigterm_watcher;

typedef struct {
    uv_write_t req;
    uv_buf_t buf;
} write_req_t;

static void alloc_buffer(uv_handle_t *handle, size_t suggested_size, uv_buf_t *buf)
{
    (void)handle;
    buf->base = (char *)malloc(suggested_size);
    buf->len = buf->base ? suggested_size : 0;
}

static void on_close(uv_handle_t *handle)
{
    free(handle);
}

static void free_write_req(uv_write_t *req)
{
    write_req_t *wr = (write_req_t *)req;
    free(wr->buf.base);
    free(wr);
}

static void echo_write(uv_write_t *req, int status)
{
    if (status)
        fprintf(stderr, "libuv_echo: write error: %s\n", uv_strerror(status));
    free_write_req(req);
}

static void echo_read(uv_stream_t *client, ssize_t nread, const uv_buf_t *buf)
{
    if (nread > 0) {
        write_req_t *req = (write_req_t *)malloc(sizeof(write_req_t));
        req->buf = uv_buf_init(buf->base, (unsigned int)nread);
        uv_write((uv_write_t *)req, client, &req->buf, 1, echo_write);
        return;
    }
    if (nread < 0) {
        if (nread != UV_EOF && nread != UV_ECONNRESET)
            fprintf(stderr, "libuv_echo: read error: %s\n", uv_err_name((int)nread));
        uv_close((uv_handle_t *)client, on_close);
    }
    free(buf->base);
}

static void on_new_connection(uv_stream_t *srv, int status)
{
    if (status < 0) {
        fprintf(stderr, "libuv_echo: new connection error: %s\n", uv_strerror(status));
        return;
    }
    uv_tcp_t *client = (uv_tcp_t *)malloc(sizeof(uv_tcp_t));
    uv_tcp_init(loop, client);
    if (uv_accept(srv, (uv_stream_t *)client) == 0) {
        uv_tcp_nodelay(client, 1);
        uv_read_start((uv_stream_t *)client, alloc_buffer, echo_read);
    } else {
        uv_close((uv_handle_t *)client, on_close);
    }
}

/* ---- --udp ---- */

static char recv_block[RECV_BLOCK];

typedef struct {
    uv_udp_send_t req;
    uv_buf_t buf;
} send_req_t;

static void alloc_block(uv_handle_t *handle, size_t suggested_size, uv_buf_t *buf)
{
    (void)handle;
    (void)suggested_size;
    *buf = uv_buf_init(recv_block, sizeof recv_block);
}

static void on_sent(uv_udp_send_t *req, int status)
{
    if (status)
        fprintf(stderr, "libuv_echo: send error: %s\n", uv_strerror(status));
    free(((send_req_t *)req)->buf.base);
    free(req);
}

static void on_datagram(uv_udp_t *handle, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                        unsigned flags)
{
    (void)flags;
    if (nread < 0) {
        fprintf(stderr, "libuv_echo: receive error: %s\n", uv_err_name((int)nread));
        return;
    }
    if (addr == NULL) /* nothing more to read, or the end of a batch */
        return;
    uv_buf_t reply = uv_buf_init(buf->base, (unsigned int)nread);
    int r = uv_udp_try_send(handle, &reply, 1, addr);
    if (r >= 0)
        return;
    if (r != UV_EAGAIN) {
        fprintf(stderr, "libuv_echo: send error: %s\n", uv_strerror(r));
        return;
    }
    send_req_t *req = malloc(sizeof *req);
    char *copy = malloc(nread ? (size_t)nread : 1);
    if (req == NULL || copy == NULL) {
        free(req);
        free(copy);
        return;
    }
    req->buf = uv_buf_init(memcpy(copy, buf->base, (size_t)nread), (unsigned int)nread);
    uv_udp_send(&req->req, handle, &req->buf, 1, addr, on_sent);
}

static int udp_start(const struct sockaddr_storage *addr)
{
    int r = uv_udp_init_ex(loop, &udp, addr->ss_family | UV_UDP_RECVMMSG);
    if (r == 0)
        r = uv_udp_bind(&udp, (const struct sockaddr *)addr, 0);
    if (r == 0)
        r = uv_udp_recv_start(&udp, alloc_block, on_datagram);
    return r;
}

/* ---- common ---- */

static void close_walk(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (uv_is_closing(handle))
        return;
    /* Accepted connections were malloc'ed; the rest are static. */
    if (handle->type == UV_TCP && handle != (uv_handle_t *)&server)
        uv_close(handle, on_close);
    else
        uv_close(handle, NULL);
}

static void on_signal(uv_signal_t *handle, int signum)
{
    (void)handle;
    (void)signum;
    uv_walk(loop, close_walk, NULL);
}

/* "PORT", "HOST:PORT" or "[IPV6]:PORT" into a socket address. */
static int parse_addr(const char *arg, struct sockaddr_storage *out)
{
    char host[256] = "127.0.0.1";
    const char *port_str = arg;
    if (arg[0] == '[') {
        const char *close = strchr(arg, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - arg - 1) >= sizeof host)
            return -1;
        memcpy(host, arg + 1, (size_t)(close - arg - 1));
        host[close - arg - 1] = '\0';
        port_str = close + 2;
    } else {
        const char *colon = strrchr(arg, ':');
        if (colon != NULL) {
            if ((size_t)(colon - arg) >= sizeof host || colon == arg)
                return -1;
            memcpy(host, arg, (size_t)(colon - arg));
            host[colon - arg] = '\0';
            port_str = colon + 1;
        }
    }
    char *end;
    long port = strtol(port_str, &end, 10);
    if (*port_str == '\0' || *end != '\0' || port < 0 || port > 65535)
        return -1;
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) == 0)
        return 0;
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out) == 0)
        return 0;
    return -1;
}

int main(int argc, char **argv)
{
    int use_udp = argc == 3 && strcmp(argv[1], "--udp") == 0;
    if (argc != 2 + use_udp) {
        fprintf(stderr, "usage: libuv_echo [--udp] [HOST:]PORT\n");
        return 2;
    }
    struct sockaddr_storage addr;
    if (parse_addr(argv[1 + use_udp], &addr) != 0) {
        fprintf(stderr, "libuv_echo: bad address '%s'\n", argv[1 + use_udp]);
        return 2;
    }
    loop = uv_default_loop();
    int r;
    if (use_udp) {
        r = udp_start(&addr);
    } else {
        uv_tcp_init(loop, &server);
        r = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
        if (r == 0)
            r = uv_listen((uv_stream_t *)&server, BACKLOG, on_new_connection);
    }
    if (r) {
        fprintf(stderr, "libuv_echo: %s error: %s\n", use_udp ? "bind" : "listen", uv_strerror(r));
        return 1;
    }
    uv_signal_init(loop, &sigint_watcher);
    uv_signal_start(&sigint_watcher, on_signal, SIGINT);
    uv_signal_init(loop, &sigterm_watcher);
    uv_signal_start(&sigterm_watcher, on_signal, SIGTERM);

    struct sockaddr_storage bound;
    int len = sizeof bound;
    char ip[64];
    if (use_udp)
        uv_udp_getsockname(&udp, (struct sockaddr *)&bound, &len);
    else
        uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len);
    if (bound.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&bound, ip, sizeof ip);
        printf("listening on [%s]:%d\n", ip, ntohs(((struct sockaddr_in6 *)&bound)->sin6_port));
    } else {
        uv_ip4_name((struct sockaddr_in *)&bound, ip, sizeof ip);
        printf("listening on %s:%d\n", ip, ntohs(((struct sockaddr_in *)&bound)->sin_port));
    }
    fflush(stdout);

    r = uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    (void)r;
    return 0;
}
