/*
 * starttls_server — an SMTP-style server that upgrades a live connection to
 * TLS on STARTTLS (RFC 3207), as `openssl s_client -starttls smtp` expects.
 *
 *   usage: NETCORE_TLS_CERT=cert.pem NETCORE_TLS_KEY=key.pem starttls_server [HOST:]PORT
 *
 *   $ openssl s_client -starttls smtp -connect 127.0.0.1:PORT -CAfile ca.pem -crlf
 *
 * Greets with "220", answers EHLO with "250-... 250 STARTTLS" and STARTTLS
 * with "220 Ready to start TLS", then starts TLS as the server on the same
 * connection: the "220" goes out first, as plaintext, and every byte after
 * it is TLS. Then EHLO (again, as RFC 3207 asks), NOOP and QUIT are
 * answered over TLS; anything else before TLS gets 530, after it 502. QUIT
 * closes gracefully (close_notify, then FIN).
 *
 * The injection of CVE-2021-23222 (plaintext sent right behind STARTTLS,
 * which a server would otherwise take as protected) is refused twice:
 * netcore refuses nc_start_tls_server while bytes after the command are
 * still buffered, and this server drops a connection that delivers any
 * line between its STARTTLS and NC_EV_TLS_READY (lines cut from the same
 * read as the command). Each connection's state is its user data, read
 * with nc_get_userdata: an event polled before the state changed still
 * carries the old value.
 *
 * The certificate chain and key come from the PEM files the two variables
 * name (as tls_echo_server). Prints "listening on HOST:PORT";
 * SIGINT/SIGTERM shuts down gracefully and exits 0.
 */
#include "common.h"

#include <ctype.h>

#define PROG "starttls_server"
/* SMTP's longest command line, CRLF included (RFC 5321). */
#define MAX_LINE 1000

/* A connection's state, stored as its user data (never dereferenced). */
enum { PLAINTEXT = 0, UPGRADING = 1, SECURE = 2 };

static int state_of(nc_loop *loop, nc_handle conn)
{
    void *state = NULL;
    nc_get_userdata(loop, conn, &state);
    return (int)(intptr_t)state;
}

static void set_state(nc_loop *loop, nc_handle conn, int state)
{
    nc_set_userdata(loop, conn, (void *)(intptr_t)state);
}

static void reply(nc_loop *loop, nc_handle conn, const char *text)
{
    int rc = nc_send(loop, conn, text, strlen(text));
    if (rc < 0 && rc != NC_ECLOSED)
        ex_report(PROG, "send", rc);
}

/* Whether the line starts with the command `word` (any case), alone or
 * followed by a space. */
static int is_command(const char *line, size_t len, const char *word)
{
    size_t n = strlen(word);
    if (len < n || (len > n && line[n] != ' '))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (toupper((unsigned char)line[i]) != word[i])
            return 0;
    return 1;
}

static void on_line(nc_loop *loop, nc_handle conn, nc_tls_server_config *tls, const char *line, size_t len)
{
    int state = state_of(loop, conn);
    if (state == UPGRADING) { /* plaintext behind STARTTLS: an injection */
        fprintf(stderr, PROG ": plaintext after STARTTLS, connection dropped\n");
        nc_close_reset(loop, conn);
        return;
    }
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (is_command(line, len, "EHLO"))
        reply(loop, conn, state == SECURE ? "250 localhost greets you\r\n"
                                          : "250-localhost greets you\r\n250 STARTTLS\r\n");
    else if (is_command(line, len, "HELO") || is_command(line, len, "NOOP"))
        reply(loop, conn, "250 OK\r\n");
    else if (is_command(line, len, "QUIT")) {
        reply(loop, conn, "221 Bye\r\n");
        nc_close(loop, conn);
    } else if (is_command(line, len, "STARTTLS") && state == PLAINTEXT) {
        reply(loop, conn, "220 Ready to start TLS\r\n"); /* goes out first, as plaintext */
        int rc = nc_start_tls_server(loop, conn, tls);
        if (rc < 0) { /* NC_EINVAL: bytes after the command are already buffered */
            ex_report_detail(PROG, "STARTTLS refused", rc);
            nc_close_reset(loop, conn);
            return;
        }
        set_state(loop, conn, UPGRADING);
    } else if (state == PLAINTEXT)
        reply(loop, conn, "530 Must issue a STARTTLS command first\r\n");
    else
        reply(loop, conn, "502 Command not implemented\r\n");
}

static void on_event(void *ctx, nc_loop *loop, const nc_event *ev)
{
    nc_tls_server_config *tls = ctx;
    switch (ev->kind) {
    case NC_EV_ACCEPTED: {
        int rc = nc_frame_delimited(loop, ev->handle, "\n", 1, MAX_LINE);
        if (rc < 0) {
            ex_report(PROG, "nc_frame_delimited", rc);
            nc_close_reset(loop, ev->handle);
            break;
        }
        set_state(loop, ev->handle, PLAINTEXT);
        reply(loop, ev->handle, "220 localhost ESMTP netcore\r\n");
        break;
    }
    case NC_EV_DATA:
        on_line(loop, ev->handle, tls, (const char *)ev->data, ev->len);
        break;
    case NC_EV_TLS_READY:
        set_state(loop, ev->handle, SECURE);
        break;
    case NC_EV_TLS_FAILED: /* NC_EV_CLOSED follows */
        ex_report_tls_failure(PROG, loop, ev->handle, ev->error);
        break;
    case NC_EV_EOF:
        nc_close(loop, ev->handle);
        break;
    case NC_EV_ERROR: /* e.g. a line above MAX_LINE: the connection closes */
        ex_report(PROG, "connection", ev->error);
        break;
    default:
        break;
    }
}

int main(int argc, char **argv)
{
    /* A plaintext listener; the config (ex_tls_server_main in common.h)
     * comes to on_event, which starts TLS with it on STARTTLS. */
    return ex_tls_server_main(PROG, argc, argv, NULL, 0, 0, on_event);
}
