// Type declarations for `require('netcore').tls` (tls.js): Node's `tls`
// API over netcore's sockets. Hand-written; shapes follow @types/node's `tls`.

/// <reference types="node" />

import type { PeerCertificate } from 'node:tls'
import type { X509Certificate } from 'node:crypto'
import type { NetcoreError, SecureContextOptions } from './index'
import { SecureContext, createSecureContext } from './index'
import * as net from './net'

export { SecureContext, createSecureContext, SecureContextOptions }

export interface TlsOptions extends SecureContextOptions {
  /** A context made by createSecureContext() (the other TLS options are then ignored). */
  secureContext?: SecureContext
}

export interface ConnectionOptions extends TlsOptions, Partial<net.TcpSocketConnectOpts> {
  /** The name the server's certificate is verified against (sent as SNI unless an IP); default `host`. */
  servername?: string
  /** STARTTLS: a connected socket of `require('netcore').net` whose connection becomes this TLS one (`port` and `host` are then not used). */
  socket?: net.Socket
}

export interface TLSSocketOptions extends TlsOptions {
  /** Start TLS as the server ('secure' when done); default false: as a client ('secureConnect'). */
  isServer?: boolean
  /** A client's name to verify (default: the host the socket connected to). */
  servername?: string
}

export interface TlsServerOptions extends TlsOptions, net.ServerOpts {}

/**
 * A TLS connection: net.Socket's stream and events, plus 'secureConnect'
 * (a client, once the handshake is over). A failed handshake is an 'error'
 * with Node's code where Node has one ('UNABLE_TO_VERIFY_LEAF_SIGNATURE',
 * 'CERT_HAS_EXPIRED', ...; netcore's in `netcoreCode`: 'ETLSUNKNOWNCA', ...),
 * the peer's `alert` and the library's `reason`. As in Node's tls, a
 * peer's FIN without close_notify after the handshake is a plain 'end'.
 */
export declare class TLSSocket extends net.Socket {
  /**
   * STARTTLS: takes over the connection of a connected `net` socket of
   * netcore (nothing left unread or unwritten in its stream buffers) and
   * starts TLS on it; the old socket closes ('close', false) without
   * touching the connection.
   */
  constructor(socket: net.Socket, options?: TLSSocketOptions)
  readonly encrypted: true
  /** Whether the peer's certificate was verified (a server: whether the client sent one). */
  authorized: boolean
  authorizationError: Error | null
  /** The ALPN protocol agreed on, false if none, null before the handshake. */
  alpnProtocol: string | false | null
  servername: string | undefined
  /** The peer's certificate as tls reports it; {} if it sent none; null once closed. */
  getPeerCertificate(detailed?: boolean): PeerCertificate | Record<string, never> | null
  getPeerX509Certificate(): X509Certificate | undefined
  getProtocol(): string | null
  getCipher(): { name: string; standardName: string; version: string } | undefined
  isSessionReused(): boolean
}

/** A TLS server: net.Server's methods, 'secureConnection' per handshake over, 'tlsClientError' per failed one. */
export declare class Server extends net.Server {
  constructor(options?: TlsServerOptions, secureConnectionListener?: (socket: TLSSocket) => void)
  /** New certificate (and options) for later connections. */
  setSecureContext(options: SecureContextOptions): void
  on(event: 'secureConnection', listener: (socket: TLSSocket) => void): this
  on(event: 'tlsClientError', listener: (err: NetcoreError, socket: TLSSocket) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
}

export declare function createServer(secureConnectionListener?: (socket: TLSSocket) => void): Server
export declare function createServer(options: TlsServerOptions, secureConnectionListener?: (socket: TLSSocket) => void): Server
export declare function connect(options: ConnectionOptions, secureConnectListener?: () => void): TLSSocket
export declare function connect(port: number, host?: string, options?: ConnectionOptions, secureConnectListener?: () => void): TLSSocket
export declare function connect(port: number, options?: ConnectionOptions, secureConnectListener?: () => void): TLSSocket
