// Type declarations for `require('netcore').dgram` (dgram.js): Node's
// `dgram` API on netcore's UDP sockets. Hand-written; shapes follow
// @types/node's `dgram`.

/// <reference types="node" />

import { EventEmitter } from 'node:events'
import type { AddressInfo, Loop, NetcoreError } from './index'

/** 'unix_dgram' (netcore's, beyond dgram's): a Unix datagram socket. */
export type SocketType = 'udp4' | 'udp6' | 'unix_dgram'

/** Where a message came from (a unix_dgram socket's messages come with a UnixRemoteInfo instead). */
export interface RemoteInfo {
  address: string
  family: 'IPv4' | 'IPv6'
  port: number
  size: number
}

/** Where a unix_dgram socket's message came from: the sender's path (undefined when it is unbound). */
export interface UnixRemoteInfo {
  path: string | undefined
  size: number
}

export interface SocketOptions {
  type: SocketType
  reusePort?: boolean
  ipv6Only?: boolean
  recvBufferSize?: number
  sendBufferSize?: number
  /** Aborting closes the socket. */
  signal?: AbortSignal
  /** netcore's own option: the Loop (default: `defaultLoop()`). */
  loop?: Loop
}

export interface BindOptions {
  port?: number
  /** Default: '0.0.0.0' (udp4) or '::' (udp6); a name is looked up with dns.lookup. */
  address?: string
  /** A bound datagram socket the program has: netcore adopts it (port and address are not used). */
  fd?: number
}

/** Bytes of one datagram: an array is sent as one datagram. */
export type Message = string | NodeJS.ArrayBufferView | ReadonlyArray<string | NodeJS.ArrayBufferView>

export type SendCallback = (error: Error | null, bytes?: number) => void

/**
 * A UDP socket with dgram.Socket's events and methods. send() never drops
 * a datagram netcore refuses (EAGAIN): it waits, in order, for netcore's
 * 'writable'; callbacks get (err, bytes) on a later tick.
 */
export declare class Socket extends EventEmitter {
  readonly type: SocketType
  bind(port?: number, address?: string, callback?: () => void): this
  bind(port?: number, callback?: () => void): this
  bind(callback?: () => void): this
  bind(options: BindOptions, callback?: () => void): this
  /** A unix_dgram socket: its path ('@name': the abstract namespace); it sends only once bound. */
  bind(path: string, callback?: () => void): this
  connect(port: number, address?: string, callback?: () => void): void
  /** A unix_dgram socket: its default peer. */
  connect(path: string, callback?: () => void): void
  connect(port: number, callback: () => void): void
  send(msg: Message, port?: number, address?: string, callback?: SendCallback): void
  send(msg: Message, port?: number, callback?: SendCallback): void
  send(msg: Message, callback?: SendCallback): void
  /** A unix_dgram socket: to `path`. */
  send(msg: Message, path: string, callback?: SendCallback): void
  send(msg: string | NodeJS.ArrayBufferView, offset: number, length: number, port?: number, address?: string, callback?: SendCallback): void
  send(msg: string | NodeJS.ArrayBufferView, offset: number, length: number, callback?: SendCallback): void
  close(callback?: () => void): this
  /** The bound address (a unix_dgram socket's is `{ path }`, not an AddressInfo). */
  address(): AddressInfo
  remoteAddress(): AddressInfo
  setBroadcast(flag: boolean): void
  setMulticastTTL(ttl: number): number
  setMulticastLoopback(flag: boolean): boolean
  addMembership(multicastAddress: string, multicastInterface?: string): void
  dropMembership(multicastAddress: string, multicastInterface?: string): void
  setRecvBufferSize(size: number): void
  setSendBufferSize(size: number): void
  getRecvBufferSize(): number
  getSendBufferSize(): number
  /** Bytes of the datagrams netcore has not taken yet. */
  getSendQueueSize(): number
  getSendQueueCount(): number
  ref(): this
  unref(): this

  on(event: 'close' | 'connect' | 'listening', listener: () => void): this
  on(event: 'error', listener: (err: NetcoreError | Error) => void): this
  on(event: 'message', listener: (msg: Buffer, rinfo: RemoteInfo) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
  once(event: 'close' | 'connect' | 'listening', listener: () => void): this
  once(event: 'error', listener: (err: NetcoreError | Error) => void): this
  once(event: 'message', listener: (msg: Buffer, rinfo: RemoteInfo) => void): this
  once(event: string | symbol, listener: (...args: any[]) => void): this
}

export declare function createSocket(type: SocketType | SocketOptions, callback?: (msg: Buffer, rinfo: RemoteInfo) => void): Socket
