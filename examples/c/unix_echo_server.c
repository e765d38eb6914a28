/*
 * unix_echo_server — echo_server on a Unix domain socket: the same program
 * (echo_server.c, included below), whose listener is nc_unix_listen's.
 *
 *   usage: unix_echo_server PATH      (a filesystem path, or @NAME for NAME
 *                                      in Linux's abstract namespace)
 *
 * Prints "listening on PATH", then serves as echo_server does, and on
 * SIGINT/SIGTERM shuts down gracefully and exits 0. The socket file it
 * created is gone once it exits (netcore removes it when the listener
 * closes); an existing file is refused (exit 1, "address already in use").
 * Try it: `socat - UNIX-CONNECT:PATH`, or Python's socket.AF_UNIX.
 */
#define PROG "unix_echo_server"
#define ECHO_USAGE "PATH"
#define ECHO_OPEN unix_open
#include "common.h"

static int unix_open(const char *path, nc_loop **loop, nc_handle *listener)
{
    *loop = nc_loop_new();
    if (*loop == NULL) {
        fprintf(stderr, PROG ": nc_loop_new failed\n");
        return 1;
    }
    *listener = nc_unix_listen(*loop, path, 0, NULL);
    if (*listener < 0) {
        ex_report(PROG, "cannot listen on the path", (int)*listener);
        nc_loop_free(*loop);
        return 1;
    }
    printf("listening on %s\n", path);
    fflush(stdout);
    return 0;
}

#include "echo_server.c"
