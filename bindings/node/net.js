'use strict'
// `require('netcore').net`: Node's `net` API (Socket, Server, createServer,
// connect / createConnection) on netcore's loop, so code written for `net`
// runs by changing its `require`.
//
// How it maps onto the raw model (index.js):
// - a Socket is a real stream.Duplex (not a net.Socket: that one reads Node's
//   native stream state) over one netcore connection handle; a Server is an
//   EventEmitter over one listener handle;
// - events reach them through ONE set of listeners per Loop (a Map from
//   handle to object), not per-handle listeners: each Socket/Server runs its
//   events in its own AsyncResource (AsyncLocalStorage: a client socket sees
//   the store of its connect(), an accepted one that of its server's listen());
// - netcore's sends are whole-or-reject: a refused chunk and its callback
//   are held until netcore's 'writable', so no byte is dropped and the
//   Writable's own buffer (and write() returning false, 'drain') does the rest;
// - push() returning false pauses the handle, _read() resumes it;
// - netcore closes a connection on its own (a reset it reads, a failed send)
//   while the events it polled before are still being delivered; until its
//   'closed' comes the handle answers ECLOSED, which the socket takes as a
//   no-op (_unlessClosing), and a write waits for the error of that 'closed';
// - network failures arrive as 'error' events (on nextTick when the native
//   call failed at once); wrong argument types still throw, as in `net`.

const { Duplex } = require('node:stream')
const { isUint8Array } = require('node:util').types
const { EventEmitter } = require('node:events')
const { AsyncResource } = require('node:async_hooks')
const nodeNet = require('node:net')
const netcore = require('./index.js')
const { dispatcherOf, nodeError, badPortError, abortError, isArgumentError, lookupError, watchSignal, setRef } = require('./layer.js')

// ---------------------------------------------------------------------------
// Helpers

// Marks an [options, cb] pair connect() already normalized for socket.connect(), as net does.
const kNormalized = Symbol('netcore.net.normalized')

/** `net`'s reading of (port[, host][, cb]) or (options[, cb]): [options, cb]. */
function normalizeArgs(args) {
  const last = args[args.length - 1]
  const cb = typeof last === 'function' ? last : null
  const arg0 = args[0]
  let options
  if (arg0 !== null && typeof arg0 === 'object') options = arg0
  else if (typeof arg0 === 'string' && Number.isNaN(Number(arg0))) options = { path: arg0 }
  else {
    options = { port: typeof arg0 === 'function' ? undefined : arg0 }
    if (typeof args[1] === 'string') options.host = args[1]
  }
  const normalized = [options, cb]
  normalized[kNormalized] = true
  return normalized
}

/** `net`'s keepalive delay (ms, 0 = the system's) as the core's idle seconds. */
function keepAliveSeconds(enable, initialDelay) {
  if (!enable) return 0
  const seconds = Math.floor((Number(initialDelay) || 0) / 1000)
  // 0 means "the system's default" in `net`: Linux's tcp_keepalive_time (the core cannot leave it unset).
  return seconds >= 1 ? seconds : 7200
}

/**
 * A failure of a native connect / listen call as net reports it: a port the core
 * refused (its detail names the argument 'port') is net's RangeError
 * ERR_SOCKET_BAD_PORT, thrown; argument errors are thrown as they are; null for
 * anything else (the caller's 'error' event).
 */
function thrownArgumentError(err, port) {
  if (err.argument === 'port') return badPortError(port)
  return isArgumentError(err) ? err : null
}

/** A chunk's length in bytes (a string's in `encoding`). */
function byteLength(chunk, encoding) {
  return typeof chunk === 'string' ? Buffer.byteLength(chunk, encoding) : chunk.length
}

function emitClose(socket) {
  socket.emit('close', socket._hadError)
  const server = socket._server
  if (server !== null) {
    server._connections--
    server._emitCloseIfDrained()
  }
}

/** The token of the 'sent' event _final() waits for (the socket's handle carries no other). */
const FINAL_TOKEN = 1

function destroyedError() {
  return nodeError(Error, 'ERR_STREAM_DESTROYED', 'Cannot call write after a stream was destroyed')
}

// ---------------------------------------------------------------------------
// Socket

/**
 * A TCP connection as a stream.Duplex with net.Socket's events and methods.
 * `options.loop` (netcore's own) picks the Loop (default: defaultLoop()).
 */
class Socket extends Duplex {
  constructor(options) {
    if (typeof options === 'number') options = { fd: options }
    options = options === undefined || options === null ? {} : options
    super({
      allowHalfOpen: Boolean(options.allowHalfOpen),
      emitClose: false, // 'close' carries hadError and comes after netcore's 'closed', as net's does
      autoDestroy: true,
      decodeStrings: false, // strings go to netcore as they are (it encodes UTF-8 itself)
      highWaterMark: options.highWaterMark,
      readableHighWaterMark: options.readableHighWaterMark,
      writableHighWaterMark: options.writableHighWaterMark,
    })
    this._loop = options.loop || netcore.defaultLoop()
    this._server = null
    this.server = null
    this._timeoutMs = undefined
    this._timeoutProperty = undefined // what `timeout` reads
    this._timeoutQueued = false // setTimeout() calls wait for one microtask (see setTimeout)
    this._refed = true
    // onread: as net's, data goes to this buffer and callback instead of the stream (an invalid one is ignored, as there).
    const { onread } = options
    const valid = onread !== null && typeof onread === 'object' && typeof onread.callback === 'function'
    this._onread = valid && (isUint8Array(onread.buffer) || typeof onread.buffer === 'function') ? onread : null
    this._initConnectionState()
    if (options.fd !== undefined && options.fd !== null) {
      // A connected socket the program has (TCP or Unix): netcore owns it
      // from now on; a descriptor that is not one throws, as net's does.
      this._scope = new AsyncResource('netcore.net.Socket')
      const handle = this._loop.adoptConnection(options.fd)
      try {
        this._peer = this._loop.peerAddress(handle)
      } catch {} // a Unix peer has no address
      this._attach(handle)
    }
  }

  /** The state of one connection: set by the constructor, and again when a closed socket connects anew. */
  _initConnectionState() {
    this._h = null // the netcore handle, once connect() or accept made one
    this._scope = null // the AsyncResource the socket's events run in
    this.connecting = false
    this._closing = false // netcore close() / closeReset() called
    this._handleClosed = false // netcore 'closed' delivered (or there never was a handle)
    this._closeEmitted = false
    this._hadError = false
    this._reset = false
    this._held = null // { data, encoding, cb, vector } refused by netcore, sent again on 'writable'
    this._nativePaused = false
    this._finalCb = null // _final() waiting for 'connect'
    this._flushedCb = null // _final() waiting for the kernel to take what netcore has queued
    this._peer = null
    this._local = null
    this._unread = null // onread: the rest of a chunk whose callback returned false, for after resume()
    this._eofAfterUnread = false // onread: the peer's EOF came while _unread waited
    this._lookedUp = null // the host name connect() had netcore resolve (not an IP literal or a path), for 'lookup'
    this._bytesRead = 0
    this._bytesSent = 0
    this._nativeTimeoutMs = 0 // the idle timeout netcore has for the handle (0 = none)
    this._ioSinceSetTimeout = false
    this._idleTold = false // 'timeout' emitted, no I/O since
    this._pendingOptions = [] // [name, value] set before the connection was up
    this._unwatchSignal = null
  }

  // -- connecting ------------------------------------------------------------

  connect(...args) {
    const [options, cb] = args[0] !== null && typeof args[0] === 'object' && args[0][kNormalized] ? args[0] : normalizeArgs(args)
    if (this.destroyed && this._closeEmitted) {
      // net lets a closed socket connect again (a reconnect from its 'close' listener): a fresh stream and counters.
      this._undestroy()
      this._initConnectionState()
    } else if (this._h !== null || this.destroyed) {
      throw nodeError(Error, 'ERR_SOCKET_CONNECTING', 'Socket is already connecting or connected')
    }
    const path = options.path
    if ((options.port === undefined || options.port === null) && (path === undefined || path === null)) {
      throw nodeError(TypeError, 'ERR_MISSING_ARGS', 'The "options" or "port" or "path" argument must be specified')
    }
    const host = options.host || 'localhost'
    this._lookedUp = (path === undefined || path === null) && !nodeNet.isIP(host) ? host : null
    if (cb !== null) this.once('connect', cb)
    this._scope = new AsyncResource('netcore.net.Socket')
    const connectOptions = this._connectOptions(options, host)
    if (options.localAddress !== undefined) connectOptions.localAddress = options.localAddress
    if (options.localPort !== undefined) connectOptions.localPort = options.localPort
    if (options.noDelay !== undefined) this.setNoDelay(options.noDelay)
    if (options.keepAlive) this.setKeepAlive(true, options.keepAliveInitialDelay)
    let handle
    try {
      // A Unix path ('@name': the abstract namespace) connects or fails at once.
      handle = path !== undefined && path !== null ? this._loop.connectUnix(String(path)) : this._loop.connect(host, options.port, connectOptions)
    } catch (err) {
      const thrown = thrownArgumentError(err, options.port)
      if (thrown !== null) throw thrown
      process.nextTick(() => this.destroy(err))
      return this
    }
    this.connecting = true
    this._attach(handle)
    if (options.signal !== undefined) {
      this._unwatchSignal = watchSignal(options.signal, () => this.destroy(abortError(options.signal)))
    }
    // Writes made before connect() are queued by netcore until the connection is up.
    this._sendHeld()
    return this
  }

  /** The options of netcore's connect() for net's `options` (tls.js adds TLS). */
  _connectOptions(options) {
    return { family: options.family === 0 ? undefined : options.family }
  }

  /** Takes a netcore connection handle (connecting, or accepted with `peer`). */
  _attach(handle, peer) {
    this._h = handle
    dispatcherOf(this._loop).sockets.set(handle, this)
    if (peer !== undefined) this._peer = peer
    if (!this._refed) this._loop.unrefHandle(handle)
    if (this._timeoutMs) this._applyTimeout()
    if (!this.connecting) this._applyOptions()
  }

  /** Options set while connecting, now that the socket is up (the core answers ENOTCONN before). */
  _applyOptions() {
    const pending = this._pendingOptions
    this._pendingOptions = []
    for (const [name, value] of pending) this._setOption(name, value)
  }

  _setOption(name, value) {
    if (this._h === null || this.connecting) this._pendingOptions.push([name, value])
    else if (!this._closing && !this._handleClosed) {
      try {
        this._unlessClosing('setOption', name, value)
      } catch (err) {
        // A Unix socket has no TCP options: net's setNoDelay() / setKeepAlive() do nothing there.
        if (err.code !== 'EOPNOTSUPP') throw err
      }
    }
  }

  // -- netcore events (run in this socket's async scope) ----------------------

  _ncConnected(ev) {
    this.connecting = false
    this._peer = ev.address ?? null // none over a Unix socket
    this._applyOptions()
    // net emits 'lookup' once dns.lookup answers, before connecting; netcore resolves and connects in one step.
    if (this._lookedUp !== null && this._peer !== null) {
      this.emit('lookup', null, this._peer.address, nodeNet.isIP(this._peer.address), this._lookedUp)
    }
    this.emit('connect')
    this.emit('ready')
    // As net's: what was written while connecting goes once 'connect' is out (its callback after it), then an end().
    this._sendHeld()
    if (this._finalCb !== null) {
      const cb = this._finalCb
      this._finalCb = null
      this._final(cb)
    }
  }

  _ncFailed(ev) {
    this.connecting = false
    const err = lookupError(ev.error)
    if (err.code === 'ENOTFOUND' && this._lookedUp !== null) this.emit('lookup', err, undefined, undefined, this._lookedUp)
    this.destroy(err)
  }

  _ncData(ev) {
    if (this.destroyed) return
    this._idleTold = false
    this._ioSinceSetTimeout = true
    this._bytesRead += ev.data.length
    if (!(this._onread === null ? this.push(ev.data) : this._readInto(ev.data))) this._pauseNative()
  }

  /** Stops netcore reading the connection (see _resumeReading). */
  _pauseNative() {
    if (!this._nativePaused && this._h !== null && !this.connecting && !this._closing && !this._handleClosed) {
      this._nativePaused = true
      this._unlessClosing('pause')
    }
  }

  /**
   * onread: `data` copied into the caller's buffer (a new one from `buffer()` each time, if it is a
   * function), a bufferful per callback. false: a callback returned false, as net's pauses then; the
   * rest waits for resume().
   */
  _readInto(data) {
    const { buffer, callback } = this._onread
    for (let offset = 0; offset < data.length; ) {
      const target = typeof buffer === 'function' ? buffer() : buffer
      const n = Math.min(target.length, data.length - offset)
      target.set(data.subarray(offset, offset + n))
      offset += n
      if (callback.call(this, n, target) === false) {
        if (offset < data.length) this._unread = Buffer.from(data.subarray(offset))
        this.pause()
        return false
      }
    }
    return true
  }

  _ncEof() {
    if (this.destroyed) return
    if (this._unread !== null) {
      this._eofAfterUnread = true // onread: the end comes after the bytes kept for resume()
      return
    }
    this.push(null)
    // As net does: 'end' (and, without allowHalfOpen, the close that follows) comes even when nobody reads, if nothing is left unread.
    this.read(0)
  }

  _ncWritable() {
    this._sendHeld()
  }

  /** netcore repeats 'idle' while idle; net's 'timeout' comes once, then again only after I/O. */
  _ncIdle() {
    if (this._idleTold || this.destroyed) return
    this._idleTold = true
    this.emit('timeout')
  }

  _ncClosed(ev) {
    dispatcherOf(this._loop).sockets.delete(this._h)
    this._handleClosed = true
    this.connecting = false
    if (this.destroyed) this._emitCloseIfDone()
    else if (ev.error) this.destroy(ev.error)
    // A clean close: after the 'end' and 'finish' already queued, so their listeners see the socket not yet destroyed, as net's do.
    else process.nextTick(() => this.destroy())
  }

  /**
   * `loop[method](handle, ...args)`; undefined if netcore answers ECLOSED. The core closes a connection
   * on its own (a reset, a failed send) while the events it polled before are still being delivered:
   * its 'closed' comes after them, and until then the socket cannot know. Pausing, resuming, options,
   * timeouts and queue sizes no longer matter then.
   */
  _unlessClosing(method, ...args) {
    try {
      return this._loop[method](this._h, ...args)
    } catch (err) {
      if (err.code !== 'ECLOSED') throw err
    }
  }

  // -- Duplex implementation --------------------------------------------------

  _read() {
    this._resumeReading()
  }

  /** As net's with onread: pause() stops the callbacks (the stream's own pause() stops only 'data'). */
  pause() {
    if (this._onread !== null) this._pauseNative()
    return super.pause()
  }

  resume() {
    if (this._onread !== null) this._resumeReading()
    return super.resume()
  }

  /** netcore reads the connection again, after what onread kept of the last chunk. */
  _resumeReading() {
    if (this._unread !== null) {
      const rest = this._unread
      this._unread = null
      if (!this._readInto(rest)) return
      if (this._eofAfterUnread) {
        this._eofAfterUnread = false
        this._ncEof()
      }
    }
    if (this._nativePaused && !this._closing && !this._handleClosed) {
      this._nativePaused = false
      this._unlessClosing('resume')
    }
  }

  _write(data, encoding, cb) {
    if (this._held !== null || this._h === null || this.connecting || this._handleClosed) {
      return this._send({ data, encoding, cb, vector: false })
    }
    // The common case, without the held item's object: netcore takes the chunk at once.
    let sent
    try {
      sent = this._sendOne(data, encoding)
    } catch (err) {
      if (err.code !== 'ECLOSED') return cb(err)
      sent = false // held: the error of the 'closed' that follows ends it (see _unlessClosing)
    }
    if (!sent) {
      this._held = { data, encoding, cb, vector: false } // refused whole: sent again on 'writable'
      return
    }
    this._idleTold = false
    this._ioSinceSetTimeout = true
    cb()
  }

  _writev(chunks, cb) {
    this._send({ data: chunks, encoding: undefined, cb, vector: true })
  }

  /** Sends `item` now, or holds it (netcore refused it whole, or the connection is not up yet). */
  _send(item) {
    this._held = item
    if (this._h !== null && !this.connecting) this._sendHeld()
  }

  /** Sends the held item; its callback runs once netcore took every byte of it. */
  _sendHeld() {
    const item = this._held
    if (item === null || this._handleClosed) return
    let sent
    try {
      sent = this._sendNow(item)
    } catch (err) {
      if (err.code === 'ECLOSED') return // still held, as in _write
      this._held = null
      item.cb(err)
      return
    }
    if (sent) {
      this._held = null
      this._idleTold = false
      this._ioSinceSetTimeout = true
      item.cb()
    }
  }

  /** One netcore send (sendv for a batch); true when queued whole, false when refused whole. */
  _sendNow(item) {
    if (!item.vector) return this._sendOne(item.data, item.encoding)
    // Empty chunks carry nothing (http ends a response with one, for its callback).
    const chunks = item.data.filter(({ chunk }) => chunk.length !== 0)
    if (chunks.length <= 1) return chunks.length === 0 || this._sendOne(chunks[0].chunk, chunks[0].encoding)
    const buffers = chunks.map(({ chunk, encoding }) => (typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk))
    const ok = this._loop.sendv(this._h, buffers)
    if (ok) this._bytesSent += buffers.reduce((sum, b) => sum + b.length, 0)
    return ok
  }

  /** One chunk: a string goes as it is (netcore encodes UTF-8 itself, no Buffer made here). */
  _sendOne(data, encoding) {
    if (data.length === 0) return true // netcore rejects empty sends; `net` accepts them as no-ops
    const isString = typeof data === 'string'
    const ok = isString ? this._loop.send(this._h, data, encoding) : this._loop.send(this._h, data)
    if (ok) this._bytesSent += byteLength(data, encoding)
    return ok
  }

  _final(cb) {
    if (this._h === null || this.connecting) {
      this._finalCb = cb
      return
    }
    if (this._closing || this._handleClosed) return cb()
    try {
      // 'finish' once the kernel has every byte written, as net's comes once its shutdown is done:
      // a program may exit then. Asked before the shutdown (the FIN follows those bytes).
      if (this._loop.queuedBytes(this._h) > 0) {
        this._loop.notifyWhenSent(this._h, FINAL_TOKEN)
        this._flushedCb = cb
      }
      this._loop.shutdown(this._h) // FIN once everything queued is sent
    } catch (err) {
      this._flushedCb = null
      // ECLOSED: the 'closed' that follows destroys the stream with its error (see _unlessClosing).
      return err.code === 'ECLOSED' ? undefined : cb(err)
    }
    if (this._flushedCb === null) cb()
  }

  _ncSent(ev) {
    const cb = this._flushedCb
    if (ev.value !== FINAL_TOKEN || cb === null) return
    this._flushedCb = null
    cb()
  }

  _destroy(err, cb) {
    this._hadError = err !== null && err !== undefined
    if (this._unwatchSignal !== null) {
      this._unwatchSignal()
      this._unwatchSignal = null
    }
    const held = this._held
    this._held = null
    this._flushedCb = null // the stream is destroyed: no 'finish'
    this._local = null // as net's: a destroyed socket has no local address (its peer's stays)
    if (this._h === null) this._handleClosed = true
    else if (!this._closing && !this._handleClosed) {
      this._closing = true
      try {
        // Asked before the close: the core answers ECLOSED after it.
        const flushing = !this._reset && this._loop.queuedBytes(this._h) > 0
        if (this._reset) this._loop.closeReset(this._h)
        else this._loop.close(this._h) // graceful: what netcore already queued still goes, then FIN
        this._letGo(flushing)
      } catch {
        // The handle is already on its way out ('closed' follows), or its loop was closed (nothing follows).
        if (this._loop.closed) this._handleClosed = true
      }
    }
    cb(err)
    // A write still held gets its callback (after destroy's, so it starts no second 'error').
    if (held !== null) held.cb(err || destroyedError())
    this._emitCloseIfDone()
  }

  /**
   * Lets go of the handle netcore is closing: 'close' comes now, as a destroyed net.Socket's does, not
   * when netcore's close ends (a graceful one waits up to 2 s for the peer's FIN). A handle `flushing`
   * what netcore still has queued keeps the process alive until its close ends; any other no longer does.
   */
  _letGo(flushing) {
    dispatcherOf(this._loop).sockets.delete(this._h)
    this._handleClosed = true
    this.connecting = false
    if (!flushing) this._loop.unrefHandle(this._h)
  }

  /** 'close' once destroyed and netcore's 'closed' came or the handle was let go (or there was no handle). */
  _emitCloseIfDone() {
    if (this._handleClosed && this.destroyed && !this._closeEmitted) {
      this._closeEmitted = true
      process.nextTick(emitClose, this)
    }
  }

  // -- net.Socket's methods ---------------------------------------------------

  /** Closes with a reset (RST) instead of a FIN, as net.Socket's resetAndDestroy(). */
  resetAndDestroy() {
    // As net's: a socket that never had a connection has nothing to reset, and says so.
    if (this._h === null) return this.destroy(nodeError(Error, 'ERR_SOCKET_CLOSED', 'Socket is closed'))
    this._reset = true
    return this.destroy()
  }

  destroySoon() {
    if (this.writable) this.end()
    if (this.writableFinished) this.destroy()
    else this.once('finish', this.destroy)
  }

  /**
   * 'timeout' once after `timeout` ms without I/O (netcore's idle timeout),
   * again only after more I/O; 0 turns it off.
   */
  setTimeout(timeout, callback) {
    if (this.destroyed) return this // as net's: a destroyed socket has no timer to set
    if (typeof timeout !== 'number') {
      throw nodeError(TypeError, 'ERR_INVALID_ARG_TYPE', `The "msecs" argument must be of type number. Received ${typeof timeout}`)
    }
    if (!(timeout >= 0) || timeout === Infinity) {
      throw nodeError(RangeError, 'ERR_OUT_OF_RANGE', `The value of "msecs" is out of range. It must be a non-negative finite number. Received ${timeout}`)
    }
    if (callback !== undefined && typeof callback !== 'function') {
      throw nodeError(TypeError, 'ERR_INVALID_ARG_TYPE', `The "callback" argument must be of type function. Received ${typeof callback}`)
    }
    this._timeoutMs = timeout
    this._timeoutProperty = timeout
    this._idleTold = false
    if (typeof callback === 'function') {
      if (timeout === 0) this.removeListener('timeout', callback)
      else this.once('timeout', callback)
    }
    // http's keep-alive calls setTimeout(0) when a request comes and
    // setTimeout(keepAliveTimeout) once its response is written: netcore gets
    // the last value once, after a microtask, and nothing when it already has
    // it and the socket did I/O meanwhile (its idle clock counts from that
    // I/O, so it restarted all the same).
    if (!this._timeoutQueued) {
      this._timeoutQueued = true
      this._ioSinceSetTimeout = false
      queueMicrotask(() => this._applyQueuedTimeout())
    }
    return this
  }

  _applyQueuedTimeout() {
    this._timeoutQueued = false
    const ms = this._timeoutMs
    if (ms === this._nativeTimeoutMs && (ms === 0 || this._ioSinceSetTimeout)) return
    this._applyTimeout()
  }

  /** Gives netcore the socket's timeout (it restarts netcore's idle clock). */
  _applyTimeout() {
    if (this._h === null || this._closing || this._handleClosed) return
    const ms = this._timeoutMs
    this._unlessClosing('setIdleTimeout', ms === 0 ? null : ms)
    this._nativeTimeoutMs = ms
  }

  get timeout() {
    return this._timeoutProperty
  }

  /** As in net, `timeout` is a plain property: assigning it only changes what it reads (setTimeout() arms the timer). */
  set timeout(value) {
    this._timeoutProperty = value
  }

  setNoDelay(noDelay = true) {
    this._setOption('nodelay', Boolean(noDelay))
    return this
  }

  setKeepAlive(enable = false, initialDelay = 0) {
    this._setOption('keepalive', keepAliveSeconds(enable, initialDelay))
    return this
  }

  ref() {
    return setRef(this, true, !this._handleClosed)
  }

  unref() {
    return setRef(this, false, !this._handleClosed)
  }

  address() {
    if (this._local === null && this._h !== null && !this.connecting && !this._closing && !this._handleClosed) {
      try {
        this._local = this._loop.localAddress(this._h)
      } catch {
        return {}
      }
    }
    return this._local === null ? {} : { ...this._local }
  }

  get localAddress() {
    return this.address().address
  }

  get localPort() {
    return this.address().port
  }

  get localFamily() {
    return this.address().family
  }

  get remoteAddress() {
    return this._peer === null ? undefined : this._peer.address
  }

  get remotePort() {
    return this._peer === null ? undefined : this._peer.port
  }

  get remoteFamily() {
    return this._peer === null ? undefined : this._peer.family
  }

  get bytesRead() {
    return this._bytesRead
  }

  /** Bytes handed to netcore plus those still in the stream's buffer, as net counts them. */
  /** As net's: the bytes sent and those still waiting, a string's counted in its encoding. */
  get bytesWritten() {
    let bytes = this._bytesSent
    const held = this._held
    if (held !== null) {
      bytes += held.vector ? held.data.reduce((sum, { chunk, encoding }) => sum + byteLength(chunk, encoding), 0) : byteLength(held.data, held.encoding)
    }
    for (const { chunk, encoding } of this.writableBuffer) bytes += byteLength(chunk, encoding)
    return bytes
  }

  /** As net's (deprecated) bufferSize: the stream's buffer plus what netcore queued and the kernel has not taken. */
  get bufferSize() {
    const open = this._h !== null && !this._handleClosed && !this.connecting
    return this.writableLength + (open ? (this._unlessClosing('queuedBytes') ?? 0) : 0)
  }

  /** As net's: no connection (not yet, or no more). */
  get pending() {
    return this._h === null || this.connecting || this._handleClosed
  }

  get readyState() {
    if (this.connecting) return 'opening'
    if (this.readable && this.writable) return 'open'
    if (this.readable) return 'readOnly'
    if (this.writable) return 'writeOnly'
    return 'closed'
  }
}

// ---------------------------------------------------------------------------
// Server

/** A TCP server with net.Server's events and methods. `options.loop` picks the Loop. */
class Server extends EventEmitter {
  constructor(options, connectionListener) {
    super()
    if (typeof options === 'function') {
      connectionListener = options
      options = {}
    }
    options = options === undefined || options === null ? {} : options
    this._loop = options.loop || netcore.defaultLoop()
    this.allowHalfOpen = Boolean(options.allowHalfOpen)
    this.pauseOnConnect = Boolean(options.pauseOnConnect)
    this.noDelay = options.noDelay
    this.keepAlive = Boolean(options.keepAlive)
    this.keepAliveInitialDelay = options.keepAliveInitialDelay || 0
    this.maxConnections = undefined
    this._h = null
    this._scope = null
    this._connections = 0
    this._address = null
    this._refed = true
    this._unwatchSignal = null
    if (typeof connectionListener === 'function') this.on('connection', connectionListener)
  }

  get listening() {
    return this._h !== null
  }

  /** (port[, host][, backlog][, cb]), (options[, cb]) or ([cb]); failures are 'error' events. */
  listen(...args) {
    const [options, cb] = normalizeArgs(args)
    if (this._h !== null) throw nodeError(Error, 'ERR_SERVER_ALREADY_LISTEN', 'Listen method has been called more than once without closing.')
    const backlogArg = [args[1], args[2]].find((a) => typeof a === 'number')
    const backlog = options.backlog !== undefined ? options.backlog : backlogArg
    const port = options.port === undefined || options.port === null ? 0 : options.port
    if (cb !== null) this.once('listening', cb)
    this._scope = new AsyncResource('netcore.net.Server')
    const flags = { backlog, ipv6Only: Boolean(options.ipv6Only), reusePort: Boolean(options.reusePort) }
    let handle
    try {
      const path = options.path
      if (options.fd !== undefined && options.fd !== null) handle = this._loop.adoptListener(options.fd)
      else if (path !== undefined && path !== null) handle = this._loop.listenUnix(String(path), { backlog })
      else handle = this._listen(options.host, port, flags)
    } catch (err) {
      const thrown = thrownArgumentError(err, port)
      if (thrown !== null) throw thrown
      process.nextTick(() => this.emit('error', err))
      return this
    }
    this._h = handle
    dispatcherOf(this._loop).servers.set(handle, this)
    if (!this._refed) this._loop.unrefHandle(handle)
    // net's address() of a Unix server is its path.
    this._address = options.path !== undefined && options.path !== null ? String(options.path) : this._localAddress(handle)
    if (options.signal !== undefined) this._unwatchSignal = watchSignal(options.signal, () => this.close())
    process.nextTick(() => {
      if (this._h === handle) this.emit('listening')
    })
    return this
  }

  /** The listener's address; '' for an adopted Unix listener (its path is not known here). */
  _localAddress(handle) {
    try {
      return this._loop.localAddress(handle)
    } catch (err) {
      if (err.code !== 'EAFNOSUPPORT') throw err
      return ''
    }
  }

  /** No host: every IPv6 and IPv4 address ('::'), or every IPv4 one where IPv6 is missing, as net does. */
  _listen(host, port, flags) {
    if (host !== undefined && host !== null) return this._loop.listen(host, port, flags)
    try {
      return this._loop.listen('::', port, flags)
    } catch (err) {
      if (err.code !== 'EAFNOSUPPORT' && err.code !== 'EADDRNOTAVAIL') throw err
      return this._loop.listen('0.0.0.0', port, flags)
    }
  }

  /** The socket of an accepted connection (tls.js makes a TLSSocket). */
  _newSocket() {
    return new Socket({ allowHalfOpen: this.allowHalfOpen, loop: this._loop })
  }

  _ncAccepted(ev) {
    if (this.maxConnections !== undefined && this.maxConnections !== null && this._connections >= this.maxConnections) {
      this._loop.close(ev.handle)
      this.emit('drop', {
        localAddress: this._address.address,
        localPort: this._address.port,
        localFamily: this._address.family,
        remoteAddress: ev.address?.address,
        remotePort: ev.address?.port,
        remoteFamily: ev.address?.family,
      })
      return
    }
    const socket = this._newSocket()
    socket._scope = new AsyncResource('netcore.net.Socket') // in this server's scope: its store
    socket._server = this
    socket.server = this
    socket._attach(ev.handle, ev.address)
    this._connections++
    if (this.pauseOnConnect) {
      socket._nativePaused = true
      socket._unlessClosing('pause')
      socket.pause()
    }
    if (this.noDelay !== undefined) socket.setNoDelay(this.noDelay)
    if (this.keepAlive) socket.setKeepAlive(true, this.keepAliveInitialDelay)
    this.emit('connection', socket)
  }

  /** Stops listening; 'close' (and `cb`) once every connection closed too. */
  close(cb) {
    if (typeof cb === 'function') {
      if (this._h === null) {
        this.once('close', () => cb(nodeError(Error, 'ERR_SERVER_NOT_RUNNING', 'Server is not running.')))
      } else this.once('close', cb)
    }
    if (this._h !== null) {
      dispatcherOf(this._loop).servers.delete(this._h)
      if (!this._loop.closed) this._loop.close(this._h) // a closed loop closed its handles
      this._h = null
      if (this._unwatchSignal !== null) this._unwatchSignal()
      this._unwatchSignal = null
    }
    this._emitCloseIfDrained()
    return this
  }

  _emitCloseIfDrained() {
    if (this._h !== null || this._connections > 0) return
    process.nextTick(() => this.emit('close'))
  }

  address() {
    if (this._h === null) return null
    return typeof this._address === 'string' ? this._address : { ...this._address }
  }

  getConnections(cb) {
    process.nextTick(cb, null, this._connections)
    return this
  }

  ref() {
    return setRef(this, true, true)
  }

  unref() {
    return setRef(this, false, true)
  }
}

// ---------------------------------------------------------------------------
// Functions

function createServer(options, connectionListener) {
  return new Server(options, connectionListener)
}

/** connect(port[, host][, cb]) or connect(options[, cb]): a connecting Socket. */
function connect(...args) {
  const normalized = normalizeArgs(args)
  const [options] = normalized
  const socket = new Socket(options)
  if (options.timeout) socket.setTimeout(options.timeout)
  return socket.connect(normalized)
}

/** `cls`, callable without `new` as well (net.Socket(), net.Server(listener) and net.Stream() are, in old code). */
function callableWithoutNew(cls) {
  return new Proxy(cls, {
    apply(target, thisArg, args) {
      return new target(...args)
    },
  })
}

const CallableSocket = callableWithoutNew(Socket)

module.exports = {
  Socket: CallableSocket,
  Stream: CallableSocket,
  Server: callableWithoutNew(Server),
  createServer,
  connect,
  createConnection: connect,
  isIP: nodeNet.isIP,
  isIPv4: nodeNet.isIPv4,
  isIPv6: nodeNet.isIPv6,
}
