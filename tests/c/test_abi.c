/* The ABI itself: version numbers, error codes, growable option structs. */
#include "harness.h"

#include <errno.h>
#include <net/if.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* The header's version macros agree with each other, with the library that
 * is running (nc_version_hex) and with its version string. */
void test_abi_version_header_matches_library(void) {
    ASSERT_EQ(NC_VERSION_HEX, (NC_VERSION_MAJOR << 16) | (NC_VERSION_MINOR << 8) | NC_VERSION_PATCH);
    ASSERT(NC_VERSION_MINOR < 256 && NC_VERSION_PATCH < 256);
    ASSERT_EQ(nc_version_hex(), NC_VERSION_HEX);
    char text[32];
    snprintf(text, sizeof text, "%d.%d.%d", NC_VERSION_MAJOR, NC_VERSION_MINOR, NC_VERSION_PATCH);
    ASSERT_MSG(strcmp(nc_version(), text) == 0, "nc_version() is \"%s\", the header says %s", nc_version(),
               text);
}

/* Every OS error code is the negated errno value of the C library the
 * program is built with: the header's numbers come from the same libc
 * constants, not from a hand-written table. */
void test_abi_error_codes_are_negated_errno_values(void) {
    static const struct {
        int code, errno_value;
        const char *name;
    } os[] = {
        {NC_EPERM, EPERM, "EPERM"},
        {NC_EINTR, EINTR, "EINTR"},
        {NC_ENOMEM, ENOMEM, "ENOMEM"},
        {NC_EACCES, EACCES, "EACCES"},
        {NC_EBUSY, EBUSY, "EBUSY"},
        {NC_EINVAL, EINVAL, "EINVAL"},
        {NC_ENFILE, ENFILE, "ENFILE"},
        {NC_EMFILE, EMFILE, "EMFILE"},
        {NC_EAGAIN, EAGAIN, "EAGAIN"},
        {NC_EPIPE, EPIPE, "EPIPE"},
        {NC_EMSGSIZE, EMSGSIZE, "EMSGSIZE"},
        {NC_EAFNOSUPPORT, EAFNOSUPPORT, "EAFNOSUPPORT"},
        {NC_EADDRINUSE, EADDRINUSE, "EADDRINUSE"},
        {NC_EADDRNOTAVAIL, EADDRNOTAVAIL, "EADDRNOTAVAIL"},
        {NC_ENETUNREACH, ENETUNREACH, "ENETUNREACH"},
        {NC_ECONNABORTED, ECONNABORTED, "ECONNABORTED"},
        {NC_ECONNRESET, ECONNRESET, "ECONNRESET"},
        {NC_ENOBUFS, ENOBUFS, "ENOBUFS"},
        {NC_ENOTCONN, ENOTCONN, "ENOTCONN"},
        {NC_ETIMEDOUT, ETIMEDOUT, "ETIMEDOUT"},
        {NC_ECONNREFUSED, ECONNREFUSED, "ECONNREFUSED"},
        {NC_EHOSTUNREACH, EHOSTUNREACH, "EHOSTUNREACH"},
    };
    for (size_t i = 0; i < sizeof os / sizeof os[0]; i++) {
        ASSERT_MSG(os[i].code == -os[i].errno_value, "NC_%s is %d, -%s is %d", os[i].name, os[i].code,
                   os[i].name, -os[i].errno_value);
        ASSERT_MSG(strcmp(nc_errname(os[i].code), os[i].name) == 0, "nc_errname(NC_%s) is \"%s\"",
                   os[i].name, nc_errname(os[i].code));
    }
}

/* nc_connect_opts carries its own size: NC_CONNECT_OPTS_INIT sets it; a
 * struct without it, a truncated one, or a later version's with a field
 * this library does not know set, is refused before anything happens. */
void test_abi_connect_opts_size_is_checked(void) {
    nc_loop *loop = t_loop();
    nc_handle l = ASSERT_HANDLE(nc_tcp_listen(loop, "127.0.0.1", 0, 0, 0, NULL));
    int port = local_port(loop, l);

    nc_connect_opts opts = NC_CONNECT_OPTS_INIT;
    ASSERT_EQ(opts.size, sizeof(nc_connect_opts));
    ASSERT_EQ(opts.timeout_ms, 0);
    ASSERT(opts.local_host == NULL && opts.reconnect_ms == NULL);
    nc_handle c = ASSERT_HANDLE(nc_tcp_connect_ex(loop, "127.0.0.1", port, &opts, NULL));
    ASSERT_OK(nc_close_reset(loop, c));

    nc_connect_opts unset;
    memset(&unset, 0, sizeof unset);
    ASSERT_RC(nc_tcp_connect_ex(loop, "127.0.0.1", port, &unset, NULL), NC_EINVAL);
    ASSERT_MSG(strncmp(nc_last_error_detail(), "opts.size:", 10) == 0, "detail \"%s\"", nc_last_error_detail());
    opts.size = sizeof opts - 1;
    ASSERT_RC(nc_tcp_connect_ex(loop, "127.0.0.1", port, &opts, NULL), NC_EINVAL);
    opts.size = 5000;
    ASSERT_RC(nc_tcp_connect_ex(loop, "127.0.0.1", port, &opts, NULL), NC_EINVAL);

    /* a program built against a later header: known fields, then more */
    struct {
        nc_connect_opts v1;
        uint64_t later_field;
    } later;
    memset(&later, 0, sizeof later);
    later.v1.size = sizeof later;
    c = ASSERT_HANDLE(nc_tcp_connect_ex(loop, "127.0.0.1", port, &later.v1, NULL));
    ASSERT_OK(nc_close_reset(loop, c));
    later.later_field = 1;
    ASSERT_RC(nc_tcp_connect_ex(loop, "127.0.0.1", port, &later.v1, NULL), NC_EINVAL);
    ASSERT_MSG(strncmp(nc_last_error_detail(), "opts:", 5) == 0, "detail \"%s\"", nc_last_error_detail());

    /* NULL still means every default */
    c = ASSERT_HANDLE(nc_tcp_connect_ex(loop, "127.0.0.1", port, NULL, NULL));
    ASSERT_OK(nc_close_reset(loop, c));
}

/* One walk of a numbered table: every number 1..last has a name of its
 * own (not "unknown", none twice), the numbers around it have none. */
static void walk_names(const char *what, int last, const char *(*name_of)(int)) {
    ASSERT_MSG(last >= 1 && last < 64, "%s: last is %d", what, last);
    const char *seen[64];
    for (int k = 1; k <= last; k++) {
        const char *name = name_of(k);
        ASSERT_MSG(name != NULL && name[0] != 0 && strcmp(name, "unknown") != 0, "%s %d has no name", what, k);
        for (int j = 1; j < k; j++)
            ASSERT_MSG(strcmp(seen[j], name) != 0, "%s %d and %d are both \"%s\"", what, j, k, name);
        seen[k] = name;
    }
    ASSERT_MSG(strcmp(name_of(0), "unknown") == 0, "%s 0 is \"%s\"", what, name_of(0));
    ASSERT_MSG(strcmp(name_of(last + 1), "unknown") == 0, "%s %d is \"%s\"", what, last + 1, name_of(last + 1));
    ASSERT(strcmp(name_of(-1), "unknown") == 0);
}

/* Each C constant is NC_<TABLE>_<its core name in upper case>. */
static void check_constant(const char *(*name_of)(int), int value, const char *constant, size_t prefix) {
    const char *name = name_of(value);
    char upper[64];
    size_t n = strlen(name);
    ASSERT(n < sizeof upper);
    for (size_t i = 0; i <= n; i++) upper[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
    ASSERT_MSG(strcmp(constant + prefix, upper) == 0, "%s (%d) is named \"%s\"", constant, value, name);
}

/* Every constant of each table, as X-macro lists (EOF is only ever pasted
 * or stringised, so stdio's EOF macro does not expand). */
#define EVENT_KINDS(X)                                                                               \
    X(ACCEPTED) X(CONNECTED) X(CONNECT_FAILED) X(DATA) X(EOF) X(WRITABLE) X(CLOSED) X(DATAGRAM) \
    X(ERROR) X(TIMER) X(IDLE) X(SENT) X(RECONNECTING) X(SHUTDOWN_COMPLETE) X(TLS_READY) X(TLS_FAILED)
#define OPTIONS(X)                                                                             \
    X(NODELAY) X(KEEPALIVE) X(RCVBUF) X(SNDBUF) X(HIGH_WATER) X(LOW_WATER) X(BROADCAST) X(LINGER) \
    X(MULTICAST_LOOP) X(MULTICAST_TTL) X(TTL)
#define HANDLE_KINDS(X) X(TCP_LISTENER) X(TCP_CONNECTION) X(UDP) X(TIMER)
#define COUNT(id) +1
#define CHECK_EVENT(id) check_constant(nc_event_name, NC_EV_##id, "NC_EV_" #id, 6);
#define CHECK_OPTION(id) check_constant(nc_option_name, NC_OPT_##id, "NC_OPT_" #id, 7);
#define CHECK_KIND(id) check_constant(nc_handle_kind_name, NC_KIND_##id, "NC_KIND_" #id, 8);

/* The C surface against the core's tables: every event kind, option and
 * handle kind the library knows has a name, and every constant of the
 * header is the one of that name (the lists cover each table whole). */
void test_abi_vocabulary_walks_every_kind_option_and_event(void) {
    walk_names("event kind", NC_EV_LAST, nc_event_name);
    walk_names("option", NC_OPT_LAST, nc_option_name);
    walk_names("handle kind", NC_KIND_LAST, nc_handle_kind_name);
    ASSERT_EQ(0 EVENT_KINDS(COUNT), NC_EV_LAST);
    ASSERT_EQ(0 OPTIONS(COUNT), NC_OPT_LAST);
    ASSERT_EQ(0 HANDLE_KINDS(COUNT), NC_KIND_LAST);
    EVENT_KINDS(CHECK_EVENT)
    OPTIONS(CHECK_OPTION)
    HANDLE_KINDS(CHECK_KIND)
    /* The deprecated earlier name still compiles, as the same kind. */
    ASSERT_EQ(NC_KIND_TCP, NC_KIND_TCP_CONNECTION);
}

static void *read_detail_elsewhere(void *out) {
    *(const char **)out = strcmp(nc_last_error_detail(), "") == 0 ? "" : "not empty";
    return NULL;
}

/* A refused argument is named by nc_last_error_detail, per thread, until
 * the next error on that thread (a success leaves it, as with errno). */
void test_abi_last_error_detail_names_the_argument(void) {
    nc_loop *loop = t_loop();
    ASSERT_RC(nc_tcp_listen(loop, "127.0.0.1", 70000, 0, 0, NULL), NC_EINVAL);
    const char *detail = nc_last_error_detail();
    ASSERT_MSG(strncmp(detail, "port: expected ", 15) == 0, "detail \"%s\"", detail);
    const char *other = "unset";
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, read_detail_elsewhere, &other), 0);
    ASSERT_EQ(pthread_join(t, NULL), 0);
    ASSERT_MSG(strcmp(other, "") == 0, "another thread sees this thread's detail");
    nc_handle l = ASSERT_HANDLE(nc_tcp_listen(loop, "127.0.0.1", 0, 0, 0, NULL));
    ASSERT_MSG(strncmp(nc_last_error_detail(), "port:", 5) == 0, "a success changed the detail");
    ASSERT_RC(nc_tcp_listen(loop, NULL, 0, 0, 0, NULL), NC_EINVAL);
    ASSERT_MSG(strncmp(nc_last_error_detail(), "host: expected ", 15) == 0, "detail \"%s\"", nc_last_error_detail());
    ASSERT_RC(nc_tcp_listen(loop, "127.0.0.1", 0, 0, 99, NULL), NC_EINVAL);
    ASSERT_MSG(strncmp(nc_last_error_detail(), "flags:", 6) == 0, "detail \"%s\"", nc_last_error_detail());
    ASSERT_RC(nc_stop(NULL), NC_EINVAL);
    ASSERT_MSG(strncmp(nc_last_error_detail(), "loop:", 5) == 0, "detail \"%s\"", nc_last_error_detail());
    ASSERT_RC(nc_setopt(loop, l, NC_OPT_LAST + 1, 1), NC_EINVAL);
    ASSERT_MSG(strncmp(nc_last_error_detail(), "option:", 7) == 0, "detail \"%s\"", nc_last_error_detail());
    nc_addr none;
    char buf[NC_ADDRSTRLEN];
    memset(&none, 0, sizeof none);
    ASSERT_RC(nc_addr_format(&none, buf, sizeof buf), NC_EINVAL);
    ASSERT_MSG(strncmp(nc_last_error_detail(), "addr.family:", 12) == 0, "detail \"%s\"", nc_last_error_detail());
    /* an error without a detail clears it */
    ASSERT_RC(nc_close(loop, l + 1000), NC_EBADHANDLE);
    ASSERT_MSG(strcmp(nc_last_error_detail(), "") == 0, "detail \"%s\"", nc_last_error_detail());
}

/* Formats `a` and checks the text. */
static void expect_format(const nc_addr *a, const char *want) {
    char buf[NC_ADDRSTRLEN];
    int n = nc_addr_format(a, buf, sizeof buf);
    ASSERT_MSG(n == (int)strlen(want) && strcmp(buf, want) == 0, "formatted as \"%s\" (%d), expected \"%s\"",
               n >= 0 ? buf : "", n, want);
}

/* IPv6 zones survive parsing and formatting: a link-local sender's address
 * comes back with its scope, so a reply leaves by the right interface.
 * Parsing and formatting only: nothing is sent to a link-local address. */
void test_abi_ipv6_zones_round_trip(void) {
    static const unsigned char fe80_1[16] = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    nc_addr a;
    memset(&a, 0, sizeof a);
    a.family = NC_AF_INET6;
    a.port = 5000;
    a.scope_id = 1;
    memcpy(a.ip, fe80_1, 16);
    expect_format(&a, "[fe80::1%1]:5000");

    const char *forms[] = {"fe80::1%1", "[fe80::1%1]"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        nc_addr p;
        memset(&p, 0xee, sizeof p);
        ASSERT_OK(nc_addr_parse(forms[i], 5000, &p));
        ASSERT_MSG(p.family == NC_AF_INET6 && p.port == 5000 && p.scope_id == 1 && memcmp(p.ip, fe80_1, 16) == 0,
                   "\"%s\" parsed as family %d port %d scope %u", forms[i], p.family, p.port, p.scope_id);
        expect_format(&p, "[fe80::1%1]:5000");
    }
    /* an interface name is a zone too: the loopback interface's index */
    unsigned lo = if_nametoindex("lo");
    ASSERT_MSG(lo != 0, "no interface named lo");
    nc_addr p;
    ASSERT_OK(nc_addr_parse("fe80::1%lo", 7, &p));
    ASSERT_EQ(p.scope_id, lo);
    char want[NC_ADDRSTRLEN];
    snprintf(want, sizeof want, "[fe80::1%%%u]:7", lo);
    expect_format(&p, want);
    /* what nc_addr_format writes, nc_addr_parse reads back */
    char text[NC_ADDRSTRLEN];
    ASSERT(nc_addr_format(&a, text, sizeof text) > 0);
    *strrchr(text, ':') = 0;
    nc_addr back;
    ASSERT_OK(nc_addr_parse(text, a.port, &back));
    ASSERT(back.family == a.family && back.scope_id == a.scope_id && memcmp(back.ip, a.ip, 16) == 0);
    /* no zone, an unknown interface, a zone on IPv4, a bad port */
    ASSERT_OK(nc_addr_parse("::1", 80, &p));
    ASSERT_EQ(p.scope_id, 0);
    expect_format(&p, "[::1]:80");
    nc_addr before = p;
    ASSERT_RC(nc_addr_parse("fe80::1%no-such-interface-0", 80, &p), NC_EINVAL);
    ASSERT_MSG(strncmp(nc_last_error_detail(), "host:", 5) == 0, "detail \"%s\"", nc_last_error_detail());
    ASSERT_RC(nc_addr_parse("127.0.0.1%1", 80, &p), NC_EINVAL);
    ASSERT_RC(nc_addr_parse("::1", 65536, &p), NC_EINVAL);
    ASSERT_MSG(strncmp(nc_last_error_detail(), "port:", 5) == 0, "detail \"%s\"", nc_last_error_detail());
    ASSERT_RC(nc_addr_parse("::1", 80, NULL), NC_EINVAL);
    ASSERT(memcmp(&p, &before, sizeof p) == 0);
}
