'use strict'
// `require('netcore').dgram`: Node's `dgram` API (createSocket, Socket) on
// netcore's UDP sockets, so code written for `dgram` runs by changing its
// `require`.
//
// - bind() and connect() are netcore's udpBind / udpConnect; a socket that
//   sends before bind() is bound first to any port (as dgram does);
// - send() never drops a datagram netcore refuses (EAGAIN: the kernel's
//   buffer is full): it waits in order, with its callback, for netcore's
//   'writable' (dgram's getSendQueueSize / getSendQueueCount count them);
//   callbacks get (err, bytes) on a later tick, as dgram's;
// - names other than IP literals are looked up with Node's dns.lookup, as
//   dgram does; failures are 'error' events or callback errors, never throws;
// - one type more than dgram's: 'unix_dgram', a Unix datagram socket (the
//   shape of the unix-dgram package): bind(path), send(msg, path) or
//   connect(path) then send(msg), 'message' (msg, { path, size }) where
//   path is the sender's (undefined when it is unbound). It sends only once
//   bound (a Unix socket has no port to pick).

const { EventEmitter } = require('node:events')
const { AsyncResource } = require('node:async_hooks')
const dns = require('node:dns')
const os = require('node:os')
const nodeNet = require('node:net')
const netcore = require('./index.js')
const { dispatcherOf, nodeError, invalidArgType, badPortError, watchSignal, setRef } = require('./layer.js')

const ANY = { udp4: '0.0.0.0', udp6: '::' }
const LOOPBACK = { udp4: '127.0.0.1', udp6: '::1' }

/** A datagram's bytes as one Buffer (dgram takes a string, Buffer, TypedArray, DataView or an array of them). */
function toDatagram(msg, offset, length) {
  if (Array.isArray(msg)) return Buffer.concat(msg.map((m) => toDatagram(m)))
  if (typeof msg === 'string') return Buffer.from(msg)
  if (ArrayBuffer.isView(msg)) {
    const buf = Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength)
    return offset === undefined ? buf : buf.subarray(offset, offset + length)
  }
  throw nodeError(
    TypeError,
    'ERR_INVALID_ARG_TYPE',
    'The "buffer" argument must be of type string or an instance of Buffer, TypedArray, or DataView',
  )
}

/** dgram's check of a destination port (a number or a numeric string, 1 to 65535): the number, or throws its RangeError. */
function destinationPort(port) {
  const number = typeof port === 'string' && port.trim() !== '' ? Number(port) : port
  if (typeof number !== 'number' || number !== number >>> 0 || number === 0 || number > 0xffff) throw badPortError(port, false)
  return number
}

/** The interface index of an IPv6 multicast interface as dgram names it ('::%eth1', '::%2'; no scope: the system's choice). */
function scopeIndex(interfaceAddress) {
  const scope = interfaceAddress.split('%')[1]
  if (scope === undefined) return 0
  if (/^\d+$/.test(scope)) return Number(scope)
  const found = (os.networkInterfaces()[scope] || []).find((entry) => entry.family === 'IPv6')
  return found === undefined ? scope : found.scopeid // an unknown name: the core's EINVAL
}

/** A membership's group, which dgram requires. */
function groupOf(multicastAddress) {
  if (!multicastAddress) throw nodeError(TypeError, 'ERR_MISSING_ARGS', 'The "multicastAddress" argument must be specified')
  return multicastAddress
}

function notConnected() {
  return nodeError(Error, 'ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected')
}

function notRunning() {
  return nodeError(Error, 'ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running')
}

/** A UDP socket with dgram.Socket's events ('listening', 'message', 'connect', 'close', 'error') and methods. */
class Socket extends EventEmitter {
  constructor(options, listener) {
    super()
    if (typeof options === 'string') options = { type: options }
    if (options === null || typeof options !== 'object' || !['udp4', 'udp6', 'unix_dgram'].includes(options.type)) {
      throw nodeError(TypeError, 'ERR_SOCKET_BAD_TYPE', 'Bad socket type specified. Valid types are: udp4, udp6, unix_dgram')
    }
    this.type = options.type
    this._loop = options.loop || netcore.defaultLoop()
    this._options = options
    this._h = null
    this._scope = new AsyncResource('netcore.dgram.Socket')
    this._binding = false // bind() called
    this._connected = false // connect() called
    this._connecting = false // connect() called, netcore's udpConnect not done yet
    this._closed = false
    this._queue = [] // { data, port, host, ready, cb } not taken by netcore yet, in order
    this._refed = true
    this._path = undefined // a unix_dgram socket's bound path
    if (typeof listener === 'function') this.on('message', listener)
    this._unwatchSignal = watchSignal(options.signal, () => {
      if (!this._closed) this.close()
    })
  }

  /** bind([port][, address][, cb]) or bind(options[, cb]) (options.fd: adopt that socket); a unix_dgram socket: bind(path[, cb]). */
  bind(...args) {
    const cb = typeof args[args.length - 1] === 'function' ? args.pop() : null
    const options = args[0] !== null && typeof args[0] === 'object' ? args[0] : { port: args[0], address: args[1] }
    if (this._closed) throw notRunning()
    if (this._binding) throw nodeError(Error, 'ERR_SOCKET_ALREADY_BOUND', 'Socket is already bound')
    this._binding = true
    if (cb !== null) this.once('listening', cb)
    if (options.fd !== undefined && options.fd !== null) {
      // A datagram socket the program has, as dgram's bind({ fd }): netcore
      // owns it from now on; one that is not a datagram socket is an 'error'.
      process.nextTick(() => this._scope.runInAsyncScope(() => this._bound(() => this._loop.adoptUdp(options.fd))))
      return this
    }
    if (this.type === 'unix_dgram') {
      this._path = typeof args[0] === 'string' ? args[0] : options.path
      process.nextTick(() => this._scope.runInAsyncScope(() => this._bound(() => this._loop.udpBindUnix(this._path))))
      return this
    }
    const port = options.port === undefined || options.port === null ? 0 : options.port
    if (typeof port !== 'number' && typeof port !== 'string') {
      throw nodeError(TypeError, 'ERR_INVALID_ARG_TYPE', 'The "port" argument must be of type number')
    }
    this._resolve(options.address || ANY[this.type], (err, address) => {
      if (this._closed) return
      if (err) return this.emit('error', err)
      const flags = { reusePort: Boolean(this._options.reusePort), ipv6Only: Boolean(this._options.ipv6Only) }
      this._bound(() => this._loop.udpBind(address, port, flags))
    })
    return this
  }

  /** Opens the socket with `open` (a Loop call returning its handle), then 'listening'; a failure is an 'error'. */
  _bound(open) {
    if (this._closed) return
    try {
      this._h = open()
    } catch (bindErr) {
      return this.emit('error', bindErr) // e.g. EADDRINUSE, or a port out of the core's range
    }
    dispatcherOf(this._loop).sockets.set(this._h, this)
    if (!this._refed) this._loop.unrefHandle(this._h)
    if (this._options.recvBufferSize) this.setRecvBufferSize(this._options.recvBufferSize)
    if (this._options.sendBufferSize) this.setSendBufferSize(this._options.sendBufferSize)
    this.emit('listening')
    this._flush()
  }

  /** An IP literal as it is, a name through dns.lookup (this socket's family); `cb` on a later tick. */
  _resolve(host, cb) {
    if (nodeNet.isIP(host)) {
      process.nextTick(() => this._scope.runInAsyncScope(cb, this, null, host))
      return
    }
    dns.lookup(host, { family: this.type === 'udp4' ? 4 : 6 }, (err, address) => cb(err, address))
  }

  /** Binds to any port first when nothing did (dgram's implicit bind), then calls `then`. */
  _whenBound(then) {
    if (this._h !== null) return then()
    this.once('listening', then)
    if (!this._binding) this.bind(0)
  }

  /** A unix_dgram socket sends only once bind() was called: it has no port to pick. */
  _checkUnixBound() {
    if (this.type === 'unix_dgram' && !this._binding) throw notRunning()
  }

  /** connect(port[, address][, cb]); a unix_dgram socket: connect(path[, cb]). */
  connect(port, address, cb) {
    if (typeof address === 'function') {
      cb = address
      address = undefined
    }
    if (this._connected) throw nodeError(Error, 'ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected')
    this._checkUnixBound()
    this._connected = true
    this._connecting = true
    if (cb) this.once('connect', cb)
    const connectTo = (err, set) => {
      if (this._closed) return
      if (!err) {
        try {
          set()
        } catch (e) {
          err = e
        }
      }
      this._connecting = false
      if (err) {
        this._connected = false
        return this.emit('error', err)
      }
      this.emit('connect')
      this._flush()
    }
    this._whenBound(() => {
      if (this.type === 'unix_dgram') return connectTo(null, () => this._loop.udpConnectUnix(this._h, port))
      this._resolve(address || LOOPBACK[this.type], (err, host) =>
        connectTo(err, () => this._loop.udpConnect(this._h, host, port)),
      )
    })
  }

  /** send(msg[, offset, length][, port][, address][, callback]), as dgram; a unix_dgram socket: send(msg[, offset, length][, path][, callback]). */
  send(msg, ...args) {
    const cb = typeof args[args.length - 1] === 'function' ? args.pop() : undefined
    let offset
    let length
    if (typeof args[0] === 'number' && typeof args[1] === 'number' && !Array.isArray(msg) && typeof msg !== 'string') {
      offset = args.shift()
      length = args.shift()
    }
    const [given, address] = args
    if (this._connected && given !== undefined && given !== null) {
      throw nodeError(Error, 'ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected')
    }
    if (!this._connected && (given === undefined || given === null) && this.type === 'unix_dgram') throw notConnected()
    // Thrown as dgram throws it, not left to netcore's verdict after a bind or a lookup ('error' events).
    const port = this._connected || this.type === 'unix_dgram' ? given : destinationPort(given)
    if (this._closed) throw notRunning()
    this._checkUnixBound()
    const host = this._connected || this.type === 'unix_dgram' ? undefined : address || LOOPBACK[this.type]
    // ready: nothing to look up (connected, Unix, or an IP literal). port: a unix_dgram socket's path.
    const item = { data: toDatagram(msg, offset, length), port, host, ready: host === undefined || nodeNet.isIP(host) !== 0, cb }
    this._queue.push(item)
    if (item.ready) {
      if (this._h !== null) this._flush()
      else this._whenBound(() => this._flush())
      return
    }
    this._whenBound(() =>
      this._resolve(host, (err, ip) => {
        if (err) {
          this._queue.splice(this._queue.indexOf(item), 1)
          return this._done(item, err)
        }
        item.host = ip
        item.ready = true
        this._flush()
      }),
    )
  }

  /** Sends what is queued, in order, until netcore refuses one (EAGAIN: 'writable' follows). */
  _flush() {
    const queue = this._queue
    while (queue.length > 0 && this._h !== null && !this._closed && !this._connecting) {
      const item = queue[0]
      if (!item.ready) return // its name is still being looked up
      let sent
      try {
        if (this._connected) sent = this._loop.send(this._h, item.data)
        else if (this.type === 'unix_dgram') sent = this._loop.sendToUnix(this._h, item.data, item.port)
        else sent = this._loop.sendTo(this._h, item.data, item.host, item.port)
      } catch (err) {
        queue.shift()
        this._done(item, err)
        continue
      }
      if (!sent) return
      queue.shift()
      this._done(item, null)
    }
  }

  /** A send's result: its callback (err, bytes) on a later tick, or 'error' when it has none. */
  _done(item, err) {
    if (item.cb) process.nextTick(item.cb, err, err ? undefined : item.data.length)
    else if (err) process.nextTick(() => this.emit('error', err))
  }

  _ncDatagram(ev) {
    if (ev.address === undefined) return this.emit('message', ev.data, { path: ev.path, size: ev.data.length })
    const { address, port, family } = ev.address
    this.emit('message', ev.data, { address, family, port, size: ev.data.length })
  }

  _ncWritable() {
    this._flush()
  }

  _ncFailed(ev) {
    this.emit('error', ev.error)
  }

  _ncClosed() {
    dispatcherOf(this._loop).sockets.delete(this._h)
  }

  close(cb) {
    if (this._closed) throw notRunning()
    this._closed = true
    this._unwatchSignal()
    if (typeof cb === 'function') this.once('close', cb)
    const queue = this._queue
    this._queue = []
    const err = notRunning()
    for (const item of queue) if (item.cb) process.nextTick(item.cb, err)
    if (this._h !== null && !this._loop.closed) this._loop.close(this._h)
    process.nextTick(() => this.emit('close'))
    return this
  }

  /** The handle of a bound socket not closed, or throws ERR_SOCKET_DGRAM_NOT_RUNNING as dgram. */
  _running() {
    if (this._h === null || this._closed) throw notRunning()
    return this._h
  }

  /** The bound address; a unix_dgram socket's: { path }. */
  address() {
    const handle = this._running()
    return this.type === 'unix_dgram' ? { path: this._path } : this._loop.localAddress(handle)
  }

  /** As dgram's: the socket has no default peer any more (it keeps its own address, which dgram's may lose). */
  disconnect() {
    const handle = this._running()
    if (!this._connected || this._connecting) throw notConnected()
    this._loop.udpDisconnect(handle)
    this._connected = false
  }

  remoteAddress() {
    const handle = this._running()
    if (!this._connected || this._connecting) throw notConnected()
    return this._loop.peerAddress(handle)
  }

  _option(name, value) {
    this._running()
    if (value === undefined) return this._loop.getOption(this._h, name)
    this._loop.setOption(this._h, name, value)
  }

  setBroadcast(flag) {
    this._option('broadcast', Boolean(flag))
  }

  setTTL(ttl) {
    this._option('ttl', ttl)
    return ttl
  }

  setMulticastTTL(ttl) {
    this._option('multicast_ttl', ttl)
    return ttl
  }

  setMulticastLoopback(flag) {
    this._option('multicast_loop', Boolean(flag))
    return flag
  }

  addMembership(group, iface) {
    const handle = this._running()
    this._loop.addMembership(handle, groupOf(group), iface)
  }

  dropMembership(group, iface) {
    const handle = this._running()
    this._loop.dropMembership(handle, groupOf(group), iface)
  }

  setMulticastInterface(interfaceAddress) {
    if (typeof interfaceAddress !== 'string') throw invalidArgType('interfaceAddress', 'of type string', interfaceAddress)
    const handle = this._running()
    this._loop.setMulticastInterface(handle, this.type === 'udp6' ? scopeIndex(interfaceAddress) : interfaceAddress)
  }

  setRecvBufferSize(size) {
    this._option('rcvbuf', size)
  }

  setSendBufferSize(size) {
    this._option('sndbuf', size)
  }

  getRecvBufferSize() {
    return this._option('rcvbuf')
  }

  getSendBufferSize() {
    return this._option('sndbuf')
  }

  /** Bytes waiting for netcore to take them (refused with EAGAIN, or not yet bound/resolved). */
  getSendQueueSize() {
    return this._queue.reduce((sum, item) => sum + item.data.length, 0)
  }

  getSendQueueCount() {
    return this._queue.length
  }

  ref() {
    return setRef(this, true, !this._closed)
  }

  unref() {
    return setRef(this, false, !this._closed)
  }
}

/** createSocket(type | options[, callback]): type 'udp4', 'udp6' or 'unix_dgram'; `options.loop` picks the Loop. */
function createSocket(options, callback) {
  return new Socket(options, callback)
}

module.exports = { Socket, createSocket }
