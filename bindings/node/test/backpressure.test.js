'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { newLoop, nextEvent, until, randomBytes, sha, WAIT_MS } = require('../testlib/helpers')

test('backpressure: send refused (false) above the high-water mark, then writable and drain, every byte in order', async (t) => {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0)
  const accepted = nextEvent(loop, 'accepted')
  const { handle } = await loop.connectAsync('127.0.0.1', loop.localAddress(listener).port)
  const server = (await accepted).handle
  loop.pause(server) // the server does not read: the client's queue fills up

  loop.setOption(handle, 'high_water', 256 * 1024)
  loop.setOption(handle, 'low_water', 64 * 1024)
  assert.equal(loop.getOption(handle, 'high_water'), 256 * 1024)
  loop.setOption(handle, 'sndbuf', 64 * 1024) // keep the kernel from absorbing everything

  const payload = randomBytes(24 * 1024 * 1024)
  const CHUNK = 64 * 1024
  let off = 0
  let refusals = 0
  let writable = 0
  let drains = 0
  let loopDrains = 0
  loop.onHandle(handle, 'writable', () => writable++)
  loop.on('drain', (ev) => {
    if (ev.handle === handle) loopDrains++
  })
  const pump = () => {
    while (off < payload.length) {
      const piece = payload.subarray(off, off + CHUNK)
      if (!loop.send(handle, piece)) {
        refusals++
        return
      }
      off += piece.length
    }
    loop.close(handle)
  }
  loop.onHandle(handle, 'drain', () => {
    drains++
    pump()
  })
  pump()
  assert.equal(refusals, 1, 'the queue filled up before the first drain')
  assert.ok(off < payload.length)
  const refusedAt = off
  // Refused: one more chunk would pass the mark, which the queue is within.
  const queued = loop.queuedBytes(handle)
  assert.ok(queued > 256 * 1024 - CHUNK && queued <= 256 * 1024, `queued ${queued}`)

  // Nothing moves while the server is paused.
  await new Promise((resolve) => setTimeout(resolve, 100))
  assert.equal(off, refusedAt)
  assert.equal(drains, 0)

  const received = []
  let total = 0
  loop.onHandle(server, 'data', (ev) => {
    received.push(Buffer.from(ev.data))
    total += ev.data.length
  })
  const serverEof = nextEvent(loop, 'eof', { handle: server, ms: WAIT_MS * 3 })
  loop.resume(server)
  await serverEof
  loop.close(server)
  assert.equal(total, payload.length)
  assert.equal(sha(Buffer.concat(received, total)), sha(payload))
  assert.ok(drains >= 1 && refusals >= drains, `drains ${drains}, refusals ${refusals}`)
  assert.equal(writable, drains, "'writable' and 'drain' are the same event")
  assert.equal(loopDrains, drains)
})

test('a send larger than the high-water mark is accepted into an empty queue, refused into a non-empty one', async (t) => {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0)
  const accepted = nextEvent(loop, 'accepted')
  const { handle } = await loop.connectAsync('127.0.0.1', loop.localAddress(listener).port)
  const server = (await accepted).handle
  loop.pause(server)
  loop.setOption(handle, 'low_water', 1024)
  loop.setOption(handle, 'high_water', 4096)
  loop.setOption(handle, 'sndbuf', 4096)
  const big = Buffer.alloc(8 * 1024 * 1024, 1)
  assert.equal(loop.send(handle, big), true)
  assert.equal(loop.send(handle, 'x'), false)
  assert.equal(loop.sendv(handle, ['a', 'b']), false)
  // All but what the kernel took of the big message is queued; a listener has no queue.
  assert.ok(loop.queuedBytes(handle) > big.length / 2, `queued ${loop.queuedBytes(handle)}`)
  assert.throws(() => loop.queuedBytes(listener), { code: 'EWRONGKIND' })
})

test("pause() holds back data already on its way, and the peer's 'eof' behind it; resume() delivers both in order", async (t) => {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0)
  const accepted = nextEvent(loop, 'accepted')
  const { handle } = await loop.connectAsync('127.0.0.1', loop.localAddress(listener).port)
  const server = (await accepted).handle
  loop.setFraming(server, { mode: 'delimited' })
  const got = []
  let pausedAt = -1
  loop.onHandle(server, 'data', (ev) => {
    got.push(ev.data.toString())
    if (got.length === 3) {
      loop.pause(server)
      pausedAt = got.length
    }
  })
  loop.onHandle(server, 'eof', () => got.push('(eof)'))
  const lines = Array.from({ length: 50 }, (_, i) => `line ${i}`)
  loop.send(handle, lines.join('\n') + '\n')
  loop.shutdown(handle)
  await until(() => pausedAt > 0, 'the pause')
  await new Promise((resolve) => setTimeout(resolve, 50))
  assert.equal(got.length, pausedAt, "no 'data' and no 'eof' after pause()")
  loop.resume(server)
  await until(() => got.length === lines.length + 1, "every line and the 'eof'")
  assert.deepEqual(got, [...lines, '(eof)'])
})
