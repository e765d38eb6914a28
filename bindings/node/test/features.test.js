'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { newLoop, nextEvent, until, echoServer } = require('../testlib/helpers')
const { defaultLoop, createLoop, Loop } = require('netcore')

test('timers: one-shot (then closed), repeating, cancelled', async (t) => {
  const loop = newLoop(t)
  const events = []
  loop.on('timer', (ev) => events.push(['timer', ev.handle, ev.userdata]))
  loop.on('closed', (ev) => events.push(['closed', ev.handle]))
  const started = performance.now()
  const once = loop.timer(30, undefined, { userdata: 'once' })
  assert.equal(loop.kind(once), 'timer')
  const repeat = loop.timer(10, 10)
  const cancelled = loop.timer(1000)
  loop.close(cancelled)
  await until(() => events.filter((e) => e[1] === repeat).length >= 5, 'five repeats')
  loop.close(repeat)
  await until(() => events.some((e) => e[0] === 'closed' && e[1] === repeat), 'the repeating timer to close')
  assert.ok(performance.now() - started >= 30)
  const onceEvents = events.filter((e) => e[1] === once)
  assert.deepEqual(onceEvents, [
    ['timer', once, 'once'],
    ['closed', once],
  ])
  assert.deepEqual(
    events.filter((e) => e[1] === cancelled),
    [['closed', cancelled]],
  )
  assert.equal(loop.handleCount, 0)
})

test('idle timeout fires after no I/O and re-arms', async (t) => {
  const loop = newLoop(t)
  const server = echoServer(loop)
  const { handle } = await loop.connectAsync('127.0.0.1', server.port)
  const idles = []
  loop.onHandle(handle, 'idle', () => idles.push(performance.now()))
  const started = performance.now()
  loop.setIdleTimeout(handle, 50)
  await until(() => idles.length >= 2, 'two idle events')
  loop.setIdleTimeout(handle, null)
  const count = idles.length
  await new Promise((resolve) => setTimeout(resolve, 120))
  assert.equal(idles.length, count, 'no idle event once turned off')
  assert.ok(idles[0] - started >= 45)
})

test("send tokens: a 'sent' event once the bytes reached the kernel", async (t) => {
  const loop = newLoop(t)
  const server = echoServer(loop)
  const { handle } = await loop.connectAsync('127.0.0.1', server.port)
  const sent = []
  loop.onHandle(handle, 'sent', (ev) => sent.push(ev.value))
  loop.send(handle, 'one', { token: 1 })
  loop.sendv(handle, ['two', 'three'], { token: 2 })
  loop.send(handle, 'four', { encoding: 'utf8', token: 2 ** 40 })
  await until(() => sent.length === 3, "three 'sent' events")
  assert.deepEqual(sent, [1, 2, 2 ** 40])
  assert.throws(() => loop.send(handle, 'x', { token: -1 }), { name: 'RangeError' })
})

test('connection cap: at the cap accepting pauses, below it resumes', async (t) => {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0, { maxConnections: 2 })
  const port = loop.localAddress(listener).port
  const accepted = []
  loop.onHandle(listener, 'accepted', (ev) => accepted.push(ev.handle))
  const clients = [0, 1, 2].map(() => loop.connect('127.0.0.1', port))
  await until(() => accepted.length === 2, 'two accepted')
  await new Promise((resolve) => setTimeout(resolve, 100))
  assert.equal(accepted.length, 2, 'the third waits in the backlog')
  loop.closeReset(accepted[0])
  await until(() => accepted.length === 3, 'the third accepted once below the cap')
  loop.setMaxConnections(listener, 0)
  assert.equal(clients.length, 3)
})

test('graceful server shutdown: connections closed, then shutdown_complete and closed', async (t) => {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0)
  const port = loop.localAddress(listener).port
  const accepted = []
  loop.onHandle(listener, 'accepted', (ev) => accepted.push(ev.handle))
  const clients = await Promise.all([0, 1, 2].map(() => loop.connectAsync('127.0.0.1', port)))
  await until(() => accepted.length === 3, 'three accepted')
  for (const { handle } of clients) loop.onHandle(handle, 'eof', () => loop.close(handle))
  const order = []
  loop.on('shutdown_complete', (ev) => order.push(['shutdown_complete', ev.handle]))
  loop.on('closed', (ev) => order.push(['closed', ev.handle]))
  loop.shutdownServer(listener, 2000)
  await until(() => order.some((e) => e[0] === 'closed' && e[1] === listener), 'the listener to close')
  const complete = order.findIndex((e) => e[0] === 'shutdown_complete')
  const listenerClosed = order.findIndex((e) => e[0] === 'closed' && e[1] === listener)
  assert.ok(complete >= 0 && complete < listenerClosed)
  for (const h of accepted) assert.ok(order.findIndex((e) => e[0] === 'closed' && e[1] === h) < complete)
})

test('auto-reconnect: reconnecting events, then connected again when the server is back', async (t) => {
  const loop = newLoop(t)
  const first = loop.listen('127.0.0.1', 0)
  const port = loop.localAddress(first).port
  const serverConns = []
  loop.onHandle(first, 'accepted', (ev) => serverConns.push(ev.handle))
  const client = loop.connect('127.0.0.1', port, { reconnect: [20, 50] })
  const connected = []
  const reconnecting = []
  loop.onHandle(client, 'connected', (ev) => connected.push(ev))
  loop.onHandle(client, 'reconnecting', (ev) => reconnecting.push(ev))
  await until(() => connected.length === 1 && serverConns.length === 1, 'the first connection')
  // The server goes away: the client is told it will try again.
  loop.close(first)
  loop.closeReset(serverConns[0])
  await until(() => reconnecting.length >= 2, 'two reconnect attempts')
  assert.equal(reconnecting[0].value, 1)
  assert.equal(reconnecting[1].value, 2)
  assert.ok(reconnecting[0].error instanceof Error)
  const second = loop.listen('127.0.0.1', port)
  loop.onHandle(second, 'accepted', (ev) => serverConns.push(ev.handle))
  await until(() => connected.length === 2, 'the reconnection')
  assert.equal(loop.send(client, 'still the same handle'), true)
  loop.close(client) // closing stops reconnecting
})

test('user data: any JS value, given at creation or set later, inherited by accepted connections', async (t) => {
  const loop = newLoop(t)
  const tag = { server: true }
  const listener = loop.listen('127.0.0.1', 0, { userdata: tag })
  assert.equal(loop.getUserdata(listener), tag)
  const accepted = nextEvent(loop, 'accepted')
  const fn = () => 'a function works too'
  const { handle } = await loop.connectAsync('127.0.0.1', loop.localAddress(listener).port, { userdata: fn })
  const ev = await accepted
  assert.equal(ev.userdata, tag)
  assert.equal(loop.getUserdata(ev.handle), tag)
  loop.setUserdata(ev.handle, 42n)
  const data = nextEvent(loop, 'data', { handle: ev.handle })
  loop.send(handle, 'x')
  assert.equal((await data).userdata, 42n)
  assert.equal(loop.getUserdata(handle), fn)
})

test('per-handle listeners run before the loop listeners and can be removed', async (t) => {
  const loop = newLoop(t)
  const server = echoServer(loop)
  const { handle } = await loop.connectAsync('127.0.0.1', server.port)
  const order = []
  const mine = (ev) => order.push(`handle:${ev.data}`)
  loop.onHandle(handle, 'data', mine)
  loop.on('data', (ev) => {
    if (ev.handle === handle) order.push(`loop:${ev.data}`)
  })
  loop.send(handle, 'a')
  await until(() => order.length === 2, 'the first echo')
  loop.offHandle(handle, 'data', mine)
  loop.send(handle, 'b')
  await until(() => order.length === 3, 'the second echo')
  assert.deepEqual(order, ['handle:a', 'loop:a', 'loop:b'])
})

test('options, raw options, addresses, rawFd, kind', async (t) => {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0)
  const { handle } = await loop.connectAsync('127.0.0.1', loop.localAddress(listener).port)
  assert.equal(loop.kind(listener), 'tcp_listener')
  assert.equal(loop.kind(handle), 'tcp_connection')
  assert.equal(loop.getOption(handle, 'nodelay'), true, 'TCP_NODELAY is on by default')
  loop.setOption(handle, 'nodelay', false)
  assert.equal(loop.getOption(handle, 'nodelay'), false)
  loop.setOption(handle, 'keepalive', 30)
  assert.equal(loop.getOption(handle, 'keepalive'), 30)
  loop.setOption(handle, 'keepalive', 0)
  assert.equal(loop.getOption(handle, 'keepalive'), 0)
  assert.equal(loop.getOption(handle, 'linger'), -1)
  loop.setOption(handle, 'linger', 5)
  assert.equal(loop.getOption(handle, 'linger'), 5)
  loop.setOption(handle, 'rcvbuf', 65536)
  assert.ok(loop.getOption(handle, 'rcvbuf') >= 65536)
  assert.equal(loop.getOption(handle, 'low_water'), 256 * 1024)
  assert.throws(() => loop.setOption(handle, 'low_water', 2 * 1024 * 1024), { code: 'EINVAL' }) // above the high-water mark
  assert.throws(() => loop.setOption(handle, 'broadcast', true), { code: 'EWRONGKIND' })
  // Raw: SOL_SOCKET / SO_KEEPALIVE on Linux (1 / 9), as a C int.
  if (process.platform === 'linux') {
    loop.setRawOption(handle, 1, 9, 1)
    assert.equal(loop.getRawOption(handle, 1, 9).readInt32LE(0), 1)
    assert.equal(loop.getOption(handle, 'keepalive') > 0, true)
  }
  assert.throws(() => loop.getRawOption(handle, 1, 99999), (err) => typeof err.code === 'string' && err.errno < 0)
  const fd = loop.rawFd(handle)
  assert.ok(Number.isInteger(fd) && fd > 2)
  const local = loop.localAddress(handle)
  const peer = loop.peerAddress(handle)
  assert.equal(peer.port, loop.localAddress(listener).port)
  assert.equal(local.address, '127.0.0.1')
})

test('listenAsync, defaultLoop, createLoop, new Loop(), ref/unref chaining', async () => {
  const a = defaultLoop()
  assert.equal(defaultLoop(), a)
  assert.ok(a instanceof Loop)
  const { handle, address } = await a.listenAsync('127.0.0.1', 0)
  assert.equal(address.family, 'IPv4')
  assert.ok(address.port > 0)
  a.close(handle)
  assert.equal(a.unref().ref(), a)
  a.close()
  const b = defaultLoop()
  assert.notEqual(b, a, 'a closed default loop is replaced')
  b.close()
  const c = new Loop()
  const d = createLoop()
  assert.notEqual(c, d)
  c.close()
  d.close()
  await assert.rejects(a.listenAsync('127.0.0.1', 0), { code: 'ECLOSED' })
})

test('closing the loop from inside an event listener stops delivery at once', async () => {
  const loop = createLoop()
  const listener = loop.listen('127.0.0.1', 0)
  let after = 0
  let closedInside = false
  const { handle } = await loop.connectAsync('127.0.0.1', loop.localAddress(listener).port)
  loop.onHandle(listener, 'accepted', (ev) => loop.setFraming(ev.handle, { mode: 'fixed', size: 1 }))
  loop.on('data', () => {
    if (closedInside) after++
    else {
      closedInside = true
      loop.close() // from inside its own batch: no further event may follow
    }
  })
  await new Promise((resolve) => setTimeout(resolve, 20))
  loop.send(handle, 'abcdefgh') // eight one-byte frames, most likely in one batch
  await until(() => closedInside, 'the first frame')
  await new Promise((resolve) => setTimeout(resolve, 50))
  assert.equal(after, 0)
  assert.equal(loop.closed, true)
})
