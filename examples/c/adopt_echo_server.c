/*
 * adopt_echo_server — echo_server on a listening socket it is given rather
 * than one it opens: the same program (echo_server.c, included below),
 * whose listener is nc_adopt_listener's.
 *
 *   usage: adopt_echo_server FD         (an inherited listening descriptor,
 *                                        TCP or Unix: `3<>...` from a shell
 *                                        cannot make one, a parent can)
 *          adopt_echo_server systemd    (socket activation: the first of
 *                                        LISTEN_FDS, descriptor 3, when
 *                                        LISTEN_PID is this process)
 *
 * Prints "listening on fd N", then serves as echo_server does. Try it with
 * systemd-socket-activate -l 127.0.0.1:8007 ./adopt_echo_server systemd, or
 * from Python: bind and listen a socket, then run this program with its
 * descriptor inherited (pass_fds).
 */
#define PROG "adopt_echo_server"
#define ECHO_USAGE "FD|systemd"
#define ECHO_OPEN adopt_open
#include "common.h"

#include <unistd.h>

/* SD_LISTEN_FDS_START: systemd passes its sockets from descriptor 3 on. */
#define LISTEN_FDS_START 3

/* The descriptor the argument names, or -1 after printing why not. */
static int listening_fd(const char *arg)
{
    if (strcmp(arg, "systemd") == 0) {
        const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
        if (pid == NULL || fds == NULL || atol(pid) != (long)getpid() || atoi(fds) < 1) {
            fprintf(stderr, PROG ": no socket passed (LISTEN_PID/LISTEN_FDS)\n");
            return -1;
        }
        return LISTEN_FDS_START;
    }
    char *end;
    long fd = strtol(arg, &end, 10);
    if (*arg == '\0' || *end != '\0' || fd < 0 || fd > 1 << 20) {
        fprintf(stderr, PROG ": not a descriptor number: %s\n", arg);
        return -1;
    }
    return (int)fd;
}

static int adopt_open(const char *arg, nc_loop **loop, nc_handle *listener)
{
    int fd = listening_fd(arg);
    if (fd < 0)
        return 2;
    *loop = nc_loop_new();
    if (*loop == NULL) {
        fprintf(stderr, PROG ": nc_loop_new failed\n");
        return 1;
    }
    /* On success the loop owns the socket; on failure fd is left as it was. */
    *listener = nc_adopt_listener(*loop, fd, NULL);
    if (*listener < 0) {
        ex_report(PROG, "cannot adopt the descriptor", (int)*listener);
        if (*listener == NC_EINVAL) /* which argument, and what it must be */
            fprintf(stderr, PROG ": %s\n", nc_last_error_detail());
        nc_loop_free(*loop);
        return 1;
    }
    printf("listening on fd %d\n", fd);
    fflush(stdout);
    return 0;
}

#include "echo_server.c"
