'use strict'
// `require('netcore').tls`: Node's `tls` API (createServer, connect,
// TLSSocket, Server, createSecureContext) over net.js's sockets, so code
// written for `tls` runs by changing its `require`.
//
// A TLSSocket is net.js's Socket (a stream.Duplex over one netcore
// connection) whose connection speaks TLS: netcore encrypts and decrypts
// (its `tls` option of connect() and listen(), secure.js), so reading,
// writing, backpressure and closing are net.js's own. This file adds what
// `tls` has beyond `net`: 'secureConnect' (client) and the server's
// 'secureConnection' on netcore's 'tls_ready', 'tlsClientError' on its
// 'tls_failed', the session's getters (alpnProtocol, authorized,
// getPeerCertificate(), getProtocol(), getCipher()), and STARTTLS on a
// connected net.js socket (new TLSSocket(socket, options), connect({ socket })).

const netcore = require('./index.js')
const net = require('./net.js')
const { nodeError } = require('./layer.js')

const { createSecureContext, SecureContext } = netcore

/** A TLS failure's Error with Node's code where Node has one (`nodeCode`), netcore's kept in `netcoreCode`. */
function nodeTlsError(err) {
  if (err.nodeCode !== undefined) Object.assign(err, { netcoreCode: err.code, code: err.nodeCode })
  return err
}

/** options.secureContext, or a context made from the options themselves (as tls does). */
function contextOf(options) {
  return options.secureContext instanceof SecureContext ? options.secureContext : createSecureContext(options)
}

/**
 * A TLS connection: net.js's Socket with tls.TLSSocket's events and
 * getters. Made by connect() (a client), by a Server (for each accepted
 * connection), or from a connected net.js Socket (STARTTLS):
 * `new TLSSocket(socket, { isServer, secureContext, servername })`.
 */
class TLSSocket extends net.Socket {
  constructor(socket, options) {
    const wrapped = socket instanceof net.Socket ? socket : null
    super(wrapped === null ? socket : { allowHalfOpen: wrapped.allowHalfOpen, loop: wrapped._loop })
    this.encrypted = true
    this.authorized = false
    this.authorizationError = null
    this.alpnProtocol = null
    this.servername = undefined
    this._context = null // the client's SecureContext (connect())
    this._info = null // what the handshake negotiated ('tls_ready')
    this._isServer = false
    if (wrapped !== null) this._upgrade(wrapped, options === undefined || options === null ? {} : options)
  }

  /**
   * STARTTLS: starts TLS on the connection of `socket` (connected, nothing
   * unread or unwritten in its stream buffers) and takes it over; `socket`
   * closes without touching the connection ('close', false).
   */
  _upgrade(socket, options) {
    if (socket._h === null || socket.connecting || socket._closing || socket._handleClosed) {
      throw nodeError(Error, 'ERR_SOCKET_CLOSED', 'netcore.tls: the socket to upgrade must be connected and open')
    }
    if (socket.readableLength > 0 || socket.writableLength > 0) {
      throw nodeError(Error, 'ERR_INVALID_STATE', 'netcore.tls: the socket to upgrade still has bytes in its stream buffers (read or written before the upgrade point)')
    }
    const handle = socket._h
    this._isServer = Boolean(options.isServer)
    this._loop.startTls(handle, contextOf(options), { isServer: this._isServer, servername: options.servername })
    this.servername = options.servername
    // The connection is this socket's from here on (the server counts it once).
    Object.assign(this, { _scope: socket._scope, _server: socket._server, server: socket.server, _refed: socket._refed, _timeoutMs: socket._timeoutMs })
    Object.assign(socket, { _h: null, _handleClosed: true, _server: null })
    if (socket._nativePaused) this._loop.resume(handle)
    this._attach(handle, socket._peer)
    socket.destroy()
  }

  _connectOptions(options, host) {
    this.servername = options.servername || host
    return { ...super._connectOptions(options), tls: this._context, servername: this.servername }
  }

  _ncTlsReady(ev) {
    this._info = ev.value
    this.alpnProtocol = ev.alpnProtocol
    this.authorized = ev.authorized
    if (this._server instanceof Server) this._server.emit('secureConnection', this)
    else this.emit(this._isServer ? 'secure' : 'secureConnect')
  }

  /** A failed handshake: the client's 'error'; a server's 'tlsClientError' (the socket closes quietly). */
  _ncTlsFailed(ev) {
    const err = nodeTlsError(ev.error)
    if (!(this._server instanceof Server)) return this.destroy(err)
    this._server.emit('tlsClientError', err, this)
    this.destroy()
  }

  /**
   * As Node's tls: a peer's FIN without close_notify after the handshake
   * (netcore's ETLSTRUNCATED) ends the stream like a clean close, 'end'
   * then 'close', without an 'error'; before the handshake it is an error.
   */
  _ncClosed(ev) {
    if (ev.error === undefined || ev.error.code !== 'ETLSTRUNCATED' || this._info === null || this.destroyed) {
      return super._ncClosed(ev.error === undefined ? ev : { ...ev, error: nodeTlsError(ev.error) })
    }
    this._handleClosed = true // nothing more is sent: the stream ends once its data is read
    this._ncEof()
    this.once('end', () => super._ncClosed({ ...ev, error: undefined }))
  }

  /** The peer's certificate as tls returns it (toLegacyObject()), {} if it sent none, null once closed. */
  getPeerCertificate() {
    const cert = this.getPeerX509Certificate()
    if (cert === undefined) return this._h === null || this._handleClosed ? null : {}
    return cert.toLegacyObject()
  }

  /** The peer's certificate as a crypto.X509Certificate (undefined if none). */
  getPeerX509Certificate() {
    if (this._h === null || this._handleClosed) return undefined
    return this._unlessClosing('getPeerCertificate') ?? undefined
  }

  /** 'TLSv1.2' / 'TLSv1.3', or null before the handshake is over. */
  getProtocol() {
    return this._info === null ? null : this._info.protocol
  }

  /** { name, standardName, version } of the cipher suite (netcore's name for both). */
  getCipher() {
    if (this._info === null) return undefined
    return { name: this._info.cipher, standardName: this._info.cipher, version: this._info.protocol }
  }

  isSessionReused() {
    return this._info !== null && this._info.resumed
  }
}

/**
 * A TLS server: net.js's Server whose listener speaks TLS (its accepted
 * sockets are TLSSockets); 'secureConnection' once a handshake is over,
 * 'tlsClientError' when one fails.
 */
class Server extends net.Server {
  constructor(options, secureConnectionListener) {
    if (typeof options === 'function') {
      secureConnectionListener = options
      options = {}
    }
    options = options === undefined || options === null ? {} : options
    super(options)
    this._context = contextOf(options)
    if (typeof secureConnectionListener === 'function') this.on('secureConnection', secureConnectionListener)
  }

  _listen(host, port, flags) {
    return super._listen(host, port, { ...flags, tls: this._context })
  }

  _newSocket() {
    return new TLSSocket({ allowHalfOpen: this.allowHalfOpen, loop: this._loop })
  }

  /** Replaces the certificate (and the rest) for later connections: `options` as createSecureContext() takes them. */
  setSecureContext(options) {
    this._context = createSecureContext(options)
    if (this._h !== null) this._loop.setSecureContext(this._h, this._context)
  }
}

function createServer(options, secureConnectionListener) {
  return new Server(options, secureConnectionListener)
}

/**
 * connect(options[, cb]) or connect(port[, host][, options][, cb]): a
 * connecting TLSSocket; `cb` runs on 'secureConnect'. The server's
 * certificate is verified against `servername` (default: `host`). With
 * `options.socket` (a connected net.js Socket): STARTTLS on its connection
 * (default servername: the host it connected to).
 */
function connect(...args) {
  const cb = typeof args[args.length - 1] === 'function' ? args.pop() : null
  if (args[0] !== null && typeof args[0] === 'object' && args[0].socket instanceof net.Socket) {
    // STARTTLS as a client: `socket` is connected already.
    const socket = new TLSSocket(args[0].socket, { ...args[0], isServer: false, secureContext: contextOf(args[0]) })
    if (cb !== null) socket.once('secureConnect', cb)
    return socket
  }
  let options
  if (args[0] !== null && typeof args[0] === 'object') options = { ...args[0] }
  else {
    const extra = args.find((a, i) => i > 0 && a !== null && typeof a === 'object')
    options = { ...extra, port: args[0] }
    if (typeof args[1] === 'string') options.host = args[1]
  }
  const socket = new TLSSocket(options)
  if (cb !== null) socket.once('secureConnect', cb)
  socket._context = contextOf(options)
  if (options.timeout) socket.setTimeout(options.timeout)
  return socket.connect(options)
}

module.exports = { TLSSocket, Server, createServer, connect, createSecureContext, SecureContext }
