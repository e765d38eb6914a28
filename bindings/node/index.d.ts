// Type declarations for `require('netcore')` (hand-written; the generated
// declarations of the native layer are in native.d.ts).

/// <reference types="node" />

import { EventEmitter } from 'node:events'

/**
 * A handle: a positive integer (below 2^53) naming a listener, connection,
 * UDP socket or timer of one loop. Never reused for another object: a
 * closed or stale handle, or another loop's, is rejected with an Error whose
 * code is 'EBADHANDLE'.
 */
export type Handle = number

/**
 * A port: an integer, or a string of decimal digits ('8080'), as Node's
 * `net` accepts them.
 */
export type Port = number | string

/**
 * A socket address, as Node's `net` reports them; an IPv6 address keeps its
 * zone ('fe80::1%2'), so a reply to a link-local peer leaves by the right
 * interface.
 */
export interface AddressInfo {
  address: string
  family: 'IPv4' | 'IPv6'
  port: number
}

/**
 * The errors netcore throws and reports, shaped like Node's own system
 * errors: `message` is `"<syscall> <CODE>[ <host>:<port>]"`, e.g.
 * `connect ECONNREFUSED 127.0.0.1:9`.
 */
export interface NetcoreError extends Error {
  /** The errno-style name: 'ECONNREFUSED', 'EBADHANDLE', 'EDNS', 'EMSGSIZE', ... */
  code: string
  /** The negative code (the negated errno for errors the OS knows, e.g. -111). */
  errno: number
  /** What was being done: 'connect', 'send', 'read', 'accept', 'listen', ... */
  syscall: string
  /** A short description of the code. */
  description: string
  address?: string
  port?: number
  /** Bad configuration (code 'EINVAL'): the core's name of the argument ('cert', 'key', 'ca', 'client_ca', 'min_version', ...). */
  argument?: string
  /** Bad configuration: what the argument should be. */
  expected?: string
  /** TLS errors ('ETLS*'): the alert number the peer sent (e.g. 48 unknown_ca, 120 no_application_protocol). */
  alert?: number
  /** TLS errors: the TLS library's own description (also in `message`). */
  reason?: string
  /**
   * TLS errors: Node's code for the same failure where it has one:
   * 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' (ETLSUNKNOWNCA), 'CERT_HAS_EXPIRED',
   * 'ERR_TLS_CERT_ALTNAME_INVALID' (ETLSBADNAME), 'ERR_SSL_WRONG_VERSION_NUMBER'
   * (ETLSNOTTLS), 'ECONNRESET' (ETLSTRUNCATED), 'ERR_TLS_HANDSHAKE_TIMEOUT',
   * and OpenSSL's name of a peer's alert ('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', ...).
   */
  nodeCode?: string
}

/** The kind of an event, and the name it is emitted under. */
export type EventType =
  | 'accepted'
  | 'connected'
  | 'connect_failed'
  | 'data'
  | 'eof'
  | 'writable'
  | 'closed'
  | 'datagram'
  | 'error'
  | 'timer'
  | 'idle'
  | 'sent'
  | 'reconnecting'
  | 'shutdown_complete'
  | 'tls_ready'
  | 'tls_failed'

/** One event. Every field is present; those that do not apply are undefined. */
export interface NetcoreEvent<T extends EventType = EventType> {
  type: T
  /** The handle the event is about ('accepted': the new connection). */
  handle: Handle
  /** 'accepted': the listener that accepted the connection. */
  listener: Handle | undefined
  /**
   * 'data': one chunk (stream framing) or one whole frame; 'datagram': one
   * datagram. Small payloads may share memory with others of the same batch,
   * as Node's pooled Buffers do: copy (`Buffer.from(data)`) what you keep
   * for long.
   */
  data: Buffer | undefined
  /** 'accepted' / 'connected': the peer; 'datagram': the sender (a UDP socket's; see `path`). */
  address: AddressInfo | undefined
  /** 'connect_failed', 'error', 'reconnecting', and 'closed' when the end was abnormal. */
  error: NetcoreError | undefined
  /** The handle's user data (an accepted connection starts with its listener's). */
  userdata: unknown
  /** 'sent': the send token; 'reconnecting': the attempt number (1, 2, ...); 'tls_ready': a TlsInfo. */
  value: number | TlsInfo | undefined
  /** 'datagram' on a Unix datagram socket: the sender's path (undefined when it is unbound). */
  path: string | undefined
}

/** What a TLS handshake negotiated, as Node's TLSSocket names it. */
export interface TlsInfo {
  /** 'TLSv1.2' or 'TLSv1.3'. */
  protocol: string
  /** The cipher suite's IANA-style name, e.g. 'TLS13_AES_128_GCM_SHA256'. */
  cipher: string
  /** The ALPN protocol agreed on, or false. */
  alpnProtocol: string | false
  /** Whether the session was resumed. */
  resumed: boolean
  /** Whether the peer's certificate was verified (a server: whether the client sent one). */
  authorized: boolean
}

export interface DataEvent extends NetcoreEvent<'data'> {
  data: Buffer
}
export interface DatagramEvent extends NetcoreEvent<'datagram'> {
  data: Buffer
  /** The sender on a UDP socket; undefined on a Unix datagram socket (see `path`). */
  address: AddressInfo | undefined
}
export interface AcceptedEvent extends NetcoreEvent<'accepted'> {
  listener: Handle
  address: AddressInfo
}
export interface ConnectedEvent extends NetcoreEvent<'connected'> {
  address: AddressInfo
}
export interface ErrorEvent<T extends EventType = 'error'> extends NetcoreEvent<T> {
  error: NetcoreError
}
export interface ValueEvent<T extends EventType> extends NetcoreEvent<T> {
  value: number
}
/** 'tls_ready': the TlsInfo fields on the event itself too. */
export interface TlsReadyEvent extends NetcoreEvent<'tls_ready'>, TlsInfo {
  value: TlsInfo
}

/** The events a Loop emits, with their listener arguments. */
export interface LoopEvents {
  /** A listener accepted a connection (`ev.handle`, from `ev.listener`, peer `ev.address`). */
  accepted: [ev: AcceptedEvent]
  /** An outgoing connection is established. */
  connected: [ev: ConnectedEvent]
  /** An outgoing connection failed for good; 'closed' follows. */
  connect_failed: [ev: ErrorEvent<'connect_failed'>]
  data: [ev: DataEvent]
  /** The peer half-closed: no more data will arrive. Close (or shut down) when done. */
  eof: [ev: NetcoreEvent<'eof'>]
  /** The send queue drained to its low-water mark after a send returned false. */
  writable: [ev: NetcoreEvent<'writable'>]
  /** Same event as 'writable', under Node's name. */
  drain: [ev: NetcoreEvent<'writable'>]
  /** The handle is gone (exactly once); `ev.error` is set when the end was abnormal. */
  closed: [ev: NetcoreEvent<'closed'>]
  datagram: [ev: DatagramEvent]
  /**
   * An error on a handle (e.g. EMSGSIZE for an oversized frame, before its
   * 'closed'; EMFILE on a listener). Unlike most emitters, a Loop without an
   * 'error' listener does not throw: the event is dropped ('closed' carries
   * the reason anyway).
   */
  error: [ev: ErrorEvent<'error'>]
  timer: [ev: NetcoreEvent<'timer'>]
  /** A connection saw no I/O for its idle timeout (see setIdleTimeout). */
  idle: [ev: NetcoreEvent<'idle'>]
  /** The bytes of a send made with a token reached the kernel (`ev.value` is the token). */
  sent: [ev: ValueEvent<'sent'>]
  /** An auto-reconnecting connection was lost and will try again (`ev.value`: attempt). */
  reconnecting: [ev: ValueEvent<'reconnecting'>]
  /** A listener's graceful shutdown (shutdownServer) is over; its 'closed' follows. */
  shutdown_complete: [ev: NetcoreEvent<'shutdown_complete'>]
  /** A connection's TLS handshake finished (exactly one 'tls_ready' or 'tls_failed' per handshake), before the data that came with it. */
  tls_ready: [ev: TlsReadyEvent]
  /** A connection's TLS handshake failed (`ev.error`, code 'ETLS*', with `alert` / `reason` / `nodeCode`); its 'closed' follows with the same error. */
  tls_failed: [ev: ErrorEvent<'tls_failed'>]
}

/** Names accepted by onHandle(): every event, plus 'drain' (= 'writable'). */
export type HandleEventName = keyof LoopEvents

export interface ListenOptions {
  /** Listen backlog, 1 to 65535; 0 or none = the core's default (`vocabulary.defaults.backlog`). */
  backlog?: number
  /** SO_REUSEPORT (default false). SO_REUSEADDR is always on. */
  reusePort?: boolean
  /** For an IPv6 address: IPv6 only, no IPv4-mapped peers (default false). */
  ipv6Only?: boolean
  /** At most this many open connections (0 = no cap): at the cap, accepting pauses. */
  maxConnections?: number
  /** Initial user data (inherited by accepted connections). */
  userdata?: unknown
  /** TLS on every accepted connection (a 'tls_ready' or 'tls_failed' follows 'accepted'): needs `cert` and `key`. */
  tls?: SecureContext | SecureContextOptions
}

export interface ConnectOptions {
  /** Connect timeout in milliseconds, name resolution included (ETIMEDOUT). */
  timeout?: number
  /**
   * Address family, the core's value or name (`vocabulary.families`): 4 /
   * 'ipv4' or 6 / 'ipv6' only; 0 / 'any' (default) = both, Happy Eyeballs.
   * `net`'s 'IPv4' / 'IPv6' are accepted too.
   */
  family?: 0 | 4 | 6 | 'any' | 'ipv4' | 'ipv6' | 'IPv4' | 'IPv6'
  /** Bind the socket to this local IP address first. */
  localAddress?: string
  /** With localAddress: the local port (default 0 = any). */
  localPort?: Port
  /** Happy Eyeballs delay between staggered attempts, in ms (default 250). */
  attemptDelay?: number
  /**
   * Auto-reconnect delays in ms (at most 8; the last repeats; the schedule
   * restarts after a successful connection). Closing the handle stops it.
   */
  reconnect?: number[]
  userdata?: unknown
  /**
   * TLS once connected ('tls_ready' or 'tls_failed' follows 'connected'); data sent meanwhile waits for the
   * handshake. Options make a new context per call: pass one SecureContext to share its config and its
   * session cache (resumption) across connections.
   */
  tls?: SecureContext | SecureContextOptions
  /** The name the server's certificate is verified against (and sent as SNI when not an IP); default `host`. */
  servername?: string
}

/** PEM text: a string or bytes, or an array of them (joined). */
export type Pem = string | Uint8Array | Array<string | Uint8Array>

/**
 * createSecureContext() options, named as Node's `tls.createSecureContext`
 * / `tls.createServer` / `tls.connect` name them. The core validates the
 * values: a bad one throws 'EINVAL' with `.argument` and `.expected`.
 * Node options netcore lacks (`pfx`, `passphrase`, `ciphers`, `SNICallback`,
 * `checkServerIdentity`, ...) throw 'ERR_INVALID_ARG_VALUE'.
 */
export interface SecureContextOptions {
  /** The certificate chain, leaf first (a server's; a client's for mutual TLS). */
  cert?: Pem
  /** The private key of the leaf (PKCS#8, PKCS#1 or SEC1; not encrypted). */
  key?: Pem
  /** CA certificates: a client trusts only these (default: the system's store); a server verifies client certificates with them. */
  ca?: Pem
  /** ALPN protocols in order of preference (a server refuses clients offering none of them). */
  ALPNProtocols?: Array<string | Uint8Array>
  /** The oldest version accepted (default 'TLSv1.2'). */
  minVersion?: 'TLSv1.2' | 'TLSv1.3'
  /** A server asks clients for a certificate (default false). */
  requestCert?: boolean
  /**
   * With requestCert: false accepts clients without a certificate (optional
   * authentication). A client always verifies its server: false throws
   * 'ERR_NOT_SUPPORTED' when used to connect.
   */
  rejectUnauthorized?: boolean
  /** How long a handshake may take, in ms (default 30000; Infinity: no limit). */
  handshakeTimeout?: number
}

/** A TLS configuration, shared by every listener and connection given it (see createSecureContext). */
export declare class SecureContext {
  private constructor()
  readonly rejectUnauthorized: boolean
}

export interface UdpBindOptions {
  reusePort?: boolean
  ipv6Only?: boolean
  userdata?: unknown
}

export interface SendOptions {
  /** Encoding of a string `data` (default 'utf8'). */
  encoding?: BufferEncoding
  /** A 'sent' event with this value follows once the bytes reached the kernel (TCP). */
  token?: number
}

/** Bytes to send: strings are sent as UTF-8 (or `encoding`). */
export type Data = string | Buffer | Uint8Array | ArrayBufferView | ArrayBuffer

/**
 * One datagram of sendBatch(): its bytes and where it goes, `address` (an
 * IP literal) and `port`, or neither for the connected peer. A 'datagram'
 * event's sender spreads into it: `{ data, ...ev.address }`.
 */
export interface Datagram {
  data: Data
  address?: string
  port?: Port
}

export type Framing =
  | 'stream'
  | { mode: 'stream' }
  /** Frames end with `delimiter` (default '\n', 1 to 8 bytes), delivered without it; maxFrame default 1 MiB (`vocabulary.defaults`). */
  | { mode: 'delimited'; delimiter?: string | Uint8Array; maxFrame?: number }
  /** Frames of exactly `size` bytes (1 byte to 1 GiB). */
  | { mode: 'fixed'; size: number }
  /** Frames after a 1-, 2- or 4-byte (default 4) big-endian length, delivered without it; maxFrame default 1 MiB. */
  | { mode: 'length_prefixed'; header?: 1 | 2 | 4; maxFrame?: number }

/**
 * Options for setOption/getOption (the core's names, as in C and Python), with
 * the values each takes (`vocabulary.options` has each one's range). A value
 * out of range throws EINVAL with `.argument` (the option) and `.expected`.
 */
export interface SocketOptions {
  /** TCP_NODELAY (on by default). */
  nodelay: boolean
  /** TCP keepalive: 0 = off, else the idle seconds before probes (1 to 32767). */
  keepalive: number
  /** SO_RCVBUF in bytes (1 to 1 GiB; the kernel may round it). */
  rcvbuf: number
  /** SO_SNDBUF in bytes (1 to 1 GiB). */
  sndbuf: number
  /** Send-queue high-water mark in bytes (1 to 1 GiB, >= low_water; default 1 MiB). */
  high_water: number
  /** Send-queue low-water mark in bytes (0 to high_water; default 256 KiB). */
  low_water: number
  /** SO_BROADCAST (UDP). */
  broadcast: boolean
  /** SO_LINGER seconds: -1 = off (default), 0 = reset on close, up to 32767. */
  linger: number
  /** IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP (UDP). */
  multicast_loop: boolean
  /** Multicast TTL / hop limit, 0 to 255 (UDP). */
  multicast_ttl: number
  /** Unicast TTL / hop limit (IP_TTL, IPV6_UNICAST_HOPS), 1 to 255. */
  ttl: number
}
export type SocketOptionName = keyof SocketOptions

/** What a handle names (the core's names, as in C and Python). */
export type HandleKind = 'tcp_listener' | 'tcp_connection' | 'udp' | 'timer'

/**
 * An event loop: owns sockets and timers named by integer handles and emits
 * their events (see LoopEvents). Node's own event loop drives it (no extra
 * thread): events reach JavaScript in batches, one call per batch, and
 * promise continuations and `process.nextTick` callbacks queued by a batch
 * run before the next one. It never blocks Node's event loop.
 *
 * The process stays alive while the loop has open handles (each is ref'd,
 * as Node's sockets are), unless `unref()` / `unrefHandle()` say otherwise.
 * A loop with open handles stays alive for their events even when nothing
 * refers to it (as an open Node socket does); one without any that nothing
 * refers to is garbage-collected and closed, descriptors included.
 *
 * Listeners: one that throws does not keep the event from the others (nor
 * the batch from the other handles); its exception is uncaught, as one
 * thrown by a Node I/O callback is (the process 'uncaughtException'). The
 * loop's own listeners (`loop.on`) run in the async context the loop was
 * created in, like any EventEmitter's; onHandle() listeners in the one they
 * were added in.
 *
 * A bug caught in the native layer (a Rust panic) throws an Error with
 * code 'EPANIC' instead of aborting the process.
 */
export declare class Loop extends EventEmitter<LoopEvents> {
  constructor()

  /** Number of open handles (those whose 'closed' has not been delivered). */
  readonly handleCount: number
  /** Whether the loop was closed with `close()`. */
  readonly closed: boolean

  /** Keep the process alive while this loop has open handles (the default). */
  ref(): this
  /** Let the process exit even with open handles. */
  unref(): this
  refHandle(handle: Handle): this
  unrefHandle(handle: Handle): this

  /**
   * Listens for TCP connections on `host` (an IP literal, '[::1]' or
   * 'localhost') and `port` (0 = any free port; read it back with
   * localAddress). Throws an Error with code 'EINVAL' (and the core's
   * `.argument` / `.expected`) for a host that is not an IP literal or a port
   * out of range, 'EADDRINUSE', ....
   */
  listen(host: string, port: Port, options?: ListenOptions): Handle
  /**
   * Listens on the Unix socket `path` (a filesystem path, whose socket file
   * goes when the listener closes, or '@name' in Linux's abstract namespace).
   * Its connections behave as TCP ones; 'accepted' has no address.
   */
  listenUnix(path: string, options?: { backlog?: number; maxConnections?: number; userdata?: unknown }): Handle
  /** Connects to the Unix socket `path`; throws at once on failure, 'connected' follows. */
  connectUnix(path: string, options?: { userdata?: unknown }): Handle
  /**
   * Binds a Unix datagram socket to `path` (a filesystem path, whose socket
   * file goes when the socket closes, or '@name'); its 'datagram' events
   * carry the sender's `path` (none for an unbound sender). Send with
   * sendToUnix(), or udpConnectUnix() then send().
   */
  udpBindUnix(path: string, options?: { userdata?: unknown }): Handle
  /** Sets a Unix datagram socket's default peer: send() then goes there. */
  udpConnectUnix(handle: Handle, path: string): void
  /**
   * Adopts a listening socket descriptor (TCP or Unix); the loop owns it on
   * success, and it is left as it was on failure (so for every adopt*()).
   * Several loops share one listener by each adopting its own duplicate.
   */
  adoptListener(fd: number, options?: { userdata?: unknown }): Handle
  /** Adopts a connected stream socket descriptor (TCP or Unix), live at once. */
  adoptConnection(fd: number, options?: { userdata?: unknown }): Handle
  /** Adopts a datagram socket descriptor (UDP or Unix). */
  adoptUdp(fd: number, options?: { userdata?: unknown }): Handle
  /** The pid, uid and gid of a Unix connection's peer (SO_PEERCRED). */
  peerCredentials(handle: Handle): { pid: number; uid: number; gid: number }
  /** listen(), with the bound address. */
  listenAsync(host: string, port: Port, options?: ListenOptions): Promise<{ handle: Handle; address: AddressInfo }>

  /**
   * Starts connecting (names are resolved off the JavaScript thread). The result is
   * a 'connected' event, or 'connect_failed' then 'closed'. The handle can
   * be sent to at once: bytes are queued until the connection is up.
   */
  connect(host: string, port: Port, options?: ConnectOptions): Handle
  /**
   * connect(), resolving on 'connected' with the peer address, rejecting
   * with the error (e.g. code 'ECONNREFUSED', 'EDNS', 'ETIMEDOUT') on
   * 'connect_failed'.
   */
  connectAsync(host: string, port: Port, options?: ConnectOptions): Promise<{ handle: Handle; address: AddressInfo }>

  /** Binds a UDP socket (port 0 = any). */
  udpBind(host: string, port: Port, options?: UdpBindOptions): Handle
  /** Sets a UDP socket's default peer (then send() works on it). */
  udpConnect(handle: Handle, host: string, port: Port): void
  /** Dissolves a datagram socket's default peer (it keeps its own address); ENOTCONN if it has none. */
  udpDisconnect(handle: Handle): void

  /**
   * Answers `name` with `addresses` (IP literals, tried in this order, Happy
   * Eyeballs style) for this loop's connections without asking the system
   * resolver, like a hosts-file entry. An empty list removes the entry.
   */
  setHostAddresses(name: string, addresses: string[]): void

  /**
   * A timer: a 'timer' event after `delay` ms, then every `repeat` ms if given and not 0. Cancel with close().
   * Every duration in this API is milliseconds, not negative: negative or
   * NaN is a RangeError that changes nothing; one beyond the core's
   * MAX_DURATION (Infinity included) means "never".
   */
  timer(delay: number, repeat?: number, options?: { userdata?: unknown }): Handle

  /**
   * Sends on a connection or connected UDP socket. Never blocks and never
   * sends part of a message: returns true when the bytes were queued whole,
   * and **false when they were refused whole** (the send queue is above its
   * high-water mark: EAGAIN) — unlike `socket.write()`, the refused bytes
   * are NOT queued: keep them and send them again on 'writable' / 'drain'.
   * Other failures throw (e.g. 'EBADHANDLE', 'ECLOSED', 'EPIPE', 'EINVAL'
   * for empty data).
   *
   * The bytes are read before send() returns (written, or copied into the
   * queue) and never later: a view of a SharedArrayBuffer may be changed by
   * another thread as soon as the call returned (not during it: that is a
   * data race, as any read of memory another thread writes).
   */
  send(handle: Handle, data: Data, options?: BufferEncoding | SendOptions): boolean
  /** Gather send: the buffers go as one message, queued whole or refused whole (false). */
  sendv(handle: Handle, buffers: Data[], options?: { token?: number }): boolean
  /** Sends one datagram to host (an IP literal) and port; false = EAGAIN (not sent). */
  sendTo(handle: Handle, data: Data, host: string, port: Port): boolean
  /** Sends one datagram from a Unix datagram socket to `path`; false = EAGAIN (not sent). */
  sendToUnix(handle: Handle, data: Data, path: string): boolean
  /**
   * Sends datagrams in order, as many per system call as the kernel takes
   * (sendmmsg): each `{ data, address, port }`, or `{ data }` for the
   * connected peer; each goes whole or not at all. Returns how many went,
   * counted from the first: all of them, or fewer, n, when datagrams[n]
   * could not go — it and the ones after it were not sent, and
   * sendBatch(handle, datagrams.slice(n)) sends them or throws why. 0 for a
   * non-empty batch: the kernel has no room (EAGAIN; 'drain' follows).
   * Throws when the first cannot go for another reason (EINVAL for a bad
   * address or port 0, EMSGSIZE, ENOTCONN); a wrong type anywhere throws
   * before anything is sent.
   */
  sendBatch(handle: Handle, datagrams: Datagram[]): number

  /**
   * With a handle: closes it gracefully — a connection sends everything
   * queued, then FIN; 'closed' follows. Listeners, UDP sockets and timers
   * close at once. A no-op for a handle already closing ('closed' on its
   * way); between a close and its 'closed' every other operation but kind()
   * throws 'ECLOSED', after 'closed' 'EBADHANDLE'. Once close(),
   * closeReset() or closeAbort() returned, no event of the handle but
   * 'closed' is emitted (events already on their way, or held while paused,
   * are dropped).
   *
   * Without arguments: closes the loop — every socket at once (what is
   * queued is dropped, and a connection that still had bytes queued is
   * reset so its peer sees the loss), no further event,
   * 'ECLOSED' from every later call; pending connectAsync promises reject
   * with 'ECLOSED'.
   */
  close(handle: Handle): void
  close(): void
  /**
   * Closes at once: a connection drops its queue and resets (RST). Like
   * `socket.resetAndDestroy()`. No event but 'closed' follows for the
   * handle, not even data that had already arrived (see close()).
   */
  closeReset(handle: Handle): void
  /**
   * Closes at once without a needless reset, as `socket.destroy()` closes
   * Node's socket: what is still queued in netcore is dropped and the
   * socket closed without waiting for the peer, which gets what the kernel
   * took, then a FIN; if queued bytes were dropped, a reset (RST) instead,
   * so that it cannot take the lost bytes for a clean end. Also ends a
   * graceful close under way. 'closed' follows as after closeReset().
   */
  closeAbort(handle: Handle): void
  /** Half-close: FIN once everything queued is sent; reading goes on. Like `socket.end()`. */
  shutdown(handle: Handle): void
  /**
   * Asks for a 'sent' event whose `value` is `token` (an integer from 0 to
   * Number.MAX_SAFE_INTEGER) once the kernel has taken every byte sent on
   * the connection so far (from the next batch on if it already has): what
   * a write callback or a shutdown's completion waits for. Bytes sent later
   * do not hold it back; none comes if the connection is lost first.
   */
  notifyWhenSent(handle: Handle, token: number): void
  /**
   * Stops reading. No 'data' for this handle is emitted after pause()
   * returns; events already on their way are held and delivered in order
   * after resume() (or just before 'closed'). A peer close is still noticed
   * while paused: 'eof' comes while paused once no byte is left before it
   * (behind held data, it is held too).
   */
  pause(handle: Handle): void
  resume(handle: Handle): void

  /** How incoming bytes are cut into 'data' events. Oversized frames: 'error' (EMSGSIZE), then 'closed'. */
  setFraming(handle: Handle, framing: Framing): void
  /** 'idle' after `timeout` ms without I/O, and again after each further `timeout`; 0 / null = off. */
  setIdleTimeout(handle: Handle, timeout: number | null): void
  /** Caps a listener's open connections (0 = no cap). */
  setMaxConnections(handle: Handle, max: number): void
  /**
   * Graceful server shutdown: stop accepting, close the listener's
   * connections gracefully, reset what is left after `drainTimeout` ms
   * (required, as in C and Python; Infinity: never forced); then
   * 'shutdown_complete' and 'closed' for the listener.
   */
  shutdownServer(handle: Handle, drainTimeout: number): void

  /**
   * Sets an option. Wrong types throw TypeError; an unknown name or a value
   * out of range throws 'EINVAL' with the core's `.argument` / `.expected`;
   * an option that does not apply to the handle throws 'EWRONGKIND', a
   * high-water mark below the low-water mark 'EINVAL'.
   */
  setOption<K extends SocketOptionName>(handle: Handle, name: K, value: SocketOptions[K] | number): void
  getOption<K extends SocketOptionName>(handle: Handle, name: K): SocketOptions[K]
  /** setsockopt(level, name, value); a number is passed as a C int. */
  setRawOption(handle: Handle, level: number, name: number, value: number | Uint8Array): void
  /** getsockopt(level, name) into `size` bytes (default 4, at most `vocabulary.defaults.maxRawOptionSize`). */
  getRawOption(handle: Handle, level: number, name: number, size?: number): Buffer
  /** The socket's file descriptor (the loop keeps owning it). */
  rawFd(handle: Handle): number
  /** Bytes sent on a connection that the kernel has not taken yet: what the highWater / lowWater options are compared with. */
  queuedBytes(handle: Handle): number
  kind(handle: Handle): HandleKind
  localAddress(handle: Handle): AddressInfo
  peerAddress(handle: Handle): AddressInfo
  /** The Unix path of a socket's own end ('@name' if abstract; null when unnamed). */
  localPath(handle: Handle): string | null
  /** The Unix path of a connection's (or connected datagram socket's) peer, as localPath(). */
  peerPath(handle: Handle): string | null
  /** Joins a multicast group (UDP); `iface`: local IPv4 address or IPv6 interface index. */
  addMembership(handle: Handle, group: string, iface?: string | number): void
  dropMembership(handle: Handle, group: string, iface?: string | number): void
  /** Sets the interface a UDP socket sends multicast from: an IPv4 socket's local address, an IPv6 one's index (0: the system's). */
  setMulticastInterface(handle: Handle, iface: string | number): void

  /** Sets (null: clears) the TLS of a listener's later accepts (certificate rotation); accepted connections keep theirs. */
  setSecureContext(listener: Handle, context: SecureContext | SecureContextOptions | null): void
  /**
   * STARTTLS on a live connection: as a server (`isServer`) or as a client
   * verifying `servername` (default: the host connected to). Bytes queued
   * before go first, in plaintext; 'tls_ready' or 'tls_failed' follows.
   * Throws 'EINVAL' when the connection already speaks TLS or holds
   * plaintext not yet delivered.
   */
  startTls(handle: Handle, context: SecureContext | SecureContextOptions, options?: { isServer?: boolean; servername?: string }): void
  /** What the handshake negotiated; null before it is over or without TLS. */
  tlsInfo(handle: Handle): TlsInfo | null
  /** The peer's certificate; null if it sent none (or no TLS, or the handshake is not over). */
  getPeerCertificate(handle: Handle): import('node:crypto').X509Certificate | null
  /** The peer's certificate chain, leaf first. */
  getPeerCertificateChain(handle: Handle): import('node:crypto').X509Certificate[]

  /** Any JavaScript value, returned as `ev.userdata`; released once 'closed' was delivered. */
  setUserdata(handle: Handle, value: unknown): void
  getUserdata(handle: Handle): unknown

  /**
   * Listeners for one handle's events, called before the loop's own. For
   * 'accepted', the handle is the listener. Released when the handle closes.
   * An unknown event name throws a TypeError (code 'ERR_INVALID_ARG_VALUE',
   * listing the valid ones). Each listener runs in the async context it was
   * added in (AsyncLocalStorage stores included), as a setTimeout() callback
   * does.
   */
  onHandle<K extends HandleEventName>(handle: Handle, event: K, listener: (...args: LoopEvents[K]) => void): this
  offHandle<K extends HandleEventName>(handle: Handle, event: K, listener: (...args: LoopEvents[K]) => void): this
}

/**
 * A TLS configuration for listen() / connect() / setSecureContext() /
 * startTls(). With `cert` or `key` the server side is built (and checked) at
 * once; the client side on its first use.
 */
export declare function createSecureContext(options: SecureContextOptions): SecureContext

/** The process-wide default loop (created on first use). */
export declare function defaultLoop(): Loop
/** A new, independent loop. */
export declare function createLoop(): Loop
/** The name of a netcore error code ('EBADHANDLE' for -3001). */
export declare function errorName(code: number): string
/** netcore's error codes by name, e.g. `codes.EAGAIN === -11`. */
export declare const codes: Readonly<Record<string, number>>
/** A value of one of the core's named enums. */
export interface Named {
  name: string
  value: number
}
/** A socket option: its name, number and range, and the handle kinds it applies to. */
export interface OptionInfo extends Named {
  min: number
  max: number
  isBool: boolean
  appliesTo: HandleKind[]
}
/** The core's defaults and limits. */
export interface Defaults {
  /** The listen backlog a `backlog` of 0 means. */
  backlog: number
  maxFrame: number
  maxFrameLimit: number
  delimiter: string
  maxDelimiter: number
  lengthHeader: number
  highWater: number
  lowWater: number
  attemptDelayMs: number
  maxReconnectSteps: number
  /** The largest `size` getRawOption takes. */
  maxRawOptionSize: number
}
/** See {@link vocabulary}. */
export interface Vocabulary {
  /** Every error code netcore defines, with its name and description. */
  errors: { code: number; name: string; message: string }[]
  events: Named[]
  handleKinds: Named[]
  options: OptionInfo[]
  framingModes: Named[]
  families: Named[]
  defaults: Defaults
}
/**
 * The core's vocabulary, which every argument and event of this module uses:
 * event kinds, handle kinds, socket options (with their ranges), framing
 * modes and address families by name and number, and the defaults.
 */
export declare const vocabulary: Readonly<Vocabulary>
/**
 * Parses an address as every method that takes one does (an IP literal, IPv6
 * with an optional zone as a number or interface name, or 'localhost') and
 * formats it as every address netcore returns (events, localAddress,
 * peerAddress): `parseAddress('[fe80::1%lo]', 9)` is
 * `{ address: 'fe80::1%1', port: 9, family: 'IPv6' }`. Throws EINVAL (with
 * `.argument`) for anything else.
 */
export declare function parseAddress(host: string, port: number | string): AddressInfo
/** Node's `net` API on netcore's loop (see net.d.ts). */
export * as net from './net'
/** Node's `dgram` API on netcore's UDP sockets (see dgram.d.ts). */
export * as dgram from './dgram'
/** Node's `tls` API on netcore's TLS sockets (see tls.d.ts). */
export * as tls from './tls'
