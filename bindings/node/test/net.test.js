'use strict'
// require('netcore').net: the Duplex contract of net.Socket item by item
// (event orders measured on Node's own sockets, write() / 'drain', pause on
// push() === false, gather sends, pipe()), the Server, and code nobody here
// wrote running on it: Node's own http server, and the echo server and
// client of Node's `net` docs. The peers are often Node's own `net`, so
// every check is against the real thing.

const test = require('node:test')
const assert = require('node:assert/strict')
const util = require('node:util')
const http = require('node:http')
const nodeNet = require('node:net')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { once } = require('node:events')
const { AsyncLocalStorage } = require('node:async_hooks')
const { Readable, Writable } = require('node:stream')
const { pipeline } = require('node:stream/promises')
const { createLoop, net } = require('netcore')
const { nextEvent, until, withTimeout, randomBytes, sha, WAIT_MS } = require('../testlib/helpers')
const { run } = require('../testlib/procs')

/** events.once() options bounding the wait (a hang guard, never asserted on). */
const bounded = () => ({ signal: AbortSignal.timeout(WAIT_MS) })

/** Resolves on `emitter`'s next `name` event, whatever comes before it (events.once() rejects on 'error'). */
function next(emitter, name) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for '${name}'`)), WAIT_MS)
    emitter.once(name, (...args) => {
      clearTimeout(timer)
      resolve(args)
    })
  })
}

/** A server of `createServer` (netcore's or Node's) on 127.0.0.1:0, closed after the test: { server, port }. */
async function listenWith(createServer, t, options, onConnection) {
  const server = createServer(options, onConnection)
  t.after(() => server.close())
  server.listen(0, '127.0.0.1')
  await once(server, 'listening', bounded())
  return { server, port: server.address().port }
}

/** A netcore `net` server (see listenWith). */
const listen = (...args) => listenWith(net.createServer, ...args)
/** A Node `net` server, the reference peer (see listenWith). */
const nodeListen = (...args) => listenWith(nodeNet.createServer, ...args)

/** A netcore client socket and the server's side of it, on a loop of their own: { loop, socket, peer }. */
async function connectedOwnLoop(t) {
  const loop = createLoop()
  t.after(() => loop.close())
  const { server, port } = await listen(t, { loop })
  const accepted = once(server, 'connection', bounded())
  const socket = net.connect({ port, host: '127.0.0.1', loop })
  await once(socket, 'connect', bounded())
  const [peer] = await accepted
  return { loop, socket, peer }
}

/** The names of `socket`'s events as they come: 'error:CODE', 'close(hadError)'. */
function record(socket) {
  const events = []
  for (const name of ['connect', 'ready', 'data', 'end', 'finish', 'close', 'error', 'timeout']) {
    socket.on(name, (arg) => {
      if (name === 'error') events.push(`error:${arg.code}`)
      else if (name === 'close') events.push(`close(${arg})`)
      else if (name !== 'data' || events.at(-1) !== 'data') events.push(name) // runs of 'data' count once
    })
  }
  return events
}

/** A port nothing listens on (a Node server's, closed). */
async function closedPort(t) {
  const { server, port } = await nodeListen(t)
  server.close()
  await once(server, 'close', bounded())
  return port
}

function collect(readable) {
  const chunks = []
  readable.on('data', (d) => chunks.push(d))
  return { data: () => Buffer.concat(chunks), ended: once(readable, 'end', bounded()) }
}

// -- event order ---------------------------------------------------------------

test('the peer ends: data, end, finish, close(false), as net', async (t) => {
  const { server, port } = await listen(t)
  const accepted = once(server, 'connection', bounded())
  const peer = nodeNet.connect(port, '127.0.0.1', () => peer.end('abc'))
  const [socket] = await accepted
  const events = record(socket)
  await next(socket, 'close')
  assert.deepEqual(events, ['data', 'end', 'finish', 'close(false)'])
  assert.equal(socket.bytesRead, 3)
  assert.equal(socket.readyState, 'closed')
})

test('a client that ends first: connect, ready, finish, end, close(false)', async (t) => {
  const { port } = await nodeListen(t, (s) => s.resume().on('end', () => s.end()))
  const socket = net.connect(port, '127.0.0.1', () => socket.end('bye'))
  const events = record(socket)
  assert.equal(socket.connecting, true)
  assert.equal(socket.pending, true)
  assert.equal(socket.readyState, 'opening')
  await once(socket, 'connect', bounded())
  assert.equal(socket.connecting, false)
  assert.equal(socket.pending, false)
  await next(socket, 'close')
  assert.deepEqual(events, ['connect', 'ready', 'finish', 'end', 'close(false)'])
  assert.equal(socket.bytesWritten, 3)
})

test('reset by the peer: error(ECONNRESET) named as net names it, close(true), no end', async (t) => {
  const { port } = await nodeListen(t, (s) => s.once('data', () => s.resetAndDestroy()))
  const socket = net.connect(port, '127.0.0.1', () => socket.write('x'))
  const events = record(socket)
  let error
  socket.on('error', (err) => (error = err))
  await next(socket, 'close')
  assert.deepEqual(events, ['connect', 'ready', 'error:ECONNRESET', 'close(true)'])
  // A read's error names no address (only a connect's does), as net's: 'read ECONNRESET'.
  assert.equal(error.message, 'read ECONNRESET')
  assert.equal(error.syscall, 'read')
  assert.ok(!('address' in error) && !('port' in error), 'no address or port')
})

test("address(): its keys in net's order (address, family, port), on servers and sockets; {} once destroyed", async (t) => {
  const { server, port } = await listen(t)
  const { server: nodeServer } = await nodeListen(t)
  const order = Object.keys(nodeServer.address())
  assert.deepEqual(order, ['address', 'family', 'port'])
  assert.deepEqual(Object.keys(server.address()), order)
  const socket = net.connect(port, '127.0.0.1')
  t.after(() => socket.destroy())
  await once(socket, 'connect', bounded())
  assert.deepEqual(Object.keys(socket.address()), order)
  // Once destroyed, as net's: no local address (the peer's stays).
  const theirs = nodeNet.connect(port, '127.0.0.1')
  await once(theirs, 'connect', bounded())
  for (const s of [theirs, socket]) {
    assert.deepEqual([s.localAddress, s.remoteAddress], ['127.0.0.1', '127.0.0.1'])
    s.destroy()
    await once(s, 'close', bounded())
    assert.deepEqual([s.address(), s.remoteAddress], [{}, '127.0.0.1'])
  }
})

test("a name that does not resolve: error(ENOTFOUND) as net's dns.lookup makes it, close(true)", async () => {
  // A reserved name (RFC 6761): netcore refuses it without asking a resolver.
  const socket = net.connect(80, 'no-such-host.invalid')
  let lookedUp = null
  socket.on('lookup', (...args) => (lookedUp = args))
  const closed = next(socket, 'close')
  const [err] = await next(socket, 'error')
  assert.equal(err.message, 'getaddrinfo ENOTFOUND no-such-host.invalid')
  assert.equal(err.code, 'ENOTFOUND')
  assert.equal(err.syscall, 'getaddrinfo')
  assert.equal(err.hostname, 'no-such-host.invalid')
  assert.equal(util.getSystemErrorName(err.errno), 'EAI_NONAME')
  assert.deepEqual(await closed, [true])
  assert.equal(lookedUp[0], err, "'lookup' came first, with the error")
  assert.deepEqual(lookedUp.slice(1), [undefined, undefined, 'no-such-host.invalid'])
})

test("'lookup' before 'connect' for a host name, its arguments typed as net's; none for an IP literal", async (t) => {
  const { port } = await nodeListen(t, (s) => s.destroy())
  const seen = async (module, host) => {
    const socket = module.connect(port, host)
    t.after(() => socket.destroy())
    const order = []
    socket.on('lookup', (...args) => order.push(['lookup', ...args]))
    socket.on('connect', () => order.push(['connect', socket.remoteAddress]))
    await next(socket, 'connect')
    return order
  }
  const types = (order) => order.map((args) => args.map((arg) => (arg === null ? 'null' : typeof arg)))
  const expected = await seen(nodeNet, 'localhost')
  const got = await seen(net, 'localhost')
  assert.deepEqual(types(got), types(expected))
  // netcore resolves and connects in one step: the address is the one it connected to.
  const [[, err, address, family, host], [, remote]] = got
  assert.deepEqual([err, address, family, host], [null, remote, net.isIP(remote), 'localhost'])
  assert.deepEqual(await seen(net, '127.0.0.1'), [['connect', '127.0.0.1']])
})

test("onread: a bufferful per callback and no 'data', then 'end' and 'close', as net's; false pauses until resume()", async (t) => {
  const { port } = await nodeListen(t, (s) => s.end('abcdefghij'))
  /** The callbacks' bytes and the socket's events; `pauseFirst`: the first callback returns false, resume() 50 ms later. */
  const run = async (module, pauseFirst) => {
    const seen = []
    const socket = module.connect({
      port,
      host: '127.0.0.1',
      onread: {
        buffer: () => Buffer.alloc(4),
        callback: (n, buf) => {
          seen.push(buf.toString('latin1', 0, n))
          if (!pauseFirst || seen.length > 1) return true
          setTimeout(() => seen.push('resume') && socket.resume(), 50)
          return false
        },
      },
    })
    socket.on('data', () => seen.push('data'))
    socket.on('end', () => seen.push('end'))
    await next(socket, 'close')
    return seen
  }
  const expected = await run(nodeNet, false)
  assert.deepEqual(expected, ['abcd', 'efgh', 'ij', 'end'])
  assert.deepEqual(await run(net, false), expected)
  // Node's own loses the rest here (its 'end' comes while paused); netcore keeps it for resume().
  assert.deepEqual(await run(net, true), ['abcd', 'resume', 'efgh', 'ij', 'end'])
})

test('refused: error(ECONNREFUSED) as an event with net\'s fields, close(true), no connect', async (t) => {
  const port = await closedPort(t)
  const socket = net.connect({ port, host: '127.0.0.1' })
  const events = record(socket)
  const closed = next(socket, 'close')
  const [err] = await next(socket, 'error')
  assert.equal(err.code, 'ECONNREFUSED')
  assert.equal(err.syscall, 'connect')
  assert.equal(err.address, '127.0.0.1')
  assert.equal(err.port, port)
  await closed
  assert.deepEqual(events, ['error:ECONNREFUSED', 'close(true)'])
})

test('destroy(): close(false); destroy(err): error, close(true)', async (t) => {
  const { port } = await nodeListen(t, (s) => s.resume())
  const plain = net.connect(port, '127.0.0.1')
  await once(plain, 'connect', bounded())
  const plainEvents = record(plain)
  plain.destroy()
  await next(plain, 'close')
  assert.deepEqual(plainEvents, ['close(false)'])

  const failed = net.connect(port, '127.0.0.1')
  await once(failed, 'connect', bounded())
  const failedEvents = record(failed)
  failed.destroy(Object.assign(new Error('boom'), { code: 'EBOOM' }))
  await next(failed, 'close')
  assert.deepEqual(failedEvents, ['error:EBOOM', 'close(true)'])
})

test("'finish' (end()'s callback) waits until the kernel has every byte written, as net's: a program may exit then", async (t) => {
  let peer
  const { port } = await nodeListen(t, (s) => {
    peer = s
    s.pause()
  })
  const socket = net.connect(port, '127.0.0.1')
  // A failed check leaves no paused peer behind to keep the process alive.
  t.after(() => {
    peer?.destroy()
    socket.destroy()
  })
  await once(socket, 'connect', bounded())
  await until(() => peer !== undefined, 'the peer')
  // More than the kernel's buffers can hold (their largest sizes, tcp_rmem's and tcp_wmem's last numbers).
  const largest = (name) => Number(fs.readFileSync(`/proc/sys/net/ipv4/${name}`, 'utf8').trim().split(/\s+/)[2])
  const payload = randomBytes(largest('tcp_rmem') + largest('tcp_wmem') + (8 << 20))
  let finished = false
  socket.end(payload, () => (finished = true))
  await new Promise((resolve) => setTimeout(resolve, 300))
  assert.equal(finished, false, "no 'finish' while netcore still has bytes the kernel did not take")
  assert.ok(socket.bufferSize > 0)
  const received = []
  peer.on('data', (chunk) => received.push(chunk))
  // Listened for first: the peer may read to the end before the wait for 'finish' sees it.
  const peerEnded = next(peer, 'end')
  peer.resume()
  await until(() => finished, "'finish'")
  assert.equal(socket.bufferSize, 0)
  await peerEnded
  assert.equal(sha(Buffer.concat(received)), sha(payload))
})

test("destroy() emits 'close' at once, as net's does, while netcore's close still sends what was written and waits for the peer", async (t) => {
  // A peer that never closes its side: netcore's graceful close waits up to 2 s for its FIN.
  let peer
  const { port } = await nodeListen(t, { allowHalfOpen: true }, (s) => (peer = s))
  const loop = createLoop()
  t.after(() => loop.close())
  const socket = net.connect({ port, host: '127.0.0.1', loop })
  await once(socket, 'connect', bounded())
  await until(() => peer !== undefined, 'the peer')
  const received = []
  peer.on('data', (chunk) => received.push(chunk))
  const peerEnded = next(peer, 'end')
  const payload = randomBytes(1 << 20)
  socket.write(payload)
  socket.destroy()
  await next(socket, 'close')
  assert.equal(loop.handleCount, 1, "'close' came before netcore's close ended")
  await peerEnded
  assert.equal(sha(Buffer.concat(received)), sha(payload), 'everything written before destroy() arrived')
  peer.end()
  await until(() => loop.handleCount === 0, "netcore's close ends with the peer's FIN")
})

test("destroy() after the socket's loop was closed still emits close(false)", async (t) => {
  const { port } = await nodeListen(t, (s) => s.resume())
  const loop = createLoop()
  const socket = net.connect({ port, host: '127.0.0.1', loop })
  await once(socket, 'connect', bounded())
  loop.close()
  const events = record(socket)
  const closed = next(socket, 'close')
  socket.destroy()
  await closed
  assert.deepEqual(events, ['close(false)'])
})

// -- writing -------------------------------------------------------------------

test('write() returns false once netcore refuses, then drain, and every byte arrives', async (t) => {
  let peer
  const { port } = await nodeListen(t, { pauseOnConnect: true }, (s) => (peer = s))
  const socket = net.connect(port, '127.0.0.1')
  await once(socket, 'connect', bounded())
  await until(() => peer !== undefined, 'the peer socket')
  const sent = []
  let ok = true
  // The peer does not read: kernel buffers and netcore's queue fill up (bounded: 128 MiB).
  while (ok && sent.length < 2048) {
    const chunk = randomBytes(64 * 1024)
    sent.push(chunk)
    ok = socket.write(chunk)
  }
  assert.equal(ok, false, 'write() returned false before 128 MiB')
  const total = sent.length * 64 * 1024
  assert.equal(socket.bytesWritten, total)
  assert.ok(socket.writableLength > 0)
  // bufferSize adds netcore's own queue (full: at least one chunk below its 1 MiB mark).
  assert.ok(socket.bufferSize > socket.writableLength + 512 * 1024, `bufferSize ${socket.bufferSize}`)
  const drained = once(socket, 'drain', bounded())
  const received = collect(peer)
  peer.resume()
  await drained
  socket.end()
  await received.ended
  assert.equal(received.data().length, total)
  assert.equal(sha(received.data()), sha(Buffer.concat(sent)))
})

test('_writev: corked writes go as one gather send', async (t) => {
  let peer
  const { port } = await nodeListen(t, (s) => (peer = s))
  const loop = createLoop()
  t.after(() => loop.close())
  const sendv = loop.sendv
  const calls = []
  loop.sendv = function (handle, buffers, options) {
    calls.push(buffers.length)
    return sendv.call(this, handle, buffers, options)
  }
  const socket = net.connect({ port, host: '127.0.0.1', loop })
  await once(socket, 'connect', bounded())
  await until(() => peer !== undefined, 'the peer socket')
  const received = collect(peer)
  socket.cork()
  socket.write('one ')
  socket.write(Buffer.from('two '))
  socket.write('three', 'latin1')
  socket.uncork()
  socket.end()
  await received.ended
  assert.deepEqual(calls, [3])
  assert.equal(received.data().toString(), 'one two three')
})

test('write callbacks: called once each, in order; write() after end is an error event', async (t) => {
  const { port } = await nodeListen(t, (s) => s.resume())
  const socket = net.connect(port, '127.0.0.1')
  const order = []
  for (let i = 0; i < 5; i++) socket.write(`w${i}`, () => order.push(i))
  await once(socket, 'connect', bounded())
  await until(() => order.length === 5, 'every write callback')
  assert.deepEqual(order, [0, 1, 2, 3, 4])
  socket.end()
  socket.write('late', (err) => order.push(err.code))
  const [err] = await next(socket, 'error')
  assert.equal(err.code, 'ERR_STREAM_WRITE_AFTER_END')
  assert.deepEqual(order.slice(5), ['ERR_STREAM_WRITE_AFTER_END'])
})

test('new Socket(), written to before connect(): the bytes go once it connects, in order', async (t) => {
  let peer
  const { port } = await nodeListen(t, (s) => (peer = s))
  const socket = new net.Socket()
  assert.equal(socket.pending, true)
  assert.equal(socket.readyState, 'open') // as a new net.Socket's
  socket.write('before ')
  socket.connect(port, '127.0.0.1')
  socket.write('while connecting ')
  await once(socket, 'connect', bounded())
  socket.end('after')
  await until(() => peer !== undefined, 'the peer socket')
  const received = collect(peer)
  await received.ended
  assert.equal(received.data().toString(), 'before while connecting after')
})

test('an http response ending with an empty chunk: one send, nothing empty sent', async (t) => {
  let peer
  const { port } = await nodeListen(t, (s) => (peer = s))
  const loop = createLoop()
  t.after(() => loop.close())
  const calls = []
  for (const name of ['send', 'sendv']) {
    const original = loop[name]
    loop[name] = function (...args) {
      calls.push(name)
      return original.apply(this, args)
    }
  }
  const socket = net.connect({ port, host: '127.0.0.1', loop })
  await once(socket, 'connect', bounded())
  socket.cork()
  socket.write('héllo', 'utf8')
  socket.write('', 'latin1')
  socket.write(Buffer.alloc(0))
  socket.uncork()
  socket.end()
  await until(() => peer !== undefined, 'the peer socket')
  const received = collect(peer)
  await received.ended
  assert.deepEqual(calls, ['send'])
  assert.equal(received.data().toString(), 'héllo')
  assert.equal(socket.bytesWritten, Buffer.byteLength('héllo'))
})

// -- reading -------------------------------------------------------------------

test('push() === false pauses the handle; reading again resumes it, nothing lost', async (t) => {
  const loop = createLoop()
  t.after(() => loop.close())
  let pauses = 0
  const pause = loop.pause
  loop.pause = function (handle) {
    pauses++
    return pause.call(this, handle)
  }
  const { server, port } = await listen(t, { loop })
  const accepted = once(server, 'connection', bounded())
  const payload = randomBytes(4 * 1024 * 1024)
  const peer = nodeNet.connect(port, '127.0.0.1', () => peer.end(payload))
  const [socket] = await accepted
  // Nobody reads: the Readable's buffer fills to its high-water mark, then the handle pauses.
  await until(() => pauses > 0, 'loop.pause() on the full Readable')
  assert.ok(socket.readableLength >= socket.readableHighWaterMark)
  const received = collect(socket)
  await received.ended
  assert.equal(sha(received.data()), sha(payload))
  assert.equal(socket.bytesRead, payload.length)
})

test("clients that reset mid-stream at a piped server: no throw, each server socket's error is the reset's (never ECLOSED), the server serves on", async (t) => {
  // The core closes a connection on its own once it reads the reset, after the events it polled before
  // it: the server socket, paused by its pipe, may get more data (push() false: pause) from a handle
  // that answers ECLOSED, and its 'closed' comes after. When that happens is timing: many rounds.
  const codes = new Set()
  const { server, port } = await listen(t, (socket) => {
    socket.on('error', (err) => codes.add(err.code))
    socket.pipe(socket)
  })
  const chunk = Buffer.alloc(64 * 1024, 1)
  const resetting = (i) => new Promise((resolve) => {
    const client = nodeNet.connect(port, '127.0.0.1', () => {
      client.pause() // reads nothing: the server's sends fill up and its pipe pauses the socket
      let n = 0
      const fill = () => {
        while (n < 64 && client.write(chunk)) n++
      }
      fill()
      client.on('drain', fill)
      setTimeout(() => client.resetAndDestroy(), (i * 7) % 60)
    })
    client.on('error', () => {})
    client.on('close', resolve)
  })
  for (let round = 0; round < 40; round++) {
    const clients = Array.from({ length: 10 }, (_, k) => resetting(round * 10 + k))
    await withTimeout(Promise.all(clients), WAIT_MS, `the clients of round ${round} to close`)
  }
  const connections = () => new Promise((resolve) => server.getConnections((_, count) => resolve(count)))
  let open = -1
  await until(() => {
    connections().then((count) => (open = count))
    return open === 0
  }, 'every server socket to close')
  assert.ok(codes.size > 0, 'no server socket saw the resets')
  for (const code of codes) assert.ok(code === 'ECONNRESET' || code === 'EPIPE', `a server socket's error: ${code}`)
  const client = nodeNet.connect(port, '127.0.0.1', () => client.end('still serving'))
  const echoed = collect(client)
  await echoed.ended
  assert.equal(echoed.data().toString(), 'still serving')
})

test("a connection the core closed before its socket heard of it: the socket's methods do not throw, a write waits for the 'close'", async (t) => {
  const { loop, socket, peer } = await connectedOwnLoop(t)
  peer.on('error', () => {}) // ECONNRESET
  const events = record(socket)
  loop.closeReset(socket._h) // as the core does when it reads a reset: 'closed' comes on a later turn
  assert.equal(socket.setNoDelay(true), socket)
  assert.equal(socket.setKeepAlive(true, 1000), socket)
  assert.equal(socket.setTimeout(100), socket)
  assert.equal(socket.bufferSize, 0)
  let written
  socket.write('lost', (err) => (written = err))
  await once(socket, 'close', bounded())
  assert.equal(written?.code, 'ERR_STREAM_DESTROYED')
  assert.deepEqual(events, ['close(false)'])
})

test('pipe(): an echo server made with socket.pipe(socket), fed by pipeline()', async (t) => {
  const { port } = await listen(t, (socket) => socket.pipe(socket))
  const client = net.connect(port, '127.0.0.1')
  const chunks = Array.from({ length: 64 }, () => randomBytes(16 * 1024))
  const echoed = collect(client)
  await pipeline(Readable.from(chunks), client).catch(() => {}) // ends the client when done
  await echoed.ended
  assert.equal(sha(echoed.data()), sha(Buffer.concat(chunks)))
})

test('pipeline() from a socket into a Writable', async (t) => {
  const payload = randomBytes(1024 * 1024)
  const { port } = await nodeListen(t, (s) => s.end(payload))
  const socket = net.connect(port, '127.0.0.1')
  const chunks = []
  await pipeline(
    socket,
    new Writable({
      write(chunk, _enc, cb) {
        chunks.push(chunk)
        cb()
      },
    }),
  )
  assert.equal(sha(Buffer.concat(chunks)), sha(payload))
})

test('allowHalfOpen: the peer ends, the socket still writes, then ends itself', async (t) => {
  const { server, port } = await listen(t, { allowHalfOpen: true })
  const accepted = once(server, 'connection', bounded())
  const peer = nodeNet.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => peer.end('question'))
  const answer = collect(peer)
  const [socket] = await accepted
  socket.resume()
  await once(socket, 'end', bounded())
  assert.equal(socket.writable, true)
  assert.equal(socket.readyState, 'writeOnly')
  const closed = next(socket, 'close')
  socket.end('answer')
  await answer.ended
  assert.equal(answer.data().toString(), 'answer')
  await closed
})

// -- socket options and addresses ----------------------------------------------

test('addresses, setNoDelay, setKeepAlive', async (t) => {
  const { server, port } = await listen(t)
  const accepted = once(server, 'connection', bounded())
  const socket = net.connect(port, '127.0.0.1')
  assert.equal(socket.setNoDelay(true), socket) // before the connection: applied once it is up
  assert.equal(socket.setKeepAlive(true, 30000), socket)
  await once(socket, 'connect', bounded())
  const [peer] = await accepted
  assert.equal(socket.remoteAddress, '127.0.0.1')
  assert.equal(socket.remotePort, port)
  assert.equal(socket.remoteFamily, 'IPv4')
  assert.deepEqual(socket.address(), { address: '127.0.0.1', port: socket.localPort, family: 'IPv4' })
  assert.equal(peer.remotePort, socket.localPort)
  assert.equal(peer.localPort, port)
  assert.equal(socket._loop.getOption(socket._h, 'keepalive'), 30)
  assert.equal(socket._loop.getOption(socket._h, 'nodelay'), true)
  socket.setNoDelay(false)
  assert.equal(socket._loop.getOption(socket._h, 'nodelay'), false)
  socket.destroy()
  peer.destroy()
})

test("setTimeout: 'timeout' once per idle period, as net (netcore's idle repeats), again after I/O", async (t) => {
  const { loop, socket, peer } = await connectedOwnLoop(t)
  let timeouts = 0
  socket.setTimeout(20, () => timeouts++)
  socket.on('timeout', () => timeouts++)
  assert.equal(socket.timeout, 20)
  await next(socket, 'timeout')
  assert.equal(timeouts, 2, 'the callback and the listener, once each')
  // netcore's next 'idle' for the handle: no second 'timeout' without I/O.
  await nextEvent(loop, 'idle', { handle: socket._h })
  assert.equal(timeouts, 2)
  assert.equal(socket.destroyed, false, "'timeout' only tells; it does not close")
  peer.write('activity')
  await next(socket, 'timeout')
  assert.equal(timeouts, 3)
  socket.destroy()
  peer.destroy()
})

test('setTimeout: netcore gets the last value of a tick once, and nothing when it has it and there was I/O', async (t) => {
  const { loop, socket, peer } = await connectedOwnLoop(t)
  const told = []
  const setIdleTimeout = loop.setIdleTimeout
  loop.setIdleTimeout = (handle, ms) => {
    told.push(ms)
    return setIdleTimeout.call(loop, handle, ms)
  }
  const afterMicrotasks = () => new Promise((resolve) => setImmediate(resolve))
  socket.setTimeout(20)
  await afterMicrotasks()
  assert.deepEqual(told, [20])
  // http's keep-alive pattern: off when a request comes, on again after writing the response.
  socket.setTimeout(0)
  socket.write('response')
  socket.setTimeout(20)
  assert.equal(socket.timeout, 20)
  await afterMicrotasks()
  assert.deepEqual(told, [20], 'same value and I/O since: the idle clock already restarted')
  // The same value without I/O restarts the clock, as net's setTimeout does.
  socket.setTimeout(20)
  await afterMicrotasks()
  assert.deepEqual(told, [20, 20])
  socket.setTimeout(20)
  socket.setTimeout(0)
  await afterMicrotasks()
  assert.deepEqual(told, [20, 20, null], '0 turns it off')
  socket.setTimeout(20)
  await next(socket, 'timeout')
  assert.deepEqual(told, [20, 20, null, 20])
  socket.destroy()
  peer.destroy()
})

test('AsyncLocalStorage: a client socket keeps connect()\'s store; accepted ones the store of listen()', async (t) => {
  const als = new AsyncLocalStorage()
  const seen = []
  const server = net.createServer((socket) => {
    seen.push(`connection:${als.getStore()}`)
    socket.on('data', () => seen.push(`server data:${als.getStore()}`))
    socket.on('end', () => socket.end())
  })
  t.after(() => server.close())
  als.run('listen', () => server.listen(0, '127.0.0.1'))
  await once(server, 'listening', bounded())
  const socket = als.run('connect', () => net.connect(server.address().port, '127.0.0.1'))
  socket.on('connect', () => {
    seen.push(`connect:${als.getStore()}`)
    socket.end('x')
  })
  await als.run('elsewhere', () => next(socket, 'close'))
  assert.deepEqual(seen.sort(), ['connect:connect', 'connection:listen', 'server data:listen'])
})

// -- servers ---------------------------------------------------------------------

test('listen on a port in use: an error event, no throw', async (t) => {
  const { port } = await nodeListen(t)
  const server = net.createServer()
  assert.doesNotThrow(() => server.listen(port, '127.0.0.1'))
  const [err] = await next(server, 'error')
  assert.equal(err.code, 'EADDRINUSE')
  assert.equal(server.listening, false)
})

test('listen forms: (port, host, backlog, cb), options, no host (every address), and net\'s argument errors', async (t) => {
  const a = net.createServer()
  t.after(() => a.close())
  await new Promise((resolve) => a.listen(0, '127.0.0.1', 16, resolve))
  assert.equal(a.address().family, 'IPv4')
  const b = net.createServer()
  t.after(() => b.close())
  await new Promise((resolve) => b.listen({ port: 0, host: '::1' }, resolve))
  assert.deepEqual(b.address(), { address: '::1', port: b.address().port, family: 'IPv6' })
  const c = net.createServer()
  t.after(() => c.close())
  await new Promise((resolve) => c.listen(resolve))
  assert.equal(c.address().address, '::')
  // '::' takes IPv4 peers too, as net's default does.
  const peer = nodeNet.connect(c.address().port, '127.0.0.1')
  const [socket] = await once(c, 'connection', bounded())
  assert.equal(socket.remoteAddress, '::ffff:127.0.0.1')
  peer.destroy()
  socket.destroy()
  assert.throws(() => a.listen(0), { code: 'ERR_SERVER_ALREADY_LISTEN' })
})

test('close(cb) waits for the connections; getConnections; close when not running', async (t) => {
  const { server, port } = await listen(t)
  const order = []
  const peer = nodeNet.connect(port, '127.0.0.1')
  const [socket] = await once(server, 'connection', bounded())
  socket.resume().on('close', () => order.push('socket close'))
  const [err, count] = await next({ once: (_, cb) => server.getConnections(cb) }, 'count')
  assert.equal(err, null)
  assert.equal(count, 1)
  const closed = next(server, 'close')
  server.close((...args) => order.push(`close callback(${args})`))
  assert.equal(server.listening, false)
  assert.equal(server.address(), null)
  await new Promise((resolve) => setImmediate(resolve))
  assert.deepEqual(order, [], 'still open: close() waits')
  peer.end()
  await closed
  assert.deepEqual(order, ['socket close', 'close callback()'])
  const [notRunning] = await next({ once: (_, cb) => server.close(cb) }, 'close callback')
  assert.equal(notRunning.code, 'ERR_SERVER_NOT_RUNNING')
})

test('maxConnections: connections past it are dropped (drop event)', async (t) => {
  const { server, port } = await listen(t, {}, (socket) => socket.resume())
  server.maxConnections = 1
  const accepted = once(server, 'connection', bounded())
  const first = nodeNet.connect(port, '127.0.0.1')
  await accepted
  const second = nodeNet.connect(port, '127.0.0.1')
  second.on('error', () => {})
  const [drop] = await once(server, 'drop', bounded())
  assert.equal(drop.localPort, port)
  assert.equal(drop.remotePort, second.localPort)
  await next(second, 'close')
  const [socket] = await accepted
  const closed = next(socket, 'close')
  first.destroy()
  await closed
})

test('AbortSignal: aborting closes a server; an aborted connect is an AbortError event', async (t) => {
  const controller = new AbortController()
  const server = net.createServer()
  server.listen({ port: 0, host: '127.0.0.1', signal: controller.signal })
  await once(server, 'listening', bounded())
  controller.abort()
  await once(server, 'close', bounded())
  assert.equal(server.listening, false)

  const { port } = await nodeListen(t)
  const socket = net.connect({ port, host: '127.0.0.1', signal: AbortSignal.abort() })
  const events = record(socket)
  const closed = next(socket, 'close')
  const [err] = await next(socket, 'error')
  assert.equal(err.name, 'AbortError')
  await closed
  assert.deepEqual(events, ['error:ABORT_ERR', 'close(true)'])

  // Aborting later destroys a connected socket too, as net's.
  const later = new AbortController()
  const connected = net.connect({ port, host: '127.0.0.1', signal: later.signal })
  await once(connected, 'connect', bounded())
  const laterEvents = record(connected)
  const laterClosed = next(connected, 'close')
  later.abort()
  await laterClosed
  assert.deepEqual(laterEvents, ['error:ABORT_ERR', 'close(true)'])
})

test('unref(): a listening server does not keep the process alive; ref() does', async () => {
  const index = JSON.stringify(path.join(__dirname, '..', 'index.js'))
  const script = (call) =>
    `const s = require(${index}).net.createServer(); s.listen(0, '127.0.0.1', () => { s.${call}(); console.log('listening') })`
  const unrefd = await run([process.execPath, '-e', script('unref')])
  assert.equal(unrefd.code, 0, unrefd.stderr)
  assert.equal(unrefd.stdout, 'listening\n')
  const refd = await run([process.execPath, '-e', script('ref')], { ms: 1000 })
  assert.equal(refd.signal, 'SIGKILL', 'kept alive until killed')
})

// -- code nobody here wrote ------------------------------------------------------

// -- differences Node's own test/parallel/test-net-*.js found ---------------------

test("the peer ends and nobody reads: 'end' and 'close' come all the same, as net's", async (t) => {
  const { server, port } = await nodeListen(t)
  server.on('connection', (peer) => peer.end())
  const socket = net.connect(port, '127.0.0.1') // no 'data' listener, never resumed
  const events = record(socket)
  await next(socket, 'close')
  assert.deepEqual(events, ['connect', 'ready', 'end', 'finish', 'close(false)'])
})

test("'end' and 'finish' listeners see the socket not yet destroyed when the peer closes at once", async (t) => {
  const { port } = await nodeListen(t, {}, (peer) => peer.resume())
  const socket = net.connect(port, '127.0.0.1')
  await once(socket, 'connect', bounded())
  const seen = {}
  socket.on('end', () => (seen.end = socket.destroyed))
  socket.on('finish', () => (seen.finish = socket.destroyed))
  socket.resume()
  socket.end()
  await next(socket, 'close')
  assert.deepEqual(seen, { end: false, finish: false })
  assert.equal(socket.destroyed, true)
})

test("a closed socket connects again (from its 'close' listener): fresh stream, counters per connection", async (t) => {
  const received = []
  const { port } = await nodeListen(t, {}, (peer) => {
    const chunks = collect(peer)
    chunks.ended.then(() => received.push(chunks.data().toString()))
    peer.on('end', () => peer.end())
  })
  const socket = new net.Socket()
  const written = []
  let connections = 0
  socket.on('connect', () => {
    connections++
    socket.end(`hello ${connections}`)
  })
  socket.on('finish', () => written.push(socket.bytesWritten))
  const done = new Promise((resolve) => {
    socket.on('close', (hadError) => {
      assert.equal(hadError, false)
      if (connections < 2) socket.connect(port, '127.0.0.1')
      else resolve()
    })
  })
  socket.connect(port, '127.0.0.1')
  await done
  assert.deepEqual(written, [7, 7])
  await until(() => received.length === 2, 'both connections to reach the server')
  assert.deepEqual(received.sort(), ['hello 1', 'hello 2'])
})

test('net.Socket(), net.Stream() and net.Server(listener) work without new, as in old code', async (t) => {
  const socket = net.Socket()
  assert.ok(socket instanceof net.Socket)
  assert.ok(net.Stream() instanceof net.Socket)
  socket.destroy()
  const server = net.Server((conn) => conn.end('hi'))
  assert.ok(server instanceof net.Server)
  t.after(() => server.close())
  server.listen(0, '127.0.0.1')
  await once(server, 'listening', bounded())
  const client = nodeNet.connect(server.address().port, '127.0.0.1')
  const reply = collect(client)
  await reply.ended
  assert.equal(reply.data().toString(), 'hi')
})

test('setNoDelay() and setKeepAlive() on a Unix socket do nothing (no throw), as net\'s', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netcore-net-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const server = net.createServer((conn) => {
    assert.equal(conn.setNoDelay(true), conn)
    assert.equal(conn.setKeepAlive(true, 1000), conn)
    conn.end('over unix')
  })
  t.after(() => server.close())
  server.listen(path.join(dir, 's.sock'))
  await once(server, 'listening', bounded())
  const client = net.connect(path.join(dir, 's.sock'))
  client.setNoDelay(true) // before the connection: tried once it is up
  await once(client, 'connect', bounded())
  client.setKeepAlive(true)
  const reply = collect(client)
  await reply.ended
  assert.equal(reply.data().toString(), 'over unix')
})

test('socket.timeout is a plain property; setTimeout() checks its arguments as net and does nothing once destroyed', async (t) => {
  const socket = new net.Socket()
  socket.timeout = 0 // strict mode: assigning must not throw
  assert.equal(socket.timeout, 0)
  assert.throws(() => socket.setTimeout('100'), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => socket.setTimeout(Infinity), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' })
  assert.throws(() => socket.setTimeout(-1), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' })
  assert.throws(() => socket.setTimeout(10, 'not a function'), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
  assert.equal(socket.setTimeout(1000), socket)
  assert.equal(socket.timeout, 1000)
  socket.destroy()
  assert.equal(socket.setTimeout(1, () => {}), socket)
  assert.equal(socket.listenerCount('timeout'), 0)
  assert.equal(socket.timeout, 1000)
})

test("a port out of range throws net's RangeError ERR_SOCKET_BAD_PORT from connect() and listen(), not an 'error' event", () => {
  const badPort = { name: 'RangeError', code: 'ERR_SOCKET_BAD_PORT' }
  for (const port of [-1, 65536, 1.5, NaN, Infinity]) {
    assert.throws(() => net.connect({ port, host: '127.0.0.1' }), badPort, `connect({ port: ${port} })`)
    assert.throws(() => new net.Socket().connect(port, '127.0.0.1'), badPort, `socket.connect(${port})`)
    assert.throws(() => net.createServer().listen(port, '127.0.0.1'), badPort, `listen(${port})`)
    assert.throws(() => net.createServer().listen({ port }), badPort, `listen({ port: ${port} })`)
  }
})

test('connect({ localPort }) without a localAddress binds that port (on the any-address), as net does', async (t) => {
  const localPort = await closedPort(t) // free, and never connected from: no TIME_WAIT on it
  const { server, port } = await listen(t)
  const accepted = once(server, 'connection', bounded())
  const socket = net.connect({ port, host: '127.0.0.1', localPort })
  await once(socket, 'connect', bounded())
  const [peer] = await accepted
  assert.equal(socket.localPort, localPort)
  assert.equal(peer.remotePort, localPort)
  socket.destroy()
  peer.destroy()
})

test("a write made while connecting goes after 'connect' (its callback too), and one destroyed first gets an error, as net's", async (t) => {
  const { server, port } = await listen(t)
  const accepted = once(server, 'connection', bounded())
  const socket = net.connect({ port, host: '127.0.0.1' })
  const order = []
  socket.on('connect', () => order.push('connect'))
  assert.equal(socket.connecting, true)
  socket.write('early É', () => order.push('written'))
  assert.equal(socket.bytesWritten, 8, 'a waiting string counts in bytes, as net counts it')
  socket.end(() => order.push('finished'))
  const [peer] = await accepted
  peer.setEncoding('utf8')
  let got = ''
  peer.on('data', (chunk) => (got += chunk))
  await once(peer, 'end', bounded())
  assert.equal(got, 'early É')
  assert.equal(socket.bytesWritten, 8)
  assert.deepEqual(order, ['connect', 'written', 'finished'])
  peer.destroy()
  await once(socket, 'close', bounded())
  assert.equal(socket.pending, true, 'pending again once closed, as net says')

  const doomed = net.connect({ port, host: '127.0.0.1' })
  doomed.on('error', () => {})
  const written = new Promise((resolve) => doomed.write('never', resolve))
  doomed.destroy()
  const err = await written
  assert.ok(err instanceof Error, 'the callback of a write that never went gets an error')
})

test("resetAndDestroy() on a socket that never connected: error ERR_SOCKET_CLOSED, close(true), as net's", async () => {
  const socket = new net.Socket()
  const events = record(socket)
  assert.equal(socket.resetAndDestroy(), socket)
  await next(socket, 'close')
  assert.deepEqual(events, ['error:ERR_SOCKET_CLOSED', 'close(true)'])
})

test("Node's http server serves requests over netcore sockets (http.get, fetch, keep-alive, 1 MiB each way)", async (t) => {
  const big = randomBytes(1024 * 1024)
  const httpServer = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (d) => chunks.push(d))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      if (req.url === '/big') return res.end(big)
      res.setHeader('content-type', 'text/plain')
      res.end(`${req.method} ${req.url} ${body.length} ${sha(body)}`)
    })
  })
  const sockets = new Set()
  const { port } = await listen(t, (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    httpServer.emit('connection', socket)
  })
  t.after(() => sockets.forEach((s) => s.destroy()))
  const base = `http://127.0.0.1:${port}`

  const got = await new Promise((resolve, reject) => {
    http.get(`${base}/hello`, { agent: false }, (res) => {
      const chunks = []
      res.on('data', (d) => chunks.push(d))
      res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], body: Buffer.concat(chunks).toString() }))
    }).on('error', reject)
  })
  assert.deepEqual(got, { status: 200, type: 'text/plain', body: `GET /hello 0 ${sha(Buffer.alloc(0))}` })

  const posted = await fetch(`${base}/upload`, { method: 'POST', body: big })
  assert.equal(posted.status, 200)
  assert.equal(await posted.text(), `POST /upload ${big.length} ${sha(big)}`)
  const downloaded = await fetch(`${base}/big`)
  assert.equal(sha(Buffer.from(await downloaded.arrayBuffer())), sha(big))

  // Keep-alive: three requests, one connection.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.after(() => agent.destroy())
  let connections = 0
  const onConn = () => connections++
  httpServer.on('connection', onConn)
  for (let i = 0; i < 3; i++) {
    const status = await new Promise((resolve, reject) => {
      http.get(`${base}/k${i}`, { agent }, (res) => res.resume().on('end', () => resolve(res.statusCode))).on('error', reject)
    })
    assert.equal(status, 200)
  }
  httpServer.off('connection', onConn)
  assert.equal(connections, 1)
})

test("Node's http server: a 16 MiB response streamed with write()/'drain' arrives whole; handlers keep listen()'s AsyncLocalStorage store", async (t) => {
  const als = new AsyncLocalStorage()
  const chunks = Array.from({ length: 256 }, () => randomBytes(64 * 1024))
  const stores = []
  const httpServer = http.createServer(async (req, res) => {
    stores.push(als.getStore())
    for (const chunk of chunks) {
      if (!res.write(chunk)) await once(res, 'drain', bounded())
    }
    res.end()
  })
  const sockets = new Set()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    httpServer.emit('connection', socket)
  })
  t.after(() => {
    server.close()
    sockets.forEach((s) => s.destroy())
  })
  als.run('listen', () => server.listen(0, '127.0.0.1'))
  await once(server, 'listening', bounded())
  const response = await fetch(`http://127.0.0.1:${server.address().port}/stream`)
  const body = Buffer.from(await response.arrayBuffer())
  assert.equal(body.length, 16 * 1024 * 1024)
  assert.equal(sha(body), sha(Buffer.concat(chunks)))
  assert.deepEqual(stores, ['listen'])
})

test("Node's net docs: the echo server and client, unchanged but for the require", async () => {
  const server = spawn(process.execPath, [path.join(__dirname, '..', 'testlib', 'net_docs_server.js')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  try {
    let out = ''
    server.stdout.on('data', (d) => (out += d))
    await until(() => /port (\d+)\n/.test(out), 'the docs server to print its port')
    const port = /port (\d+)\n/.exec(out)[1]
    const client = await run([process.execPath, path.join(__dirname, '..', 'testlib', 'net_docs_client.js'), port])
    assert.equal(client.code, 0, client.stderr)
    const lines = client.stdout.split('\n').filter((l) => l !== '')
    assert.equal(lines[0], 'connected to server!')
    assert.equal(lines[1], 'hello\r')
    assert.equal(lines.at(-1), 'disconnected from server')
    await until(() => out.includes('client disconnected'), 'the docs server to see the client leave')
    assert.deepEqual(out.split('\n').slice(0, 3), ['server bound', `port ${port}`, 'client connected'])
  } finally {
    server.kill('SIGKILL')
  }
})
