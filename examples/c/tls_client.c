/*
 * tls_client — sends its messages to a TLS echo server and prints the echo.
 *
 *   usage: [NETCORE_TLS_CA=ca.pem] tls_client HOST:PORT MESSAGE...
 *
 * Connects to HOST:PORT and starts TLS at once, verifying the server's
 * certificate against HOST (a name, also sent as SNI, or an IP literal)
 * and the CA bundle NETCORE_TLS_CA names (without it, the system's trust
 * store). Sends each MESSAGE followed by "\n" (queued at once: netcore
 * sends it after the handshake), half-closes once the handshake is over,
 * prints what comes back until the server closes, and exits 0. A failure
 * exits 1 with netcore's code, the alert the server sent and the TLS
 * library's reason (e.g. ETLSUNKNOWNCA for a server whose CA is not
 * trusted).
 */
#include "common.h"

#define PROG "tls_client"
#define MAX_EVENTS 64
/* Give up when nothing happens for this long. */
#define QUIET_TIMEOUT_MS 10000

/* Builds the client config: the CA bundle NETCORE_TLS_CA names, or the
 * system's store. Returns 0 or a negative NC_E* code. */
static int client_config(nc_tls_client_config **config)
{
    struct nc_tls_client_opts opts = NC_TLS_CLIENT_OPTS_INIT;
    const char *ca = getenv("NETCORE_TLS_CA");
    if (ca != NULL) {
        opts.system_roots = 0; /* a private CA: trust it alone */
        opts.ca.file = ca;
    }
    return nc_tls_client_config_new(&opts, config);
}

int main(int argc, char **argv)
{
    char host[EX_HOSTLEN], err[EX_HOSTLEN + 64];
    int port;
    if (argc < 3) {
        fprintf(stderr, "usage: " PROG " HOST:PORT MESSAGE...\n");
        return 2;
    }
    if (ex_parse_host_port(argv[1], NULL, host, sizeof host, &port, err, sizeof err) != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        return 2;
    }
    nc_tls_client_config *config = NULL;
    int rc = client_config(&config);
    if (rc < 0) {
        ex_report_detail(PROG, "TLS config", rc);
        return 1;
    }
    nc_loop *loop = nc_loop_new();
    if (loop == NULL) {
        fprintf(stderr, PROG ": nc_loop_new failed\n");
        nc_tls_client_config_free(config);
        return 1;
    }
    nc_handle conn = nc_tcp_connect(loop, host, port, NULL);
    rc = conn < 0 ? (int)conn : nc_start_tls_client(loop, conn, config, host);
    nc_tls_client_config_free(config); /* the connection keeps its own reference */
    for (int i = 2; rc == 0 && i < argc; i++) {
        nc_buf line[2] = {{argv[i], strlen(argv[i])}, {"\n", 1}};
        rc = nc_sendv(loop, conn, line, 2);
    }
    if (rc < 0) {
        ex_report_detail(PROG, argv[1], rc);
        nc_loop_free(loop);
        return 1;
    }

    int status = 0, closed = 0;
    nc_event events[MAX_EVENTS];
    while (!closed) {
        int n = nc_poll(loop, events, MAX_EVENTS, QUIET_TIMEOUT_MS);
        if (n <= 0) {
            if (n < 0)
                ex_report(PROG, "nc_poll", n);
            else
                fprintf(stderr, PROG ": no answer within %d ms\n", QUIET_TIMEOUT_MS);
            status = 1;
            break;
        }
        for (int i = 0; i < n; i++) {
            const nc_event *ev = &events[i];
            switch (ev->kind) {
            case NC_EV_CONNECT_FAILED:
                ex_report(PROG, argv[1], ev->error);
                status = 1;
                break;
            case NC_EV_TLS_READY: { /* verified: say so, and send nothing more */
                struct nc_tls_session_info info = NC_TLS_SESSION_INFO_INIT;
                if (nc_tls_info(loop, conn, &info) == 1)
                    fprintf(stderr, PROG ": %s, %s\n", info.protocol, info.cipher);
                rc = nc_shutdown(loop, conn);
                if (rc < 0)
                    ex_report(PROG, "nc_shutdown", rc);
                break;
            }
            case NC_EV_TLS_FAILED: /* NC_EV_CLOSED follows with the same error */
                ex_report_tls_failure(PROG, loop, conn, ev->error);
                status = 1;
                break;
            case NC_EV_DATA:
                fwrite(ev->data, 1, ev->len, stdout);
                break;
            case NC_EV_CLOSED:
                closed = 1;
                if (ev->error != 0 && status == 0) { /* e.g. ETLSTRUNCATED: no close_notify */
                    ex_report_tls_failure(PROG, loop, conn, ev->error);
                    status = 1;
                }
                break;
            default:
                break;
            }
        }
    }
    fflush(stdout);
    nc_loop_free(loop);
    return status;
}
