/*
 * echo_server — echoes every byte it receives, on every connection.
 *
 *   usage: echo_server [HOST:]PORT      (HOST defaults to 127.0.0.1; PORT 0
 *                                        picks a free port; IPv6 as [::1]:PORT)
 *
 * Prints "listening on HOST:PORT" once it accepts connections, then serves
 * until SIGINT or SIGTERM, closes every handle gracefully and exits 0.
 *
 * Flow control: nc_send never blocks; when a connection's send queue is
 * full it refuses the bytes whole with NC_EAGAIN. The server then keeps the
 * refused bytes itself, stops reading that connection (nc_pause) so the
 * peer is slowed down by TCP, and on NC_EV_WRITABLE sends them again and
 * resumes reading. No byte is ever dropped.
 */
#include "common.h"

#define PROG "echo_server"
#define MAX_EVENTS 256
/* Largest piece of the held-back bytes handed to nc_send at once. */
#define RESEND_CHUNK (64 * 1024)

typedef struct conn {
    nc_handle handle;
    size_t index;           /* position in server.conns */
    unsigned char *held;    /* bytes refused with NC_EAGAIN, oldest first */
    size_t held_len, held_cap;
    int paused;             /* nc_pause is in effect */
    int close_when_flushed; /* peer sent EOF, or we are shutting down */
    int closing;            /* nc_close was called */
} conn;

typedef struct server {
    nc_loop *loop;
    nc_handle listener; /* 0 once its NC_EV_CLOSED arrived */
    conn **conns;
    size_t nconns, cap;
    int stopping;
} server;

static int conns_add(server *s, conn *c)
{
    if (s->nconns == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        conn **grown = realloc(s->conns, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        s->conns = grown;
        s->cap = cap;
    }
    c->index = s->nconns;
    s->conns[s->nconns++] = c;
    return 0;
}

static void conns_remove(server *s, conn *c)
{
    conn *last = s->conns[--s->nconns];
    s->conns[c->index] = last;
    last->index = c->index;
}

static void conn_free(conn *c)
{
    free(c->held);
    free(c);
}

static void close_conn(server *s, conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    int rc = nc_close(s->loop, c->handle);
    if (rc < 0 && rc != NC_ECLOSED)
        ex_report(PROG, "nc_close", rc);
}

/* Keeps bytes nc_send refused, after any already held (order matters). */
static int hold(conn *c, const unsigned char *data, size_t len)
{
    if (c->held_len + len > c->held_cap) {
        size_t cap = c->held_cap ? c->held_cap : 4096;
        while (cap < c->held_len + len)
            cap *= 2;
        unsigned char *grown = realloc(c->held, cap);
        if (grown == NULL)
            return -1;
        c->held = grown;
        c->held_cap = cap;
    }
    memcpy(c->held + c->held_len, data, len);
    c->held_len += len;
    return 0;
}

/* A send failed for good (e.g. the peer reset): drop the connection now. */
static void fail_conn(server *s, conn *c, int rc)
{
    if (rc != NC_ECONNRESET && rc != NC_EPIPE)
        ex_report(PROG, "send", rc);
    c->closing = 1;
    nc_close_reset(s->loop, c->handle); /* NC_EV_CLOSED follows */
}

static void echo(server *s, conn *c, const unsigned char *data, size_t len)
{
    if (len == 0 || c->closing)
        return;
    if (c->held_len == 0) {
        int rc = nc_send(s->loop, c->handle, data, len);
        if (rc == 0)
            return;
        if (rc != NC_EAGAIN) {
            fail_conn(s, c, rc);
            return;
        }
    }
    /* The queue is full (or bytes are already held): keep these too and
     * stop reading until NC_EV_WRITABLE. More data events for this
     * connection may still be in the current batch; they land here. */
    if (hold(c, data, len) != 0) {
        fprintf(stderr, PROG ": out of memory, dropping a connection\n");
        fail_conn(s, c, NC_ENOMEM);
        return;
    }
    if (!c->paused) {
        int rc = nc_pause(s->loop, c->handle);
        if (rc == 0)
            c->paused = 1;
        else
            ex_report(PROG, "nc_pause", rc);
    }
}

/* Sends the held bytes again (on NC_EV_WRITABLE), resumes when all went. */
static void resend(server *s, conn *c)
{
    size_t off = 0;
    while (off < c->held_len) {
        size_t n = c->held_len - off;
        if (n > RESEND_CHUNK)
            n = RESEND_CHUNK;
        int rc = nc_send(s->loop, c->handle, c->held + off, n);
        if (rc == NC_EAGAIN)
            break; /* another NC_EV_WRITABLE will come */
        if (rc < 0) {
            fail_conn(s, c, rc);
            return;
        }
        off += n;
    }
    memmove(c->held, c->held + off, c->held_len - off);
    c->held_len -= off;
    if (c->held_len > 0)
        return;
    free(c->held);
    c->held = NULL;
    c->held_cap = 0;
    if (c->close_when_flushed) {
        close_conn(s, c);
    } else if (c->paused) {
        int rc = nc_resume(s->loop, c->handle);
        if (rc < 0)
            ex_report(PROG, "nc_resume", rc);
        c->paused = 0;
    }
}

static void on_accepted(server *s, const nc_event *ev)
{
    conn *c = calloc(1, sizeof *c);
    if (c == NULL || conns_add(s, c) != 0) {
        free(c);
        fprintf(stderr, PROG ": out of memory, refusing a connection\n");
        nc_close_reset(s->loop, ev->handle);
        return;
    }
    c->handle = ev->handle;
    int rc = nc_set_userdata(s->loop, ev->handle, c);
    if (rc < 0) { /* the connection is already gone */
        ex_report(PROG, "nc_set_userdata", rc);
        conns_remove(s, c);
        conn_free(c);
        return;
    }
    if (s->stopping) {
        c->close_when_flushed = 1;
        close_conn(s, c);
    }
}

/* The connection state of an event: its userdata, set when it was accepted. */
static conn *conn_of(server *s, const nc_event *ev)
{
    if (ev->userdata != NULL)
        return ev->userdata;
    void *ud = NULL;
    nc_get_userdata(s->loop, ev->handle, &ud);
    return ud;
}

static void on_event(server *s, const nc_event *ev)
{
    if (ev->kind == NC_EV_ACCEPTED) {
        on_accepted(s, ev);
        return;
    }
    if (ev->handle == s->listener) {
        if (ev->kind == NC_EV_ERROR) /* e.g. out of descriptors: it retries */
            ex_report(PROG, "listener", ev->error);
        else if (ev->kind == NC_EV_CLOSED)
            s->listener = 0;
        return;
    }
    conn *c = conn_of(s, ev);
    if (ev->kind == NC_EV_CLOSED) {
        if (c == NULL)
            return; /* a connection refused in on_accepted */
        if (ev->error != 0 && ev->error != NC_ECONNRESET)
            ex_report(PROG, "connection closed", ev->error);
        conns_remove(s, c);
        conn_free(c);
        return;
    }
    if (c == NULL)
        return;
    switch (ev->kind) {
    case NC_EV_DATA:
        echo(s, c, ev->data, ev->len);
        break;
    case NC_EV_WRITABLE:
        resend(s, c);
        break;
    case NC_EV_EOF: /* the peer is done sending: finish echoing, then close */
        c->close_when_flushed = 1;
        if (c->held_len == 0)
            close_conn(s, c);
        break;
    case NC_EV_ERROR:
        ex_report(PROG, "connection", ev->error);
        break;
    default:
        break;
    }
}

static int poll_once(server *s, nc_event *events)
{
    int n = nc_poll(s->loop, events, MAX_EVENTS, EX_POLL_MS);
    if (n < 0) {
        ex_report(PROG, "nc_poll", n);
        return -1;
    }
    for (int i = 0; i < n; i++)
        on_event(s, &events[i]);
    return 0;
}

/* Closes everything gracefully and waits (bounded) for every NC_EV_CLOSED. */
static void shut_down(server *s, nc_event *events)
{
    s->stopping = 1;
    if (s->listener > 0)
        nc_close(s->loop, s->listener);
    for (size_t i = 0; i < s->nconns; i++) {
        conn *c = s->conns[i];
        c->close_when_flushed = 1;
        if (c->held_len == 0) /* otherwise it closes once its bytes are out */
            close_conn(s, c);
    }
    sig_atomic_t signals = *ex_stop_count();
    int64_t deadline = ex_now_ms() + EX_SHUTDOWN_MS;
    while ((s->listener > 0 || s->nconns > 0) && ex_now_ms() < deadline) {
        if (*ex_stop_count() != signals) {
            fprintf(stderr, PROG ": second signal, not waiting any longer\n");
            break;
        }
        if (poll_once(s, events) != 0)
            break;
    }
    if (s->nconns > 0)
        fprintf(stderr, PROG ": %zu connection(s) did not close in time, dropping them\n", s->nconns);
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

    server s;
    memset(&s, 0, sizeof s);
    if (ex_open_server(PROG, argv[1], host, port, 1, &s.loop, &s.listener) != 0)
        return 1;

    static nc_event events[MAX_EVENTS];
    int status = 0;
    while (*ex_stop_count() == 0) {
        if (poll_once(&s, events) != 0) {
            status = 1;
            break;
        }
    }
    shut_down(&s, events);
    nc_loop_free(s.loop);
    for (size_t i = 0; i < s.nconns; i++)
        conn_free(s.conns[i]);
    free(s.conns);
    return status;
}
