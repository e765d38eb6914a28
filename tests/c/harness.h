/*
 * A tiny test harness for the netcore C API.
 *
 * Every test is a `void test_NAME(void)` function listed in TEST_LIST below
 * (name + quick flag). `c_tests` runs them all, `c_tests --quick` only the
 * quick ones (the subset run under valgrind), `c_tests NAME...` the named
 * ones. Each prints `ok NAME` or `FAIL NAME: file:line: message`; the run
 * ends with `N passed, N failed`.
 *
 * ASSERT_* macros stop the test at the first failure (longjmp back to the
 * runner, which then frees every loop, descriptor and allocation the test
 * registered). EXPECT_* macros record a failure and carry on: use them in
 * nc_run callbacks and helper threads, where a longjmp would skip frames of
 * the library or another thread.
 *
 * Everything a test creates through t_loop(), t_fd(), t_alloc() is released
 * by the runner after the test, pass or fail, so valgrind sees no leaks.
 */
#ifndef NETCORE_TEST_HARNESS_H
#define NETCORE_TEST_HARNESS_H

#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE 1

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <netcore.h>

/* ---------------------------------------------------------------- the list */

/* X(name, quick): quick = 1 runs under --quick (valgrind). */
#define TEST_LIST(X)                              \
    /* test_tcp.c */                              \
    X(tcp_echo_1b, 1)                             \
    X(tcp_echo_1k, 1)                             \
    X(tcp_echo_64k, 1)                            \
    X(tcp_echo_16m, 0)                            \
    X(tcp_echo_1000_connections, 0)               \
    X(tcp_echo_ipv6, 1)                           \
    X(tcp_sendv_gather, 1)                        \
    X(tcp_send_before_connected_is_queued, 1)     \
    X(tcp_backpressure_posix_reader, 1)           \
    X(tcp_backpressure_paused_reader, 1)          \
    X(tcp_backpressure_big_message_rule, 1)       \
    X(tcp_graceful_close_32m, 0)                  \
    X(tcp_graceful_close_flushes_queue, 1)        \
    X(tcp_close_reset_posix_peer, 1)              \
    X(tcp_close_reset_netcore_peer, 1)            \
    X(tcp_close_abort_posix_peer, 1)              \
    X(tcp_half_close_client_first, 1)             \
    X(tcp_half_close_server_first, 1)             \
    X(tcp_half_close_posix_peer, 1)               \
    X(tcp_closed_exactly_once, 1)                 \
    X(tcp_stale_handle_not_reused, 1)             \
    X(tcp_pause_resume, 1)                        \
    X(tcp_pause_peer_close_noticed, 1)            \
    X(tcp_pause_peer_reset_noticed, 1)            \
    X(tcp_pause_unread_then_close, 1)             \
    X(tcp_userdata, 1)                            \
    X(tcp_options, 1)                             \
    X(tcp_options_while_connecting, 1)            \
    X(tcp_connect_by_name, 1)                     \
    X(tcp_listener_close_keeps_connections, 1)    \
    X(tcp_addresses, 1)                           \
    X(tcp_loop_free_with_open_handles, 1)         \
    X(tcp_no_sigpipe, 1)                          \
    /* test_framing.c */                          \
    X(frame_stream_split, 1)                      \
    X(frame_stream_read_size, 1)                      \
    X(frame_delimited_1byte, 1)                   \
    X(frame_delimited_multibyte, 1)               \
    X(frame_delimited_many_per_read, 1)           \
    X(frame_delimited_tail_at_eof, 1)             \
    X(frame_delimited_oversize, 1)                \
    X(frame_fixed, 1)                             \
    X(frame_fixed_partial_at_eof_dropped, 1)      \
    X(frame_length_prefixed_1, 1)                 \
    X(frame_length_prefixed_2, 1)                 \
    X(frame_length_prefixed_4, 1)                 \
    X(frame_length_prefixed_oversize, 1)          \
    X(frame_length_prefixed_huge_declared, 1)     \
    X(frame_switch_mode_midstream, 1)             \
    X(frame_set_before_connected, 1)              \
    X(frame_poll_data_stable, 1)                  \
    X(frame_length_prefixed_6m_and_20m_arrive_whole, 0) \
    X(frame_delimited_6m_and_20m_arrive_whole, 0) \
    X(frame_fixed_6m_and_20m_arrive_whole, 0)     \
    X(frame_large_incomplete_frame_leaves_the_loop_idle, 0) \
    X(frame_length_prefixed_one_over_the_limit_is_emsgsize, 1) \
    X(frame_delimited_one_over_the_limit_is_emsgsize, 0) \
    /* test_udp.c */                              \
    X(udp_round_trip, 1)                          \
    X(udp_round_trip_ipv6, 1)                     \
    X(udp_connected, 1)                           \
    X(udp_sendv_many_buffers, 1)                  \
    X(udp_send_unconnected, 1)                    \
    X(udp_close_and_kinds, 1)                     \
    X(udp_empty_datagram_is_sent_and_received, 1) \
    X(udp_send_batch, 1)                          \
    /* test_errors.c */                           \
    X(err_connect_refused, 1)                     \
    X(err_dns_invalid, 1)                         \
    X(err_connect_handle_live_until_closed, 1)    \
    X(err_addr_format, 1)                         \
    X(err_names, 1)                               \
    X(err_names_raw_errno, 1)                     \
    X(err_documented_codes, 1)                    \
    X(err_null_loop, 1)                           \
    X(err_null_pointers, 1)                       \
    X(err_bad_handles, 1)                         \
    X(err_handle_of_another_loop, 1)              \
    X(err_wrong_kind, 1)                          \
    X(err_bad_addresses, 1)                       \
    X(err_bad_values, 1)                          \
    X(err_framing_params, 1)                      \
    X(err_listen_addr_in_use, 1)                  \
    /* test_threads.c */                          \
    X(thr_send_close_from_other_thread, 1)        \
    X(thr_wake_interrupts_poll, 1)                \
    X(thr_concurrent_poll_ebusy, 1)               \
    X(thr_run_stop_from_callback, 1)              \
    X(thr_run_stop_from_other_thread, 1)          \
    X(thr_many_threads_send, 1)                   \
    X(thr_close_race, 1)                          \
    X(thr_poll_forever_no_spurious_return, 1)     \
    X(embed_loop_fd_accept, 1)                    \
    X(embed_loop_fd_data, 1)                      \
    X(embed_next_timeout, 1)                      \
    /* test_control.c */                          \
    X(ctl_timer_order, 1)                         \
    X(ctl_timer_repeat, 1)                        \
    X(ctl_timer_cancel, 1)                        \
    X(ctl_timer_10000, 0)                         \
    X(ctl_idle_timeout, 1)                        \
    X(ctl_connect_timeout, 1)                     \
    X(ctl_happy_eyeballs, 1)                      \
    X(ctl_local_port_alone, 1)                    \
    X(ctl_reconnect, 1)                           \
    X(ctl_reconnect_close_during_backoff, 1)      \
    X(ctl_max_connections, 1)                     \
    X(ctl_emfile, 0)                              \
    X(ctl_shutdown_server_flushes_readers, 1)     \
    X(ctl_shutdown_server_resets_stuck_after_drain, 1) \
    X(ctl_shutdown_server_no_connections, 1)      \
    X(ctl_send_tokens, 1)                         \
    X(ctl_notify_when_sent, 1)                    \
    X(ctl_raw_options_and_fd, 1)                  \
    X(ctl_linger, 1)                              \
    X(ctl_reuseport_two_loops, 1)                 \
    X(ctl_udp_multicast, 1)                       \
    /* test_lifecycle.c */                        \
    X(life_close_reset_eclosed_until_closed_delivered, 1) \
    X(life_graceful_close_eclosed_until_closed_delivered, 1) \
    X(life_shutdown_server_drain_eclosed_until_closed_delivered, 1) \
    X(life_half_close_eof_eclosed_until_closed_delivered, 1) \
    X(life_one_shot_timer_eclosed_until_closed_delivered, 1) \
    X(life_run_no_data_after_close_reset, 1)      \
    X(life_run_no_data_after_pause, 1)            \
    X(life_paused_connection_reports_eof_after_all_data, 1)                 \
    X(life_loop_close_wakes_poll_forever, 1)      \
    X(life_loop_close_wakes_run, 1)               \
    X(life_loop_close_delivers_nothing_and_rejects_every_call, 1)  \
    X(life_resolver_burst_bounded, 1)             \
    X(life_resolver_close_cancels_queued, 1)                       \
    /* test_unix.c */                             \
    X(unix_echo_credentials_and_file, 1)          \
    X(unix_bad_paths, 1)                          \
    X(unix_datagrams_with_sender_paths, 1)        \
    X(adopt_posix_sockets, 1)                     \
    /* test_abi.c */                              \
    X(abi_version_header_matches_library, 1)      \
    X(abi_error_codes_are_negated_errno_values, 1) \
    X(abi_connect_opts_size_is_checked, 1)       \
    X(abi_vocabulary_walks_every_kind_option_and_event, 1) \
    X(abi_last_error_detail_names_the_argument, 1) \
    X(abi_ipv6_zones_round_trip, 1)               \
    /* test_timing.c */                           \
    X(timing_huge_timer_durations_mean_never, 1)  \
    X(timing_huge_idle_timeout_never_fires, 1)    \
    X(timing_huge_shutdown_drain_completes_when_clients_close, 1) \
    X(timing_longest_connect_options_are_honoured, 1) \
    X(timing_next_timeout_rounds_up_so_a_host_loop_does_not_spin, 1) \
    X(timing_cancelled_timers_leave_no_deadline_behind, 0) \
    /* test_tls.c */                              \
    X(tls_configs_are_checked_and_a_refused_one_changes_nothing, 1) \
    X(tls_netcore_echo_with_alpn_info_and_peer_certificate, 1) \
    X(tls_functions_refuse_bad_arguments_and_plaintext_handles, 1) \
    X(tls_every_byte_arrives_at_record_edges_and_at_the_high_water_mark, 1) \
    X(tls_every_byte_arrives_through_a_relay_forwarding_one_byte_at_a_time, 1) \
    X(tls_a_gather_send_goes_in_one_record_where_it_fits, 1) \
    X(tls_water_marks_and_queued_bytes_count_the_records_on_the_wire, 1) \
    X(tls_backpressure_tokens_and_pause_resume, 1) \
    X(tls_unknown_ca_is_etlsunknownca_and_alert_48_at_the_server, 1) \
    X(tls_wrong_name_is_etlsbadname_and_alert_42_at_the_server, 1) \
    X(tls_expired_is_etlsexpired_and_alert_45_at_the_server, 1) \
    X(tls_missing_required_client_certificate_is_etlsbadcert_and_alert_116, 1) \
    X(tls_alpn_mismatch_is_etlsnoshared_and_alert_120_at_the_client, 1) \
    X(tls_plaintext_to_a_tls_port_is_etlsnottls, 1) \
    X(tls_to_a_plaintext_port_is_etlsnottls, 1)    \
    X(tls_listener_config_rotates_for_later_accepts, 1) \
    X(tls_handshake_timeout_option_is_etlstimedout, 1) \
    X(tls_half_a_client_hello_then_silence_is_etlstimedout, 1) \
    X(tls_half_a_client_hello_then_fin_is_etlstruncated_then_rst_econnreset, 1) \
    X(tls_fin_without_close_notify_after_data_is_etlstruncated, 1) \
    X(tls_a_flipped_bit_in_a_record_is_etlsprotocol_and_alert_20_at_the_client, 1) \
    X(tls_optional_client_auth_verifies_a_client_certificate_when_sent, 1) \
    X(tls_verify_server_skip_name_and_off_check_less_of_the_server, 1) \
    X(tls_min_version_tls13_refuses_openssl_s_client_tls12, 1) \
    X(tls_openssl_s_client_tls11_only_or_another_alpn_is_etlsnoshared, 1) \
    X(tls_connect_timeout_covers_the_handshake_with_a_silent_server, 1) \
    X(tls_reconnect_makes_a_fresh_handshake_that_resumes_the_session, 1) \
    X(tls_connection_cap_holds_the_next_handshake_until_a_connection_closes, 1) \
    X(tls_close_reset_is_a_reset_without_close_notify, 1) \
    X(tls_half_close_sends_close_notify_and_the_answer_still_arrives, 1) \
    X(tls_framing_cuts_the_plaintext_across_records, 1) \
    X(tls_shutdown_server_delivers_the_queue_then_close_notify, 1) \
    X(tls_idle_timeout_fires_and_the_connection_stays_usable, 1) \
    X(tls_handshake_traffic_keeps_a_connection_from_going_idle, 0) \
    X(tls_one_config_pair_serves_two_loops_in_two_threads, 1) \
    X(tls_openssl_s_client_tls13_alpn_every_byte_each_way, 1) \
    X(tls_openssl_s_client_tls12_alpn_every_byte_each_way, 1) \
    X(tls_netcore_client_with_certificate_to_openssl_s_server, 1) \
    X(tls_openssl_s_server_refuses_a_client_without_certificate, 1) \
    X(tls_examples_echo_server_and_client, 1)     \
    X(tls_https_example_answers_curl, 1)          \
    X(tls_starttls_example_with_openssl_s_client_starttls_smtp, 1) \
    X(tls_starttls_example_drops_plaintext_injected_behind_starttls, 1)

#define DECLARE_TEST(name, quick) void test_##name(void);
TEST_LIST(DECLARE_TEST)
#undef DECLARE_TEST

/* ------------------------------------------------------------ assertions */

void t_fail_at(const char *file, int line, int fatal, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
int t_failed(void);
/* Human-readable "-22 (EINVAL)" for a code; static buffer ring, valid for a few calls. */
const char *t_code(long long code);

#define T_FAIL_(fatal, ...) t_fail_at(__FILE__, __LINE__, fatal, __VA_ARGS__)

#define ASSERT_(fatal, expr)                                              \
    do {                                                                  \
        if (!(expr)) T_FAIL_(fatal, "assertion failed: %s", #expr);       \
    } while (0)
#define ASSERT(expr) ASSERT_(1, expr)
#define EXPECT(expr) ASSERT_(0, expr)

#define ASSERT_MSG(expr, ...)                                             \
    do {                                                                  \
        if (!(expr)) T_FAIL_(1, __VA_ARGS__);                             \
    } while (0)

#define ASSERT_EQ_(fatal, a, b)                                           \
    do {                                                                  \
        long long a_ = (long long)(a), b_ = (long long)(b);               \
        if (a_ != b_)                                                     \
            T_FAIL_(fatal, "%s == %s failed: %lld != %lld", #a, #b, a_, b_); \
    } while (0)
#define ASSERT_EQ(a, b) ASSERT_EQ_(1, a, b)
#define EXPECT_EQ(a, b) ASSERT_EQ_(0, a, b)

/* A call that must return exactly `code` (0, or an NC_E* code). */
#define ASSERT_RC_(fatal, call, code)                                     \
    do {                                                                  \
        long long rc_ = (long long)(call), want_ = (long long)(code);     \
        if (rc_ != want_)                                                 \
            T_FAIL_(fatal, "%s returned %s, expected %s", #call, t_code(rc_), \
                    t_code(want_));                                       \
    } while (0)
#define ASSERT_RC(call, code) ASSERT_RC_(1, call, code)
#define EXPECT_RC(call, code) ASSERT_RC_(0, call, code)
#define ASSERT_OK(call) ASSERT_RC_(1, call, 0)
#define EXPECT_OK(call) ASSERT_RC_(0, call, 0)

/* An error code value (e.g. ev.error) that must equal `code`. */
#define ASSERT_CODE(val, code) ASSERT_RC(val, code)
#define EXPECT_CODE(val, code) EXPECT_RC(val, code)

/* A call that must return a valid handle (> 0); evaluates to it. */
nc_handle t_handle_at(const char *file, int line, const char *expr, nc_handle h);
#define ASSERT_HANDLE(call) t_handle_at(__FILE__, __LINE__, #call, (call))

/* --------------------------------------------------- resources and timing */

/* Timeouts are multiplied by this (10 under valgrind). */
extern int t_slow;
#define T_MS(ms) ((ms) * t_slow)

nc_loop *t_loop(void);        /* nc_loop_new, freed after the test */
void t_loop_free(nc_loop *l); /* free now (e.g. to test it) */
int t_fd(int fd);             /* registers a descriptor; returns it */
void t_close(int fd);         /* closes and unregisters */
void *t_alloc(size_t n);      /* zeroed; freed after the test */
void t_free(void *p);         /* free now */

int64_t now_ms(void);
void sleep_ms(int ms);

/* ---------------------------------------------------------------- peers
 *
 * A `peer` is the userdata of a netcore handle in most tests: the generic
 * dispatcher records every event on it (counts per kind, close error,
 * received bytes, frames), checks received stream bytes against a pattern,
 * and runs behaviours: echo (with NC_EAGAIN handling via nc_pause /
 * NC_EV_WRITABLE), close-on-EOF, accepting (a listener's peer creates a
 * child peer for each accepted connection from its `child` template).
 */

#define MAX_KIND (NC_EV_LAST + 1)

typedef struct peer peer;
typedef void (*peer_hook)(peer *p, nc_loop *loop, const nc_event *ev);

struct peer {
    uint32_t magic;
    nc_handle h;
    const char *name;
    peer_hook hook;     /* called after the built-in handling */
    void *arg;          /* for hooks */

    int ev[MAX_KIND];   /* events seen, by kind */
    int close_error;    /* error of NC_EV_CLOSED */
    int connect_error;  /* error of NC_EV_CONNECT_FAILED */
    int last_error;     /* error of the last NC_EV_ERROR */
    int kinds_log[64];  /* first 64 event kinds, in order */
    int nlog;
    int after_closed;   /* events that arrived after NC_EV_CLOSED */
    int last_kind;      /* kind of the last event */
    int conn_eofs;      /* NC_EV_EOF since the last NC_EV_RECONNECTING */
    nc_addr addr;       /* of the last ACCEPTED / CONNECTED / DATAGRAM */

    /* receiving */
    size_t rx_total;    /* bytes received */
    int verify;         /* check bytes against pattern(seed, offset) */
    uint32_t seed;
    long long bad_at;   /* first mismatching offset, -1 if none */
    int store;          /* keep bytes in rx */
    uint8_t *rx;
    size_t rx_len, rx_cap;
    size_t *frame_len;  /* with store: length of each DATA event */
    size_t nframes, frames_cap;

    /* behaviours */
    int echo;           /* send every DATA back */
    int close_on_eof;   /* nc_close on NC_EV_EOF */
    int shutdown_on_eof; /* nc_shutdown on NC_EV_EOF */
    uint8_t *pend;      /* echo bytes refused with NC_EAGAIN */
    size_t pend_len, pend_cap;
    int echo_paused;
    int send_errors;    /* unexpected send failures */
    int last_send_error;

    /* listener: template for accepted children, and the children */
    peer *child;
    peer **kids;
    size_t nkids, kids_cap;
    int framing;        /* for children: 0 stream, else set by hook */
};

peer *peer_new(const char *name);
/* The event dispatcher: ev->userdata must be a peer (or NULL: ignored but counted). */
void dispatch(nc_loop *loop, const nc_event *ev);
extern int t_unclaimed_events;

/* pattern byte at `offset` of a stream with `seed` */
static inline uint8_t pattern(uint32_t seed, size_t offset) {
    return (uint8_t)((offset * 31u + 7u + seed * 131u) & 0xff);
}
void fill_pattern(uint8_t *buf, size_t len, uint32_t seed, size_t offset);

/* Polls `loop`, dispatching events, until pred(arg) is true or timeout_ms
 * (scaled by t_slow) passes. Returns 1 if pred became true. Bounded in both
 * wall time and iterations. pred may be NULL: poll for the whole time. */
typedef int (*pred_fn)(void *arg);
int poll_until(nc_loop *loop, pred_fn pred, void *arg, int timeout_ms);
/* Polls for `ms` milliseconds, dispatching events. */
void poll_for(nc_loop *loop, int ms);
/* One poll with timeout 0, dispatching its events; returns their number. */
int poll_now(nc_loop *loop);

/* common predicates on a peer */
int p_closed(void *p);
int p_connected(void *p);
int p_eof(void *p);
int p_has_kid(void *p);
/* assert helpers that poll for a condition */
#define POLL_ASSERT(loop, pred, arg, ms)                                  \
    ASSERT_MSG(poll_until((loop), (pred), (arg), (ms)),                   \
               "timed out after %d ms waiting for %s(%s)", T_MS(ms), #pred, #arg)

/* wait for rx_total >= n */
int wait_rx(nc_loop *loop, peer *p, size_t n, int timeout_ms);
/* Polls until p has seen n events of `kind`; returns whether it did. */
int wait_kind(nc_loop *loop, peer *p, int kind, int n, int timeout_ms);
#define WAIT_KIND(loop, p, kind, n, ms)                                                  \
    ASSERT_MSG(wait_kind((loop), (p), (kind), (n), (ms)),                                 \
               "%s: %d x %s expected within %d ms, saw %d", (p)->name, (n),              \
               nc_event_name(kind), T_MS(ms), (p)->ev[(kind)])

/* A netcore listener on host:0 whose children echo; returns its peer (h, port set). */
peer *echo_server(nc_loop *loop, const char *host, int *port);
peer *listener_peer(nc_loop *loop, const char *host, int *port, peer *child_template);
/* Connect + wait for NC_EV_CONNECTED; returns the client peer. */
peer *connect_peer(nc_loop *loop, const char *host, int port, const char *name);
/* After connect_peer to a listener_peer: wait for its first/next accepted child. */
peer *wait_kid(nc_loop *loop, peer *listener, size_t index);

int count_kind(const peer *p, int kind);

/* Every call that takes a handle returns `code` for `h` (test_errors.c);
 * `identity` 0 leaves out nc_handle_kind and the userdata calls. */
void expect_every_call_rejects(nc_loop *loop, nc_handle h, int code, int identity);

/* ------------------------------------------------------------ POSIX peers */

int posix_listen(const char *ip, int *port); /* blocking listening socket */
int posix_connect(const char *ip, int port); /* blocking, TCP_NODELAY */
int posix_accept(int lfd, int timeout_ms);   /* -1 on timeout */
int set_nonblock(int fd, int on);
/* send everything (blocking fd), or -1 */
int send_all(int fd, const void *buf, size_t len);
/* Sends `len` bytes in pieces of sizes cycling through `pieces` (0-terminated),
 * polling `loop` `gap_ms` between pieces so each lands in its own read. */
int send_pieces(nc_loop *loop, int fd, const uint8_t *buf, size_t len, const size_t *pieces,
                int gap_ms);
/* Reads from a blocking/non-blocking fd up to `len` bytes within timeout,
 * polling `loop` (may be NULL) meanwhile. Returns bytes read, stops at EOF. */
long recv_some(nc_loop *loop, int fd, uint8_t *buf, size_t len, int timeout_ms, int *eof,
               int *err);

/* ------------------------------------------------------------------ misc */

/* formats an nc_addr's ip (no port) into buf */
const char *addr_ip(const nc_addr *a, char *buf, size_t size);
int local_port(nc_loop *loop, nc_handle h);

#endif
