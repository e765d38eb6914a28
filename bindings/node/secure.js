'use strict'
// TLS on the raw model (index.js): createSecureContext() with the option
// names of Node's tls module, the `tls` option of listen() and connect(),
// setSecureContext(), startTls(), the 'tls_ready' event's fields,
// getPeerCertificate() and the TLS details of errors.
//
// The core validates and names everything (src/tls.rs converts): this file
// maps Node's names onto the core's options, turns its answers into Node
// objects (crypto.X509Certificate, Error properties), and checks types only.
// index.js calls install() once with its helpers (no circular require).

const { X509Certificate } = require('node:crypto')
const native = require('./native.js')

/** index.js's helpers (see install()). */
let h = null

/** `opts[key]` if it is a `type`, or `dflt` when it is undefined. */
function opt(opts, key, type, dflt) {
  return opts[key] === undefined ? dflt : h.check(opts[key], `options.${key}`, type)
}

/**
 * Node's equivalent `code` of netcore's TLS errors, where Node has one
 * (`nodeCode` on the Error). An alert from the peer is named by its number
 * (ALERT_CODES), as Node reports OpenSSL's.
 */
const NODE_CODES = {
  ETLSUNKNOWNCA: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  ETLSEXPIRED: 'CERT_HAS_EXPIRED',
  ETLSBADNAME: 'ERR_TLS_CERT_ALTNAME_INVALID',
  ETLSNOTTLS: 'ERR_SSL_WRONG_VERSION_NUMBER',
  ETLSTRUNCATED: 'ECONNRESET',
  ETLSTIMEDOUT: 'ERR_TLS_HANDSHAKE_TIMEOUT',
}
const ALERT_CODES = {
  40: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE',
  42: 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  45: 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
  46: 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
  48: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  70: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
  116: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  120: 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL',
}

/** The fields of a 'tls_ready' event (its `value` holds them all). */
const READY_FIELDS = ['protocol', 'cipher', 'alpnProtocol', 'authorized', 'resumed']

// ---------------------------------------------------------------------------
// Secure contexts

/**
 * Options of Node's tls.createSecureContext() / tls.connect() that netcore
 * does not implement. Ignoring one would quietly change what the program
 * asked for (a cipher list, a custom server check), so each is refused.
 */
const UNSUPPORTED = {
  pfx: 'PKCS#12 is not supported: pass key and cert as PEM',
  passphrase: 'encrypted keys are not supported: pass an unencrypted PEM key',
  SNICallback: 'is not supported: use setSecureContext() to rotate the certificate',
  checkServerIdentity: 'is not supported: use servername, or rejectUnauthorized: false and check getPeerCertificate() on tls_ready',
  ciphers: 'is not supported: netcore offers rustls\'s safe defaults',
  ecdhCurve: 'is not supported: netcore offers rustls\'s safe defaults',
  sigalgs: 'is not supported: netcore offers rustls\'s safe defaults',
  dhparam: 'is not supported: netcore offers no finite-field Diffie-Hellman',
  secureProtocol: 'is not supported: use minVersion',
  secureOptions: 'is not supported',
  crl: 'is not supported',
  ticketKeys: 'is not supported',
  pskCallback: 'is not supported',
  privateKeyEngine: 'is not supported',
  clientCertEngine: 'is not supported',
}

/** Throws for the first option of UNSUPPORTED that is set, and for a maxVersion below TLS 1.3 (the core's maximum). */
function refuseUnsupported(o) {
  for (const [name, reason] of Object.entries(UNSUPPORTED)) {
    if (o[name] !== undefined && o[name] !== null) throw h.invalidArgValue(`options.${name}`, o[name], reason)
  }
  if (o.maxVersion !== undefined && o.maxVersion !== 'TLSv1.3') {
    throw h.invalidArgValue('options.maxVersion', o.maxVersion, "is not supported below 'TLSv1.3': use minVersion")
  }
}

/** PEM text as one Buffer: a string, a Buffer / TypedArray, or an array of them (joined). */
function pemOf(value, name) {
  if (value === undefined || value === null) return undefined
  const parts = Array.isArray(value) ? value : [value]
  return Buffer.concat(
    parts.flatMap((part, i) => {
      const where = Array.isArray(value) ? `${name}[${i}]` : name
      if (typeof part !== 'string' && !ArrayBuffer.isView(part)) throw h.invalidArgType(where, 'of type string or an instance of Buffer or TypedArray', part)
      return [h.toBuffer(part, where), Buffer.from('\n')]
    }),
  )
}

function alpnOf(list) {
  if (list === undefined || list === null) return []
  if (!Array.isArray(list)) throw h.invalidArgType('options.ALPNProtocols', 'an array of strings or Buffers', list)
  return list.map((p, i) => h.toBuffer(p, `options.ALPNProtocols[${i}]`))
}

function build(make, options, syscall) {
  const result = make(options)
  if (typeof result === 'number') throw h.nativeError(result, syscall)
  return result
}

/**
 * What createSecureContext() returns: the core's server config (built at
 * once when `cert` or `key` is given, so a bad one throws here) and its
 * client config (built on the first client use).
 */
class SecureContext {
  constructor(options) {
    const o = h.checkOptions(options)
    refuseUnsupported(o)
    const requestCert = opt(o, 'requestCert', 'boolean', false)
    this.rejectUnauthorized = opt(o, 'rejectUnauthorized', 'boolean', true)
    this._options = {
      cert: pemOf(o.cert, 'options.cert'),
      key: pemOf(o.key, 'options.key'),
      ca: pemOf(o.ca, 'options.ca'),
      alpn: alpnOf(o.ALPNProtocols),
      minVersion: opt(o, 'minVersion', 'string', undefined),
      // Node's requestCert / rejectUnauthorized, in the core's words.
      clientAuth: requestCert ? (this.rejectUnauthorized ? 'required' : 'optional') : undefined,
      handshakeTimeout: o.handshakeTimeout === undefined ? undefined : h.checkMillis(o.handshakeTimeout, 'options.handshakeTimeout'),
      // A client that does not reject an unverified server checks nothing ('tls_ready' says authorized: false).
      verifyServer: this.rejectUnauthorized ? undefined : 'off',
    }
    this._server = null
    this._client = null
    if (this._options.cert !== undefined || this._options.key !== undefined) this._serverTls()
  }

  _serverTls() {
    if (this._server === null) this._server = build(native.serverTls, this._options, 'createSecureContext')
    return this._server
  }

  _clientTls() {
    if (this._client === null) this._client = build(native.clientTls, this._options, 'createSecureContext')
    return this._client
  }
}

function createSecureContext(options) {
  return new SecureContext(options)
}

/** A SecureContext, or one made from tls.connect()-style options. */
function contextOf(value, name) {
  if (value instanceof SecureContext) return value
  if (value === null || typeof value !== 'object') throw h.invalidArgType(name, 'an instance of SecureContext or an options object', value)
  return createSecureContext(value)
}

// ---------------------------------------------------------------------------
// The hooks listen() and connect() call (index.js)

/** For listen(): a function starting TLS on the new listener, or undefined without `options.tls`. */
function listening(opts) {
  if (opts.tls === undefined) return undefined
  const server = contextOf(opts.tls, 'options.tls')._serverTls()
  return (loop, id) => loop._native.setListenerTls(id, server)
}

/** For connect(): a function starting TLS on the new connection, or undefined without `options.tls`. */
function connecting(opts, host) {
  if (opts.tls === undefined) return undefined
  const client = contextOf(opts.tls, 'options.tls')._clientTls()
  const servername = opt(opts, 'servername', 'string', host)
  const rc = native.checkServerName(servername)
  if (rc !== 0) throw h.nativeError(rc, 'connect')
  return (loop, id) => loop._native.startTlsClient(id, client, servername)
}

/**
 * An event's Error with its TLS details, when it is a TLS one: the failure
 * record's `alert` and `reason` (also in the message), and `nodeCode`.
 */
function withFailure(loop, id, err) {
  if (!err.code.startsWith('ETLS')) return err
  const failure = loop._native.tlsFailure(id)
  if (failure) {
    if (failure.alert !== null && failure.alert !== undefined) err.alert = failure.alert
    err.reason = failure.reason
    err.message += ` (${failure.reason})`
  }
  const nodeCode = err.alert !== undefined ? ALERT_CODES[err.alert] : NODE_CODES[err.code]
  if (nodeCode !== undefined) err.nodeCode = nodeCode
  return err
}

// ---------------------------------------------------------------------------
// Loop methods

const methods = {
  /** Sets (null: clears) the TLS of a listener's later accepts: certificate rotation. */
  setSecureContext(listener, context) {
    this._use(listener)
    const server = context === null ? null : contextOf(context, 'context')._serverTls()
    this._void(listener, this._native.setListenerTls(listener, server), 'setSecureContext')
  },

  /** STARTTLS: `options.isServer`, else a client verifying `options.servername` (default: the host connected to). */
  startTls(handle, context, options) {
    this._use(handle)
    const ctx = contextOf(context, 'context')
    const opts = h.checkOptions(options)
    let rc
    if (opt(opts, 'isServer', 'boolean', false)) rc = this._native.startTlsServer(handle, ctx._serverTls())
    else {
      const servername = opt(opts, 'servername', 'string', this._state(handle).host)
      if (servername === undefined) throw h.invalidArgType('options.servername', 'of type string', servername)
      rc = this._native.startTlsClient(handle, ctx._clientTls(), servername)
    }
    this._void(handle, rc, 'startTls')
    // The rest of the batch may hold plaintext that came after the upgrade point (see _skips).
    this._closedNow.add(handle)
    this._upgradedNow.add(handle)
  },

  /**
   * Whether the batch being delivered skips an event of a handle closed or
   * upgraded since it was polled (in _closedNow): every event of a closed
   * one; the data of an upgraded one, which the core refuses (then
   * 'tls_failed' and 'closed' with ETLSPROTOCOL, so it counts as closed).
   */
  _skips(id, isData) {
    if (!this._upgradedNow.has(id)) return true
    if (!isData || !this._native.skipsUpgradedData(id)) return false
    this._upgradedNow.delete(id)
    return true
  },

  /** What the handshake negotiated (the 'tls_ready' fields), or null before it is over or without TLS. */
  tlsInfo(handle) {
    return this._value(handle, this._native.tlsInfo(this._use(handle)), 'tlsInfo') ?? null
  },

  /** The peer's certificate, or null (none sent, handshake not over, no TLS). */
  getPeerCertificate(handle) {
    return this.getPeerCertificateChain(handle)[0] ?? null
  },

  /** The peer's certificate chain, leaf first. */
  getPeerCertificateChain(handle) {
    const chain = this._value(handle, this._native.tlsPeerCertificates(this._use(handle)), 'getPeerCertificate')
    return chain.map((der) => new X509Certificate(der))
  },

  /** Starts TLS on a handle listen() or connect() just made (`start` from listening() / connecting()). */
  _startSecure(id, start, syscall) {
    const rc = start(this, id)
    if (rc === 0) return
    const err = this._error(id, rc, syscall)
    this.closeReset(id)
    throw err
  },
}

/** Called once by index.js with the Loop class, the event class and its helpers. */
function install(Loop, NetcoreEvent, helpers) {
  h = helpers
  Object.assign(Loop.prototype, methods)
  for (const key of READY_FIELDS) {
    Object.defineProperty(NetcoreEvent.prototype, key, {
      get() {
        return this.type === 'tls_ready' ? this.value[key] : undefined
      },
    })
  }
}

module.exports = { install, createSecureContext, SecureContext, listening, connecting, withFailure }
