/*
 * netcore — event-driven TCP/UDP networking (C API).
 *
 * THE MODEL
 *   A loop (nc_loop) owns sockets. Each socket is named by a handle
 *   (nc_handle, a positive int64_t); functions that create one return a
 *   negative NC_E* code instead on failure. A closed handle stays invalid
 *   for good (NC_EBADHANDLE): it never names another socket later, and a
 *   handle of another live loop names nothing in this one (NC_EBADHANDLE).
 *   Every I/O result is an event (nc_event), in order per handle, consumed in
 *   one of three ways:
 *     - nc_poll: fill an array, waiting up to a timeout;
 *     - nc_run: a callback per event until nc_stop;
 *     - embedding: watch nc_loop_fd() for readability from another loop and
 *       call nc_poll(..., 0) when it is readable (see nc_next_timeout).
 *   Every handle ends with exactly one NC_EV_CLOSED event.
 *
 * ERRORS
 *   Functions return 0 (or a handle / count) on success and a negative
 *   NC_E* code on failure; nc_errname / nc_strerror describe any code. OS
 *   errors use the negated Linux errno value (NC_ECONNREFUSED == -ECONNREFUSED);
 *   netcore's own codes are below -3000. Bad input (NULL pointers, unknown,
 *   closed or stale handles, wrong handle kinds, unparsable addresses,
 *   out-of-range values) returns an error and changes nothing. A Rust panic
 *   never crosses into C: it is caught and reported as NC_EPANIC. Every
 *   function that takes a loop returns NC_EINVAL for a NULL loop; each
 *   function's comment lists its other codes ("..." where OS errors pass
 *   through as they are).
 *
 * THREADS
 *   Every function may be called from any thread, concurrently. One thread
 *   at a time polls a loop (others get NC_EBUSY); nc_wake interrupts its
 *   wait. nc_loop_close stops a loop from any thread: its pollers return
 *   NC_ECLOSED. Using a loop after nc_loop_free is the caller's bug, as with
 *   free().
 *   Event data (nc_event.data) of a batch stays valid until the next
 *   nc_poll or nc_run on that loop by ANY thread: a program that polls one
 *   loop from several threads must not poll it again while another thread
 *   still reads the previous batch (hand the bytes over, or copy them, first).
 *
 * OWNERSHIP
 *   Buffers passed to netcore are only read during the call (what cannot be
 *   sent at once is copied). Event data belongs to the loop and is valid
 *   until the next nc_poll or nc_run on that loop, by any thread (see
 *   THREADS). Strings returned by netcore are
 *   static. userdata pointers are stored and returned, never dereferenced.
 *
 * SIGNALS
 *   netcore never raises SIGPIPE (sends use MSG_NOSIGNAL).
 */

#ifndef NETCORE_H
#define NETCORE_H

/* Generated from ffi/src by cbindgen (`make header`); do not edit by hand. */

#include <stddef.h>
#include <stdint.h>

/**
 * No address (`nc_addr.family`).
 */
#define NC_AF_NONE 0

/**
 * An IPv4 address (`nc_addr.family`): `ip[0..4]` holds it.
 */
#define NC_AF_INET 4

/**
 * An IPv6 address (`nc_addr.family`): `ip` holds all 16 bytes.
 */
#define NC_AF_INET6 6

/**
 * Buffer size that fits any address formatted by `nc_addr_format`, NUL included.
 */
#define NC_ADDRSTRLEN 64

/**
 * `nc_connect_opts.family`: any address family (Happy Eyeballs between them).
 */
#define NC_FAMILY_ANY 0

/**
 * `nc_connect_opts.family`: IPv4 only.
 */
#define NC_FAMILY_IPV4 4

/**
 * `nc_connect_opts.family`: IPv6 only.
 */
#define NC_FAMILY_IPV6 6

/**
 * The longest duration netcore honours, in milliseconds (100 years of 365
 * days). The one rule for every duration argument (`nc_timer_start`,
 * `nc_set_idle_timeout`, `nc_shutdown_server`, `nc_connect_opts`): a longer
 * one is accepted and means "never" (a timer that never fires, no idle
 * event, no connect timeout, a reconnect that never starts, a drain that is
 * never forced).
 */
#define NC_MAX_DURATION_MS 3153600000000

/**
 * `nc_tcp_listen` / `nc_udp_bind` flag: set SO_REUSEPORT.
 */
#define NC_REUSEPORT 1

/**
 * `nc_tcp_listen` / `nc_udp_bind` flag: an IPv6 socket accepts IPv6 only.
 */
#define NC_IPV6ONLY 2

/**
 * Error codes: negative; OS errors are the negated Linux errno value.
 */
typedef enum nc_error {
  /**
   * Operation not permitted.
   */
  NC_EPERM = -1,
  /**
   * Interrupted by a signal.
   */
  NC_EINTR = -4,
  /**
   * Out of memory.
   */
  NC_ENOMEM = -12,
  /**
   * Permission denied.
   */
  NC_EACCES = -13,
  /**
   * The loop is being polled by another caller.
   */
  NC_EBUSY = -16,
  /**
   * Invalid argument: NULL pointer, out-of-range value, unparsable address.
   */
  NC_EINVAL = -22,
  /**
   * The system file table is full.
   */
  NC_ENFILE = -23,
  /**
   * The process is out of file descriptors.
   */
  NC_EMFILE = -24,
  /**
   * The send queue is above its high-water mark (wait for `NC_EV_WRITABLE`), or the kernel refused a datagram.
   */
  NC_EAGAIN = -11,
  /**
   * Broken pipe: our side is shut down, or the peer is gone.
   */
  NC_EPIPE = -32,
  /**
   * A message or frame is too large.
   */
  NC_EMSGSIZE = -90,
  /**
   * Address family not supported.
   */
  NC_EAFNOSUPPORT = -97,
  /**
   * Address already in use.
   */
  NC_EADDRINUSE = -98,
  /**
   * Address not available on this machine.
   */
  NC_EADDRNOTAVAIL = -99,
  /**
   * Network unreachable.
   */
  NC_ENETUNREACH = -101,
  /**
   * Connection aborted.
   */
  NC_ECONNABORTED = -103,
  /**
   * Connection reset by peer.
   */
  NC_ECONNRESET = -104,
  /**
   * No buffer space (also: the output buffer of `nc_addr_format` is too small).
   */
  NC_ENOBUFS = -105,
  /**
   * Not connected.
   */
  NC_ENOTCONN = -107,
  /**
   * Timed out.
   */
  NC_ETIMEDOUT = -110,
  /**
   * Connection refused.
   */
  NC_ECONNREFUSED = -111,
  /**
   * Host unreachable.
   */
  NC_EHOSTUNREACH = -113,
  /**
   * Unknown, closed or stale handle.
   */
  NC_EBADHANDLE = -3001,
  /**
   * Name resolution failed.
   */
  NC_EDNS = -3002,
  /**
   * The handle is closing: no more operations are accepted on it.
   */
  NC_ECLOSED = -3003,
  /**
   * Wrong kind of handle for the operation (e.g. sending on a listener).
   */
  NC_EWRONGKIND = -3004,
  /**
   * Internal bug caught at the API boundary (please report it).
   */
  NC_EPANIC = -3005,
} nc_error;

/**
 * Event kinds (`nc_event.kind`).
 */
typedef enum nc_event_kind {
  /**
   * A listener accepted a connection (`handle`: the new one, `listener`, `addr`: the peer).
   */
  NC_EV_ACCEPTED = 1,
  /**
   * An outgoing connection is established (`addr`: the peer).
   */
  NC_EV_CONNECTED = 2,
  /**
   * An outgoing connection failed after every address was tried (`error`); `NC_EV_CLOSED` follows.
   */
  NC_EV_CONNECT_FAILED = 3,
  /**
   * Bytes arrived (`data`, `len`): a chunk in stream mode, a whole frame otherwise.
   */
  NC_EV_DATA = 4,
  /**
   * The peer half-closed: no more data will arrive.
   */
  NC_EV_EOF = 5,
  /**
   * The send queue fell to its low-water mark after a send returned `NC_EAGAIN`.
   */
  NC_EV_WRITABLE = 6,
  /**
   * The handle is gone: the last event of every handle, exactly once;
   * `error` is set when the end was abnormal. The handle is stale from now on.
   */
  NC_EV_CLOSED = 7,
  /**
   * A UDP datagram arrived (`data`, `len`; `addr`: the sender).
   */
  NC_EV_DATAGRAM = 8,
  /**
   * An error on the handle (`error`), e.g. `NC_EMSGSIZE` before the connection
   * closes, or a descriptor shortage on a listener (it retries by itself).
   */
  NC_EV_ERROR = 9,
  /**
   * A timer expired (`userdata`: the timer's). A one-shot timer's `NC_EV_CLOSED` follows.
   */
  NC_EV_TIMER = 10,
  /**
   * A connection saw no successful read or write for its idle timeout
   * (`nc_set_idle_timeout`); it fires again after each further timeout.
   */
  NC_EV_IDLE = 11,
  /**
   * The bytes of a `nc_sendv_token` send reached the kernel (`value`: the token).
   */
  NC_EV_SENT = 12,
  /**
   * An auto-reconnecting connection was lost or failed to connect and will
   * try again (`value`: attempt number, `error`: why).
   */
  NC_EV_RECONNECTING = 13,
  /**
   * A listener's `nc_shutdown_server` is over; its `NC_EV_CLOSED` follows.
   */
  NC_EV_SHUTDOWN_COMPLETE = 14,
} nc_event_kind;

/**
 * Options for `nc_setopt` / `nc_getopt`.
 */
typedef enum nc_option {
  /**
   * Option (`nc_setopt`): TCP_NODELAY, 0 or 1. On by default.
   */
  NC_OPT_NODELAY = 1,
  /**
   * Option: TCP keepalive, 0 = off or the idle seconds before probes (1..32767).
   */
  NC_OPT_KEEPALIVE = 2,
  /**
   * Option: SO_RCVBUF in bytes (1..2^30); the kernel may round it.
   */
  NC_OPT_RCVBUF = 3,
  /**
   * Option: SO_SNDBUF in bytes (1..2^30); the kernel may round it.
   */
  NC_OPT_SNDBUF = 4,
  /**
   * Option: send-queue high-water mark in bytes (1..2^30, >= the low-water mark). Default 1 MiB.
   */
  NC_OPT_HIGH_WATER = 5,
  /**
   * Option: send-queue low-water mark in bytes (0..the high-water mark). Default 256 KiB.
   */
  NC_OPT_LOW_WATER = 6,
  /**
   * Option: SO_BROADCAST on a UDP socket, 0 or 1.
   */
  NC_OPT_BROADCAST = 7,
  /**
   * Option: SO_LINGER in seconds: -1 = off (default), 0 = reset on close, 1..32767.
   */
  NC_OPT_LINGER = 8,
  /**
   * Option: multicast loopback on a UDP socket, 0 or 1.
   */
  NC_OPT_MULTICAST_LOOP = 9,
  /**
   * Option: multicast TTL / hop limit on a UDP socket, 0..255.
   */
  NC_OPT_MULTICAST_TTL = 10,
} nc_option;

/**
 * What a handle names (`nc_handle_kind`).
 */
typedef enum nc_kind {
  /**
   * Handle kind (`nc_handle_kind`): a TCP listener.
   */
  NC_KIND_TCP_LISTENER = 1,
  /**
   * Handle kind: a TCP connection.
   */
  NC_KIND_TCP = 2,
  /**
   * Handle kind: a UDP socket.
   */
  NC_KIND_UDP = 3,
  /**
   * A timer.
   */
  NC_KIND_TIMER = 4,
} nc_kind;

/**
 * An event loop. Created by `nc_loop_new`, destroyed by `nc_loop_free`.
 */
typedef struct nc_loop nc_loop;

/**
 * A handle: a positive integer naming a socket of one loop, below 2^53 (exact
 * in a double or a JavaScript number). Functions that create handles return
 * a negative `NC_E*` code instead on failure. A closed handle is never
 * reused for another socket, and a handle of one loop names nothing in
 * another while both are alive: both get `NC_EBADHANDLE`.
 */
typedef int64_t nc_handle;

/**
 * A socket address, plain data.
 */
typedef struct nc_addr {
  /**
   * `NC_AF_NONE`, `NC_AF_INET` or `NC_AF_INET6`.
   */
  uint16_t family;
  /**
   * Port in host byte order.
   */
  uint16_t port;
  /**
   * IPv6 scope id (0 for IPv4).
   */
  uint32_t scope_id;
  /**
   * Address bytes in network order (IPv4 uses the first 4).
   */
  uint8_t ip[16];
} nc_addr;

/**
 * An event, filled in by `nc_poll` or passed to the `nc_run` callback.
 */
typedef struct nc_event {
  /**
   * What happened: one of `NC_EV_*`.
   */
  int kind;
  /**
   * 0, or the negative `NC_E*` code for `NC_EV_CONNECT_FAILED`,
   * `NC_EV_ERROR` and an abnormal `NC_EV_CLOSED`.
   */
  int error;
  /**
   * The handle the event is about (for `NC_EV_ACCEPTED`: the new connection).
   */
  nc_handle handle;
  /**
   * For `NC_EV_ACCEPTED`: the listener. Otherwise 0.
   */
  nc_handle listener;
  /**
   * The handle's user data (an accepted connection starts with its listener's).
   */
  void *userdata;
  /**
   * For `NC_EV_DATA` and `NC_EV_DATAGRAM`: the bytes, owned by the loop and
   * valid until the next `nc_poll` on it (or until the `nc_run` callback
   * returns). NULL when `len` is 0.
   */
  const uint8_t *data;
  /**
   * Number of bytes at `data`.
   */
  size_t len;
  /**
   * The peer (`NC_EV_ACCEPTED`, `NC_EV_CONNECTED`) or sender (`NC_EV_DATAGRAM`).
   */
  struct nc_addr addr;
  /**
   * `NC_EV_SENT`: the token; `NC_EV_RECONNECTING`: the attempt number (1, 2, ...). Otherwise 0.
   */
  uint64_t value;
} nc_event;

/**
 * Called by `nc_run` for each event. `event` and its data are valid only
 * during the call. The callback may call any `nc_*` function except
 * `nc_poll`/`nc_run` on the same loop (they return `NC_EBUSY`) and
 * `nc_loop_free`.
 */
typedef void (*nc_event_cb)(struct nc_loop *loop, const struct nc_event *event, void *arg);

/**
 * One buffer of a gather send (`nc_sendv`).
 */
typedef struct nc_buf {
  /**
   * The bytes (may be NULL only when `len` is 0).
   */
  const void *data;
  /**
   * Their number.
   */
  size_t len;
} nc_buf;

/**
 * Options for `nc_tcp_connect_ex`. Zero-initialise it (`= {0}`) and set
 * what you need: every zero field means the default.
 */
typedef struct nc_connect_opts {
  /**
   * Give up with `NC_ETIMEDOUT` after this many milliseconds, resolution
   * and every attempt included (0 = no timeout).
   */
  uint32_t timeout_ms;
  /**
   * `NC_FAMILY_ANY`, `NC_FAMILY_IPV4` or `NC_FAMILY_IPV6`.
   */
  int family;
  /**
   * Bind the client socket to this IP literal first (NULL = any).
   */
  const char *local_host;
  /**
   * ... and this port (0 = any).
   */
  int local_port;
  /**
   * Happy Eyeballs: start the next address after this many milliseconds
   * while earlier attempts are still in flight (0 = 250 ms; max 60000).
   */
  uint32_t attempt_delay_ms;
  /**
   * Auto-reconnect delays in milliseconds (NULL/0 = no auto-reconnect): up
   * to 8; the last repeats; the index resets after a successful connection.
   * When the connection is lost (reset, EOF) or an attempt fails,
   * `NC_EV_RECONNECTING` is reported instead of `NC_EV_CLOSED`; bytes
   * still queued at the loss are dropped, bytes sent while reconnecting
   * are queued (up to the high-water mark) and go out after `NC_EV_CONNECTED`.
   * `nc_close` stops reconnecting.
   */
  const uint32_t *reconnect_ms;
  /**
   * Number of entries at `reconnect_ms`.
   */
  size_t reconnect_count;
} nc_connect_opts;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * The library version, e.g. `"0.1.0"`. A static string.
 */
const char *nc_version(void);

/**
 * Creates an event loop. Returns NULL if the system is out of descriptors or
 * memory, or if 1024 loops are already alive in the process (each live loop
 * has its own handle tag; freeing a loop releases its tag). The caller owns
 * the loop and destroys it with `nc_loop_free`.
 */
struct nc_loop *nc_loop_new(void);

/**
 * Closes a loop, from any thread (also while another thread polls or
 * runs it): every handle closes at once (queued data is dropped, and a
 * connection that still had some is reset, so its peer sees the loss; no
 * `NC_EV_CLOSED` is delivered), an `nc_poll` or `nc_run` that is waiting,
 * or starts later, returns `NC_ECLOSED`, and so does every later call on
 * the loop but `nc_loop_free`. `nc_run` delivers no event after it. The
 * memory stays until `nc_loop_free`, which is still required (and fine
 * after this). Idempotent. Returns 0 or `NC_EINVAL` (NULL).
 */
int nc_loop_close(struct nc_loop *loop);

/**
 * Destroys a loop and closes every handle on it at once, as
 * `nc_loop_close` does (queued data is dropped: close connections and poll
 * until `NC_EV_CLOSED` first to flush them). NULL is ignored. No other
 * thread may be using the loop (stop them with `nc_loop_close` first), and
 * the pointer is invalid afterwards: using it then is the caller's bug, as
 * with `free`.
 */
void nc_loop_free(struct nc_loop *loop);

/**
 * Waits up to `timeout_ms` milliseconds (-1 = forever, 0 = not at all) for
 * events and stores up to `max` of them in `events`. Returns the number
 * stored (0 on timeout or when a signal or `nc_wake` interrupted the wait),
 * or `NC_EINVAL` (NULL pointer, `max` 0, timeout below -1), `NC_EBUSY`
 * if another thread is polling this loop, `NC_ECLOSED` once the loop is
 * closed (`nc_loop_close` from any thread also ends a wait), or another
 * negative code if the system's poll failed. Event data stays valid until the next `nc_poll` or
 * `nc_run` on this loop by any thread: with several polling threads, none
 * may poll again while another still reads the previous batch. Events not
 * returned wait for the next poll.
 * A handle whose `NC_EV_CLOSED` a poll returned answers `NC_ECLOSED` until
 * the next poll (while its events are handled), `NC_EBADHANDLE` from then on.
 */
int nc_poll(struct nc_loop *loop, struct nc_event *events, size_t max, int timeout_ms);

/**
 * Polls in a loop and calls `cb(loop, event, arg)` for each event until
 * `nc_stop` is called (from the callback or any thread). Returns 0 after
 * `nc_stop`, `NC_EINVAL` for NULL `loop` or `cb`, `NC_EBUSY` if another
 * thread is polling, `NC_ECLOSED` once the loop is closed (`nc_loop_close`,
 * also from a callback: no event follows), or another negative code if
 * polling failed. An
 * event's data is valid during its callback (see `nc_poll` for other
 * threads polling the same loop).
 */
int nc_run(struct nc_loop *loop, nc_event_cb cb, void *arg);

/**
 * Makes the current `nc_run` return after the callback batch in progress
 * (or the next `nc_run` return at once). Any thread. Returns 0 or `NC_EINVAL`.
 */
int nc_stop(struct nc_loop *loop);

/**
 * Interrupts a blocking `nc_poll` (it returns 0 or the events it has). Any
 * thread. Returns 0 or `NC_EINVAL`.
 */
int nc_wake(struct nc_loop *loop);

/**
 * Embedding: a descriptor that is readable while the loop has events to
 * deliver. Watch it for readability in a host loop (epoll, select, libuv,
 * asyncio) and call `nc_poll` with timeout 0 when it is; after handling
 * events, sleep at most `nc_next_timeout` milliseconds. The loop owns the
 * descriptor: do not read or close it. Returns it, or `NC_EINVAL`.
 */
int nc_loop_fd(struct nc_loop *loop);

/**
 * Embedding: milliseconds a host loop may wait before polling again,
 * rounded up (a deadline 0.3 ms away is 1, so the host never wakes early
 * and spins): 0 only if events are ready now, -1 if only new I/O (signalled
 * on `nc_loop_fd`) can produce events; at most `INT_MAX`. `NC_EINVAL` for a
 * NULL loop.
 */
int nc_next_timeout(struct nc_loop *loop);

/**
 * Listens for TCP connections on `host` (an IPv4 or IPv6 literal such as
 * `"127.0.0.1"`, `"::1"`, `"0.0.0.0"`, or `"localhost"` = 127.0.0.1) and
 * `port` (0..65535; 0 picks a free port, read it back with
 * `nc_local_addr`). `backlog` 0 means 1024; `flags` is `NC_REUSEPORT` |
 * `NC_IPV6ONLY` or 0. SO_REUSEADDR is always set. Each connection arrives as
 * `NC_EV_ACCEPTED` and starts with this listener's `userdata`. Returns the
 * listener handle, or `NC_EINVAL` (NULL, unparsable host, port or backlog
 * out of range, unknown flag), `NC_EADDRINUSE`, `NC_EACCES`, ...
 */
nc_handle nc_tcp_listen(struct nc_loop *loop,
                        const char *host,
                        int port,
                        int backlog,
                        uint32_t flags,
                        void *userdata);

/**
 * Starts a TCP connection to `host` (an IP literal, or a name resolved by
 * a pool of at most 4 helper threads shared by the process: further names
 * wait in a queue, and closing the handle meanwhile cancels the lookup) and
 * `port` (1..65535). Never blocks. Every resolved address
 * is tried in turn; the outcome arrives as `NC_EV_CONNECTED`, or as
 * `NC_EV_CONNECT_FAILED` (`error`: `NC_EDNS`, `NC_ECONNREFUSED`,
 * `NC_ENETUNREACH`, ...) followed by `NC_EV_CLOSED`. Data sent before the
 * connection is established is queued. Returns the connection handle, or
 * `NC_EINVAL` (NULL, empty host, port out of range) or `NC_ENOMEM` (out of
 * memory, handles or resolver threads).
 */
nc_handle nc_tcp_connect(struct nc_loop *loop, const char *host, int port, void *userdata);

/**
 * Binds a UDP socket on `host` (an IP literal or `"localhost"`) and `port`
 * (0 = any). `flags` as for `nc_tcp_listen`. Datagrams arrive as
 * `NC_EV_DATAGRAM`. Returns the handle or a negative code as for `nc_tcp_listen`.
 */
nc_handle nc_udp_bind(struct nc_loop *loop,
                      const char *host,
                      int port,
                      uint32_t flags,
                      void *userdata);

/**
 * Sets a UDP socket's default peer (an IP literal and port): `nc_send` then
 * sends there and only its datagrams are received. Returns 0, `NC_EINVAL`,
 * `NC_EBADHANDLE`, `NC_EWRONGKIND`, `NC_EAFNOSUPPORT` (an IPv6 peer for an
 * IPv4 socket, or the reverse), or another OS error.
 */
int nc_udp_connect(struct nc_loop *loop, nc_handle handle, const char *host, int port);

/**
 * Sends `len` bytes (copied before returning when they cannot go out at
 * once). On a connection the bytes are queued whole or refused whole:
 * `NC_EAGAIN` when the queue would pass its high-water mark (nothing is
 * queued; `NC_EV_WRITABLE` follows once it drains). A message larger than
 * the mark is accepted only when the queue is empty. On a connected UDP
 * socket: one datagram (`len` 0 sends a zero-length one; `data` may then
 * be NULL). Returns 0, or `NC_EINVAL` (NULL data with a non-zero `len`;
 * `len` 0 on a connection), `NC_EBADHANDLE`, `NC_ECLOSED`, `NC_EPIPE`
 * (after `nc_shutdown`), `NC_EWRONGKIND`, `NC_ECONNRESET`, ...
 */
int nc_send(struct nc_loop *loop, nc_handle handle, const void *data, size_t len);

/**
 * Gather send: the `count` buffers go out as one message, in one system
 * call when possible, with the same whole-or-`NC_EAGAIN` rule as `nc_send`.
 * Returns as `nc_send`; `NC_EINVAL` also for NULL `bufs`, `count` 0 or
 * above 1024, or a NULL buffer with a non-zero length.
 */
int nc_sendv(struct nc_loop *loop, nc_handle handle, const struct nc_buf *bufs, size_t count);

/**
 * Sends one datagram to `host` (an IP literal or `"localhost"`) and `port`
 * (1..65535) from a UDP socket; `len` 0 (`data` may then be NULL) sends a
 * zero-length datagram. Returns 0, or `NC_EAGAIN` (the kernel has
 * no room: retry after `NC_EV_WRITABLE`), `NC_EMSGSIZE`, `NC_EINVAL`,
 * `NC_EWRONGKIND`, ...
 */
int nc_send_to(struct nc_loop *loop,
               nc_handle handle,
               const char *host,
               int port,
               const void *data,
               size_t len);

/**
 * Closes a handle gracefully. A connection stops reading, sends everything
 * queued, sends its FIN, waits briefly for the peer's, then
 * `NC_EV_CLOSED` arrives. Listeners, UDP sockets and timers close at once
 * (their `NC_EV_CLOSED` comes with the next poll). From this call until the
 * poll after the one that returns `NC_EV_CLOSED`, calls on the handle
 * return `NC_ECLOSED` (`nc_handle_kind` and the user data still answer;
 * `nc_close_reset` still resets a connection closing gracefully); later,
 * `NC_EBADHANDLE`. `nc_run` delivers no further event of the handle but
 * `NC_EV_CLOSED`; events an `nc_poll` already copied into the caller's array
 * are the caller's to skip. Returns 0, `NC_EBADHANDLE`, or `NC_ECLOSED` if
 * the handle is already closing or closed.
 */
int nc_close(struct nc_loop *loop, nc_handle handle);

/**
 * Closes a handle at once. A connection drops its queue and sends a reset
 * (RST). `NC_EV_CLOSED` comes with the next poll; until the poll after it,
 * calls on the handle return `NC_ECLOSED`, as after `nc_close` (the same
 * rules for `nc_run` and already polled events). Returns 0,
 * `NC_EBADHANDLE`, or `NC_ECLOSED` if the handle is already closed.
 */
int nc_close_reset(struct nc_loop *loop, nc_handle handle);

/**
 * Half-closes a connection: the FIN goes out once everything queued is
 * sent; reading goes on until the peer's EOF, after which the connection
 * closes by itself (`NC_EV_EOF`, then `NC_EV_CLOSED`, in one batch: while
 * `NC_EV_EOF` is handled the handle is closed, `nc_close` returns
 * `NC_ECLOSED`). Later sends fail with `NC_EPIPE`. Returns 0, `NC_EPIPE` if already shut down,
 * `NC_EBADHANDLE`, `NC_ECLOSED` or `NC_EWRONGKIND`.
 */
int nc_shutdown(struct nc_loop *loop, nc_handle handle);

/**
 * Stops reading a connection: the kernel buffers, then the peer is slowed
 * by TCP flow control. A reset, or the peer's close once all its data was
 * delivered, is still reported (`NC_EV_EOF` while paused). Returns 0 or a negative code.
 */
int nc_pause(struct nc_loop *loop, nc_handle handle);

/**
 * Resumes reading a paused connection. Returns 0 or a negative code.
 */
int nc_resume(struct nc_loop *loop, nc_handle handle);

/**
 * Framing: deliver raw chunks as they arrive (the default). Returns 0 or a negative code.
 */
int nc_frame_stream(struct nc_loop *loop, nc_handle handle);

/**
 * Framing: one `NC_EV_DATA` per frame ending with the `delim_len`-byte
 * delimiter (1..8 bytes, e.g. `"\n"`), delivered without it. A frame longer
 * than `max_frame` bytes (1..2^30) is `NC_EV_ERROR` with `NC_EMSGSIZE`, then
 * the connection closes. At EOF, trailing bytes without a delimiter are
 * delivered as a last frame. Returns 0 or `NC_EINVAL`, ...
 */
int nc_frame_delimited(struct nc_loop *loop,
                       nc_handle handle,
                       const void *delim,
                       size_t delim_len,
                       size_t max_frame);

/**
 * Framing: one `NC_EV_DATA` per `size` bytes (1..2^30). Bytes of an
 * incomplete last frame at EOF are dropped. Returns 0 or a negative code.
 */
int nc_frame_fixed(struct nc_loop *loop, nc_handle handle, size_t size);

/**
 * Framing: each frame is a `header_bytes`-byte (1, 2 or 4) big-endian
 * length followed by that many bytes; `NC_EV_DATA` carries the payload
 * only. A length above `max_frame` (1..2^30) is `NC_EV_ERROR` with
 * `NC_EMSGSIZE`, then the connection closes (nothing of it is buffered).
 * Returns 0 or a negative code.
 */
int nc_frame_length_prefixed(struct nc_loop *loop,
                             nc_handle handle,
                             int header_bytes,
                             size_t max_frame);

/**
 * Sets option `opt` (`NC_OPT_*`) to `value`, range-checked (see each
 * option). Returns 0, or `NC_EINVAL` (unknown option, value out of range),
 * `NC_EWRONGKIND` (e.g. a watermark on UDP), `NC_ENOTCONN` (a socket option
 * on a connection still connecting), `NC_EBADHANDLE`, ...
 */
int nc_setopt(struct nc_loop *loop, nc_handle handle, int opt, int64_t value);

/**
 * Reads option `opt` into `*value`. Returns 0 or a negative code as `nc_setopt`.
 */
int nc_getopt(struct nc_loop *loop, nc_handle handle, int opt, int64_t *value);

/**
 * Stores a socket's local address in `*addr`. Returns 0, `NC_EINVAL`,
 * `NC_EBADHANDLE`, `NC_ENOTCONN` (a connection still resolving) or
 * `NC_EWRONGKIND` (a timer).
 */
int nc_local_addr(struct nc_loop *loop, nc_handle handle, struct nc_addr *addr);

/**
 * Stores the peer address of a connection or connected UDP socket in
 * `*addr`. Returns 0, `NC_EINVAL`, `NC_EBADHANDLE`, `NC_ENOTCONN` or
 * `NC_EWRONGKIND` (a listener or a timer).
 */
int nc_peer_addr(struct nc_loop *loop, nc_handle handle, struct nc_addr *addr);

/**
 * Formats an address as `"ip:port"` or `"[ip6]:port"` into `buf` (`size`
 * bytes, NUL-terminated; `NC_ADDRSTRLEN` always suffices). Returns the
 * length without the NUL, `NC_EINVAL` (NULL, unknown family) or
 * `NC_ENOBUFS` (too small; nothing written). Thread-safe, needs no loop.
 */
int nc_addr_format(const struct nc_addr *addr, char *buf, size_t size);

/**
 * Sets the user data returned in the handle's events. netcore never
 * dereferences it. Returns 0 or `NC_EBADHANDLE`/`NC_EINVAL`.
 */
int nc_set_userdata(struct nc_loop *loop, nc_handle handle, void *userdata);

/**
 * Stores the handle's user data in `*userdata`. Returns 0 or a negative code.
 */
int nc_get_userdata(struct nc_loop *loop, nc_handle handle, void **userdata);

/**
 * The kind of a live handle (`NC_KIND_*`), or `NC_EBADHANDLE`/`NC_EINVAL`.
 */
int nc_handle_kind(struct nc_loop *loop, nc_handle handle);

/**
 * The errno-style name of a code, e.g. `"ECONNREFUSED"`, also for any
 * negated Linux errno value (e.g. `"ENOPROTOOPT"` from `nc_setsockopt`);
 * `"EUNKNOWN"` for other negative codes, `"OK"` for 0 and positive values. A static
 * string: never free it. Thread-safe.
 */
const char *nc_errname(int code);

/**
 * A short description of a code, e.g. `"connection refused"` (for a Linux
 * errno value netcore does not list, the C library's description, e.g.
 * `"protocol not available"`); `"unknown error"` for other negative codes.
 * A static string: never free it. Thread-safe.
 */
const char *nc_strerror(int code);

/**
 * The name of an event kind, e.g. `"data"`; `"unknown"` otherwise. Static.
 */
const char *nc_event_name(int kind);

/**
 * Starts a timer: `NC_EV_TIMER` after `delay_ms`, then every `repeat_ms`
 * if it is not 0. A one-shot timer's `NC_EV_CLOSED` follows its
 * `NC_EV_TIMER`; `nc_close` cancels a timer (then `NC_EV_CLOSED`). Timers
 * live in one heap per loop: O(log n) each. A delay or period beyond
 * `NC_MAX_DURATION_MS` is never: the timer stays open without firing
 * (again) until `nc_close`. Returns the timer handle, `NC_EINVAL` or
 * `NC_ENOMEM` (out of memory or handles).
 */
nc_handle nc_timer_start(struct nc_loop *loop,
                         uint64_t delay_ms,
                         uint64_t repeat_ms,
                         void *userdata);

/**
 * Sets a connection's idle timeout: `NC_EV_IDLE` after `timeout_ms`
 * without a successful read or write, and again after each further
 * timeout; any I/O resets it; the application decides whether to close.
 * 0 turns it off; beyond `NC_MAX_DURATION_MS` it never fires. Returns 0 or
 * a negative code.
 */
int nc_set_idle_timeout(struct nc_loop *loop, nc_handle handle, uint64_t timeout_ms);

/**
 * `nc_tcp_connect` with options (`opts` may be NULL; see `nc_connect_opts`):
 * connect timeout, forced address family, local bind address, Happy
 * Eyeballs attempt delay, auto-reconnect. When a name has several
 * addresses, attempts start staggered by the attempt delay, families
 * alternating (RFC 8305); the first to connect wins and the others are
 * closed. Returns the connection handle, or `NC_EINVAL` or `NC_ENOMEM` as
 * `nc_tcp_connect`.
 */
nc_handle nc_tcp_connect_ex(struct nc_loop *loop,
                            const char *host,
                            int port,
                            const struct nc_connect_opts *opts,
                            void *userdata);

/**
 * Answers the name `host` with the `count` IP literals in `addrs` (in that
 * order) for this loop's connections, instead of the system resolver —
 * like a hosts-file entry. `count` 0 removes the entry. Returns 0 or `NC_EINVAL`.
 */
int nc_set_host_addresses(struct nc_loop *loop,
                          const char *host,
                          const char *const *addrs,
                          size_t count);

/**
 * Sets the most bytes one read of a TCP connection of this loop asks for,
 * and so the largest `NC_EV_DATA` chunk in stream framing: 4096 to 4 MiB,
 * default 256 KiB. Hosts that copy every chunk into a fresh allocation of
 * their own may prefer 64 KiB (below glibc's mmap threshold). Any thread.
 * Returns 0, or `NC_EINVAL` (NULL `loop`, `bytes` out of range).
 */
int nc_set_read_size(struct nc_loop *loop, size_t bytes);

/**
 * Caps the connections a listener keeps open at once (0 = no cap). At the
 * cap it stops accepting (clients wait in the kernel backlog) and resumes
 * when one closes. Returns 0, `NC_EWRONGKIND` or `NC_EBADHANDLE`.
 */
int nc_set_max_connections(struct nc_loop *loop, nc_handle listener, size_t max);

/**
 * Graceful server shutdown: the listener stops accepting at once, every
 * connection it accepted is closed gracefully (queued data is delivered),
 * and whatever is still open after `drain_ms` is reset (its `NC_EV_CLOSED`
 * has `NC_ETIMEDOUT`; a `drain_ms` beyond `NC_MAX_DURATION_MS` is never
 * forced). Then `NC_EV_SHUTDOWN_COMPLETE` and `NC_EV_CLOSED` arrive for the
 * listener, once its last connection has closed. Returns 0, `NC_ECLOSED`
 * (already shutting down), `NC_EWRONGKIND` or `NC_EBADHANDLE`.
 */
int nc_shutdown_server(struct nc_loop *loop, nc_handle listener, uint64_t drain_ms);

/**
 * `nc_sendv` with a token: once the last of these bytes is handed to the
 * kernel, `NC_EV_SENT` arrives with `value` = `token` (tokens arrive in
 * send order). TCP connections only. Returns as `nc_sendv`.
 */
int nc_sendv_token(struct nc_loop *loop,
                   nc_handle handle,
                   const struct nc_buf *bufs,
                   size_t count,
                   uint64_t token);

/**
 * Sends one datagram from a UDP socket to `addr` (e.g. a `NC_EV_DATAGRAM`
 * event's sender). Returns as `nc_send_to`.
 */
int nc_send_to_addr(struct nc_loop *loop,
                    nc_handle handle,
                    const struct nc_addr *addr,
                    const void *data,
                    size_t len);

/**
 * Joins (`join` 1) or leaves (`join` 0) the multicast group `group` (an IP
 * literal) on a UDP socket. `iface` is the local IPv4 address of the
 * interface for an IPv4 group (`"0.0.0.0"` = default) or the interface
 * index as a decimal string for an IPv6 group (`"0"` = default). Returns 0,
 * `NC_EINVAL`, `NC_EBADHANDLE`, `NC_EWRONGKIND`, or the OS error.
 */
int nc_udp_multicast(struct nc_loop *loop,
                     nc_handle handle,
                     const char *group,
                     const char *iface,
                     int join);

/**
 * Raw `setsockopt(fd, level, name, value, len)` on a socket's descriptor,
 * for options netcore does not name. Returns 0 or the negated errno
 * (e.g. -ENOPROTOOPT; `nc_errname` names it), or
 * `NC_EINVAL`/`NC_EBADHANDLE`/`NC_EWRONGKIND`/`NC_ENOTCONN` (a connection
 * still connecting: it has no socket yet).
 */
int nc_setsockopt(struct nc_loop *loop,
                  nc_handle handle,
                  int level,
                  int name,
                  const void *value,
                  size_t len);

/**
 * Raw `getsockopt`: reads into `value` (`*len` bytes of room); `*len` is
 * set to the length the OS wrote. Returns 0 or the negated errno, or
 * `NC_EINVAL`/`NC_EBADHANDLE`/`NC_EWRONGKIND`/`NC_ENOTCONN` as
 * `nc_setsockopt`.
 */
int nc_getsockopt(struct nc_loop *loop,
                  nc_handle handle,
                  int level,
                  int name,
                  void *value,
                  size_t *len);

/**
 * The socket's file descriptor, for system calls netcore does not wrap.
 * The loop keeps owning it: do not close it, read or write it. Returns it,
 * or `NC_EBADHANDLE`, `NC_EWRONGKIND` (a timer), `NC_ENOTCONN` (a
 * connection still connecting), `NC_EINVAL`.
 */
int nc_fd(struct nc_loop *loop, nc_handle handle);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* NETCORE_H */
