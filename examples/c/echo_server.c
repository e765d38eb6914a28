/*
 * echo_server — echoes every byte it receives, on every connection.
 *
 *   usage: echo_server [HOST:]PORT      (HOST defaults to 127.0.0.1; PORT 0
 *                                        picks a free port; IPv6 as [::1]:PORT)
 *
 * Prints "listening on HOST:PORT" once it accepts connections, then serves.
 * The first SIGINT or SIGTERM shuts down gracefully: no new connections,
 * every connection is flushed and closed (those still open after 5 s are
 * reset), then it exits 0. A second signal exits 0 at once.
 *
 * Memory: an idle connection costs this program nothing. It keeps no list
 * of connections and allocates nothing when one is accepted (netcore's own
 * bookkeeping is all there is), and the shutdown is one call,
 * nc_shutdown_server. State exists only for a connection whose peer does
 * not read fast enough (below).
 *
 * Flow control: nc_send never blocks; when a connection's send queue is
 * full it refuses the bytes whole with NC_EAGAIN. The server then allocates
 * a `held` buffer for that connection (attached with nc_set_userdata),
 * keeps the refused bytes and any later ones there in order, and stops
 * reading the connection (nc_pause) so TCP slows the peer down. On
 * NC_EV_WRITABLE it sends them again; once all went out it frees the buffer
 * and resumes reading. No byte is ever dropped, not even at shutdown: the
 * held buffers are chained in a list (only those), which is handed to
 * netcore before nc_shutdown_server flushes and closes the connections.
 */
#include "common.h"

/* tls_echo_server.c is this program over TLS: it defines PROG and ECHO_TLS
 * and includes this file. */
#ifndef PROG
#define PROG "echo_server"
#endif
#define MAX_EVENTS 256
/* Largest piece of held bytes handed to nc_send at once: smaller than the
 * room NC_EV_WRITABLE promises (high-water minus low-water mark). */
#define RESEND_CHUNK (64 * 1024)

/* Bytes a connection's send queue refused, waiting for NC_EV_WRITABLE.
 * Exists only while there are such bytes; it is the handle's userdata. */
typedef struct held {
    nc_handle handle;
    struct held *prev, *next; /* every held buffer, for the shutdown */
    unsigned char *data;      /* bytes [start, end) are still to be sent */
    size_t start, end, cap;
    int eof;                  /* the peer sent EOF: close once flushed */
} held;

typedef struct server {
    nc_loop *loop;
    nc_handle listener;
    held *busy;        /* connections with held bytes (usually none) */
    nc_event events[MAX_EVENTS];
    int next, count;   /* events[next..count) are still to be handled */
    unsigned long timed_out;
    unsigned long accepted; /* connections served (multicore_echo_server reports it) */
} server;

/*
 * Attaches h (or NULL) to a connection. nc_poll copies each handle's
 * userdata into its events when it collects them, so events of this
 * connection later in the current batch still carry the old value: update
 * them too. Every event then tells the truth, and no lookup is needed.
 */
static void set_held(server *s, nc_handle handle, held *h)
{
    nc_set_userdata(s->loop, handle, h);
    for (int i = s->next; i < s->count; i++)
        if (s->events[i].handle == handle)
            s->events[i].userdata = h;
}

static held *held_new(server *s, nc_handle handle)
{
    held *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->handle = handle;
    h->next = s->busy;
    if (s->busy != NULL)
        s->busy->prev = h;
    s->busy = h;
    set_held(s, handle, h);
    return h;
}

/* Forgets a connection's held bytes (flushed, or the connection is gone). */
static void held_free(server *s, held *h)
{
    if (h->prev != NULL)
        h->prev->next = h->next;
    else
        s->busy = h->next;
    if (h->next != NULL)
        h->next->prev = h->prev;
    free(h->data);
    free(h);
}

/* Appends bytes after those already held (order matters). */
static int held_append(held *h, const unsigned char *data, size_t len)
{
    if (h->end + len > h->cap && h->start > 0) { /* reuse the sent part */
        memmove(h->data, h->data + h->start, h->end - h->start);
        h->end -= h->start;
        h->start = 0;
    }
    if (h->end + len > h->cap) {
        size_t cap = h->cap ? h->cap : 64 * 1024;
        while (cap < h->end + len)
            cap *= 2;
        unsigned char *grown = realloc(h->data, cap);
        if (grown == NULL)
            return -1;
        h->data = grown;
        h->cap = cap;
    }
    memcpy(h->data + h->end, data, len);
    h->end += len;
    return 0;
}

/* A send failed for another reason than a full queue. */
static void send_failed(server *s, nc_handle handle, int rc)
{
    if (rc == NC_ECLOSED) /* already closing (shutdown): NC_EV_CLOSED follows */
        return;
    if (rc != NC_ECONNRESET && rc != NC_EPIPE)
        ex_report(PROG, "send", rc);
    nc_close_reset(s->loop, handle); /* NC_EV_CLOSED follows, frees h */
}

/* NC_EV_DATA: send the bytes back, or hold them if the queue is full. */
static void echo(server *s, const nc_event *ev)
{
    held *h = ev->userdata;
    if (ev->len == 0)
        return;
    if (h == NULL) { /* the common case: nothing held, try to send */
        int rc = nc_send(s->loop, ev->handle, ev->data, ev->len);
        if (rc == 0)
            return;
        if (rc != NC_EAGAIN) {
            send_failed(s, ev->handle, rc);
            return;
        }
        /* Refused: from now on this connection needs state. */
        h = held_new(s, ev->handle);
        if (h == NULL) {
            fprintf(stderr, PROG ": out of memory, dropping a connection\n");
            nc_close_reset(s->loop, ev->handle);
            return;
        }
        int prc = nc_pause(s->loop, ev->handle);
        if (prc < 0)
            ex_report(PROG, "nc_pause", prc);
    }
    /* Behind held bytes, or just refused: hold these (in order). */
    if (held_append(h, ev->data, ev->len) != 0) {
        fprintf(stderr, PROG ": out of memory, dropping a connection\n");
        nc_close_reset(s->loop, ev->handle); /* NC_EV_CLOSED frees h */
    }
}

/* NC_EV_WRITABLE: send the held bytes again; when all went, free them and
 * resume reading (or close, if the peer already sent EOF). */
static void resend(server *s, nc_handle handle, held *h)
{
    while (h->start < h->end) {
        size_t n = h->end - h->start;
        if (n > RESEND_CHUNK)
            n = RESEND_CHUNK;
        int rc = nc_send(s->loop, handle, h->data + h->start, n);
        if (rc == NC_EAGAIN)
            return; /* full again: another NC_EV_WRITABLE will come */
        if (rc < 0) {
            send_failed(s, handle, rc);
            return;
        }
        h->start += n;
    }
    int eof = h->eof;
    set_held(s, handle, NULL);
    held_free(s, h);
    int rc = eof ? nc_close(s->loop, handle) : nc_resume(s->loop, handle);
    if (rc < 0)
        ex_report(PROG, eof ? "nc_close" : "nc_resume", rc);
}

static void on_event(server *s, const nc_event *ev)
{
    held *h = ev->userdata; /* NULL unless this connection holds bytes */
    if (ev->handle == s->listener) {
        if (ev->kind == NC_EV_ERROR) /* e.g. out of descriptors: it retries */
            ex_report(PROG, "listener", ev->error);
        else if (ev->kind == NC_EV_CLOSED)
            s->listener = 0; /* the end of a shutdown */
        return;
    }
    switch (ev->kind) {
    case NC_EV_ACCEPTED: /* a new connection needs no state: only counted */
        s->accepted++;
        break;
    case NC_EV_DATA:
        echo(s, ev);
        break;
    case NC_EV_WRITABLE:
        if (h != NULL)
            resend(s, ev->handle, h);
        break;
    case NC_EV_EOF: /* the peer is done sending: finish echoing, then close */
        if (h != NULL)
            h->eof = 1; /* resend() closes once the held bytes are out */
        else
            nc_close(s->loop, ev->handle);
        break;
    case NC_EV_ERROR:
        ex_report(PROG, "connection", ev->error);
        break;
    case NC_EV_CLOSED:
        if (h != NULL)
            held_free(s, h);
        if (ev->error == NC_ETIMEDOUT) /* reset at the end of the drain */
            s->timed_out++;
        else if (ev->error != 0 && ev->error != NC_ECONNRESET)
            ex_report(PROG, "connection closed", ev->error);
        break;
    default:
        break;
    }
}

/*
 * First signal: hand every held byte to netcore (raising the connection's
 * high-water mark so that they fit), then let nc_shutdown_server stop
 * accepting and close every connection gracefully. It needs no list of
 * connections: netcore knows them.
 */
static int begin_shutdown(server *s)
{
    while (s->busy != NULL) {
        held *h = s->busy;
        if (h->start < h->end) {
            nc_setopt(s->loop, h->handle, NC_OPT_HIGH_WATER, (int64_t)1 << 30);
            int rc = nc_send(s->loop, h->handle, h->data + h->start, h->end - h->start);
            if (rc < 0 && rc != NC_ECLOSED) /* ECLOSED: it was being dropped */
                ex_report(PROG, "flushing at shutdown", rc);
        }
        set_held(s, h->handle, NULL);
        held_free(s, h);
    }
    int rc = nc_shutdown_server(s->loop, s->listener, EX_SHUTDOWN_MS);
    if (rc < 0)
        ex_report(PROG, "nc_shutdown_server", rc);
    return rc;
}

/* unix_echo_server.c and adopt_echo_server.c open their listener
 * otherwise: they define ECHO_USAGE and ECHO_OPEN(arg, loop, listener),
 * which returns 0, or the exit status after printing why. */
#if !defined(ECHO_OPEN) && !defined(ECHO_NO_MAIN)
#define ECHO_USAGE "[HOST:]PORT"
static int echo_open(const char *spec, nc_loop **loop, nc_handle *listener)
{
    char host[EX_HOSTLEN], err[EX_HOSTLEN + 64];
    int port;
    if (ex_parse_host_port(spec, "127.0.0.1", host, sizeof host, &port, err, sizeof err) != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        return 2;
    }
    return ex_open_server(PROG, spec, host, port, 1, loop, listener);
}
#define ECHO_OPEN echo_open
#endif

/* Serves until the listener's NC_EV_CLOSED (the graceful shutdown after a
 * first SIGINT/SIGTERM) or a second signal, then frees the loop. Returns the
 * exit status. multicore_echo_server.c runs one per thread. */
static int echo_serve(server *s)
{
    int status = 0, shutting_down = 0;
    while (s->listener != 0) { /* until the listener's NC_EV_CLOSED */
        sig_atomic_t signals = *ex_stop_count();
        if (signals >= 2) {
            fprintf(stderr, PROG ": second signal, closing everything now\n");
            break;
        }
        if (signals == 1 && !shutting_down) {
            shutting_down = 1;
            if (begin_shutdown(s) < 0) {
                status = 1;
                break;
            }
        }
        /* A signal interrupts the wait: nc_poll then returns 0. */
        int n = nc_poll(s->loop, s->events, MAX_EVENTS, EX_POLL_MS);
        if (n < 0) {
            ex_report(PROG, "nc_poll", n);
            status = 1;
            break;
        }
        s->count = n;
        for (s->next = 0; s->next < s->count;) {
            const nc_event *ev = &s->events[s->next++];
            on_event(s, ev);
        }
    }
    if (s->timed_out > 0)
        fprintf(stderr, PROG ": %lu connection(s) did not close in time and were reset\n", s->timed_out);
    nc_loop_free(s->loop); /* closes whatever is still open, at once */
    while (s->busy != NULL)
        held_free(s, s->busy);
    return status;
}

/* multicore_echo_server.c has its own main (one loop per thread). */
#ifndef ECHO_NO_MAIN
int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: " PROG " " ECHO_USAGE "\n");
        return 2;
    }
    if (ex_install_stop_handlers() != 0) {
        perror(PROG ": sigaction");
        return 1;
    }

#ifdef ECHO_TLS
    nc_tls_server_config *tls = NULL;
    int tls_status = ex_tls_server_config(PROG, NULL, 0, &tls);
    if (tls_status != 0)
        return tls_status;
#endif
    static server s; /* the event array is large: not on the stack */
    int open_status = ECHO_OPEN(argv[1], &s.loop, &s.listener);
    if (open_status != 0)
        return open_status;
#ifdef ECHO_TLS
    /* Every connection accepted from now on speaks TLS; the echo code below
     * is the same (data is plaintext). The listener keeps its own reference. */
    int tls_rc = nc_listener_set_tls(s.loop, s.listener, tls);
    nc_tls_server_config_free(tls);
    if (tls_rc < 0) {
        ex_report(PROG, "nc_listener_set_tls", tls_rc);
        nc_loop_free(s.loop);
        return 1;
    }
#endif
    return echo_serve(&s);
}
#endif
