/*
 * multicore_echo_server — echo_server with one loop per core: WORKERS
 * threads, each running echo_server.c's loop (included below) on its own
 * nc_loop, all serving one port.
 *
 *   usage: multicore_echo_server [-w WORKERS] [-m reuseport|shared] [-c CAP] [HOST:]PORT
 *
 *   -w WORKERS  threads, one loop each (default: one per online CPU, at
 *               most 64)
 *   -m reuseport  (default) every loop opens its own listener on the port
 *               with SO_REUSEPORT (NC_REUSEPORT): the kernel gives each its
 *               own backlog and spreads new connections over them by a hash
 *               of the addresses.
 *   -m shared   one listener, opened once; every loop adopts its own dup()
 *               of it (nc_adopt_listener) and accepts from the one backlog:
 *               whichever loop is free takes the next connection.
 *   -c CAP      each loop keeps at most CAP connections open at once
 *               (nc_set_max_connections); with a shared listener, a loop at
 *               its cap leaves new connections to the others.
 *
 * Prints "listening on HOST:PORT" once every loop accepts connections, then
 * serves. SIGINT/SIGTERM shuts every loop down gracefully as echo_server
 * does; then each worker's count is printed on stderr ("worker N: K
 * connections") and it exits 0.
 */
#define PROG "multicore_echo_server"
#define ECHO_NO_MAIN 1
#include "echo_server.c"

#include <pthread.h>
#include <unistd.h>

#define MAX_WORKERS 64

typedef struct worker {
    pthread_t thread;
    server s; /* echo_server.c's state for this loop */
    int status;
} worker;

/* Static: each server holds a large event array. */
static worker workers[MAX_WORKERS];

static void *worker_main(void *arg)
{
    worker *w = arg;
    w->status = echo_serve(&w->s);
    return NULL;
}

/* Opens worker i's loop and listener: a listener of its own on host:port
 * (with `flags`), or, when adopt_fd >= 0, an adoption of a dup() of it.
 * Returns 0, or 1 after reporting why. */
static int open_worker(server *s, int i, const char *host, int port, int flags, int adopt_fd, size_t cap)
{
    s->loop = nc_loop_new();
    if (s->loop == NULL) {
        fprintf(stderr, PROG ": nc_loop_new failed\n");
        return 1;
    }
    const char *what = "cannot listen";
    if (adopt_fd < 0) {
        s->listener = nc_tcp_listen(s->loop, host, port, 0, flags, NULL);
    } else {
        /* The loop owns (and closes) what it adopts: each gets its own
         * descriptor of the one socket. */
        int fd = dup(adopt_fd);
        s->listener = fd < 0 ? NC_EINVAL : nc_adopt_listener(s->loop, fd, NULL);
        if (fd >= 0 && s->listener < 0)
            close(fd);
        what = fd < 0 ? "dup" : "cannot adopt the listener";
    }
    int rc = s->listener < 0 ? (int)s->listener : cap > 0 ? nc_set_max_connections(s->loop, s->listener, cap) : 0;
    if (rc < 0) {
        char where[64];
        snprintf(where, sizeof where, "worker %d: %s", i, what);
        ex_report(PROG, where, rc);
        nc_loop_free(s->loop);
        return 1;
    }
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: " PROG " [-w WORKERS] [-m reuseport|shared] [-c CAP] [HOST:]PORT\n");
    return 2;
}

int main(int argc, char **argv)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int nworkers = online > 0 && online < MAX_WORKERS ? (int)online : online > 0 ? MAX_WORKERS : 1;
    int shared = 0;
    long cap = 0;
    int opt;
    while ((opt = getopt(argc, argv, "w:m:c:")) != -1) {
        char *end = NULL;
        if (opt == 'w')
            nworkers = (int)strtol(optarg, &end, 10);
        else if (opt == 'c')
            cap = strtol(optarg, &end, 10);
        else if (opt == 'm' && (strcmp(optarg, "shared") == 0 || strcmp(optarg, "reuseport") == 0))
            shared = strcmp(optarg, "shared") == 0;
        else
            return usage();
        if (end != NULL && (*optarg == '\0' || *end != '\0'))
            return usage();
    }
    if (optind != argc - 1 || nworkers < 1 || cap < 0)
        return usage();
    if (nworkers > MAX_WORKERS)
        nworkers = MAX_WORKERS;
    char host[EX_HOSTLEN], err[EX_HOSTLEN + 64];
    int port;
    if (ex_parse_host_port(argv[optind], "127.0.0.1", host, sizeof host, &port, err, sizeof err) != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        return 2;
    }
    if (ex_install_stop_handlers() != 0) {
        perror(PROG ": sigaction");
        return 1;
    }

    /* Worker 0 opens the port (PORT 0: the kernel picks one); the others
     * join it: the same port with SO_REUSEPORT, or worker 0's socket. */
    int flags = shared ? 0 : NC_REUSEPORT;
    if (open_worker(&workers[0].s, 0, host, port, flags, -1, (size_t)cap) != 0)
        return 1;
    server *first = &workers[0].s;
    nc_addr local;
    int rc = nc_local_addr(first->loop, first->listener, &local);
    int shared_fd = -1;
    if (rc == 0 && shared) {
        shared_fd = nc_fd(first->loop, first->listener);
        rc = shared_fd < 0 ? shared_fd : 0;
    }
    int status = 0, opened = 1;
    if (rc < 0) {
        ex_report(PROG, "worker 0's listener", rc);
        status = 1;
    }
    while (status == 0 && opened < nworkers) {
        status = open_worker(&workers[opened].s, opened, host, local.port, flags, shared_fd, (size_t)cap);
        if (status == 0)
            opened++;
    }
    if (status == 0 && ex_print_listening(first->loop, first->listener) < 0)
        status = 1;
    int started = 0;
    for (; status == 0 && started < opened; started++) {
        rc = pthread_create(&workers[started].thread, NULL, worker_main, &workers[started]);
        if (rc != 0) {
            fprintf(stderr, PROG ": pthread_create: %s\n", strerror(rc));
            status = 1;
            raise(SIGTERM); /* the workers already running shut down */
            break;
        }
    }
    for (int i = 0; i < started; i++) {
        pthread_join(workers[i].thread, NULL);
        fprintf(stderr, PROG ": worker %d: %lu connections\n", i, workers[i].s.accepted);
        if (workers[i].status != 0)
            status = workers[i].status;
    }
    for (int i = started; i < opened; i++) /* opened, never run */
        nc_loop_free(workers[i].s.loop);
    return status;
}
