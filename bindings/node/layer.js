'use strict'
// What the familiar layers (net.js, dgram.js) share: the event dispatch and
// Node-style errors. Dispatch: ONE set of listeners per Loop hands each
// event to the object that owns its handle (a Map lookup), instead of
// per-handle listeners; each object runs its events in its own
// AsyncResource (`_scope`), so AsyncLocalStorage stores follow sockets as
// they do with Node's own.

const { getSystemErrorMap, inspect } = require('node:util')

/** The owner's method for each netcore event (an owner implements those its handle can get). */
const METHODS = {
  connected: '_ncConnected',
  connect_failed: '_ncFailed',
  data: '_ncData',
  datagram: '_ncDatagram',
  eof: '_ncEof',
  writable: '_ncWritable',
  closed: '_ncClosed',
  error: '_ncFailed',
  idle: '_ncIdle',
  sent: '_ncSent',
  tls_ready: '_ncTlsReady',
  tls_failed: '_ncTlsFailed',
}

const dispatchers = new WeakMap()

/**
 * `loop`'s maps, its listeners installed on first use: `sockets` (handle ->
 * owner of a connection or UDP socket) and `servers` (listener handle ->
 * owner, which gets 'accepted' as `_ncAccepted`).
 */
function dispatcherOf(loop) {
  let d = dispatchers.get(loop)
  if (d !== undefined) return d
  d = { sockets: new Map(), servers: new Map() }
  const { sockets, servers } = d
  for (const [type, method] of Object.entries(METHODS)) {
    loop.on(type, (ev) => {
      const socket = sockets.get(ev.handle)
      if (socket !== undefined) socket._scope.runInAsyncScope(socket[method], socket, ev)
      // A loop-level error (handle 0) is a warning when nobody else listens, as without these layers.
      else if (type === 'error' && ev.handle === 0 && loop.listenerCount('error') === 1) process.emitWarning(ev.error)
    })
  }
  loop.on('accepted', (ev) => {
    const server = servers.get(ev.listener)
    if (server !== undefined) server._scope.runInAsyncScope(server._ncAccepted, server, ev)
  })
  dispatchers.set(loop, d)
  return d
}

/**
 * ref() / unref() of a layer object: remembered in `_refed` (applied when a
 * handle comes), and applied to its handle `_h` now if it has one still `open`.
 */
function setRef(owner, refed, open) {
  owner._refed = refed
  if (owner._h !== null && open) {
    if (refed) owner._loop.refHandle(owner._h)
    else owner._loop.unrefHandle(owner._h)
  }
  return owner
}

// ---------------------------------------------------------------------------
// Errors (index.js's too) and AbortSignals, as Node's own modules make them

function nodeError(Type, code, message) {
  const err = new Type(message)
  err.code = code
  return err
}

/** A value as Node's argument errors show it after 'Received' (`type number (70000)`, `an instance of Foo`, `null`). */
function describe(value) {
  if (value === null) return 'null'
  if (value === undefined) return 'undefined'
  if (typeof value === 'function') return `function ${value.name || '<anonymous>'}`
  if (typeof value === 'object') {
    const ctor = value.constructor && value.constructor.name
    return ctor ? `an instance of ${ctor}` : inspect(value, { depth: -1 })
  }
  let shown = inspect(value)
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`
  return `type ${typeof value} (${shown})`
}

/** Node's ERR_INVALID_ARG_TYPE: argument `name` must be `expected` ('of type string', 'an array', ...). */
function invalidArgType(name, expected, actual) {
  return nodeError(TypeError, 'ERR_INVALID_ARG_TYPE', `The "${name}" argument must be ${expected}. Received ${describe(actual)}`)
}

/** Node's ERR_SOCKET_BAD_PORT for `port` (a destination's must not be 0: `allowZero` false). */
function badPortError(port, allowZero = true) {
  return nodeError(RangeError, 'ERR_SOCKET_BAD_PORT', `Port should be ${allowZero ? '>=' : '>'} 0 and < 65536. Received ${describe(port)}.`)
}

function abortError(signal) {
  const err = new Error('The operation was aborted', { cause: signal.reason })
  err.name = 'AbortError'
  err.code = 'ABORT_ERR'
  return err
}

/** libuv's EAI_NONAME: the errno of the ENOTFOUND errors Node's dns.lookup makes. */
const EAI_NONAME = [...getSystemErrorMap()].find(([, [name]]) => name === 'EAI_NONAME')?.[0]

/** A connect's error, netcore's EDNS made as Node's dns.lookup reports a name that does not resolve: 'getaddrinfo ENOTFOUND host'. */
function lookupError(err) {
  if (err.code !== 'EDNS') return err
  const host = err.address
  const notFound = new Error(`getaddrinfo ENOTFOUND ${host}`)
  return Object.assign(notFound, { errno: EAI_NONAME, code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: host })
}

/** Errors that are the caller's mistake (thrown at once); the rest are the network's ('error' event). */
function isArgumentError(err) {
  return err instanceof TypeError || err instanceof RangeError
}

/** Calls `onAbort` when `signal` aborts (on nextTick if it already has); returns the undo. */
function watchSignal(signal, onAbort) {
  if (signal === undefined || signal === null) return () => {}
  if (typeof signal !== 'object' || !('aborted' in signal)) {
    throw nodeError(TypeError, 'ERR_INVALID_ARG_TYPE', 'The "options.signal" property must be an instance of AbortSignal')
  }
  if (signal.aborted) {
    process.nextTick(onAbort)
    return () => {}
  }
  signal.addEventListener('abort', onAbort, { once: true })
  return () => signal.removeEventListener('abort', onAbort)
}

module.exports = { dispatcherOf, setRef, nodeError, invalidArgType, badPortError, abortError, isArgumentError, lookupError, watchSignal }
