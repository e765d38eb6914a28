// Type declarations for `require('netcore').net` (net.js): Node's `net`
// API on netcore's loop. Hand-written; shapes follow @types/node's `net`.

/// <reference types="node" />

import { Duplex } from 'node:stream'
import { EventEmitter } from 'node:events'
import type { AddressInfo, Loop, NetcoreError } from './index'

export { AddressInfo }

/** netcore's own option: the Loop the socket or server lives on (default: `defaultLoop()`). */
export interface LoopOption {
  loop?: Loop
}

export interface SocketConstructorOpts extends LoopOption {
  /** A connected socket descriptor (TCP or Unix) to adopt: netcore owns it from then on. */
  fd?: number
  /** Default false: when the peer ends, the socket ends its side too (as net). */
  allowHalfOpen?: boolean
  highWaterMark?: number
  readableHighWaterMark?: number
  writableHighWaterMark?: number
}

/** A Unix socket to connect to ('@name': the abstract namespace). */
export interface IpcSocketConnectOpts extends SocketConstructorOpts {
  path: string
  timeout?: number
  signal?: AbortSignal
}

export interface TcpSocketConnectOpts extends SocketConstructorOpts {
  port: number | string
  /** Default 'localhost'. Names are resolved off the JavaScript thread; IPv4 and IPv6 are tried Happy Eyeballs style. */
  host?: string
  localAddress?: string
  localPort?: number
  /** 4, 6, or 0 (both, the default). */
  family?: 0 | 4 | 6
  /** TCP_NODELAY (netcore's default is on). */
  noDelay?: boolean
  keepAlive?: boolean
  keepAliveInitialDelay?: number
  /** As socket.setTimeout(): 'timeout' after this many ms without I/O. */
  timeout?: number
  /** Aborting destroys the socket with an AbortError ('error', then 'close'). */
  signal?: AbortSignal
}

/**
 * A TCP connection: a stream.Duplex with net.Socket's events — 'connect',
 * 'ready', 'data', 'end', 'finish', 'close' (hadError), 'error', 'drain',
 * 'timeout' — in net's order. write() never drops bytes: it returns false
 * once netcore's send queue refused a chunk (the chunk is held and sent on
 * netcore's 'writable'), and 'drain' follows. Network failures are 'error'
 * events (NetcoreError: `.code` 'ECONNREFUSED', 'ECONNRESET', 'EDNS', ...).
 */
export declare class Socket extends Duplex {
  constructor(options?: SocketConstructorOpts)
  connect(options: TcpSocketConnectOpts | IpcSocketConnectOpts, connectionListener?: () => void): this
  connect(port: number | string, host?: string, connectionListener?: () => void): this
  connect(port: number | string, connectionListener?: () => void): this
  /** 'timeout' once after `timeout` ms without I/O, again only after more I/O; 0 turns it off. */
  setTimeout(timeout: number, callback?: () => void): this
  setNoDelay(noDelay?: boolean): this
  setKeepAlive(enable?: boolean, initialDelay?: number): this
  /** Closes with a reset (RST) instead of a FIN. */
  resetAndDestroy(): this
  /** end(), then destroy() once everything is written. */
  destroySoon(): void
  ref(): this
  unref(): this
  /** The local address, or {} before the connection is up. */
  address(): AddressInfo | {}
  timeout: number | undefined
  readonly connecting: boolean
  readonly pending: boolean
  readonly readyState: 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed'
  readonly bufferSize: number
  readonly bytesRead: number
  /** Bytes handed to netcore plus those still buffered in the stream. */
  readonly bytesWritten: number
  readonly localAddress: string | undefined
  readonly localPort: number | undefined
  readonly localFamily: string | undefined
  readonly remoteAddress: string | undefined
  readonly remotePort: number | undefined
  readonly remoteFamily: string | undefined
  /** The Server that accepted this socket (null for a client socket). */
  readonly server: Server | null

  on(event: 'close', listener: (hadError: boolean) => void): this
  on(event: 'connect' | 'ready' | 'end' | 'finish' | 'drain' | 'timeout', listener: () => void): this
  on(event: 'data', listener: (data: Buffer | string) => void): this
  on(event: 'error', listener: (err: NetcoreError | Error) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
  once(event: 'close', listener: (hadError: boolean) => void): this
  once(event: 'connect' | 'ready' | 'end' | 'finish' | 'drain' | 'timeout', listener: () => void): this
  once(event: 'data', listener: (data: Buffer | string) => void): this
  once(event: 'error', listener: (err: NetcoreError | Error) => void): this
  once(event: string | symbol, listener: (...args: any[]) => void): this
}

export { Socket as Stream }

export interface ServerOpts extends LoopOption {
  allowHalfOpen?: boolean
  /** Accepted sockets start paused: nothing is read until socket.resume(). */
  pauseOnConnect?: boolean
  noDelay?: boolean
  keepAlive?: boolean
  keepAliveInitialDelay?: number
}

export interface ListenOptions {
  port?: number | string
  /** A Unix socket path ('@name': Linux's abstract namespace) instead of a port; address() is then the path. */
  path?: string
  /** A listening socket descriptor (TCP or Unix) to adopt: netcore owns it from then on. */
  fd?: number
  /** No host: '::' (IPv6 and IPv4), or '0.0.0.0' where IPv6 is missing. */
  host?: string
  /** Default: the core's (`vocabulary.defaults.backlog`). */
  backlog?: number
  ipv6Only?: boolean
  reusePort?: boolean
  /** Aborting closes the server. */
  signal?: AbortSignal
}

export interface DropArgument {
  localAddress: string
  localPort: number
  localFamily: string
  remoteAddress: string
  remotePort: number
  remoteFamily: string
}

/**
 * A TCP server: 'listening', 'connection' (a Socket), 'error' (e.g.
 * EADDRINUSE, never thrown by listen()), 'drop' (past maxConnections),
 * 'close' (once closed and every connection closed).
 */
export declare class Server extends EventEmitter {
  constructor(connectionListener?: (socket: Socket) => void)
  constructor(options?: ServerOpts, connectionListener?: (socket: Socket) => void)
  listen(port?: number | string, hostname?: string, backlog?: number, listeningListener?: () => void): this
  listen(port?: number | string, hostname?: string, listeningListener?: () => void): this
  listen(port?: number | string, backlog?: number, listeningListener?: () => void): this
  listen(port?: number | string, listeningListener?: () => void): this
  listen(options: ListenOptions, listeningListener?: () => void): this
  listen(listeningListener?: () => void): this
  /** Stops listening; `callback` and 'close' once every connection closed (ERR_SERVER_NOT_RUNNING if it was not listening). */
  close(callback?: (err?: Error) => void): this
  address(): AddressInfo | string | null
  getConnections(cb: (error: Error | null, count: number) => void): this
  ref(): this
  unref(): this
  /** Connections past this many are closed at once ('drop'). */
  maxConnections: number | undefined
  readonly listening: boolean

  on(event: 'close' | 'listening', listener: () => void): this
  on(event: 'connection', listener: (socket: Socket) => void): this
  on(event: 'error', listener: (err: NetcoreError | Error) => void): this
  on(event: 'drop', listener: (data: DropArgument) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
  once(event: 'close' | 'listening', listener: () => void): this
  once(event: 'connection', listener: (socket: Socket) => void): this
  once(event: 'error', listener: (err: NetcoreError | Error) => void): this
  once(event: 'drop', listener: (data: DropArgument) => void): this
  once(event: string | symbol, listener: (...args: any[]) => void): this
}

export declare function createServer(connectionListener?: (socket: Socket) => void): Server
export declare function createServer(options?: ServerOpts, connectionListener?: (socket: Socket) => void): Server
export declare function connect(options: TcpSocketConnectOpts | IpcSocketConnectOpts, connectionListener?: () => void): Socket
export declare function connect(port: number | string, host?: string, connectionListener?: () => void): Socket
export declare function connect(port: number | string, connectionListener?: () => void): Socket
export declare const createConnection: typeof connect
export declare function isIP(input: string): number
export declare function isIPv4(input: string): boolean
export declare function isIPv6(input: string): boolean
