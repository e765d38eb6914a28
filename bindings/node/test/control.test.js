'use strict'
// Timers, timeouts, resilience and server control through the JS API:
// timers, idle timeout, connect timeout, Happy Eyeballs, auto-reconnect, the
// connection cap, graceful server shutdown, send tokens, raw options / rawFd /
// linger, SO_REUSEPORT across two loops, UDP multicast on loopback.
// (EMFILE is left to the C and Python suites.)
//
// Loopback only; every wait is bounded (helpers' until / nextEvent /
// withTimeout, and a timeout per test).

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const { spawn } = require('node:child_process')
const { newLoop, nextEvent, until, withTimeout, randomBytes, sha } = require('../testlib/helpers')
const { codes, vocabulary } = require('netcore')

const LINUX = process.platform === 'linux'
const T = { timeout: 60000, skip: LINUX ? false : 'Linux only (/proc, socket option numbers)' }

// Linux socket option numbers.
const SOL_SOCKET = 1
const SO_TYPE = 3
const SO_KEEPALIVE = 9
const SO_LINGER = 13
const SOCK_STREAM = 1
const SOCK_DGRAM = 2
const IPPROTO_IP = 0
const IPPROTO_TCP = 6
const TCP_NODELAY = 1
const IP_MULTICAST_IF = 32
const IP_MULTICAST_ALL = 49
const ENOPROTOOPT = 92

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Open descriptors of this process (plus the one readdir uses: a constant). */
function countFds() {
  return fs.readdirSync('/proc/self/fd').length
}

/** A bounded await (the bound is a hang guard). */
function bounded(promise, what, ms = 30000) {
  return withTimeout(promise, ms, what)
}

/** Resolves with the Error a promise rejects with (fails if it resolves); bounded. */
async function rejection(promise, what, ms = 30000) {
  try {
    await withTimeout(promise, ms, what)
  } catch (err) {
    return err
  }
  throw new Error(`${what}: expected a rejection`)
}

// A listener whose accept queue is full, in a child process that never
// accepts: backlog 1, filled by its own connects until one stalls. Further
// SYNs to it go unanswered (the kernel drops them), so connects to it can
// only time out. Its filler sockets are the child's: our descriptor count
// is not affected.
const STALLED_LISTENER_PY = `
import select, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
fam = socket.AF_INET6 if ':' in host else socket.AF_INET
l = socket.socket(fam, socket.SOCK_STREAM)
if fam == socket.AF_INET6:
    l.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
l.bind((host, port))
l.listen(1)
port = l.getsockname()[1]
fillers = []
for _ in range(16):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setblocking(False)
    fillers.append(s)
    try:
        s.connect((host, port))
        continue
    except BlockingIOError:
        pass
    if not select.select([], [s], [], 0.2)[1]:
        print(port, flush=True)
        break
else:
    print('the backlog never filled', flush=True)
    sys.exit(1)
sys.stdin.read()  # until the test closes our stdin (or dies)
`

/** Starts a stalled listener on host:port (0 = any); resolves with its port. Stopped when the test ends. */
function stalledListener(t, host, port = 0) {
  const child = spawn('python3', ['-c', STALLED_LISTENER_PY, host, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] })
  t.after(() => {
    child.stdin.destroy()
    child.kill('SIGKILL')
  })
  let out = ''
  let err = ''
  child.stderr.on('data', (d) => (err += d))
  return bounded(
    new Promise((resolve, reject) => {
      child.on('error', reject)
      child.on('exit', (code) => reject(new Error(`stalled listener exited (${code}): ${out}${err}`)))
      child.stdout.on('data', (d) => {
        out += d
        const m = /^(\d+)\n/.exec(out)
        if (m) resolve(Number(m[1]))
        else if (out.includes('\n')) reject(new Error(`stalled listener: ${out}${err}`))
      })
    }),
    'the stalled listener',
  )
}

/**
 * Records every event of `loop` in one ordered list: { type, handle, ev, t }
 * (t: performance.now() at delivery).
 */
function recordAll(loop) {
  const log = []
  for (const { name: type } of vocabulary.events) {
    loop.on(type, (ev) => log.push({ type, handle: ev.handle, ev, t: performance.now() }))
  }
  log.of = (handle, type) => log.filter((e) => e.handle === handle && (type === undefined || e.type === type))
  log.index = (handle, type) => log.findIndex((e) => e.handle === handle && e.type === type)
  return log
}

/** A listener on 127.0.0.1:0 that keeps its accepted connections by client port, with the bytes each received. */
function server(loop, options) {
  const listener = loop.listen('127.0.0.1', 0, options)
  const port = loop.localAddress(listener).port
  const conns = [] // { handle, peer (AddressInfo of the client), received: Buffer[] }
  loop.onHandle(listener, 'accepted', (ev) => {
    const c = { handle: ev.handle, peer: ev.address, received: [] }
    conns.push(c)
    loop.onHandle(ev.handle, 'data', (d) => c.received.push(Buffer.from(d.data)))
  })
  const text = (c) => Buffer.concat(c.received).toString()
  /** The accepted connection whose peer is our client handle `client`. */
  const of = (client) => {
    const local = loop.localAddress(client).port
    return conns.find((c) => c.peer.port === local)
  }
  return { listener, port, conns, text, of }
}

// ------------------------------------------------------------------- timers

test('timers: one-shots fire once each, in deadline order, never early, then close', T, async (t) => {
  const loop = newLoop(t)
  const log = recordAll(loop)
  const delays = [60, 20, 0, 40, 90]
  // each start bracketed by clock readings: a deadline is its start plus its delay
  const before = []
  const after = []
  const timers = delays.map((d, i) => {
    before.push(performance.now())
    const h = loop.timer(d, undefined, { userdata: i })
    after.push(performance.now())
    return h
  })
  // (a 0 ms timer may already have fired and closed: ask a later one)
  assert.equal(loop.kind(timers[4]), 'timer')
  assert.equal(new Set(timers).size, timers.length, 'distinct handles')
  await until(() => log.index(timers[4], 'closed') >= 0, 'the 90 ms timer to close')
  await sleep(20)
  const fired = log.filter((e) => e.type === 'timer')
  const pos = fired.map((e) => e.ev.userdata)
  assert.deepEqual([...pos].sort(), [0, 1, 2, 3, 4], 'each timer fired once')
  // the order of two timers is checked whenever the brackets tell their
  // deadlines apart: every pair, unless the machine stalled ~20 ms between starts
  for (let i = 0; i < delays.length; i++) {
    for (let j = 0; j < delays.length; j++) {
      if (after[i] + delays[i] < before[j] + delays[j]) {
        assert.ok(pos.indexOf(i) < pos.indexOf(j), `the ${delays[i]} ms timer fired after the ${delays[j]} ms one`)
      }
    }
  }
  for (const e of fired) {
    const i = e.ev.userdata
    const since = e.t - before[i]
    assert.ok(since >= delays[i] - 1, `the ${delays[i]} ms timer fired after ${since.toFixed(1)} ms`)
  }
  for (const h of timers) {
    assert.deepEqual(
      log.of(h).map((e) => e.type),
      ['timer', 'closed'],
      'a one-shot timer: timer, then closed',
    )
    assert.equal(log.of(h, 'closed')[0].ev.error, undefined)
    // gone: the handle is stale
    assert.throws(() => loop.close(h), { code: 'EBADHANDLE' })
    assert.throws(() => loop.kind(h), { code: 'EBADHANDLE' })
  }
  // timers have no descriptor
  const x = loop.timer(10000)
  assert.throws(() => loop.rawFd(x), { code: 'EWRONGKIND' })
  loop.close(x)
  await until(() => log.index(x, 'closed') >= 0, 'the long timer to close')
  assert.equal(log.of(x, 'timer').length, 0)
  assert.equal(loop.handleCount, 0)
})

test('timers: a repeating timer fires every period (never early) until closed', T, async (t) => {
  const loop = newLoop(t)
  const log = recordAll(loop)
  const t0 = performance.now()
  const r = loop.timer(10, 25)
  await until(() => log.of(r, 'timer').length >= 6, 'six firings')
  assert.equal(log.of(r, 'closed').length, 0)
  log
    .of(r, 'timer')
    .slice(0, 6)
    .forEach((e, n) => {
      const due = 10 + 25 * n
      assert.ok(e.t - t0 >= due - 1, `firing ${n} after ${(e.t - t0).toFixed(1)} ms, due at ${due}`)
    })
  // cancel: 'closed', then nothing more
  loop.close(r)
  await until(() => log.of(r, 'closed').length === 1, 'the repeating timer to close')
  const fired = log.of(r, 'timer').length
  await sleep(100)
  assert.equal(log.of(r, 'timer').length, fired, 'no firing after closed')
  assert.equal(log.of(r, 'closed').length, 1)
  assert.equal(log.of(r, 'closed')[0].ev.error, undefined)
  assert.equal(log.of(r).at(-1).type, 'closed')
  assert.throws(() => loop.timer(10, -1), { name: 'RangeError' })
})

test('timers: a repeat of 0 is a one-shot timer (the core says so, as in C)', T, async (t) => {
  const loop = newLoop(t)
  const log = recordAll(loop)
  const once = loop.timer(1, 0)
  await until(() => log.of(once, 'closed').length === 1, 'the one-shot timer to close')
  assert.deepEqual(log.of(once).map((e) => e.type), ['timer', 'closed'])
})

test('timers: close() cancels pending one-shot and repeating timers', T, async (t) => {
  const loop = newLoop(t)
  const log = recordAll(loop)
  // the cancelled timers are due long after their close, however slow the machine
  const oneShot = loop.timer(60000)
  const repeating = loop.timer(60000, 30)
  const kept = loop.timer(120)
  await sleep(10)
  loop.close(oneShot)
  loop.close(repeating)
  await until(() => log.of(kept, 'closed').length === 1, 'the kept timer to fire and close')
  await sleep(100)
  for (const h of [oneShot, repeating]) {
    assert.deepEqual(
      log.of(h).map((e) => e.type),
      ['closed'],
      'a cancelled timer: closed only, never a timer event',
    )
    assert.equal(log.of(h, 'closed')[0].ev.error, undefined)
    assert.throws(() => loop.close(h), { code: 'EBADHANDLE' })
  }
  assert.deepEqual(
    log.of(kept).map((e) => e.type),
    ['timer', 'closed'],
  )
})

// index.d.ts: "Cancel with close()"; netcore.h: "nc_close cancels a timer
// (then NC_EV_CLOSED)"; the C suite checks that even a due timer closed
// before the next poll never fires. In Node the same holds for a timer that
// came due while JavaScript was busy (the core is polled only between
// JavaScript callbacks), and for one whose 'timer' event is later in the
// batch being delivered when close() is called: the binding drops it.
test(
  'timers: close() cancels a due timer whose event JavaScript has not seen yet',
  T,
  async (t) => {
    const loop = newLoop(t)
    const log = recordAll(loop)
    const busy = (ms) => {
      const end = performance.now() + ms
      while (performance.now() < end);
    }
    const oneShot = loop.timer(0)
    const repeating = loop.timer(0, 1000)
    busy(30) // both come due meanwhile
    loop.close(oneShot)
    loop.close(repeating)
    await until(() => log.of(oneShot, 'closed').length === 1 && log.of(repeating, 'closed').length === 1, 'both timers to close')
    await sleep(50)
    assert.deepEqual(
      log.of(oneShot).map((e) => e.type),
      ['closed'],
      "a one-shot timer closed before its 'timer' event was emitted",
    )
    assert.deepEqual(
      log.of(repeating).map((e) => e.type),
      ['closed'],
      "a repeating timer closed before its first 'timer' event was emitted",
    )
  },
)

// How late a timer fires is the machine's business; early is a bug.
test('timers: 10,000 timers over 0..200 ms all fire once, none early', T, async (t) => {
  const loop = newLoop(t)
  const N = 10000
  const delay = new Map() // handle -> delay
  const fired = new Map() // handle -> count
  let closed = 0
  let early = 0
  let bad = 0
  let t0 = 0
  loop.on('timer', (ev) => {
    const now = performance.now()
    const d = delay.get(ev.handle)
    if (d === undefined) return bad++
    fired.set(ev.handle, (fired.get(ev.handle) || 0) + 1)
    if (now - t0 < d - 1) early++
  })
  loop.on('closed', (ev) => {
    if (!fired.has(ev.handle)) bad++
    closed++
  })
  t0 = performance.now()
  for (let i = 0; i < N; i++) {
    const d = (i * 7919) % 201 // 0..200, shuffled
    delay.set(loop.timer(d), d)
  }
  const created = performance.now() - t0
  await until(() => closed >= N, `${N} timers to fire and close`)
  await sleep(50)
  assert.equal(delay.size, N)
  assert.equal(fired.size, N, `${fired.size} of ${N} timers fired (creating them took ${created.toFixed(0)} ms)`)
  assert.ok([...fired.values()].every((n) => n === 1), 'each fired exactly once')
  assert.equal(closed, N)
  assert.equal(bad, 0)
  assert.equal(early, 0, `${early} timers fired early`)
  assert.equal(loop.handleCount, 0)
})

// ------------------------------------------------------------ idle timeout

test('idle timeout: fires and re-fires on a silent connection, never on a busy one; I/O resets it', T, async (t) => {
  const loop = newLoop(t)
  const srv = server(loop)
  const silentClient = (await bounded(loop.connectAsync('127.0.0.1', srv.port), 'connect')).handle
  const readingClient = (await bounded(loop.connectAsync('127.0.0.1', srv.port), 'connect')).handle
  const writingClient = (await bounded(loop.connectAsync('127.0.0.1', srv.port), 'connect')).handle
  await until(() => srv.conns.length === 3, 'three accepted')
  const silent = srv.of(silentClient).handle
  const reading = srv.of(readingClient).handle // the server reads: its client sends
  const writing = srv.of(writingClient).handle // the server writes
  const idles = new Map([silent, reading, writing].map((h) => [h, []]))
  loop.on('idle', (ev) => idles.get(ev.handle)?.push(performance.now()))
  const closedEvents = []
  loop.on('closed', (ev) => closedEvents.push(ev.handle))

  const IDLE = 200
  const t0 = performance.now()
  for (const h of [silent, reading, writing]) loop.setIdleTimeout(h, IDLE)
  // I/O every ~20 ms; a loaded machine may leave a longer gap, after which
  // an idle event on a busy connection would be right
  let longestGap = 0
  let lastIo = t0
  const busy = setInterval(() => {
    loop.send(readingClient, 'x')
    loop.send(writing, 'y')
    const now = performance.now()
    longestGap = Math.max(longestGap, now - lastIo)
    lastIo = now
  }, 20)
  try {
    await sleep(700)
  } finally {
    clearInterval(busy)
  }
  const elapsed = performance.now() - t0
  longestGap = Math.max(longestGap, performance.now() - lastIo)
  const gapless = longestGap < IDLE
  assert.ok(idles.get(reading).length === 0 || !gapless, 'a connection receiving data is not idle')
  assert.ok(idles.get(writing).length === 0 || !gapless, 'a connection sending data is not idle')
  const n = idles.get(silent).length
  assert.ok(
    n >= 2 && n <= elapsed / IDLE + 1,
    `${n} idle events in ${elapsed.toFixed(0)} ms with a ${IDLE} ms timeout (fires, then re-arms)`,
  )
  idles.get(silent).forEach((at, i) => {
    assert.ok(at - t0 >= (i + 1) * IDLE - 1, `idle event ${i} after ${(at - t0).toFixed(0)} ms: too early`)
  })
  assert.deepEqual(closedEvents, [], 'the application decides whether to close')

  // Data resets it: data 100 ms after an idle event pushes the next one to
  // IDLE ms after the data, not IDLE ms after the previous event.
  await until(() => idles.get(silent).length >= n + 1, 'the next idle event')
  await sleep(100)
  const tw = performance.now()
  loop.send(silentClient, 'z')
  await until(() => idles.get(silent).length >= n + 2, 'an idle event after the data')
  const next = idles.get(silent)[n + 1]
  assert.ok(next - tw >= IDLE - 1, `the idle event came ${(next - tw).toFixed(0)} ms after data: the data did not reset it`)
  assert.equal(srv.text(srv.of(silentClient)), 'z')

  // 0 / null turns it off
  loop.setIdleTimeout(silent, 0)
  const before = idles.get(silent).length
  await sleep(IDLE * 2 + 100)
  assert.equal(idles.get(silent).length, before, 'no idle event once turned off')

  // a client-side connection has one too
  const clientIdles = []
  loop.onHandle(silentClient, 'idle', () => clientIdles.push(performance.now()))
  loop.setIdleTimeout(silentClient, 50)
  await until(() => clientIdles.length >= 2, 'two idle events on the client side')
  loop.setIdleTimeout(silentClient, null)
  assert.throws(() => loop.setIdleTimeout(srv.listener, 100), { code: 'EWRONGKIND' })
  assert.deepEqual(closedEvents, [])
})

// --------------------------------------------------------- connect timeout

test('connect timeout: SYNs unanswered (full backlog) -> connect_failed ETIMEDOUT, no descriptor leaked', T, async (t) => {
  const loop = newLoop(t)
  const log = recordAll(loop)
  const port = await stalledListener(t, '127.0.0.1')
  const before = countFds()
  const started = performance.now()
  const h = loop.connect('127.0.0.1', port, { timeout: 300 })
  await until(() => log.of(h, 'closed').length === 1, 'the timed-out connection to close')
  const elapsed = performance.now() - started
  assert.deepEqual(
    log.of(h).map((e) => e.type),
    ['connect_failed', 'closed'],
  )
  const err = log.of(h, 'connect_failed')[0].ev.error
  assert.ok(err instanceof Error)
  assert.equal(err.code, 'ETIMEDOUT')
  assert.equal(err.errno, codes.ETIMEDOUT)
  assert.equal(err.syscall, 'connect')
  assert.equal(err.address, '127.0.0.1')
  assert.equal(err.port, port)
  assert.ok(elapsed >= 299, `timed out after ${elapsed.toFixed(0)} ms (timeout 300)`)
  await sleep(50)
  assert.equal(log.of(h).length, 2, 'nothing after closed')
  assert.equal(countFds(), before, 'descriptors open before the connect and after it failed')
  assert.throws(() => loop.send(h, 'x'), { code: 'EBADHANDLE' })

  // connectAsync rejects with the same error
  const err2 = await rejection(loop.connectAsync('127.0.0.1', port, { timeout: 200 }), 'connectAsync with a timeout')
  assert.equal(err2.code, 'ETIMEDOUT')
  await sleep(50)
  assert.equal(countFds(), before, 'no descriptor left by the second timeout either')

  // the timeout covers connecting only: an established connection outlives it
  const srv = server(loop)
  const { handle } = await bounded(loop.connectAsync('127.0.0.1', srv.port, { timeout: 300 }), 'connect with a timeout')
  await sleep(500)
  assert.equal(log.of(handle, 'closed').length, 0)
  assert.equal(loop.send(handle, 'alive'), true)
  await until(() => srv.conns.length === 1 && srv.text(srv.conns[0]) === 'alive', "the server to get 'alive'")
  assert.throws(() => loop.connect('127.0.0.1', port, { timeout: 0 }), { code: 'EINVAL', argument: 'timeout' })
})

// ---------------------------------------------------------- Happy Eyeballs

test('Happy Eyeballs: ::1 stalls, 127.0.0.1 wins after the attempt delay, the loser is closed; family; localAddress', T, async (t) => {
  const loop = newLoop(t)
  try {
    loop.close(loop.udpBind('::1', 0))
  } catch (err) {
    return t.skip(`no IPv6 loopback: ${err.code}`)
  }
  const srv = server(loop)
  const port = srv.port
  await stalledListener(t, '::1', port) // the same port, IPv6 only: SYNs unanswered
  loop.setHostAddresses('dual.test', ['::1', '127.0.0.1'])
  const before = countFds()

  const started = performance.now()
  const c = loop.connect('dual.test', port, { attemptDelay: 100 })
  const ev = await nextEvent(loop, 'connected', { handle: c })
  const elapsed = performance.now() - started
  assert.deepEqual(ev.address, { address: '127.0.0.1', port, family: 'IPv4' }, 'the IPv4 attempt wins')
  assert.ok(elapsed >= 99, `connected after ${elapsed.toFixed(0)} ms: before the 100 ms attempt delay`)
  assert.deepEqual(loop.peerAddress(c), { address: '127.0.0.1', port, family: 'IPv4' })
  await until(() => srv.conns.length === 1, 'the accept')
  await sleep(50)
  // the client socket and the accepted one; the losing IPv6 attempt is gone
  assert.equal(countFds(), before + 2, 'descriptors: +2 (client, accepted), the losing attempt closed')
  loop.send(c, 'hi')
  await until(() => srv.text(srv.conns[0]) === 'hi', "the server to get 'hi'")

  // the default attempt delay is 250 ms
  const t1 = performance.now()
  const d = loop.connect('dual.test', port)
  await nextEvent(loop, 'connected', { handle: d })
  const elapsedDefault = performance.now() - t1
  assert.ok(elapsedDefault >= 249, `connected after ${elapsedDefault.toFixed(0)} ms with the default 250 ms delay`)
  await until(() => srv.conns.length === 2, 'the second accept')

  // IPv6 only: only the stalled address is tried
  const err6 = await rejection(loop.connectAsync('dual.test', port, { family: 6, timeout: 300 }), 'IPv6-only connect')
  assert.equal(err6.code, 'ETIMEDOUT')
  await sleep(50)
  assert.equal(srv.conns.length, 2, 'no IPv4 attempt with family 6')
  assert.equal(countFds(), before + 4)

  // IPv4 only, bound to a local address (any of 127/8 is loopback on Linux)
  const { handle: c4, address } = await bounded(
    loop.connectAsync('dual.test', port, { family: 'IPv4', localAddress: '127.0.0.2' }),
    'the IPv4-only connect',
  )
  assert.equal(address.family, 'IPv4')
  assert.equal(loop.localAddress(c4).address, '127.0.0.2')
  await until(() => srv.conns.length === 3, 'the third accept')
  assert.equal(srv.conns[2].peer.address, '127.0.0.2', 'the server sees the bound address')
  // and a local port (one that was free a moment ago)
  const freePort = async () => {
    const probe = loop.listen('127.0.0.1', 0)
    const probeClosed = nextEvent(loop, 'closed', { handle: probe })
    const free = loop.localAddress(probe).port
    loop.close(probe)
    await probeClosed
    return free
  }
  const localPort = await freePort()
  const { handle: c5 } = await bounded(
    loop.connectAsync('dual.test', port, { family: 4, localAddress: '127.0.0.1', localPort }),
    'the connect from a local port',
  )
  assert.deepEqual(loop.localAddress(c5), { address: '127.0.0.1', port: localPort, family: 'IPv4' })
  // a local port alone binds on the any-address of the peer's family
  const alone = await freePort()
  const { handle: c6 } = await bounded(loop.connectAsync('127.0.0.1', port, { localPort: alone }), 'the connect from a port alone')
  assert.deepEqual(loop.localAddress(c6), { address: '127.0.0.1', port: alone, family: 'IPv4' })
  assert.throws(() => loop.connect('127.0.0.1', port, { localPort: 65536 }), { code: 'EINVAL', argument: 'local_port' })

  // an IPv4 local address cannot go with IPv6 only
  assert.throws(() => loop.connect('dual.test', port, { family: 6, localAddress: '127.0.0.1' }), { code: 'EINVAL' })
  assert.throws(() => loop.connect('dual.test', port, { family: 5 }), { code: 'EINVAL', argument: 'family' })
  // removing the entry: the name no longer resolves (.test is reserved)
  loop.setHostAddresses('dual.test', [])
  const gone = await rejection(loop.connectAsync('dual.test', port), 'the connect to a removed name', 15000)
  assert.equal(gone.code, 'EDNS')
})

// ----------------------------------------------------------- auto-reconnect

test('auto-reconnect: the server goes away and comes back on the same port; the client reconnects by itself', T, async (t) => {
  const loop = newLoop(t)
  const log = recordAll(loop)
  const first = server(loop)
  const port = first.port
  const c = loop.connect('127.0.0.1', port, { reconnect: [50, 120] })
  const clientData = []
  loop.onHandle(c, 'data', (ev) => clientData.push(Buffer.from(ev.data)))
  await until(() => log.of(c, 'connected').length === 1 && first.conns.length === 1, 'the first connection')
  loop.send(c, 'one')
  await until(() => first.text(first.conns[0]) === 'one', "the server to get 'one'")

  // the server goes away
  const tLoss = performance.now()
  loop.closeReset(first.conns[0].handle)
  loop.close(first.listener)
  await until(() => log.of(c, 'reconnecting').length >= 4, 'four reconnect attempts')
  assert.equal(log.of(c, 'closed').length, 0)
  assert.equal(log.of(c, 'connect_failed').length, 0)
  const r = log.of(c, 'reconnecting').slice(0, 4)
  assert.deepEqual(
    r.map((e) => e.ev.value),
    [1, 2, 3, 4],
    'attempt numbers',
  )
  assert.ok(r[0].ev.error === undefined || r[0].ev.error.code === 'ECONNRESET', `the loss: ${r[0].ev.error?.code}`)
  for (const e of r.slice(1)) assert.equal(e.ev.error.code, 'ECONNREFUSED')
  // the schedule: 50, then 120 repeating. Each delay runs from the loss or
  // the failed attempt before it, so attempt i + 1 fails no earlier than the
  // sum of the delays before it after the loss, however late earlier events
  // were delivered.
  for (let i = 1; i < 4; i++) {
    const after = r[i].t - tLoss
    assert.ok(after >= 50 + 120 * (i - 1) - 1, `attempt ${i + 1} failed ${after.toFixed(0)} ms after the loss`)
  }
  // sent while reconnecting: queued for the next connection (header: nc_connect_opts.reconnect_ms)
  assert.equal(loop.send(c, 'queued'), true)

  // the server comes back on the same port
  const second = loop.listen('127.0.0.1', port)
  const conns2 = []
  loop.onHandle(second, 'accepted', (ev) => {
    const k = { handle: ev.handle, received: [] }
    conns2.push(k)
    loop.onHandle(ev.handle, 'data', (d) => k.received.push(Buffer.from(d.data)))
  })
  await until(() => log.of(c, 'connected').length === 2, 'the reconnection', 5000)
  assert.equal(log.of(c, 'closed').length, 0)
  assert.equal(log.of(c, 'connected')[1].ev.address.port, port)
  await until(() => conns2.length === 1, 'the new accept')
  const text2 = () => Buffer.concat(conns2[0].received).toString()
  await until(() => text2() === 'queued', 'the queued bytes on the new connection')
  // traffic resumes, both ways, on the same handle
  loop.send(c, 'again')
  await until(() => text2() === 'queuedagain', "the server to get 'again'")
  loop.send(conns2[0].handle, 'back')
  await until(() => Buffer.concat(clientData).toString() === 'back', "the client to get 'back'")

  // a second loss (the peer closes): attempts count from 1 again
  const n = log.of(c, 'reconnecting').length
  loop.close(conns2[0].handle)
  await until(() => log.of(c, 'reconnecting').length === n + 1, 'the next reconnecting event')
  assert.equal(log.of(c, 'reconnecting')[n].ev.value, 1, 'the attempt count restarts after a success')
  await until(() => log.of(c, 'connected').length === 3 && conns2.length === 2, 'the third connection')
  loop.send(c, 'third')
  await until(() => Buffer.concat(conns2[1].received).toString() === 'third', "the server to get 'third'")
  loop.close(c)
  await until(() => log.of(c, 'closed').length === 1, 'the client to close')
  assert.equal(log.of(c, 'closed')[0].ev.error, undefined)
})

test('auto-reconnect: close() during the backoff stops it: exactly one closed, no further attempt', T, async (t) => {
  const loop = newLoop(t)
  const log = recordAll(loop)
  const srv = server(loop)
  const c = loop.connect('127.0.0.1', srv.port, { reconnect: [400] })
  // closed from the listener, in the same batch as the event: the backoff cannot run out first
  loop.onHandle(c, 'reconnecting', () => loop.close(c))
  await until(() => log.of(c, 'connected').length === 1 && srv.conns.length === 1, 'the connection')
  loop.closeReset(srv.conns[0].handle)
  await until(() => log.of(c, 'closed').length === 1, 'the client to close')
  await sleep(700) // well past the 400 ms backoff
  assert.deepEqual(
    log.of(c).map((e) => e.type),
    ['connected', 'reconnecting', 'closed'],
  )
  assert.equal(srv.conns.length, 1, 'a closed handle reconnected')
  assert.throws(() => loop.send(c, 'x'), { code: 'EBADHANDLE' })
  assert.throws(() => loop.close(c), { code: 'EBADHANDLE' })

  // without auto-reconnect, a lost connection just closes
  const plain = loop.connect('127.0.0.1', srv.port)
  await until(() => srv.conns.length === 2, 'the second accept')
  loop.closeReset(srv.conns[1].handle)
  await until(() => log.of(plain, 'closed').length === 1, 'the plain client to close')
  assert.equal(log.of(plain, 'reconnecting').length, 0)
  assert.throws(() => loop.connect('127.0.0.1', srv.port, { reconnect: new Array(9).fill(10) }), { code: 'EINVAL', argument: 'reconnect' })
})

// ---------------------------------------------------------- connection cap

test('max connections: with a cap of 10 the 11th and 12th clients wait, and are accepted as others close', T, async (t) => {
  const loop = newLoop(t)
  const log = recordAll(loop)
  const srv = server(loop, { maxConnections: 10 })
  // the server closes a connection once its client did
  loop.onHandle(srv.listener, 'accepted', (ev) => loop.onHandle(ev.handle, 'eof', () => loop.close(ev.handle)))
  const clients = []
  const localPort = new Map() // client handle -> its local port
  for (let i = 0; i < 12; i++) {
    const h = loop.connect('127.0.0.1', srv.port)
    loop.onHandle(h, 'connected', () => localPort.set(h, loop.localAddress(h).port))
    loop.onHandle(h, 'eof', () => loop.close(h))
    clients.push(h)
  }
  const conn = (h) => srv.conns.find((c) => c.peer.port === localPort.get(h))
  // all twelve handshakes complete in the kernel backlog; ten are accepted
  await until(() => localPort.size === 12, 'twelve connected clients')
  await until(() => srv.conns.length === 10, 'ten accepted')
  await sleep(200)
  assert.equal(srv.conns.length, 10, `${srv.conns.length} accepted with a cap of 10`)
  const waiting = clients.filter((h) => !conn(h))
  assert.equal(waiting.length, 2)
  // bytes sent by a waiting client are there once it is accepted
  for (const h of waiting) loop.send(h, `from ${h}`)

  // the server closes one: the 11th comes in
  const first = srv.conns[0]
  loop.close(first.handle)
  await until(() => srv.conns.length === 11, 'the 11th accepted')
  assert.ok(log.index(first.handle, 'closed') < log.findIndex((e) => e.type === 'accepted' && e.handle === srv.conns[10].handle))
  await sleep(100)
  assert.equal(srv.conns.length, 11, 'one closed: exactly one more accepted')

  // a client closes one: the 12th comes in
  const second = srv.conns[1]
  const secondClient = clients.find((h) => conn(h) === second)
  loop.close(secondClient)
  await until(() => srv.conns.length === 12, 'the 12th accepted')
  for (const h of waiting) {
    const k = conn(h)
    await until(() => srv.text(k) === `from ${h}`, 'the bytes of a client that waited')
  }

  // lifting the cap: everything waiting comes in
  loop.setMaxConnections(srv.listener, 0)
  const more = [0, 1, 2].map(() => loop.connect('127.0.0.1', srv.port))
  await until(() => srv.conns.length === 15, 'three more accepted without a cap')
  assert.equal(more.length, 3)
  assert.throws(() => loop.setMaxConnections(waiting[0], 5), { code: 'EWRONGKIND' })
})

// ---------------------------------------------------- graceful shutdown

/**
 * A listener and one connection of ours to it, paused (it reads nothing for
 * now), with `bytes` queued toward it by the server side behind a small
 * kernel send buffer, so the data stays queued in netcore. (Shrinking
 * SO_RCVBUF on an established connection would stall TCP itself, so the
 * client keeps its default buffers.) Returns { listener, port, client, toClient }.
 */
async function serverWithQueuedClient(loop, bytes) {
  const listener = loop.listen('127.0.0.1', 0)
  const port = loop.localAddress(listener).port
  let toClient
  loop.onHandle(listener, 'accepted', (ev) => {
    toClient = ev.handle
  })
  const client = (await bounded(loop.connectAsync('127.0.0.1', port), 'connect')).handle
  await until(() => toClient !== undefined, 'the accept')
  loop.pause(client)
  loop.setOption(toClient, 'high_water', 16 * 1024 * 1024)
  loop.setOption(toClient, 'sndbuf', 65536)
  assert.equal(loop.send(toClient, bytes), true)
  await sleep(20)
  return { listener, port, client, toClient }
}

test('graceful server shutdown: a reading client gets everything queued, closes cleanly, no wait for the drain', T, async (t) => {
  const loop = newLoop(t)
  const log = recordAll(loop)
  const BIG = 1024 * 1024
  const big = randomBytes(BIG)
  const { listener, port, client: reader, toClient: toReader } = await serverWithQueuedClient(loop, big)
  const received = []
  let receivedBytes = 0
  loop.onHandle(reader, 'data', (ev) => {
    received.push(Buffer.from(ev.data))
    receivedBytes += ev.data.length
  })
  loop.onHandle(reader, 'eof', () => loop.close(reader))

  // an hour: the drain plays no part, the test does not race it
  const DRAIN = 3600 * 1000
  loop.shutdownServer(listener, DRAIN)
  assert.throws(() => loop.shutdownServer(listener, DRAIN), { code: 'ECLOSED' })
  // accepting stopped: a new client is refused
  const refused = await rejection(loop.connectAsync('127.0.0.1', port), 'a connect after shutdownServer')
  assert.equal(refused.code, 'ECONNREFUSED')
  // the reader reads now
  loop.resume(reader)
  await until(() => log.of(listener, 'closed').length === 1, 'the listener to close')
  await until(() => log.of(reader, 'closed').length === 1, 'the reader to close')
  assert.equal(receivedBytes, BIG, `the reading client got ${receivedBytes} of ${BIG} bytes`)
  assert.equal(sha(Buffer.concat(received)), sha(big), 'the bytes are the ones sent')
  assert.equal(log.of(reader, 'eof').length, 1, 'then a clean end')
  assert.equal(log.of(toReader, 'closed').length, 1)
  assert.equal(log.of(toReader, 'closed')[0].ev.error, undefined, 'the drained connection closes cleanly')
  // the listener: shutdown_complete then closed, after the connection closed
  assert.deepEqual(
    log.of(listener).map((e) => e.type),
    ['shutdown_complete', 'closed'],
  )
  assert.equal(log.of(listener, 'closed')[0].ev.error, undefined)
  assert.ok(log.index(listener, 'shutdown_complete') > log.index(toReader, 'closed'))
  await sleep(20)
  assert.equal(log.of(listener).length, 2, 'nothing after closed')
  assert.throws(() => loop.shutdownServer(listener, 10), { code: 'EBADHANDLE' })
})

test('graceful server shutdown: a stuck client is reset when the drain runs out, not before', T, async (t) => {
  const loop = newLoop(t)
  const log = recordAll(loop)
  const { listener, client: stuck, toClient: toStuck } = await serverWithQueuedClient(loop, randomBytes(1024 * 1024))
  const DRAIN = 300
  const t0 = performance.now()
  loop.shutdownServer(listener, DRAIN)
  await until(() => log.of(listener, 'closed').length === 1, 'the listener to close')
  const elapsed = performance.now() - t0
  assert.equal(log.of(toStuck, 'closed').length, 1)
  const stuckErr = log.of(toStuck, 'closed')[0].ev.error
  assert.equal(stuckErr?.code, 'ETIMEDOUT', 'the stuck connection is force-closed at the drain timeout')
  assert.ok(elapsed >= DRAIN - 1, `the stuck connection was reset after ${elapsed.toFixed(0)} ms, drain ${DRAIN} ms`)
  assert.deepEqual(
    log.of(listener).map((e) => e.type),
    ['shutdown_complete', 'closed'],
  )
  assert.ok(log.index(listener, 'shutdown_complete') > log.index(toStuck, 'closed'))
  // the stuck client notices the reset even while paused (its unread bytes are dropped by the kernel)
  await until(() => log.of(stuck, 'closed').length === 1, 'the stuck client to close')
  assert.equal(log.of(stuck, 'closed')[0].ev.error?.code, 'ECONNRESET')
})

test('graceful server shutdown with nothing open completes at once; the port is free again', T, async (t) => {
  const loop = newLoop(t)
  const log = recordAll(loop)
  const listener = loop.listen('127.0.0.1', 0)
  const port = loop.localAddress(listener).port
  const { handle } = await bounded(loop.connectAsync('127.0.0.1', port), 'connect')
  assert.throws(() => loop.shutdownServer(handle, 10), { code: 'EWRONGKIND' })
  // the drain has no default, as in C and Python: it must be given
  assert.throws(() => loop.shutdownServer(listener), { code: 'ERR_INVALID_ARG_TYPE' })
  await until(() => log.filter((e) => e.type === 'accepted').length === 1, 'the accept')
  const k = log.find((e) => e.type === 'accepted').handle
  loop.onHandle(k, 'eof', () => loop.close(k))
  loop.close(handle)
  await until(() => log.of(k, 'closed').length === 1, 'the accepted connection to close')
  const t0 = performance.now()
  loop.shutdownServer(listener, 60000)
  await until(() => log.of(listener, 'closed').length === 1, 'the listener to close')
  assert.ok(performance.now() - t0 < 60000, 'the shutdown waited for the drain')
  assert.deepEqual(
    log.of(listener).map((e) => e.type),
    ['shutdown_complete', 'closed'],
  )
  const again = loop.listen('127.0.0.1', port)
  assert.equal(loop.localAddress(again).port, port)
})

// netcore.h (nc_pause): "A reset, or the peer's close once all its data was
// delivered, is still reported"; index.d.ts (pause): "A peer close is still
// noticed while paused." A reset counts even with unread bytes in the kernel.
test(
  'pause: a peer reset is reported while paused, even with unread bytes in the kernel',
  T,
  async (t) => {
    const loop = newLoop(t)
    const log = recordAll(loop)
    const listener = loop.listen('127.0.0.1', 0)
    const accepted = nextEvent(loop, 'accepted')
    const client = (await bounded(loop.connectAsync('127.0.0.1', loop.localAddress(listener).port), 'connect')).handle
    const k = (await accepted).handle
    loop.pause(client)
    loop.send(k, 'x') // one byte the paused client does not read
    await sleep(100)
    loop.closeReset(k)
    await until(() => log.of(client, 'closed').length === 1, 'the paused client to report the reset', 3000)
    assert.equal(log.of(client, 'closed')[0].ev.error?.code, 'ECONNRESET')
  },
)

// ------------------------------------------------------------ send tokens

/**
 * A loop's connection `k` from its own `client`, which reads nothing until resume(client): its kernel
 * buffers are bounded (a fixed SO_RCVBUF, set before any data, turns autotuning off; it grows the
 * buffer, so TCP does not stall), so a big send stays queued in netcore. `received()`: what the client got.
 */
async function stalledConnection(t) {
  const loop = newLoop(t)
  const log = recordAll(loop)
  const listener = loop.listen('127.0.0.1', 0)
  const accepted = nextEvent(loop, 'accepted')
  const client = (await bounded(loop.connectAsync('127.0.0.1', loop.localAddress(listener).port), 'connect')).handle
  const k = (await accepted).handle
  loop.setOption(client, 'rcvbuf', 256 * 1024)
  loop.pause(client)
  loop.setOption(k, 'high_water', 64 * 1024 * 1024)
  loop.setOption(k, 'sndbuf', 65536)
  let got = 0
  loop.onHandle(client, 'data', (ev) => (got += ev.data.length))
  return { loop, log, listener, client, k, received: () => got }
}

test("send tokens: 'sent' in send order, and only once the bytes left for the kernel", T, async (t) => {
  const { loop, log, listener, client, k, received } = await stalledConnection(t)
  let readAtToken2 = -1
  loop.onHandle(k, 'sent', (ev) => {
    if (ev.value === 2) readAtToken2 = received()
  })
  const BIG = 8 * 1024 * 1024
  const big = Buffer.alloc(BIG, 'b')
  assert.equal(loop.send(k, 'small', { token: 1 }), true)
  assert.equal(loop.sendv(k, [big.subarray(0, BIG / 2), big.subarray(BIG / 2)], { token: 2 }), true)
  assert.equal(loop.send(k, Buffer.from('tail'), { token: 3 }), true)
  await until(() => log.of(k, 'sent').length >= 1, "the first 'sent'")
  await sleep(300)
  assert.deepEqual(
    log.of(k, 'sent').map((e) => e.ev.value),
    [1],
    'tokens reported while the peer reads nothing (8 MiB queued)',
  )
  // the peer reads everything
  loop.resume(client)
  await until(() => log.of(k, 'sent').length === 3, "all three 'sent' events", 20000)
  await until(() => received() === 5 + BIG + 4, 'everything read')
  assert.deepEqual(
    log.of(k, 'sent').map((e) => e.ev.value),
    [1, 2, 3],
    'in send order',
  )
  // when token 2 was reported, all but what kernel buffers hold had been read
  assert.ok(readAtToken2 + 2 * 1024 * 1024 >= 5 + BIG, `token 2 reported when the peer had read only ${readAtToken2} of ${5 + BIG} bytes`)
  // a token on a send that goes out at once
  loop.send(k, 'more', { token: 42 })
  await until(() => log.of(k, 'sent').length === 4, "the 'sent' of a small send")
  assert.equal(log.of(k, 'sent')[3].ev.value, 42)
  // tokens are for TCP connections only
  const u = loop.udpBind('127.0.0.1', 0)
  loop.udpConnect(u, '127.0.0.1', loop.localAddress(u).port)
  assert.throws(() => loop.send(u, 'x', { token: 9 }), { code: 'EWRONGKIND' })
  assert.throws(() => loop.send(listener, 'x', { token: 9 }), { code: 'EWRONGKIND' })
})

test("notifyWhenSent(): 'sent' with the token once the kernel took every byte sent before it", T, async (t) => {
  const { loop, log, listener, client, k, received } = await stalledConnection(t)
  const sent = () => log.of(k, 'sent').map((e) => e.ev.value)
  assert.throws(() => loop.notifyWhenSent(listener, 1), { code: 'EWRONGKIND' })
  assert.throws(() => loop.notifyWhenSent(k, -1), { code: 'ERR_OUT_OF_RANGE' })
  loop.notifyWhenSent(k, 1)
  await until(() => sent().length === 1, 'the notice with nothing queued')
  let queuedAtNotice = -1
  loop.onHandle(k, 'sent', (ev) => {
    if (ev.value === 2) queuedAtNotice = loop.queuedBytes(k)
  })
  const BIG = 8 * 1024 * 1024
  assert.equal(loop.send(k, Buffer.alloc(BIG, 'n')), true)
  loop.notifyWhenSent(k, 2)
  await sleep(300)
  assert.deepEqual(sent(), [1], 'the notice came while the peer reads nothing (8 MiB queued)')
  loop.resume(client)
  await until(() => sent().length === 2, 'the notice', 20000)
  assert.deepEqual(sent(), [1, 2])
  assert.equal(queuedAtNotice, 0)
  await until(() => received() === BIG, 'everything read')
})

// --------------------------------------------------- raw options, rawFd, linger

test('raw options: SO_KEEPALIVE round trip on every socket kind, unknown options give the errno; rawFd is the socket', T, async (t) => {
  const loop = newLoop(t)
  const srv = server(loop)
  const { handle: c } = await bounded(loop.connectAsync('127.0.0.1', srv.port), 'connect')
  const u = loop.udpBind('127.0.0.1', 0)
  const int = (buf) => buf.readInt32LE(0)
  for (const [h, type] of [
    [c, SOCK_STREAM],
    [srv.listener, SOCK_STREAM],
    [u, SOCK_DGRAM],
  ]) {
    loop.setRawOption(h, SOL_SOCKET, SO_KEEPALIVE, 1)
    const v = loop.getRawOption(h, SOL_SOCKET, SO_KEEPALIVE)
    assert.equal(v.length, 4)
    assert.equal(int(v), 1)
    loop.setRawOption(h, SOL_SOCKET, SO_KEEPALIVE, Buffer.from([0, 0, 0, 0]))
    // more room than needed: the Buffer has what the OS wrote
    const wide = loop.getRawOption(h, SOL_SOCKET, SO_KEEPALIVE, 16)
    assert.equal(wide.length, 4)
    assert.equal(int(wide), 0)
    // the core's one limit on the size
    const max = vocabulary.defaults.maxRawOptionSize
    assert.equal(loop.getRawOption(h, SOL_SOCKET, SO_KEEPALIVE, max).length, 4)
    for (const size of [0, max + 1]) {
      assert.throws(() => loop.getRawOption(h, SOL_SOCKET, SO_KEEPALIVE, size), { code: 'EINVAL', argument: 'size' })
    }
    // unknown options: the OS's errno
    for (const call of [() => loop.setRawOption(h, SOL_SOCKET, 9999, 1), () => loop.getRawOption(h, SOL_SOCKET, 9999)]) {
      assert.throws(call, (err) => {
        assert.equal(err.code, 'ENOPROTOOPT')
        assert.equal(err.errno, -ENOPROTOOPT)
        assert.match(err.syscall, /sockopt/)
        return true
      })
    }
    assert.equal(int(loop.getRawOption(h, SOL_SOCKET, SO_TYPE)), type)
    // the descriptor is the socket
    const fd = loop.rawFd(h)
    assert.ok(Number.isInteger(fd) && fd > 2)
    assert.ok(fs.fstatSync(fd).isSocket(), 'fstat(fd) is a socket')
    assert.match(fs.readlinkSync(`/proc/self/fd/${fd}`), /^socket:\[\d+\]$/)
  }
  assert.notEqual(loop.rawFd(c), loop.rawFd(srv.listener))
  // a TCP-level option: TCP_NODELAY is on by default
  assert.notEqual(int(loop.getRawOption(c, IPPROTO_TCP, TCP_NODELAY)), 0)
  loop.setRawOption(c, IPPROTO_TCP, TCP_NODELAY, 0)
  assert.equal(loop.getOption(c, 'nodelay'), false, 'the raw and named options agree')
  // the connection still works
  await until(() => srv.conns.length === 1, 'the accept')
  loop.send(c, 'ok')
  await until(() => srv.text(srv.conns[0]) === 'ok', "the server to get 'ok'")
  // a closed handle has no descriptor
  loop.close(u)
  await nextEvent(loop, 'closed', { handle: u })
  assert.throws(() => loop.rawFd(u), { code: 'EBADHANDLE' })
})

test('linger: -1 (off, default), 0, 1..32767 s, round trip and as SO_LINGER; out of range is refused', T, async (t) => {
  const loop = newLoop(t)
  const srv = server(loop)
  const { handle: c } = await bounded(loop.connectAsync('127.0.0.1', srv.port), 'connect')
  for (const h of [c, srv.listener]) {
    assert.equal(loop.getOption(h, 'linger'), -1)
    for (const v of [3, 0, 1, 32767, -1]) {
      loop.setOption(h, 'linger', v)
      assert.equal(loop.getOption(h, 'linger'), v)
      const raw = loop.getRawOption(h, SOL_SOCKET, SO_LINGER, 8) // struct linger { int l_onoff; int l_linger; }
      assert.equal(raw.readInt32LE(0) !== 0, v >= 0, `SO_LINGER l_onoff for ${v}`)
      if (v >= 0) assert.equal(raw.readInt32LE(4), v, `SO_LINGER l_linger for ${v}`)
    }
    loop.setOption(h, 'linger', 3)
    for (const bad of [-2, 32768, -100, 1.5, Number.MAX_SAFE_INTEGER]) {
      assert.throws(() => loop.setOption(h, 'linger', bad), { code: 'EINVAL', argument: 'linger' }, `linger ${bad}`)
    }
    assert.throws(() => loop.setOption(h, 'linger', '3'), { name: 'TypeError' })
    assert.equal(loop.getOption(h, 'linger'), 3, 'unchanged by refused values')
  }
  const timer = loop.timer(100000)
  assert.throws(() => loop.setOption(timer, 'linger', 1), { code: 'EWRONGKIND' })
  assert.throws(() => loop.getOption(timer, 'linger'), { code: 'EWRONGKIND' })
  loop.close(timer)
})

// ------------------------------------------------------------ SO_REUSEPORT

test('SO_REUSEPORT: two loops listen on one port and both accept', T, async (t) => {
  const a = newLoop(t)
  const b = newLoop(t)
  const clientLoop = newLoop(t)
  const la = a.listen('127.0.0.1', 0, { reusePort: true })
  const port = a.localAddress(la).port
  const lb = b.listen('127.0.0.1', port, { reusePort: true })
  assert.equal(b.localAddress(lb).port, port)
  // without the option the port is taken
  assert.throws(() => clientLoop.listen('127.0.0.1', port), { code: 'EADDRINUSE' })
  let acceptedA = 0
  let acceptedB = 0
  a.onHandle(la, 'accepted', () => acceptedA++)
  b.onHandle(lb, 'accepted', () => acceptedB++)
  let clients = 0
  while ((acceptedA === 0 || acceptedB === 0) && clients < 64) {
    await bounded(clientLoop.connectAsync('127.0.0.1', port), 'a client connect')
    clients++
    await until(() => acceptedA + acceptedB === clients, 'one of the loops to accept')
  }
  assert.ok(acceptedA > 0 && acceptedB > 0, `after ${clients} clients: loop A accepted ${acceptedA}, loop B ${acceptedB}`)
  assert.equal(acceptedA + acceptedB, clients)
})

// ---------------------------------------------------------- UDP multicast

test('UDP multicast on loopback: join on 127.0.0.1, receive, reply, leave', T, async (t) => {
  const loop = newLoop(t)
  // a group of our own (other processes may run this test at once)
  const group = `239.77.${(process.pid >> 8) & 0xff}.${(process.pid & 0xff) | 1}`
  const rx = loop.udpBind('0.0.0.0', 0)
  const rport = loop.localAddress(rx).port
  // only the groups this socket joined, not every group the host is in
  loop.setRawOption(rx, IPPROTO_IP, IP_MULTICAST_ALL, 0)
  loop.addMembership(rx, group, '127.0.0.1')
  const tx = loop.udpBind('127.0.0.1', 0)
  const tport = loop.localAddress(tx).port
  loop.setOption(tx, 'multicast_loop', true)
  assert.equal(loop.getOption(tx, 'multicast_loop'), true)
  loop.setOption(tx, 'multicast_ttl', 3)
  assert.equal(loop.getOption(tx, 'multicast_ttl'), 3)
  assert.throws(() => loop.setOption(tx, 'multicast_ttl', 256), { code: 'EINVAL', argument: 'multicast_ttl' })
  // IP_MULTICAST_IF = 127.0.0.1 (a struct in_addr, network order), raw
  loop.setRawOption(tx, IPPROTO_IP, IP_MULTICAST_IF, Buffer.from([127, 0, 0, 1]))
  assert.deepEqual([...loop.getRawOption(tx, IPPROTO_IP, IP_MULTICAST_IF)], [127, 0, 0, 1])

  const rxGot = []
  const txGot = []
  loop.onHandle(rx, 'datagram', (ev) => rxGot.push({ data: Buffer.from(ev.data), address: ev.address }))
  loop.onHandle(tx, 'datagram', (ev) => txGot.push({ data: Buffer.from(ev.data), address: ev.address }))
  assert.equal(loop.sendTo(tx, 'to the group', group, rport), true)
  await until(() => rxGot.length === 1, 'the group datagram')
  assert.equal(rxGot[0].data.toString(), 'to the group')
  assert.deepEqual(rxGot[0].address, { address: '127.0.0.1', port: tport, family: 'IPv4' })
  // reply to the sender's address
  loop.sendTo(rx, 'reply', rxGot[0].address.address, rxGot[0].address.port)
  await until(() => txGot.length === 1, 'the reply')
  assert.equal(txGot[0].data.toString(), 'reply')
  assert.equal(txGot[0].address.port, rport)

  // leave: group datagrams stop, unicast still arrives
  loop.dropMembership(rx, group, '127.0.0.1')
  loop.sendTo(tx, 'gone', group, rport)
  await sleep(300)
  assert.equal(rxGot.length, 1, 'a group datagram arrived after leaving the group')
  loop.sendTo(tx, 'unicast', '127.0.0.1', rport)
  await until(() => rxGot.length === 2, 'the unicast datagram')
  assert.equal(rxGot[1].data.toString(), 'unicast')
  // leaving again is the OS's error; a unicast address is no group
  assert.throws(
    () => loop.dropMembership(rx, group, '127.0.0.1'),
    (err) => typeof err.code === 'string' && err.errno < 0,
  )
  assert.throws(() => loop.addMembership(rx, '127.0.0.1', '127.0.0.1'), { code: 'EINVAL' })
  assert.throws(() => loop.addMembership(rx, 'not an ip', '127.0.0.1'), { code: 'EINVAL' })
  // the default interface form joins too
  loop.addMembership(rx, group)
  loop.dropMembership(rx, group)
})
