/* Unix domain sockets (stream echo, datagrams with sender paths, peer
 * credentials, the socket file's lifetime, path limits) and adopted
 * descriptors (a POSIX listener, connection and UDP socket; wrong kinds
 * refused with the descriptor untouched). */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* A fresh path under /tmp for this process (removed first). */
static void temp_path(char *buf, size_t size, const char *name) {
    snprintf(buf, size, "/tmp/netcore-c-%d-%s", (int)getpid(), name);
    unlink(buf);
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

void test_unix_echo_credentials_and_file(void) {
    nc_loop *loop = t_loop();
    char path[64];
    temp_path(path, sizeof path, "echo.sock");
    peer *child = peer_new("echo");
    child->echo = 1;
    peer *l = peer_new("listener");
    l->child = child;
    l->h = ASSERT_HANDLE(nc_unix_listen(loop, path, 0, l));
    ASSERT_EQ(nc_handle_kind(loop, l->h), NC_KIND_TCP_LISTENER);
    ASSERT(exists(path));
    char back[NC_UNIX_PATHSTRLEN];
    ASSERT_EQ(nc_local_path(loop, l->h, back, sizeof back), (int)strlen(path));
    ASSERT(strcmp(back, path) == 0);

    peer *c = peer_new("client");
    c->store = 1;
    c->h = ASSERT_HANDLE(nc_unix_connect(loop, path, c));
    POLL_ASSERT(loop, p_connected, c, 5000);
    peer *server = wait_kid(loop, l, 0);
    ASSERT_EQ(server->addr.family, NC_AF_NONE);
    ASSERT_OK(nc_send(loop, c->h, "unix!", 5));
    ASSERT(wait_rx(loop, c, 5, 5000));
    ASSERT(memcmp(c->rx, "unix!", 5) == 0);

    nc_credentials cred;
    ASSERT_OK(nc_peer_credentials(loop, server->h, &cred));
    ASSERT_EQ(cred.pid, (int)getpid());
    ASSERT_EQ(cred.uid, getuid());
    ASSERT_EQ(cred.gid, getgid());

    ASSERT_OK(nc_close(loop, l->h));
    POLL_ASSERT(loop, p_closed, l, 5000);
    ASSERT_MSG(!exists(path), "the listener removes the file it created");
}

void test_unix_bad_paths(void) {
    nc_loop *loop = t_loop();
    char long_path[NC_UNIX_PATH_MAX + 8];
    memset(long_path, 'x', sizeof long_path - 1);
    long_path[sizeof long_path - 1] = 0;
    ASSERT_EQ(nc_unix_listen(loop, long_path, 0, NULL), NC_EINVAL);
    ASSERT(strstr(nc_last_error_detail(), "path") != NULL);
    ASSERT_EQ(nc_unix_listen(loop, "", 0, NULL), NC_EINVAL);
    ASSERT_EQ(nc_unix_connect(loop, NULL, NULL), NC_EINVAL);
    char missing[64];
    temp_path(missing, sizeof missing, "missing.sock");
    ASSERT_EQ(nc_unix_connect(loop, missing, NULL), -ENOENT);
}

void test_unix_datagrams_with_sender_paths(void) {
    nc_loop *loop = t_loop();
    char pa[64];
    snprintf(pa, sizeof pa, "@netcore-c-%d-a", (int)getpid());
    char pb[64];
    temp_path(pb, sizeof pb, "b.dgram");
    peer *a = peer_new("a"), *b = peer_new("b");
    a->store = b->store = 1;
    a->h = ASSERT_HANDLE(nc_unix_dgram_bind(loop, pa, a));
    b->h = ASSERT_HANDLE(nc_unix_dgram_bind(loop, pb, b));
    ASSERT_OK(nc_unix_send_to(loop, a->h, pb, "ping", 4));
    WAIT_KIND(loop, b, NC_EV_DATAGRAM, 1, 5000);
    ASSERT(memcmp(b->rx, "ping", 4) == 0);
    ASSERT_EQ(nc_send_to(loop, b->h, "127.0.0.1", 9, "x", 1), NC_EWRONGKIND);
    /* answer a by its path, which nc_event.path carried: the harness does
     * not keep it, so poll by hand here */
    ASSERT_OK(nc_unix_send_to(loop, a->h, pb, "again", 5));
    nc_event events[8];
    int n = 0;
    for (int i = 0; i < 100 && n == 0; i++) n = nc_poll(loop, events, 8, 50);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(events[0].kind, NC_EV_DATAGRAM);
    ASSERT(events[0].path != NULL && strcmp(events[0].path, pa) == 0);
    ASSERT_OK(nc_unix_send_to(loop, b->h, events[0].path, "pong", 4));
    WAIT_KIND(loop, a, NC_EV_DATAGRAM, 1, 5000);
    ASSERT(memcmp(a->rx, "pong", 4) == 0);
    ASSERT_OK(nc_close(loop, b->h));
    POLL_ASSERT(loop, p_closed, b, 5000);
    ASSERT(!exists(pb));
}

void test_adopt_posix_sockets(void) {
    nc_loop *loop = t_loop();
    int port = 0;
    int lfd = posix_listen("127.0.0.1", &port);
    ASSERT(lfd >= 0);
    peer *child = peer_new("echo");
    child->echo = 1;
    peer *l = peer_new("adopted");
    l->child = child;
    l->h = ASSERT_HANDLE(nc_adopt_listener(loop, lfd, l));
    ASSERT_MSG(fcntl(lfd, F_GETFD) < 0, "the adopted descriptor is the loop's (closed)");
    peer *c = connect_peer(loop, "127.0.0.1", port, "client");
    c->store = 1;
    ASSERT_OK(nc_send(loop, c->h, "hi", 2));
    ASSERT(wait_rx(loop, c, 2, 5000));

    int pair[2];
    ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, pair));
    t_fd(pair[0]);
    peer *conn = peer_new("conn");
    conn->store = 1;
    conn->h = ASSERT_HANDLE(nc_adopt_connection(loop, pair[1], conn));
    ASSERT_EQ(send_all(pair[0], "adopted", 7), 0);
    ASSERT(wait_rx(loop, conn, 7, 5000));
    ASSERT(memcmp(conn->rx, "adopted", 7) == 0);

    int udp = t_fd(socket(AF_INET, SOCK_DGRAM, 0));
    ASSERT_EQ(nc_adopt_listener(loop, udp, NULL), NC_EINVAL);
    ASSERT(strstr(nc_last_error_detail(), "fd") != NULL);
    ASSERT_EQ(nc_adopt_connection(loop, udp, NULL), NC_EINVAL);
    ASSERT_MSG(fcntl(udp, F_GETFD) >= 0 && !(fcntl(udp, F_GETFL) & O_NONBLOCK), "untouched");
    ASSERT_EQ(nc_adopt_listener(loop, -1, NULL), NC_EINVAL);
    nc_handle u = ASSERT_HANDLE(nc_adopt_udp(loop, dup(udp), NULL));
    ASSERT_EQ(nc_handle_kind(loop, u), NC_KIND_UDP);
}
