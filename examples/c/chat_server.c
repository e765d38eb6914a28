/*
 * chat_server — a line-based chat room.
 *
 *   usage: chat_server [HOST:]PORT      (HOST defaults to 127.0.0.1; PORT 0
 *                                        picks a free port; IPv6 as [::1]:PORT)
 *
 * Prints "listening on HOST:PORT" once it accepts connections. Every line a
 * client sends (cut by netcore's delimiter framing, "\n", at most 64 KiB) is
 * sent to every OTHER connected client as "<peer-addr>: <line>\n", in one
 * gather send (nc_sendv). Joins and leaves are logged on stderr. On SIGINT
 * or SIGTERM it closes every handle gracefully and exits 0.
 *
 * A client whose send queue is full (it does not read what it is sent) is
 * dropped (nc_close_reset) rather than allowed to make the server buffer
 * without bound.
 */
#include "common.h"

#define PROG "chat_server"
#define MAX_EVENTS 256
#define MAX_CLIENTS 4096
#define MAX_LINE (64 * 1024)

typedef struct client {
    nc_handle handle;
    size_t index;                /* position in room.clients */
    int closing;                 /* nc_close was called */
    char name[NC_ADDRSTRLEN];    /* the peer address, e.g. 127.0.0.1:40123 */
} client;

typedef struct room {
    nc_loop *loop;
    nc_handle listener; /* 0 once its NC_EV_CLOSED arrived */
    client *clients[MAX_CLIENTS];
    size_t count;
    int stopping;
} room;

static void close_client(room *r, client *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    int rc = nc_close(r->loop, c->handle);
    if (rc < 0 && rc != NC_ECLOSED)
        ex_report(PROG, "nc_close", rc);
}

static void broadcast(room *r, client *from, const uint8_t *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r') /* tolerate CRLF clients (telnet) */
        len--;
    nc_buf bufs[4] = {
        { from->name, strlen(from->name) },
        { ": ", 2 },
        { line, len },
        { "\n", 1 },
    };
    for (size_t i = 0; i < r->count; i++) {
        client *to = r->clients[i];
        if (to == from || to->closing)
            continue;
        int rc = nc_sendv(r->loop, to->handle, bufs, 4);
        if (rc == NC_EAGAIN) {
            /* It is not reading: a graceful close would wait for it to
             * drain its queue, so drop the queue and reset instead. */
            fprintf(stderr, PROG ": dropping %s: not reading (send queue full)\n", to->name);
            to->closing = 1;
            nc_close_reset(r->loop, to->handle);
        }
        else if (rc < 0 && rc != NC_ECONNRESET && rc != NC_EPIPE)
            ex_report(PROG, "send", rc);
    }
}

static void on_accepted(room *r, const nc_event *ev)
{
    char peer[NC_ADDRSTRLEN];
    ex_addr_str(&ev->addr, peer);
    if (r->stopping || r->count == MAX_CLIENTS) {
        fprintf(stderr, PROG ": refusing %s (%s)\n", peer,
                r->stopping ? "shutting down" : "room full");
        nc_close(r->loop, ev->handle);
        return;
    }
    client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        fprintf(stderr, PROG ": out of memory, refusing %s\n", peer);
        nc_close_reset(r->loop, ev->handle);
        return;
    }
    c->handle = ev->handle;
    memcpy(c->name, peer, sizeof peer);
    int rc = nc_frame_delimited(r->loop, ev->handle, "\n", 1, MAX_LINE);
    if (rc == 0)
        rc = nc_set_userdata(r->loop, ev->handle, c);
    if (rc < 0) { /* c is not attached to the handle: its events ignore it */
        ex_report(PROG, "setting up a connection", rc);
        nc_close_reset(r->loop, ev->handle);
        free(c);
        return;
    }
    c->index = r->count;
    r->clients[r->count++] = c;
    fprintf(stderr, PROG ": %s joined (%zu online)\n", c->name, r->count);
}

static void on_closed(room *r, client *c, int error)
{
    r->clients[c->index] = r->clients[--r->count];
    r->clients[c->index]->index = c->index;
    if (error != 0 && error != NC_ECONNRESET)
        fprintf(stderr, PROG ": %s left: %s (%s) (%zu online)\n", c->name,
                nc_errname(error), nc_strerror(error), r->count);
    else
        fprintf(stderr, PROG ": %s left (%zu online)\n", c->name, r->count);
    free(c);
}

/* The client of an event: its userdata, set when it was accepted. */
static client *client_of(room *r, const nc_event *ev)
{
    if (ev->userdata != NULL)
        return ev->userdata;
    void *ud = NULL;
    nc_get_userdata(r->loop, ev->handle, &ud);
    return ud;
}

static void on_event(room *r, const nc_event *ev)
{
    if (ev->kind == NC_EV_ACCEPTED) {
        on_accepted(r, ev);
        return;
    }
    if (ev->handle == r->listener) {
        if (ev->kind == NC_EV_ERROR) /* e.g. out of descriptors: it retries */
            ex_report(PROG, "listener", ev->error);
        else if (ev->kind == NC_EV_CLOSED)
            r->listener = 0;
        return;
    }
    client *c = client_of(r, ev);
    if (c == NULL) /* a connection refused in on_accepted */
        return;
    switch (ev->kind) {
    case NC_EV_DATA:
        if (!c->closing)
            broadcast(r, c, ev->data, ev->len);
        break;
    case NC_EV_EOF: /* the client is done talking */
        close_client(r, c);
        break;
    case NC_EV_ERROR: /* NC_EMSGSIZE: a line above 64 KiB; netcore closes it */
        fprintf(stderr, PROG ": %s: %s (%s)\n", c->name, nc_errname(ev->error), nc_strerror(ev->error));
        c->closing = 1;
        break;
    case NC_EV_CLOSED:
        on_closed(r, c, ev->error);
        break;
    default:
        break;
    }
}

static int poll_once(room *r, nc_event *events)
{
    int n = nc_poll(r->loop, events, MAX_EVENTS, EX_POLL_MS);
    if (n < 0) {
        ex_report(PROG, "nc_poll", n);
        return -1;
    }
    for (int i = 0; i < n; i++)
        on_event(r, &events[i]);
    return 0;
}

/* Closes everything gracefully and waits (bounded) for every NC_EV_CLOSED. */
static void shut_down(room *r, nc_event *events)
{
    r->stopping = 1;
    if (r->listener > 0)
        nc_close(r->loop, r->listener);
    for (size_t i = 0; i < r->count; i++)
        close_client(r, r->clients[i]);
    sig_atomic_t signals = *ex_stop_count();
    int64_t deadline = ex_now_ms() + EX_SHUTDOWN_MS;
    while ((r->listener > 0 || r->count > 0) && ex_now_ms() < deadline) {
        if (*ex_stop_count() != signals) {
            fprintf(stderr, PROG ": second signal, not waiting any longer\n");
            break;
        }
        if (poll_once(r, events) != 0)
            break;
    }
    if (r->count > 0)
        fprintf(stderr, PROG ": %zu client(s) did not close in time, dropping them\n", r->count);
}

int main(int argc, char **argv)
{
    char host[EX_HOSTLEN], err[EX_HOSTLEN + 64];
    int port;
    if (argc != 2) {
        fprintf(stderr, "usage: " PROG " [HOST:]PORT\n");
        return 2;
    }
    if (ex_parse_host_port(argv[1], "127.0.0.1", host, sizeof host, &port, err, sizeof err) != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        return 2;
    }
    if (ex_install_stop_handlers() != 0) {
        perror(PROG ": sigaction");
        return 1;
    }

    static room r; /* 32 KiB of client pointers: not on the stack */
    if (ex_open_server(PROG, argv[1], host, port, 1, &r.loop, &r.listener) != 0)
        return 1;

    static nc_event events[MAX_EVENTS];
    int status = 0;
    while (*ex_stop_count() == 0) {
        if (poll_once(&r, events) != 0) {
            status = 1;
            break;
        }
    }
    shut_down(&r, events);
    nc_loop_free(r.loop);
    for (size_t i = 0; i < r.count; i++)
        free(r.clients[i]);
    return status;
}
