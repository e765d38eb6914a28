/*
 * echo_client — sends lines to an echo server and prints what comes back.
 *
 *   usage: echo_client HOST:PORT [MESSAGE...]
 *
 * Connects to HOST:PORT (an IP literal, [IPV6]:PORT, or a name resolved off
 * the loop thread), then sends each MESSAGE followed by "\n" - or, with no
 * messages, each line read from stdin - and prints every echoed line on
 * stdout as it arrives (one line at a time: send, wait for the echo, print).
 * Incoming bytes are cut into lines by netcore's delimiter framing. Closes
 * gracefully and exits 0; exits 1 with the reason if the connection fails.
 */
#include "common.h"

#define PROG "echo_client"
#define MAX_EVENTS 64
/* Longest line the client accepts back (delimiter framing's max_frame). */
#define MAX_LINE (16 * 1024 * 1024)
/* Give up when the server stays silent this long. */
#define REPLY_TIMEOUT_MS 10000

typedef struct client {
    nc_loop *loop;
    nc_handle conn;
    const char *target;
    int connected;
    int closed;       /* NC_EV_CLOSED arrived */
    int failed;       /* an error was reported: exit 1 */
    size_t expected;  /* echoed lines still to come */
} client;

static void on_event(client *cl, const nc_event *ev)
{
    switch (ev->kind) {
    case NC_EV_CONNECTED:
        cl->connected = 1;
        break;
    case NC_EV_CONNECT_FAILED: {
        char what[EX_HOSTLEN + 32];
        snprintf(what, sizeof what, "cannot connect to %s", cl->target);
        ex_report(PROG, what, ev->error);
        cl->failed = 1;
        break;
    }
    case NC_EV_DATA:
        fwrite(ev->data == NULL ? (const uint8_t *)"" : ev->data, 1, ev->len, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        if (cl->expected > 0)
            cl->expected--;
        break;
    case NC_EV_EOF:
        if (cl->expected > 0) {
            fprintf(stderr, PROG ": the server closed the connection early\n");
            cl->failed = 1;
        }
        break;
    case NC_EV_ERROR:
        ex_report(PROG, "connection", ev->error);
        cl->failed = 1;
        break;
    case NC_EV_CLOSED:
        cl->closed = 1;
        if (ev->error != 0 && !cl->failed) {
            ex_report(PROG, "connection lost", ev->error);
            cl->failed = 1;
        }
        break;
    default:
        break;
    }
}

static int is_closed(const client *cl) { return cl->closed; }

/* Polls until pred(cl) holds, the connection is gone, or the timeout. */
static int wait_until(client *cl, int (*pred)(const client *), int timeout_ms)
{
    static nc_event events[MAX_EVENTS];
    int64_t deadline = ex_now_ms() + timeout_ms;
    while (!pred(cl)) {
        if (cl->closed || (cl->failed && pred != is_closed))
            return -1;
        int64_t left = deadline - ex_now_ms();
        if (left <= 0) {
            fprintf(stderr, PROG ": timed out waiting for the server\n");
            cl->failed = 1;
            return -1;
        }
        int n = nc_poll(cl->loop, events, MAX_EVENTS, left < EX_POLL_MS ? (int)left : EX_POLL_MS);
        if (n < 0) {
            ex_report(PROG, "nc_poll", n);
            cl->failed = 1;
            return -1;
        }
        for (int i = 0; i < n; i++)
            on_event(cl, &events[i]);
    }
    return 0;
}

static int is_connected(const client *cl) { return cl->connected; }
static int all_echoed(const client *cl) { return cl->expected == 0; }

/* Sends one line (adding the "\n") and waits for its echo. */
static int send_line(client *cl, const char *text, size_t len)
{
    nc_buf bufs[2] = { { text, len }, { "\n", 1 } };
    int rc = nc_sendv(cl->loop, cl->conn, bufs, 2);
    if (rc < 0) {
        ex_report(PROG, "send", rc);
        cl->failed = 1;
        return -1;
    }
    /* A message may itself hold newlines: each comes back as a line. */
    cl->expected++;
    for (size_t i = 0; i < len; i++)
        cl->expected += text[i] == '\n';
    return wait_until(cl, all_echoed, REPLY_TIMEOUT_MS);
}

int main(int argc, char **argv)
{
    char host[EX_HOSTLEN], err[EX_HOSTLEN + 64];
    int port;
    if (argc < 2) {
        fprintf(stderr, "usage: " PROG " HOST:PORT [MESSAGE...]\n");
        return 2;
    }
    if (ex_parse_host_port(argv[1], NULL, host, sizeof host, &port, err, sizeof err) != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        return 2;
    }

    client cl;
    memset(&cl, 0, sizeof cl);
    cl.target = argv[1];
    cl.loop = nc_loop_new();
    if (cl.loop == NULL) {
        fprintf(stderr, PROG ": nc_loop_new failed\n");
        return 1;
    }
    cl.conn = nc_tcp_connect(cl.loop, host, port, NULL);
    if (cl.conn < 0) {
        char what[EX_HOSTLEN + 32];
        snprintf(what, sizeof what, "cannot connect to %s", argv[1]);
        ex_report(PROG, what, (int)cl.conn);
        nc_loop_free(cl.loop);
        return 1;
    }
    int rc = nc_frame_delimited(cl.loop, cl.conn, "\n", 1, MAX_LINE);
    if (rc < 0) {
        ex_report(PROG, "nc_frame_delimited", rc);
        nc_loop_free(cl.loop);
        return 1;
    }
    if (wait_until(&cl, is_connected, REPLY_TIMEOUT_MS) != 0) {
        nc_loop_free(cl.loop);
        return 1;
    }

    if (argc > 2) {
        for (int i = 2; i < argc && !cl.failed; i++)
            send_line(&cl, argv[i], strlen(argv[i]));
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while (!cl.failed && (n = getline(&line, &cap, stdin)) > 0) {
            if (line[n - 1] == '\n')
                n--;
            send_line(&cl, line, (size_t)n);
        }
        free(line);
    }

    /* Graceful close: netcore flushes, sends FIN and waits for the peer's. */
    if (!cl.closed) {
        rc = nc_close(cl.loop, cl.conn);
        if (rc < 0 && rc != NC_ECLOSED)
            ex_report(PROG, "nc_close", rc);
        else
            wait_until(&cl, is_closed, EX_SHUTDOWN_MS);
    }
    nc_loop_free(cl.loop);
    return cl.failed ? 1 : 0;
}
