/*
 * udp_echo — sends every datagram back to its sender.
 *
 *   usage: udp_echo [HOST:]PORT         (HOST defaults to 127.0.0.1; PORT 0
 *                                        picks a free port; IPv6 as [::1]:PORT)
 *
 * Prints "listening on HOST:PORT" once bound, echoes until SIGINT or
 * SIGTERM, then closes the socket and exits 0.
 *
 * The replies to one poll's datagrams go out together with nc_send_batch
 * (one system call for many datagrams), each to the sender's address as
 * nc_event.addr gives it; they point into the poll's events, valid until
 * the next poll. When the kernel has no room for a reply (NC_EAGAIN) that
 * reply is kept, with the ones after it, and sent on NC_EV_WRITABLE; that
 * backlog is bounded (UDP may drop, but this program says when it does).
 * The benchmark suite (bench/run.py) measures this program.
 */
#include "common.h"

#define PROG "udp_echo"
#define MAX_EVENTS 256
#define BACKLOG_MAX 1024 /* replies kept while the kernel has no room */

typedef struct reply {
    nc_addr to;
    size_t len;
    unsigned char *data;
} reply;

typedef struct udp_echo {
    nc_loop *loop;
    nc_handle sock; /* 0 once its NC_EV_CLOSED arrived */
    nc_datagram replies[MAX_EVENTS]; /* this poll's, sent after its events */
    size_t nreplies;
    reply backlog[BACKLOG_MAX]; /* a ring, oldest at head */
    size_t head, count;
    unsigned long dropped;
} udp_echo;

static void keep(udp_echo *u, const nc_addr *to, const uint8_t *data, size_t len)
{
    unsigned char *copy = malloc(len ? len : 1);
    if (u->count == BACKLOG_MAX || copy == NULL) {
        free(copy);
        if (u->dropped++ % 1000 == 0)
            fprintf(stderr, PROG ": reply backlog full, dropped %lu datagram(s)\n", u->dropped);
        return;
    }
    reply *r = &u->backlog[(u->head + u->count++) % BACKLOG_MAX];
    r->to = *to;
    r->len = len;
    r->data = memcpy(copy, data, len);
}

/* Sends kept replies, oldest first, until the kernel says NC_EAGAIN again. */
static void flush_backlog(udp_echo *u)
{
    while (u->count > 0) {
        reply *r = &u->backlog[u->head];
        int rc = nc_send_to_addr(u->loop, u->sock, &r->to, r->data, r->len);
        if (rc == NC_EAGAIN)
            return;
        if (rc < 0)
            ex_report(PROG, "send_to", rc);
        free(r->data);
        u->head = (u->head + 1) % BACKLOG_MAX;
        u->count--;
    }
}

static void on_datagram(udp_echo *u, const nc_event *ev)
{
    if (u->count > 0) /* keep the order: queue behind the backlog */
        keep(u, &ev->addr, ev->data, ev->len);
    else
        u->replies[u->nreplies++] = (nc_datagram){ev->data, ev->len, &ev->addr};
}

/* Sends this poll's replies; keeps the rest from the first NC_EAGAIN on and
 * skips (reports) a reply the kernel refuses. */
static void send_replies(udp_echo *u)
{
    size_t done = 0;
    while (done < u->nreplies) {
        int rc = nc_send_batch(u->loop, u->sock, u->replies + done, u->nreplies - done);
        if (rc > 0) {
            done += (size_t)rc;
            continue; /* all sent, or a call from the first unsent says why */
        }
        const nc_datagram *r = &u->replies[done];
        if (rc == NC_EAGAIN) {
            for (; done < u->nreplies; r++, done++)
                keep(u, r->to, r->data, r->len);
            break;
        }
        char what[NC_ADDRSTRLEN + 16];
        nc_addr_format(r->to, what, NC_ADDRSTRLEN);
        strcat(what, ": reply");
        ex_report(PROG, what, rc);
        done++;
    }
    u->nreplies = 0;
}

static void on_event(udp_echo *u, const nc_event *ev)
{
    switch (ev->kind) {
    case NC_EV_DATAGRAM:
        on_datagram(u, ev);
        break;
    case NC_EV_WRITABLE:
        flush_backlog(u);
        break;
    case NC_EV_ERROR: /* e.g. an ICMP error for an earlier reply: harmless */
        ex_report(PROG, "socket", ev->error);
        break;
    case NC_EV_CLOSED:
        u->sock = 0;
        break;
    default:
        break;
    }
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

    static udp_echo u;
    if (ex_open_server(PROG, argv[1], host, port, 0, &u.loop, &u.sock) != 0)
        return 1;

    static nc_event events[MAX_EVENTS];
    int status = 0;
    while (*ex_stop_count() == 0) {
        int n = nc_poll(u.loop, events, MAX_EVENTS, EX_POLL_MS);
        if (n < 0) {
            ex_report(PROG, "nc_poll", n);
            status = 1;
            break;
        }
        for (int i = 0; i < n; i++)
            on_event(&u, &events[i]);
        send_replies(&u);
    }

    /* A UDP socket closes at once; its NC_EV_CLOSED comes with the next poll. */
    if (u.count > 0)
        fprintf(stderr, PROG ": %zu queued repl%s not sent\n", u.count, u.count == 1 ? "y" : "ies");
    nc_close(u.loop, u.sock);
    int64_t deadline = ex_now_ms() + 1000;
    while (u.sock > 0 && ex_now_ms() < deadline) {
        int n = nc_poll(u.loop, events, MAX_EVENTS, EX_POLL_MS);
        if (n < 0)
            break;
        for (int i = 0; i < n; i++)
            if (events[i].kind == NC_EV_CLOSED)
                u.sock = 0;
    }
    nc_loop_free(u.loop);
    while (u.count > 0) {
        free(u.backlog[u.head].data);
        u.head = (u.head + 1) % BACKLOG_MAX;
        u.count--;
    }
    return status;
}
