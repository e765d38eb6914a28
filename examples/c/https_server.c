/*
 * https_server — answers "GET /" over HTTPS with a fixed page.
 *
 *   usage: NETCORE_TLS_CERT=cert.pem NETCORE_TLS_KEY=key.pem https_server [HOST:]PORT
 *
 *   $ curl --cacert ca.pem https://localhost:PORT/
 *   hello from netcore over TLS
 *
 * The certificate chain and key come from the PEM files the two variables
 * name (as tls_echo_server). The listener offers ALPN "http/1.1"; each
 * connection's request head (up to the blank line) arrives as one
 * NC_EV_DATA, cut by netcore's delimiter framing. "GET /" gets 200 with the
 * page, any other path 404, anything else 400; every answer says
 * "Connection: close" and the server closes gracefully after it (the queue
 * flushed, then close_notify, then FIN), so a client sees the whole page
 * and a clean end. Prints "listening on HOST:PORT"; SIGINT/SIGTERM shuts
 * down gracefully and exits 0.
 */
#include "common.h"

#define PROG "https_server"
/* The longest request head taken (a longer one closes the connection). */
#define MAX_HEAD 8192

static const char PAGE[] = "hello from netcore over TLS\n";

/* Sends a whole answer and closes once it is out. */
static void answer(nc_loop *loop, nc_handle conn, const char *status, const char *body)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, strlen(body));
    nc_buf parts[2] = {{head, (size_t)n}, {body, strlen(body)}};
    int rc = nc_sendv(loop, conn, parts, 2);
    if (rc < 0)
        ex_report(PROG, "send", rc);
    nc_close(loop, conn);
}

static void on_event(void *ctx, nc_loop *loop, const nc_event *ev)
{
    (void)ctx;
    switch (ev->kind) {
    case NC_EV_ACCEPTED: { /* one request head per NC_EV_DATA */
        int rc = nc_frame_delimited(loop, ev->handle, "\r\n\r\n", 4, MAX_HEAD);
        if (rc < 0) {
            ex_report(PROG, "nc_frame_delimited", rc);
            nc_close_reset(loop, ev->handle);
        }
        break;
    }
    case NC_EV_DATA: {
        const char *head = (const char *)ev->data;
        size_t len = ev->len;
        if (len >= 4 && memcmp(head, "GET ", 4) == 0) {
            int root = len >= 6 && memcmp(head + 4, "/ ", 2) == 0;
            answer(loop, ev->handle, root ? "200 OK" : "404 Not Found", root ? PAGE : "not found\n");
        } else {
            answer(loop, ev->handle, "400 Bad Request", "bad request\n");
        }
        break;
    }
    case NC_EV_EOF: /* the client is done without a request */
        nc_close(loop, ev->handle);
        break;
    case NC_EV_TLS_FAILED: /* e.g. a client that does not trust us: NC_EV_CLOSED follows */
        ex_report_tls_failure(PROG, loop, ev->handle, ev->error);
        break;
    case NC_EV_ERROR: /* e.g. a request head above MAX_HEAD: the connection closes */
        ex_report(PROG, "connection", ev->error);
        break;
    default:
        break;
    }
}

int main(int argc, char **argv)
{
    /* Every connection the listener accepts speaks TLS (ex_tls_server_main
     * in common.h: nc_tls_server_config_new, nc_listener_set_tls). */
    const char *alpn[] = {"http/1.1"};
    return ex_tls_server_main(PROG, argc, argv, alpn, 1, 1, on_event);
}
