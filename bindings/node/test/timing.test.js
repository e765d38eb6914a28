'use strict'
// Durations and deadlines through the JS API: a duration is a number of
// milliseconds, not negative; anything else (negative, NaN) is a RangeError
// that changes nothing; the core treats one beyond its MAX_DURATION as never
// (Infinity included); long durations work.
//
// Loopback only; every wait is bounded (helpers' until / nextEvent).

const test = require('node:test')
const assert = require('node:assert/strict')
const { newLoop, nextEvent } = require('../testlib/helpers')

const T = { timeout: 60000 }
const BAD = [-1, -0.5, NaN, -Infinity]

test('durations: negative and NaN durations throw RangeError and change nothing', T, async (t) => {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0)
  const port = loop.localAddress(listener).port
  const accepted = nextEvent(loop, 'accepted')
  const client = loop.connect('127.0.0.1', port)
  await nextEvent(loop, 'connected', { handle: client })
  await accepted
  const before = loop.handleCount
  for (const bad of BAD) {
    const calls = [
      () => loop.timer(bad),
      () => loop.timer(1, bad),
      () => loop.connect('127.0.0.1', port, { timeout: bad }),
      () => loop.connect('127.0.0.1', port, { reconnect: [10, bad] }),
      () => loop.connect('127.0.0.1', port, { attemptDelay: bad }),
      () => loop.setIdleTimeout(client, bad),
      () => loop.shutdownServer(listener, bad),
    ]
    for (const call of calls) assert.throws(call, { name: 'RangeError' }, `${bad}: ${call}`)
  }
  assert.equal(loop.handleCount, before, 'no handle was created')
  // the listener was not touched: it still accepts
  const again = loop.connect('127.0.0.1', port)
  await nextEvent(loop, 'connected', { handle: again })
})

test('durations: long and never-ending timers, idle timeouts and drains are accepted and cancellable', T, async (t) => {
  const loop = newLoop(t)
  const longest = 2 ** 31
  const timer = loop.timer(longest, longest)
  loop.close(loop.timer(Infinity, 2 ** 64))
  const listener = loop.listen('127.0.0.1', 0)
  const accepted = nextEvent(loop, 'accepted')
  const client = loop.connect('127.0.0.1', loop.localAddress(listener).port, { timeout: longest, reconnect: [longest] })
  await nextEvent(loop, 'connected', { handle: client })
  const server = (await accepted).handle
  loop.setIdleTimeout(client, longest)
  const closedTimer = nextEvent(loop, 'closed', { handle: timer })
  loop.close(timer)
  assert.equal((await closedTimer).handle, timer)
  // a drain of 2^31 ms is not forced: the shutdown completes when the client closes
  const complete = nextEvent(loop, 'shutdown_complete', { handle: listener })
  const listenerClosed = nextEvent(loop, 'closed', { handle: listener })
  const reconnecting = nextEvent(loop, 'reconnecting', { handle: client })
  loop.shutdownServer(listener, longest)
  await reconnecting
  loop.close(client)
  await complete
  await listenerClosed
  assert.equal(loop.handleCount, 0, `server side ${server} and client closed too`)
})
