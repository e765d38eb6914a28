'use strict'
// Promises kept under misuse (issue 10): memory JavaScript can reach, loops
// nobody closes, listeners that throw, bad arguments, async context, panics.
const test = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const path = require('node:path')
const { Worker } = require('node:worker_threads')
const { AsyncLocalStorage } = require('node:async_hooks')
const { newLoop, nextEvent, until, withTimeout, WAIT_MS } = require('../testlib/helpers')
const { run } = require('../testlib/procs')

const ROOT = path.resolve(__dirname, '..')

/** Runs `code` in a child Node (in this package, so `require('netcore')` works) with `flags`. */
function runChild(code, flags = []) {
  return run([process.execPath, ...flags, '-e', code], { cwd: ROOT, ms: 20000 })
}

/** A connected pair on `loop`: { client, server } handles, accepted and connected. */
async function pair(loop) {
  const listener = loop.listen('127.0.0.1', 0)
  const accepted = nextEvent(loop, 'accepted', { filter: (ev) => ev.listener === listener })
  const { handle: client } = await loop.connectAsync('127.0.0.1', loop.localAddress(listener).port)
  const server = (await accepted).handle
  loop.close(listener)
  return { client, server }
}

test('loops dropped without close() are collected and their descriptors freed', async () => {
  // --expose-gc in a child: 300 loops (a third with a handle closed before
  // they are dropped), then a bounded number of collections.
  const code = `
    const fs = require('node:fs')
    const { createLoop } = require('netcore')
    const fds = () => fs.readdirSync('/proc/self/fd').length
    const base = fds()
    ;(function () {
      for (let i = 0; i < 300; i++) {
        const loop = createLoop()
        if (i % 3 === 0) loop.close(loop.listen('127.0.0.1', 0))
      }
    })()
    const created = fds() - base
    ;(async () => {
      for (let i = 0; i < 20 && fds() - base > 10; i++) {
        globalThis.gc()
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      console.log(JSON.stringify({ created, left: fds() - base }))
    })()`
  const r = await runChild(code, ['--expose-gc'])
  assert.equal(r.code, 0, r.stderr)
  const { created, left } = JSON.parse(r.stdout)
  assert.ok(created >= 600, `300 loops hold descriptors (${created})`)
  assert.ok(left <= 10, `descriptors left after collection: ${left}`)
})

test('a loop is not collected while it has open handles, nor while JavaScript refers to it', async () => {
  // The first loop is dropped with a timer pending; the second is kept and
  // goes through collections with no handle open before it starts one.
  const code = `
    const { createLoop } = require('netcore')
    ;(function () {
      const loop = createLoop()
      loop.onHandle(loop.timer(100), 'timer', () => console.log('dropped loop fired'))
    })()
    const kept = createLoop()
    globalThis.gc()
    setTimeout(() => {
      globalThis.gc()
      kept.onHandle(kept.timer(1), 'timer', () => console.log('kept loop fired'))
    }, 200)`
  const r = await runChild(code, ['--expose-gc'])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, 'dropped loop fired\nkept loop fired\n')
})

test('a listener that throws does not silence the other listeners of that event', async () => {
  // Per-handle and loop listeners alike; each throw is an uncaught exception.
  const code = `
    const { createLoop } = require('netcore')
    const caught = []
    process.on('uncaughtException', (e) => caught.push(e.message))
    const loop = createLoop()
    const calls = []
    const t = loop.timer(1)
    loop.onHandle(t, 'timer', () => { calls.push('h1'); throw new Error('h1') })
    loop.onHandle(t, 'timer', () => calls.push('h2'))
    loop.on('timer', () => { calls.push('l1'); throw new Error('l1') })
    loop.on('timer', () => calls.push('l2'))
    loop.onHandle(t, 'closed', () => setImmediate(() => console.log(JSON.stringify({ calls, caught }))))`
  const r = await runChild(code)
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(JSON.parse(r.stdout), { calls: ['h1', 'h2', 'l1', 'l2'], caught: ['h1', 'l1'] })
})

test('onHandle() rejects an unknown event name, listing the valid ones', (t) => {
  const loop = newLoop(t)
  const timer = loop.timer(10000)
  for (const name of ['close', 'end', 'connect', 'Data', '']) {
    assert.throws(
      () => loop.onHandle(timer, name, () => {}),
      (err) => {
        assert.equal(err.code, 'ERR_INVALID_ARG_VALUE')
        assert.ok(err instanceof TypeError)
        assert.match(err.message, /accepted, connected, connect_failed, data, eof, writable, closed, .*, drain/)
        return true
      },
      name,
    )
  }
  for (const name of ['timer', 'closed', 'drain', 'shutdown_complete']) loop.onHandle(timer, name, () => {})
})

test('numeric-string ports are accepted by every port argument, as net accepts them', async (t) => {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', '0')
  const port = String(loop.localAddress(listener).port)
  const accepted = nextEvent(loop, 'accepted')
  const { handle } = await loop.connectAsync('127.0.0.1', port, { localPort: '0' })
  await accepted
  assert.equal(loop.peerAddress(handle).port, Number(port))
  const rx = loop.udpBind('127.0.0.1', '0')
  const rxPort = String(loop.localAddress(rx).port)
  const tx = loop.udpBind('127.0.0.1', 0)
  const datagram = nextEvent(loop, 'datagram', { handle: rx })
  assert.equal(loop.sendTo(tx, 'to', '127.0.0.1', rxPort), true)
  assert.equal((await datagram).data.toString(), 'to')
  loop.udpConnect(tx, '127.0.0.1', rxPort)
  assert.equal(loop.peerAddress(tx).port, Number(rxPort))
  assert.throws(() => loop.listen('127.0.0.1', '80a'), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => loop.connect('127.0.0.1', '70000'), { code: 'EINVAL', argument: 'port' })
})

test('onHandle listeners run in the AsyncLocalStorage context they were added in; loop listeners in the loop\'s', async (t) => {
  const als = new AsyncLocalStorage()
  const loop = als.run('loop', () => newLoop(t))
  const seen = []
  const done = als.run('request', () => {
    const timer = loop.timer(1)
    loop.onHandle(timer, 'timer', () => seen.push(`handle ${als.getStore()}`))
    loop.on('timer', () => seen.push(`loop ${als.getStore()}`))
    return new Promise((resolve) => loop.onHandle(timer, 'closed', resolve))
  })
  await withTimeout(done, WAIT_MS, "the timer's closed event")
  assert.deepEqual(seen, ['handle request', 'loop loop'])
})

test('send() reads a SharedArrayBuffer view before it returns: a worker overwriting it after each send changes nothing sent', async (t) => {
  // The worker fills the shared bytes with value k only after the main
  // thread sent value k - 1 (Atomics handshake), while the receiver does
  // not read: the sends queue in the core, so any bytes it kept referring to
  // would change on the wire.
  const SIZE = 64 * 1024
  const COUNT = 64
  const sab = new SharedArrayBuffer(SIZE)
  const flag = new Int32Array(new SharedArrayBuffer(4))
  const worker = new Worker(
    `const { workerData: { sab, flag, count } } = require('node:worker_threads')
     const bytes = new Uint8Array(sab)
     for (let k = 1; k <= count; k++) {
       // Until the main thread sent message k - 1 (the flag is 2k - 2).
       for (let v; (v = Atomics.load(flag, 0)) !== 2 * k - 2; ) Atomics.wait(flag, 0, v)
       bytes.fill(k)
       Atomics.store(flag, 0, 2 * k - 1)
       Atomics.notify(flag, 0)
     }`,
    { eval: true, workerData: { sab, flag, count: COUNT } },
  )
  t.after(() => worker.terminate())
  const loop = newLoop(t)
  const { client, server } = await pair(loop)
  loop.pause(server)
  // A small send buffer and a reader that does not read: most of the 4 MiB
  // waits in the core's queue.
  loop.setOption(client, 'sndbuf', 4096)
  loop.setOption(client, 'high_water', SIZE * COUNT * 2)
  const view = new Uint8Array(sab)
  for (let k = 1; k <= COUNT; k++) {
    Atomics.store(flag, 0, 2 * k - 2)
    Atomics.notify(flag, 0)
    assert.notEqual(Atomics.wait(flag, 0, 2 * k - 2, WAIT_MS), 'timed-out', `the worker wrote message ${k}`)
    assert.equal(loop.send(client, view), true)
  }
  const chunks = []
  let total = 0
  loop.onHandle(server, 'data', (ev) => {
    chunks.push(Buffer.from(ev.data))
    total += ev.data.length
  })
  loop.resume(server)
  await until(() => total === SIZE * COUNT, 'every byte sent')
  const all = Buffer.concat(chunks)
  for (let k = 1; k <= COUNT; k++) {
    const message = all.subarray((k - 1) * SIZE, k * SIZE)
    assert.ok(
      message.every((b) => b === k),
      `message ${k} is uniform (first differing byte: ${message.find((b) => b !== k)})`,
    )
  }
})

/** A listener, an accepted and a connecting connection, a UDP socket and a timer on `loop`, in this order. */
async function everyKind(loop) {
  const listener = loop.listen('127.0.0.1', 0)
  const accepted = nextEvent(loop, 'accepted', { filter: (ev) => ev.listener === listener })
  const { handle: client } = await loop.connectAsync('127.0.0.1', loop.localAddress(listener).port)
  const server = (await accepted).handle
  return { listener, client, server, udp: loop.udpBind('127.0.0.1', 0), timer: loop.timer(60000) }
}

/** Every Loop method that takes a handle, called with `h` and otherwise valid arguments. */
const HANDLE_METHODS = {
  close: (loop, h) => loop.close(h),
  closeReset: (loop, h) => loop.closeReset(h),
  shutdown: (loop, h) => loop.shutdown(h),
  pause: (loop, h) => loop.pause(h),
  resume: (loop, h) => loop.resume(h),
  send: (loop, h) => loop.send(h, Buffer.from('x')),
  'send (string, token)': (loop, h) => loop.send(h, 'x', { token: 1 }),
  sendv: (loop, h) => loop.sendv(h, ['x', 'y']),
  sendTo: (loop, h) => loop.sendTo(h, 'x', '127.0.0.1', 9),
  udpConnect: (loop, h) => loop.udpConnect(h, '127.0.0.1', 9),
  setFraming: (loop, h) => loop.setFraming(h, 'stream'),
  setIdleTimeout: (loop, h) => loop.setIdleTimeout(h, 1000),
  setMaxConnections: (loop, h) => loop.setMaxConnections(h, 5),
  shutdownServer: (loop, h) => loop.shutdownServer(h, 10),
  setOption: (loop, h) => loop.setOption(h, 'nodelay', true),
  getOption: (loop, h) => loop.getOption(h, 'nodelay'),
  setRawOption: (loop, h) => loop.setRawOption(h, 1, 9, 1),
  getRawOption: (loop, h) => loop.getRawOption(h, 1, 9),
  rawFd: (loop, h) => loop.rawFd(h),
  kind: (loop, h) => loop.kind(h),
  localAddress: (loop, h) => loop.localAddress(h),
  peerAddress: (loop, h) => loop.peerAddress(h),
  addMembership: (loop, h) => loop.addMembership(h, '224.0.0.251', '127.0.0.1'),
  dropMembership: (loop, h) => loop.dropMembership(h, '224.0.0.251', '127.0.0.1'),
  setUserdata: (loop, h) => loop.setUserdata(h, 1),
  getUserdata: (loop, h) => loop.getUserdata(h),
  onHandle: (loop, h) => loop.onHandle(h, 'data', () => {}),
  refHandle: (loop, h) => loop.refHandle(h),
  unrefHandle: (loop, h) => loop.unrefHandle(h),
}

test("another loop's handles are EBADHANDLE for every method, and both loops' sockets are unharmed", async (t) => {
  const a = newLoop(t)
  const b = newLoop(t)
  // The same kinds in the same order: the same slots in each loop.
  const mine = await everyKind(a)
  const theirs = await everyKind(b)
  for (const [kind, h] of Object.entries(theirs)) {
    assert.ok(!Object.values(mine).includes(h), `${kind}: the loops' handles differ`)
    for (const [name, call] of Object.entries(HANDLE_METHODS)) {
      assert.throws(() => call(a, h), { code: 'EBADHANDLE' }, `a.${name}(b's ${kind})`)
    }
  }
  for (const [loop, handles] of [
    [a, mine],
    [b, theirs],
  ]) {
    assert.equal(loop.kind(handles.listener), 'tcp_listener')
    assert.equal(loop.kind(handles.timer), 'timer')
    const received = nextEvent(loop, 'data', { handle: handles.server })
    assert.equal(loop.send(handles.client, 'still mine'), true)
    assert.equal((await received).data.toString(), 'still mine')
  }
})

for (const method of ['closeReset', 'close']) {
  test(`no event but 'closed' is emitted for a handle after ${method}(), not even data already received`, async (t) => {
    const loop = newLoop(t)
    const { client, server } = await pair(loop)
    // One byte per frame: the 4,096 bytes arrive as many 'data' events, most
    // of them in the batch whose first one closes the connection.
    loop.setFraming(server, { mode: 'fixed', size: 1 })
    const after = []
    let closing = false
    loop.onHandle(server, 'data', () => {
      if (closing) after.push('data')
      else {
        closing = true
        loop[method](server)
      }
    })
    for (const type of ['eof', 'error', 'writable']) loop.onHandle(server, type, () => after.push(type))
    const closed = nextEvent(loop, 'closed', { handle: server })
    loop.send(client, Buffer.alloc(4096, 1))
    if (method === 'close') loop.close(client) // the server's graceful close waits for our EOF
    await closed
    assert.equal(closing, true)
    assert.deepEqual(after, [])
  })
}

/** Methods that stay usable while a handle is closing: the close calls (no-ops), kind and the JavaScript-side state. */
const USABLE_WHILE_CLOSING = new Set(['close', 'closeReset', 'kind', 'setUserdata', 'getUserdata', 'onHandle', 'refHandle', 'unrefHandle'])

test("between closeReset() and 'closed' every other method throws ECLOSED (pause too); after 'closed', EBADHANDLE", async (t) => {
  const loop = newLoop(t)
  const { server } = await pair(loop)
  const closed = nextEvent(loop, 'closed', { handle: server })
  let duringClosed
  loop.onHandle(server, 'closed', () => {
    duringClosed = loop.kind(server)
  })
  loop.closeReset(server)
  for (const [name, call] of Object.entries(HANDLE_METHODS)) {
    if (USABLE_WHILE_CLOSING.has(name)) call(loop, server)
    else assert.throws(() => call(loop, server), { code: 'ECLOSED' }, `${name} while closing`)
  }
  assert.equal(loop.kind(server), 'tcp_connection')
  await closed
  assert.equal(duringClosed, 'tcp_connection', "the handle is still the loop's in its 'closed' listeners")
  for (const [name, call] of Object.entries(HANDLE_METHODS)) {
    assert.throws(() => call(loop, server), { code: 'EBADHANDLE' }, `${name} after 'closed'`)
  }
})

test('closing a loop closes its sockets at once, those it accepted but did not deliver yet included', async (t) => {
  const serving = newLoop(t)
  const listener = serving.listen('127.0.0.1', 0)
  const { port } = serving.localAddress(listener)
  // Both connections complete in the kernel before the serving loop polls:
  // their 'accepted' come in one batch, and the first closes the loop.
  let accepted = 0
  serving.on('accepted', () => {
    accepted++
    serving.close()
  })
  const ended = [0, 1].map(() => {
    const socket = net.connect(port, '127.0.0.1')
    socket.on('error', () => {})
    return new Promise((resolve) => socket.on('close', resolve))
  })
  await withTimeout(Promise.all(ended), WAIT_MS, 'both connections to end')
  assert.equal(accepted, 1)
  assert.throws(() => serving.listen('127.0.0.1', 0), { code: 'ECLOSED' })
  await assert.rejects(
    new Promise((resolve, reject) => net.connect(port, '127.0.0.1', resolve).on('error', reject)),
    { code: 'ECONNREFUSED' },
  )
})
