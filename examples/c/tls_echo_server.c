/*
 * tls_echo_server — echo_server over TLS: the same program (echo_server.c,
 * included below), whose listener gets a TLS config before it serves.
 *
 *   usage: NETCORE_TLS_CERT=cert.pem NETCORE_TLS_KEY=key.pem tls_echo_server [HOST:]PORT
 *
 * Reads the certificate chain (leaf first) and its private key from the PEM
 * files the two variables name; a missing variable exits 2, files netcore
 * refuses (e.g. a key that does not match the certificate) exit 1 with the
 * reason. Then, as echo_server: prints "listening on HOST:PORT", echoes every
 * byte of every connection (each one a TLS session: the bytes echoed are the
 * plaintext), and on SIGINT/SIGTERM shuts down gracefully - every
 * connection flushed, then close_notify, then FIN - and exits 0.
 *
 * What TLS adds is three calls in echo_server.c's main, under ECHO_TLS:
 * nc_tls_server_config_new (in ex_tls_server_config, common.h),
 * nc_listener_set_tls and nc_tls_server_config_free.
 */
#define PROG "tls_echo_server"
#define ECHO_TLS 1
#include "echo_server.c"
