/*
 * Helpers shared by the netcore C examples (header-only: each example is
 * built from a single .c file). Include this header first: it selects the
 * POSIX feature level the examples need under -std=c11 -pedantic.
 */
#ifndef NETCORE_EXAMPLES_COMMON_H
#define NETCORE_EXAMPLES_COMMON_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netcore.h>

/* Longest host string the examples accept (an IPv6 literal fits easily). */
#define EX_HOSTLEN 256

/* How long a server waits, after SIGINT/SIGTERM, for its connections to
 * finish closing gracefully before it gives up on them. */
#define EX_SHUTDOWN_MS 5000

/* Poll timeout of the examples' loops: signals are only flagged by the
 * handler (strictly async-signal-safe); the main loop looks at the flag at
 * least this often. A signal also interrupts nc_poll, which then returns 0. */
#define EX_POLL_MS 100

/* ---- ports and addresses ---------------------------------------------- */

/* Parses a decimal port, 0..65535. Returns it, or -1. */
static inline int ex_parse_port(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) > 5)
        return -1;
    long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v <= 65535 ? (int)v : -1;
}

/*
 * Parses "PORT", "HOST:PORT" or "[IPV6]:PORT" into host (without brackets)
 * and port. When the host is missing, default_host is used; when it is NULL
 * a host is required. An unbracketed IPv6 literal is rejected (its port
 * would be ambiguous). Returns 0, or -1 with a message in err.
 */
static inline int ex_parse_host_port(const char *arg, const char *default_host,
                                     char *host, size_t host_size, int *port,
                                     char *err, size_t err_size)
{
    const char *port_str;
    size_t host_len;
    const char *host_start;

    if (arg[0] == '[') {
        const char *close = strchr(arg, ']');
        if (close == NULL || close[1] != ':') {
            snprintf(err, err_size, "'%s': expected [IPV6]:PORT", arg);
            return -1;
        }
        host_start = arg + 1;
        host_len = (size_t)(close - host_start);
        port_str = close + 2;
    } else {
        const char *colon = strrchr(arg, ':');
        if (colon == NULL) {
            if (default_host == NULL) {
                snprintf(err, err_size, "'%s': expected HOST:PORT", arg);
                return -1;
            }
            host_start = default_host;
            host_len = strlen(default_host);
            port_str = arg;
        } else {
            if (memchr(arg, ':', (size_t)(colon - arg)) != NULL) {
                snprintf(err, err_size, "'%s': write an IPv6 address as [ADDR]:PORT", arg);
                return -1;
            }
            host_start = arg;
            host_len = (size_t)(colon - arg);
            port_str = colon + 1;
        }
    }
    if (host_len == 0 || host_len >= host_size) {
        snprintf(err, err_size, "'%s': bad host", arg);
        return -1;
    }
    memcpy(host, host_start, host_len);
    host[host_len] = '\0';
    *port = ex_parse_port(port_str);
    if (*port < 0) {
        snprintf(err, err_size, "'%s': bad port (0..65535)", arg);
        return -1;
    }
    return 0;
}

/*
 * Reads a server's command line, "PROG [HOST:]PORT" (HOST defaults to
 * 127.0.0.1), into host and port. Returns 0, or 2 (the exit status for a
 * usage error) after saying what is wrong.
 */
static inline int ex_server_args(const char *prog, int argc, char **argv, char *host, size_t host_size, int *port)
{
    char err[EX_HOSTLEN + 64];
    if (argc != 2) {
        fprintf(stderr, "usage: %s [HOST:]PORT\n", prog);
        return 2;
    }
    if (ex_parse_host_port(argv[1], "127.0.0.1", host, host_size, port, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return 2;
    }
    return 0;
}

/*
 * Splits an address into a host string (IPv6 without brackets, usable as
 * the host argument of nc_send_to / nc_tcp_connect) and a port, by
 * formatting it with nc_addr_format ("ip:port" or "[ip6]:port") and cutting
 * at the last colon. Returns 0, or a negative NC_E* code.
 */
static inline int ex_addr_split(const nc_addr *addr, char *host, size_t host_size, int *port)
{
    char text[NC_ADDRSTRLEN];
    int n = nc_addr_format(addr, text, sizeof text);
    if (n < 0)
        return n;
    char *colon = strrchr(text, ':');
    if (colon == NULL)
        return NC_EINVAL;
    *colon = '\0';
    const char *h = text;
    if (h[0] == '[') {
        h++;
        size_t hl = strlen(h);
        if (hl == 0 || h[hl - 1] != ']')
            return NC_EINVAL;
        text[hl] = '\0'; /* h == text + 1, so this drops the ']' */
    }
    if (strlen(h) >= host_size)
        return NC_ENOBUFS;
    strcpy(host, h);
    *port = ex_parse_port(colon + 1);
    return *port < 0 ? NC_EINVAL : 0;
}

/* Formats an address into buf (NC_ADDRSTRLEN bytes), "?" if it cannot. */
static inline const char *ex_addr_str(const nc_addr *addr, char *buf)
{
    if (nc_addr_format(addr, buf, NC_ADDRSTRLEN) < 0)
        strcpy(buf, "?");
    return buf;
}

/*
 * Prints the one line a server writes on stdout once it is ready,
 * "listening on HOST:PORT", with the real (OS-assigned) port, and flushes
 * it so a parent process reading a pipe sees it at once. Returns 0 or a
 * negative NC_E* code.
 */
static inline int ex_print_listening(nc_loop *loop, nc_handle handle)
{
    nc_addr local;
    char text[NC_ADDRSTRLEN];
    int rc = nc_local_addr(loop, handle, &local);
    if (rc == 0)
        rc = nc_addr_format(&local, text, sizeof text);
    if (rc < 0)
        return rc;
    printf("listening on %s\n", text);
    fflush(stdout);
    return 0;
}

/* Prints "PROG: WHAT: ENAME (description)" on stderr. */
static inline void ex_report(const char *prog, const char *what, int code)
{
    fprintf(stderr, "%s: %s: %s (%s)\n", prog, what, nc_errname(code), nc_strerror(code));
}

/* ---- signals and time ------------------------------------------------- */

/* Creates a loop and a TCP listener (tcp != 0) or a UDP socket on
 * host:port, then prints the "listening on" line. `spec` is the argument as
 * the user wrote it, for messages. Returns 0, or 1 after reporting why (and
 * freeing the loop). */
static inline int ex_open_server(const char *prog, const char *spec, const char *host, int port, int tcp,
                                 nc_loop **loop, nc_handle *handle)
{
    *loop = nc_loop_new();
    if (*loop == NULL) {
        fprintf(stderr, "%s: nc_loop_new failed\n", prog);
        return 1;
    }
    *handle = tcp ? nc_tcp_listen(*loop, host, port, 0, 0, NULL) : nc_udp_bind(*loop, host, port, 0, NULL);
    if (*handle < 0) {
        char what[EX_HOSTLEN + 32];
        snprintf(what, sizeof what, "cannot %s %s", tcp ? "listen on" : "bind", spec);
        ex_report(prog, what, (int)*handle);
        nc_loop_free(*loop);
        return 1;
    }
    int rc = ex_print_listening(*loop, *handle);
    if (rc < 0) {
        ex_report(prog, "local address", rc);
        nc_loop_free(*loop);
        return 1;
    }
    return 0;
}

/* Number of SIGINT/SIGTERM received so far. Only the handler writes it. */
static inline volatile sig_atomic_t *ex_stop_count(void)
{
    static volatile sig_atomic_t count;
    return &count;
}

/* The handler does nothing but count: strictly async-signal-safe. */
static inline void ex_on_stop_signal(int sig)
{
    (void)sig;
    volatile sig_atomic_t *count = ex_stop_count();
    if (*count < 100)
        *count = *count + 1;
}

/*
 * Installs ex_on_stop_signal for SIGINT and SIGTERM, without SA_RESTART so
 * that a signal also cuts a blocking nc_poll short. Returns 0 or -1.
 */
static inline int ex_install_stop_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ex_on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
        return -1;
    return 0;
}

/* ---- servers and TLS --------------------------------------------------- */

/* Handles one event of a server's connections (ex_serve). */
typedef void (*ex_event_fn)(void *ctx, nc_loop *loop, const nc_event *ev);

/*
 * Runs a server until its listener closes: polls `loop` and hands every
 * event of its connections to on_event. The first SIGINT/SIGTERM shuts the
 * listener down gracefully (nc_shutdown_server: no new connections, open
 * ones flushed and closed, reset after EX_SHUTDOWN_MS); a second ends at
 * once. Returns the exit status: 0 after a signal, 1 if polling failed.
 * Call ex_install_stop_handlers first.
 */
static inline int ex_serve(const char *prog, nc_loop *loop, nc_handle listener, ex_event_fn on_event, void *ctx)
{
    nc_event events[64];
    int shutting_down = 0;
    for (;;) {
        sig_atomic_t signals = *ex_stop_count();
        if (signals >= 2) {
            fprintf(stderr, "%s: second signal, closing everything now\n", prog);
            return 0;
        }
        if (signals == 1 && !shutting_down) {
            shutting_down = 1;
            int rc = nc_shutdown_server(loop, listener, EX_SHUTDOWN_MS);
            if (rc < 0) {
                ex_report(prog, "nc_shutdown_server", rc);
                return 1;
            }
        }
        int n = nc_poll(loop, events, 64, EX_POLL_MS); /* a signal cuts the wait short */
        if (n < 0) {
            ex_report(prog, "nc_poll", n);
            return 1;
        }
        for (int i = 0; i < n; i++) {
            const nc_event *ev = &events[i];
            if (ev->handle != listener)
                on_event(ctx, loop, ev);
            else if (ev->kind == NC_EV_CLOSED) /* the end of the shutdown */
                return 0;
            else if (ev->kind == NC_EV_ERROR) /* e.g. out of descriptors: it retries */
                ex_report(prog, "listener", ev->error);
        }
    }
}

/* Prints why a refused call failed, with the argument it names:
 * "PROG: WHAT: EINVAL (invalid argument): key: expected ...". */
static inline void ex_report_detail(const char *prog, const char *what, int code)
{
    const char *detail = nc_last_error_detail();
    fprintf(stderr, "%s: %s: %s (%s)%s%s\n", prog, what, nc_errname(code), nc_strerror(code),
            detail[0] ? ": " : "", detail);
}

/*
 * Builds a server's TLS config from the PEM files named by the environment
 * variables NETCORE_TLS_CERT (the certificate chain, leaf first) and
 * NETCORE_TLS_KEY (its private key), offering the `alpn_count` ALPN
 * protocols in `alpn`. Returns 0; 2 after saying that a variable is
 * missing; 1 after reporting why the files were refused.
 */
static inline int ex_tls_server_config(const char *prog, const char *const *alpn, size_t alpn_count,
                                       nc_tls_server_config **config)
{
    const char *cert = getenv("NETCORE_TLS_CERT"), *key = getenv("NETCORE_TLS_KEY");
    if (cert == NULL || key == NULL) {
        fprintf(stderr, "%s: set NETCORE_TLS_CERT and NETCORE_TLS_KEY to PEM files "
                        "(certificate chain, private key)\n", prog);
        return 2;
    }
    struct nc_tls_server_opts opts = NC_TLS_SERVER_OPTS_INIT;
    opts.cert.file = cert;
    opts.key.file = key;
    opts.alpn = alpn;
    opts.alpn_count = alpn_count;
    int rc = nc_tls_server_config_new(&opts, config);
    if (rc < 0) {
        ex_report_detail(prog, "TLS certificate and key", rc);
        return 1;
    }
    return 0;
}

/* Prints why a connection failed (NC_EV_TLS_FAILED, an abnormal
 * NC_EV_CLOSED): the code and, for a TLS failure, the alert the peer sent
 * and the TLS library's reason. Call it while the event is handled (the
 * failure record goes with the handle). */
static inline void ex_report_tls_failure(const char *prog, nc_loop *loop, nc_handle handle, int code)
{
    int error = code, alert = -1;
    char reason[256] = "";
    nc_tls_failure(loop, handle, &error, &alert, reason, sizeof reason);
    fprintf(stderr, "%s: %s (%s)", prog, nc_errname(error), nc_strerror(error));
    if (alert >= 0)
        fprintf(stderr, ", alert %d from the peer", alert);
    fprintf(stderr, "%s%s\n", reason[0] ? ": " : "", reason);
}

/*
 * The main of a TLS server: reads "[HOST:]PORT" and the certificate chain
 * and key (ex_tls_server_config, offering the `alpn_count` ALPN protocols),
 * listens and prints "listening on HOST:PORT"; with `on_listener` 1 gives
 * the config to the listener, so that every connection it accepts speaks
 * TLS (nc_listener_set_tls); then serves (ex_serve), passing the config to
 * on_event as its ctx (a STARTTLS server upgrades connections with it).
 * Returns the exit status.
 */
static inline int ex_tls_server_main(const char *prog, int argc, char **argv, const char *const *alpn,
                                     size_t alpn_count, int on_listener, ex_event_fn on_event)
{
    char host[EX_HOSTLEN];
    int port;
    if (ex_server_args(prog, argc, argv, host, sizeof host, &port) != 0)
        return 2;
    nc_tls_server_config *tls = NULL;
    int status = ex_tls_server_config(prog, alpn, alpn_count, &tls);
    if (status != 0)
        return status;
    nc_loop *loop;
    nc_handle listener;
    if (ex_install_stop_handlers() != 0) {
        fprintf(stderr, "%s: sigaction: %s\n", prog, strerror(errno));
        status = 1;
    } else if (ex_open_server(prog, argv[1], host, port, 1, &loop, &listener) != 0) {
        status = 1;
    } else {
        /* The listener keeps its own reference: freeing ours below is fine. */
        int rc = on_listener ? nc_listener_set_tls(loop, listener, tls) : 0;
        if (rc < 0)
            ex_report(prog, "nc_listener_set_tls", rc);
        status = rc < 0 ? 1 : ex_serve(prog, loop, listener, on_event, tls);
        nc_loop_free(loop);
    }
    nc_tls_server_config_free(tls);
    return status;
}

/* Milliseconds on a monotonic clock. */
static inline int64_t ex_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif /* NETCORE_EXAMPLES_COMMON_H */
