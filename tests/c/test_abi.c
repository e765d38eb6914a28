/* The ABI itself: version numbers, error codes, growable option structs. */
#include "harness.h"

#include <errno.h>
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
