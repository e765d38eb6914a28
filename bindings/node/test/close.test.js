'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const { newLoop, nextEvent, until, randomBytes, sha, WAIT_MS } = require('../testlib/helpers')

async function pair(loop) {
  const listener = loop.listen('127.0.0.1', 0)
  const accepted = nextEvent(loop, 'accepted')
  const { handle } = await loop.connectAsync('127.0.0.1', loop.localAddress(listener).port)
  const server = (await accepted).handle
  loop.close(listener)
  return { client: handle, server }
}

test('graceful close delivers everything queued before it (32 MiB)', async (t) => {
  const loop = newLoop(t)
  const { client, server } = await pair(loop)
  loop.setOption(client, 'high_water', 64 * 1024 * 1024)
  const payload = randomBytes(32 * 1024 * 1024)
  for (let off = 0; off < payload.length; off += 1024 * 1024) {
    assert.equal(loop.send(client, payload.subarray(off, off + 1024 * 1024)), true)
  }
  const clientClosed = nextEvent(loop, 'closed', { handle: client, ms: WAIT_MS * 3 })
  loop.close(client) // queued bytes go first, then FIN
  assert.throws(() => loop.send(client, 'late'), { code: 'ECLOSED' })
  loop.close(client) // closing twice is a no-op
  const received = []
  let total = 0
  loop.onHandle(server, 'data', (ev) => {
    received.push(Buffer.from(ev.data))
    total += ev.data.length
  })
  await nextEvent(loop, 'eof', { handle: server, ms: WAIT_MS * 3 })
  assert.equal(total, payload.length)
  assert.equal(sha(Buffer.concat(received, total)), sha(payload))
  const serverClosed = nextEvent(loop, 'closed', { handle: server })
  loop.close(server)
  assert.equal((await clientClosed).error, undefined)
  assert.equal((await serverClosed).error, undefined)
  assert.equal(loop.handleCount, 0)
  assert.throws(() => loop.send(client, 'x'), { code: 'EBADHANDLE' })
})

test('hard close (closeReset): the peer sees ECONNRESET', async (t) => {
  const loop = newLoop(t)
  const { client, server } = await pair(loop)
  const serverClosed = nextEvent(loop, 'closed', { handle: server })
  const clientClosed = nextEvent(loop, 'closed', { handle: client })
  loop.send(client, 'some bytes that may never arrive')
  loop.closeReset(client)
  const ev = await clientClosed
  assert.equal(ev.error, undefined)
  const peer = await serverClosed
  assert.equal(peer.error && peer.error.code, 'ECONNRESET')
  assert.equal(peer.error.errno, -104)
  assert.match(peer.error.message, /ECONNRESET/)
})

test('closeAbort: the peer gets what the kernel took, then EOF; a reset if queued bytes were dropped', async (t) => {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0)
  const port = loop.localAddress(listener).port
  /** A Node client of the listener, paused; the connection netcore accepted; how the client's stream ends. */
  const connect = async () => {
    const accepted = nextEvent(loop, 'accepted')
    const socket = net.connect(port, '127.0.0.1').pause()
    t.after(() => socket.destroy())
    const ended = new Promise((resolve) => {
      const chunks = []
      socket.on('data', (chunk) => chunks.push(chunk))
      socket.on('end', () => resolve({ received: Buffer.concat(chunks).toString() }))
      socket.on('error', (err) => resolve({ error: err.code }))
    })
    return { socket, handle: (await accepted).handle, ended }
  }

  const first = await connect()
  let closed = nextEvent(loop, 'closed', { handle: first.handle })
  assert.equal(loop.send(first.handle, 'last words'), true)
  loop.closeAbort(first.handle)
  loop.closeAbort(first.handle) // a no-op while 'closed' is on its way
  assert.equal((await closed).error, undefined)
  first.socket.resume()
  assert.deepEqual(await first.ended, { received: 'last words' })

  const second = await connect()
  const chunk = Buffer.alloc(1 << 20, 'q')
  for (let i = 0; i < 1024 && loop.send(second.handle, chunk); i++); // the client reads nothing: netcore queues, then refuses
  assert.ok(loop.queuedBytes(second.handle) > 0)
  closed = nextEvent(loop, 'closed', { handle: second.handle })
  loop.closeAbort(second.handle)
  await closed
  second.socket.resume()
  assert.deepEqual(await second.ended, { error: 'ECONNRESET' })
})

test('half close: shutdown() sends FIN, reading goes on', async (t) => {
  const loop = newLoop(t)
  const { client, server } = await pair(loop)
  const serverEof = nextEvent(loop, 'eof', { handle: server })
  loop.send(client, 'request')
  loop.shutdown(client)
  assert.throws(() => loop.send(client, 'more'), { code: 'EPIPE' })
  const got = []
  loop.onHandle(server, 'data', (ev) => got.push(ev.data.toString()))
  await serverEof
  assert.equal(got.join(''), 'request')
  // The server still answers after the client's FIN.
  const answer = []
  loop.onHandle(client, 'data', (ev) => answer.push(ev.data.toString()))
  const clientEof = nextEvent(loop, 'eof', { handle: client })
  const clientClosed = nextEvent(loop, 'closed', { handle: client })
  loop.send(server, 'response')
  loop.close(server)
  await clientEof
  assert.equal(answer.join(''), 'response')
  // Both directions are done: the client's handle closes by itself.
  assert.equal((await clientClosed).error, undefined)
  await until(() => loop.handleCount === 0, 'both handles closed')
})

test('peer close is noticed while paused', async (t) => {
  const loop = newLoop(t)
  const { client, server } = await pair(loop)
  loop.pause(server)
  const eof = nextEvent(loop, 'eof', { handle: server, ms: 3000 })
  loop.close(client)
  await eof
  loop.close(server)
  await until(() => loop.handleCount === 0, 'both handles closed')
})

test("'closed' is delivered exactly once per handle, and releases user data and listeners", async (t) => {
  const loop = newLoop(t)
  const { client, server } = await pair(loop)
  const closed = new Map()
  loop.on('closed', (ev) => {
    if (ev.handle === client || ev.handle === server) closed.set(ev.handle, (closed.get(ev.handle) || 0) + 1)
  })
  loop.setUserdata(client, { name: 'client' })
  let seenUserdata
  loop.onHandle(client, 'closed', (ev) => (seenUserdata = ev.userdata))
  loop.closeReset(client)
  loop.closeReset(client) // a no-op while 'closed' is on its way
  loop.close(server)
  await until(() => closed.size === 2, "two 'closed' events")
  await new Promise((resolve) => setTimeout(resolve, 50))
  assert.deepEqual([...closed.values()], [1, 1])
  assert.deepEqual(seenUserdata, { name: 'client' })
  assert.throws(() => loop.getUserdata(client), { code: 'EBADHANDLE' })
  assert.throws(() => loop.onHandle(client, 'data', () => {}), { code: 'EBADHANDLE' })
})
