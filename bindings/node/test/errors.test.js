'use strict'
// Errors and bad input. The documented contract (index.d.ts):
// - a wrong argument type throws TypeError (code ERR_INVALID_ARG_TYPE or
//   ERR_INVALID_ARG_VALUE), a number JavaScript cannot convert (a negative
//   duration) RangeError (ERR_OUT_OF_RANGE);
// - what the core judges throws an Error with a netcore code: EINVAL with the
//   core's detail (.argument, .expected: a port out of range, a host that is
//   not an IP literal where one is required, an unknown option name),
//   EBADHANDLE (unknown, stale or closed handle), ECLOSED (handle closing,
//   or the loop closed), EWRONGKIND (operation not for this kind of handle);
// - connection failures arrive as events / rejections with .code and .errno.
const test = require('node:test')
const assert = require('node:assert/strict')
const { newLoop, nextEvent } = require('../testlib/helpers')
const { codes, createLoop, errorName } = require('netcore')

test('connect refused: connect_failed then closed, .code ECONNREFUSED, Node-style message', async (t) => {
  const loop = newLoop(t)
  const h = loop.connect('127.0.0.1', 9)
  const failedEvent = nextEvent(loop, 'connect_failed', { handle: h })
  const closedEvent = nextEvent(loop, 'closed', { handle: h })
  const failed = await failedEvent
  assert.ok(failed.error instanceof Error)
  assert.equal(failed.error.code, 'ECONNREFUSED')
  assert.equal(failed.error.errno, -111)
  assert.equal(failed.error.syscall, 'connect')
  assert.equal(failed.error.message, 'connect ECONNREFUSED 127.0.0.1:9')
  assert.equal(failed.error.address, '127.0.0.1')
  assert.equal(failed.error.port, 9)
  const closed = await closedEvent
  assert.equal(closed.error.code, 'ECONNREFUSED')
  await assert.rejects(loop.connectAsync('127.0.0.1', 9), { code: 'ECONNREFUSED', errno: -111 })
})

test('a .invalid host fails with EDNS', async (t) => {
  const loop = newLoop(t)
  await assert.rejects(loop.connectAsync('no-such-host.invalid', 80), (err) => {
    assert.equal(err.code, 'EDNS')
    assert.equal(err.errno, codes.EDNS)
    assert.equal(err.message, 'connect EDNS no-such-host.invalid:80')
    return true
  })
})

test('connect timeout: ETIMEDOUT (a capped listener with a full backlog lets SYNs go unanswered)', async (t) => {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0, { backlog: 1, maxConnections: 1 })
  const port = loop.localAddress(listener).port
  let accepted = 0
  loop.onHandle(listener, 'accepted', () => accepted++)
  const results = await Promise.all(
    Array.from({ length: 6 }, () =>
      loop.connectAsync('127.0.0.1', port, { timeout: 400 }).then(
        (r) => r,
        (e) => e,
      ),
    ),
  )
  const timedOut = results.filter((r) => r instanceof Error)
  assert.ok(timedOut.length >= 1, 'some connections wait in vain')
  for (const err of timedOut) {
    assert.equal(err.code, 'ETIMEDOUT')
    assert.equal(err.errno, -110)
    assert.equal(err.message, `connect ETIMEDOUT 127.0.0.1:${port}`)
  }
  assert.equal(accepted, 1, 'the cap holds')
})

test('wrong argument types throw TypeError', (t) => {
  const loop = newLoop(t)
  const typeError = { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }
  assert.throws(() => loop.listen(8080, '127.0.0.1'), typeError)
  assert.throws(() => loop.listen('127.0.0.1', {}), typeError)
  assert.throws(() => loop.listen('127.0.0.1', 0, 'opts'), typeError)
  assert.throws(() => loop.listen('127.0.0.1', 0, { backlog: '10' }), typeError)
  assert.throws(() => loop.listen('127.0.0.1', 0, { reusePort: 1 }), typeError)
  assert.throws(() => loop.connect(null, 80), typeError)
  assert.throws(() => loop.connect('127.0.0.1', 80, { reconnect: 100 }), typeError)
  assert.throws(() => loop.send('1', 'x'), typeError)
  assert.throws(() => loop.send(1, 42), typeError)
  assert.throws(() => loop.send(1, { length: 1 }), typeError)
  assert.throws(() => loop.sendv(1, 'x'), typeError)
  assert.throws(() => loop.sendv(1, ['x', 5]), typeError)
  assert.throws(() => loop.close(undefined), typeError)
  assert.throws(() => loop.close('all'), typeError)
  assert.throws(() => loop.setOption(1, 'nodelay', 'yes'), typeError)
  assert.throws(() => loop.setOption(1, 42, 1), typeError)
  assert.throws(() => loop.onHandle(1, 'data', 'not a function'), { name: 'TypeError' })
  assert.throws(() => loop.timer('10'), typeError)
  assert.throws(() => loop.connect('127.0.0.1', 80, { family: true }), typeError)
})

test('values the core refuses throw EINVAL with its detail; negative durations RangeError', (t) => {
  const loop = newLoop(t)
  const refused = (argument) => ({ name: 'Error', code: 'EINVAL', errno: -22, argument })
  assert.throws(() => loop.listen('127.0.0.1', 70000), refused('port'))
  assert.throws(() => loop.listen('127.0.0.1', -1), refused('port'))
  assert.throws(() => loop.listen('127.0.0.1', 1.5), refused('port'))
  assert.throws(() => loop.connect('127.0.0.1', 0), refused('port'))
  assert.throws(() => loop.connect('127.0.0.1', 70000), refused('port'))
  assert.throws(() => loop.udpBind('127.0.0.1', 65536), refused('port'))
  assert.throws(() => loop.listen('127.0.0.1', 0, { backlog: -1 }), refused('backlog'))
  assert.throws(() => loop.listen('127.0.0.1', 0, { backlog: 65536 }), refused('backlog'))
  // A boolean is a boolean option's value only (the core's vocabulary says which).
  const l = loop.listen('127.0.0.1', 0)
  assert.throws(() => loop.setOption(l, 'high_water', true), refused('value'))
  const maxConnections = /^The value of "options\.maxConnections" is out of range\. It must be an integer >= 0 and <= 4294967295\. Received -1$/
  assert.throws(() => loop.listen('127.0.0.1', 0, { maxConnections: -1 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: maxConnections })
  assert.throws(() => loop.connect('127.0.0.1', 80, { family: 5 }), refused('family'))
  assert.throws(() => loop.connect('127.0.0.1', 80, { family: 'IPv5' }), refused('family'))
  assert.throws(() => loop.connect('127.0.0.1', 80, { reconnect: new Array(9).fill(10) }), refused('reconnect'))
  assert.throws(() => loop.connect('127.0.0.1', 80, { attemptDelay: 60001 }), refused('attempt_delay'))
  assert.throws(() => loop.connect('127.0.0.1', 80, { timeout: -5 }), { name: 'RangeError' })
  assert.throws(() => loop.timer(-1), { name: 'RangeError' })
  assert.throws(() => loop.timer(10, 0.0001 - 1), { name: 'RangeError' })
  const listener = loop.listen('127.0.0.1', 0)
  assert.throws(() => loop.setOption(listener, 'nodelay', 2), refused('nodelay'))
  assert.throws(() => loop.setOption(listener, 'keepalive', 40000), refused('keepalive'))
  assert.throws(() => loop.setOption(listener, 'rcvbuf', 0), refused('rcvbuf'))
  assert.throws(() => loop.setOption(listener, 'high_water', 2 ** 30 + 1), refused('high_water'))
  assert.throws(() => loop.setOption(listener, 'linger', -2), refused('linger'))
  assert.throws(() => loop.setOption(listener, 'rcvbuf', 1.5), refused('rcvbuf'))
  assert.throws(() => loop.setOption(listener, 'noDelay', 1), refused('option'))
  assert.throws(
    () => loop.listen('127.0.0.1', 70000),
    (err) => err.message === 'listen EINVAL 127.0.0.1:70000 (port: expected 0 to 65535)' && err.expected === '0 to 65535',
  )
})

test("an error's detail is read once: a later error without one reports none", () => {
  // The native layer directly: index.js reads the detail right after each
  // failed call, so only a call that leaves it unread can show a stale one.
  const native = require('../native.js')
  const lp = new native.NativeLoop(() => {}, new Float64Array(1024 * 11), () => {})
  try {
    assert.equal(native.parseAddress('127.0.0.1', 70000), codes.EINVAL)
    assert.deepEqual(native.errorDetail(), { argument: 'port', expected: '0 to 65535', text: 'port: expected 0 to 65535' })
    assert.equal(native.errorDetail(), null, 'read once')
    assert.equal(native.parseAddress('127.0.0.1', 70000), codes.EINVAL) // its detail left unread
    assert.equal(lp.sendFunction()(1, 'not bytes'), codes.EINVAL)
    assert.equal(native.errorDetail(), null, "the send's EINVAL has no detail")
    assert.equal(lp.sendv(1, [Buffer.from('x')], 0.5), codes.EINVAL, 'a token that is not an integer')
  } finally {
    lp.close()
  }
})

test('bad addresses: EINVAL where an IP literal is required', (t) => {
  const loop = newLoop(t)
  const einval = { code: 'EINVAL', errno: -22 }
  assert.throws(() => loop.listen('not an address', 0), einval)
  assert.throws(() => loop.listen('1.2.3', 0), einval)
  assert.throws(() => loop.listen('', 0), einval)
  assert.throws(() => loop.udpBind('example.com', 0), einval)
  assert.throws(() => loop.connect('', 80), einval)
  assert.throws(() => loop.connect('x'.repeat(300), 80), einval)
  assert.throws(() => loop.connect('127.0.0.1', 80, { localAddress: 'nowhere' }), einval)
  assert.throws(() => loop.connect('127.0.0.1', 80, { family: 6, localAddress: '127.0.0.1' }), einval)
  assert.throws(() => loop.listen('127.0.0.1\0', 0), einval)
  const err = (() => {
    try {
      loop.listen('bogus', 1234)
    } catch (e) {
      return e
    }
  })()
  assert.match(err.message, /^listen EINVAL bogus:1234 \(host: expected an IP address/)
  assert.equal(err.argument, 'host')
  assert.equal(err.syscall, 'listen')
})

test('address in use: EADDRINUSE', (t) => {
  const loop = newLoop(t)
  const a = loop.listen('127.0.0.1', 0)
  const port = loop.localAddress(a).port
  assert.throws(() => loop.listen('127.0.0.1', port), { code: 'EADDRINUSE', errno: -98 })
})

test('closed, stale and unknown handles: EBADHANDLE; wrong kinds: EWRONGKIND', async (t) => {
  const loop = newLoop(t)
  const ebadhandle = { code: 'EBADHANDLE', errno: codes.EBADHANDLE }
  for (const h of [0, -1, 1.5, 12345, Number.MAX_SAFE_INTEGER, 2 ** 60, NaN, Infinity]) {
    assert.throws(() => loop.send(h, 'x'), ebadhandle, String(h))
    assert.throws(() => loop.close(h), ebadhandle, String(h))
    assert.throws(() => loop.localAddress(h), ebadhandle, String(h))
    assert.throws(() => loop.setUserdata(h, 1), ebadhandle, String(h))
  }
  const u = loop.udpBind('127.0.0.1', 0)
  loop.close(u)
  await nextEvent(loop, 'closed', { handle: u })
  // Stale: the handle was closed and its 'closed' delivered.
  for (const op of [
    () => loop.send(u, 'x'),
    () => loop.sendTo(u, 'x', '127.0.0.1', 9),
    () => loop.close(u),
    () => loop.closeReset(u),
    () => loop.pause(u),
    () => loop.localAddress(u),
    () => loop.getOption(u, 'rcvbuf'),
    () => loop.getUserdata(u),
    () => loop.kind(u),
  ]) {
    assert.throws(op, ebadhandle)
  }
  // A new handle never takes the old number.
  const u2 = loop.udpBind('127.0.0.1', 0)
  assert.notEqual(u2, u)
  assert.throws(() => loop.send(u, 'x'), ebadhandle)

  const listener = loop.listen('127.0.0.1', 0)
  assert.throws(() => loop.send(listener, 'x'), { code: 'EWRONGKIND' })
  assert.throws(() => loop.peerAddress(listener), { code: 'EWRONGKIND' })
  assert.throws(() => loop.setMaxConnections(u2, 1), { code: 'EWRONGKIND' })
  assert.throws(() => loop.send(listener, ''), (err) => err.code === 'EWRONGKIND' || err.code === 'EINVAL')
})

test('empty sends are EINVAL', async (t) => {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0)
  const { handle } = await loop.connectAsync('127.0.0.1', loop.localAddress(listener).port)
  assert.throws(() => loop.send(handle, ''), { code: 'EINVAL' })
  assert.throws(() => loop.send(handle, Buffer.alloc(0)), { code: 'EINVAL' })
  assert.throws(() => loop.sendv(handle, []), { code: 'EINVAL' })
})

test('a closed loop: every call throws ECLOSED; close() twice is fine; pending connects reject', async () => {
  const loop = createLoop()
  const listener = loop.listen('127.0.0.1', 0)
  const pending = loop.connectAsync('no-such-host.invalid', 80)
  loop.close()
  loop.close()
  assert.equal(loop.closed, true)
  await assert.rejects(pending, { code: 'ECLOSED' })
  assert.throws(() => loop.listen('127.0.0.1', 0), { code: 'ECLOSED' })
  assert.throws(() => loop.send(listener, 'x'), { code: 'ECLOSED' })
  assert.throws(() => loop.localAddress(listener), { code: 'ECLOSED' })
  assert.equal(loop.handleCount, 0)
})

test('errorName and codes', () => {
  assert.equal(errorName(codes.EBADHANDLE), 'EBADHANDLE')
  assert.equal(errorName(-111), 'ECONNREFUSED')
  assert.equal(codes.EAGAIN, -11)
  assert.equal(codes.EDNS, -3002)
  assert.equal(errorName(-71), 'EPROTO') // an OS code netcore does not name itself
})
