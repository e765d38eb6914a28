'use strict'
// How the loop is driven: from Node's own event loop (a libuv poll handle on
// the core's embed fd and a libuv timer for its deadlines), each batch
// delivered inside a callback scope. These tests pin what that promises.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { Worker } = require('node:worker_threads')
const { spawn } = require('node:child_process')
const { newLoop, echoServer, until } = require('../testlib/helpers')

const ROOT = path.resolve(__dirname, '..')

/** Runs `code` in a child Node; resolves { exitCode, signal, stdout, stderr } (killed after a 30 s hang guard). */
function runChild(code) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', code], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const kill = setTimeout(() => child.kill('SIGKILL'), 30000)
    child.on('exit', (exitCode, signal) => {
      clearTimeout(kill)
      resolve({ exitCode, signal, stdout, stderr })
    })
  })
}

test('promise continuations and nextTick callbacks queued by a batch run before the next batch', async (t) => {
  const loop = newLoop(t)
  const timer = loop.timer(1, 1)
  const order = []
  let fired = 0
  let violations = 0
  // Waits on the events themselves: no Node timer of the test's own runs in
  // between.
  await new Promise((resolve) => {
    loop.on('timer', async (ev) => {
      if (ev.handle !== timer) return
      const n = ++fired
      // Everything the previous event queued must have run by now.
      if (order.length !== (n - 1) * 3) violations++
      order.push(`timer ${n}`)
      process.nextTick(() => order.push(`tick ${n}`))
      if (n === 30) resolve()
      await null
      order.push(`await ${n}`)
    })
  })
  loop.close(timer)
  assert.equal(violations, 0, order.join(', '))
  assert.deepEqual(order.slice(0, 6), ['timer 1', 'tick 1', 'await 1', 'timer 2', 'tick 2', 'await 2'])
})

test('a timer set from inside an event listener fires, and one set far out does not hold back I/O', async (t) => {
  const loop = newLoop(t)
  const far = loop.timer(60000)
  const server = echoServer(loop)
  const { handle } = await loop.connectAsync('127.0.0.1', server.port)
  const got = []
  loop.onHandle(handle, 'data', () => {
    got.push('data')
    const inner = loop.timer(5)
    loop.onHandle(inner, 'timer', () => got.push('timer'))
  })
  loop.send(handle, 'x')
  await until(() => got.length === 2, "the echo and the timer set in its 'data' listener")
  assert.deepEqual(got, ['data', 'timer'])
  loop.close(far)
})

for (const [FRAME, COUNT] of [
  [100, 3000], // 300,000 bytes
  [5000, 400], // 2,000,000 bytes: pooled, in new pools made in mid-batch once a batch fills one
  [20000, 60], // 1,200,000 bytes: still pooled (under 32 KiB), several per pool
  [40000, 20], // Buffers of their own
]) {
  test(`data Buffers keep their bytes after later batches (${FRAME}-byte frames; pool regions are never reused)`, async (t) => {
    const loop = newLoop(t)
    const listener = loop.listen('127.0.0.1', 0)
    const kept = []
    loop.onHandle(listener, 'accepted', (ev) => {
      loop.setFraming(ev.handle, { mode: 'fixed', size: FRAME })
      loop.onHandle(ev.handle, 'data', (d) => kept.push(d.data))
    })
    const { handle } = await loop.connectAsync('127.0.0.1', loop.localAddress(listener).port)
    const frame = (i) => Buffer.alloc(FRAME, `${i % 10}${String.fromCharCode(65 + (i % 26))}${i}|`)
    const step = Math.max(1, Math.floor(COUNT / 40))
    for (let i = 0; i < COUNT; i += step) {
      // Several sends per batch, batches spread over time.
      for (let j = i; j < Math.min(i + step, COUNT); j++) assert.equal(loop.send(handle, frame(j)), true)
      await new Promise((resolve) => setImmediate(resolve))
    }
    await until(() => kept.length === COUNT, `${COUNT} frames`)
    const bad = kept.findIndex((d, i) => !d.equals(frame(i)))
    assert.equal(bad, -1, `frame ${bad} changed after it was delivered`)
  })
}

test('a batch larger than a pool is delivered whole, in pools made in mid-batch, every byte intact', async (t) => {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0)
  const CONNS = 4
  const FRAME = 1000
  const FRAMES = 48 // 48,000 bytes per connection, one read each: 192,000 in one batch, more than a 128 KiB pool
  const served = []
  const got = new Map()
  let firstBatch = -1
  let seen = 0
  loop.onHandle(listener, 'accepted', (ev) => {
    loop.pause(ev.handle) // its bytes wait in the kernel until all are there
    loop.setFraming(ev.handle, { mode: 'fixed', size: FRAME })
    served.push(ev.handle)
    got.set(ev.handle, [])
    loop.onHandle(ev.handle, 'data', (d) => {
      got.get(d.handle).push(d.data)
      // The microtask runs once the batch delivering this event has been delivered.
      if (seen++ === 0) queueMicrotask(() => (firstBatch = seen))
    })
  })
  const port = loop.localAddress(listener).port
  const message = (c) => Buffer.concat(Array.from({ length: FRAMES }, (_, i) => Buffer.alloc(FRAME, `${c}:${i}|`)))
  for (let c = 0; c < CONNS; c++) {
    const { handle } = await loop.connectAsync('127.0.0.1', port)
    assert.equal(loop.send(handle, message(c)), true)
  }
  await until(() => served.length === CONNS, `${CONNS} accepted connections`)
  for (const handle of served) loop.resume(handle)
  await until(() => seen === CONNS * FRAMES, `${CONNS * FRAMES} frames`)
  assert.equal(firstBatch, CONNS * FRAMES, 'every frame came in the first batch')
  const messages = [...got.values()].map((frames) => Buffer.concat(frames))
  const expected = Array.from({ length: CONNS }, (_, c) => message(c))
  // Connections are accepted in connect order, but compare as sets: what matters is that no byte changed.
  assert.deepEqual(messages.map(String).sort(), expected.map(String).sort())
  const pools = new Set([...got.values()].flat().map((d) => d.buffer))
  assert.ok(pools.size >= 2, `the frames sit in ${pools.size} pools`)
})

test("transferring a data Buffer's pooled ArrayBuffer copies it: the events kept and later ones are intact", async (t) => {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0)
  const kept = [] // the events' own views, not copies
  let transferred
  loop.onHandle(listener, 'accepted', (ev) => {
    loop.setFraming(ev.handle, { mode: 'fixed', size: 10 })
    loop.onHandle(ev.handle, 'data', (d) => {
      kept.push(d.data)
      if (kept.length === 2) {
        const ab = d.data.buffer
        transferred = structuredClone(ab, { transfer: [ab] })
        assert.equal(d.data.buffer.byteLength, transferred.byteLength, 'not detached: copied')
      }
    })
  })
  const { handle } = await loop.connectAsync('127.0.0.1', loop.localAddress(listener).port)
  const frames = Array.from({ length: 20 }, (_, i) => String(i).padStart(10, '.'))
  for (const f of frames) {
    loop.send(handle, Buffer.from(f))
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
  await until(() => kept.length === frames.length, `${frames.length} frames`)
  assert.deepEqual(
    kept.map((d) => d.toString()),
    frames,
  )
  assert.equal(Buffer.from(transferred, kept[1].byteOffset, 10).toString(), frames[1], 'the copy has the bytes too')
})

test('closing the loop from inside a listener, then opening another one, works', async () => {
  const { createLoop } = require('netcore')
  const first = createLoop()
  const t1 = first.timer(1)
  let inside = false
  first.on('timer', (ev) => {
    if (ev.handle !== t1) return
    first.close()
    inside = true
  })
  await until(() => inside, 'the timer')
  assert.equal(first.closed, true)
  const second = createLoop()
  try {
    const t2 = second.timer(1)
    const ev = await new Promise((resolve) => second.on('timer', resolve))
    assert.equal(ev.handle, t2)
  } finally {
    second.close()
  }
})

/** Runs `code` in a worker thread; resolves with its messages and exit code. */
function runWorker(code) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(code, { eval: true, workerData: { root: ROOT } })
    const messages = []
    worker.on('message', (m) => messages.push(m))
    worker.on('error', reject)
    worker.on('exit', (exitCode) => resolve({ messages, exitCode }))
  })
}

const WORKER_PRELUDE = `
  const { workerData, parentPort } = require('node:worker_threads')
  const { createLoop } = require(workerData.root)
  const loop = createLoop()
  const l = loop.listen('127.0.0.1', 0)
  loop.on('data', (ev) => {
    if (ev.userdata === 'client') parentPort.postMessage(ev.data.toString())
    else loop.send(ev.handle, ev.data)
  })
  loop.connectAsync('127.0.0.1', loop.localAddress(l).port, { userdata: 'client' })
    .then(({ handle }) => loop.send(handle, 'ping from a worker'))
`

test('a loop in a worker thread echoes, and the worker exits with it still open', async () => {
  // process.exit() in the worker tears its environment down with the
  // listener and both connections open: the cleanup hook closes the loop.
  const r = await runWorker(`${WORKER_PRELUDE}
    loop.on('data', (ev) => { if (ev.userdata === 'client') setImmediate(() => process.exit(0)) })`)
  assert.deepEqual(r.messages, ['ping from a worker'])
  assert.equal(r.exitCode, 0)
})

test('a worker whose loop is unref()ed ends by itself once its work is done', async () => {
  const r = await runWorker(`${WORKER_PRELUDE}
    loop.on('data', (ev) => { if (ev.userdata === 'client') loop.unref() })`)
  assert.deepEqual(r.messages, ['ping from a worker'])
  assert.equal(r.exitCode, 0)
})

test('a newPool() that throws in mid-batch is an uncaught exception after the batch; the events it held back come next, intact', async () => {
  // Four paused connections' 192,000 bytes arrive in one batch: more than
  // the first pool holds, so the driver asks newPool() again in mid-batch.
  const code = `
    const { createLoop } = require('netcore')
    const POOL = 128 * 1024
    const alloc = Buffer.allocUnsafeSlow
    let pools = 0
    Buffer.allocUnsafeSlow = (size) => {
      if (size === POOL && ++pools === 2) throw new Error('no second pool')
      return alloc(size)
    }
    const caught = []
    process.on('uncaughtException', (e) => caught.push(e.message + ' after ' + frames.length + ' frames'))
    const loop = createLoop()
    const listener = loop.listen('127.0.0.1', 0)
    const CONNS = 4, FRAME = 1000, FRAMES = 48
    const message = (c) => Buffer.concat(Array.from({ length: FRAMES }, (_, i) => Buffer.alloc(FRAME, c + ':' + i + '|')))
    const served = []
    const frames = []
    loop.on('accepted', (ev) => {
      loop.pause(ev.handle)
      loop.setFraming(ev.handle, { mode: 'fixed', size: FRAME })
      served.push(ev.handle)
      if (served.length === CONNS) setTimeout(() => served.forEach((h) => loop.resume(h)), 100)
    })
    loop.on('data', (ev) => {
      frames.push(ev.data.toString('latin1'))
      if (frames.length < CONNS * FRAMES) return
      const expected = Array.from({ length: CONNS }, (_, c) => message(c).toString('latin1')).sort()
      const got = Array.from({ length: CONNS }, (_, c) => frames.filter((f) => f.startsWith(c + ':')).join('')).sort()
      console.log(JSON.stringify({ caught, pools, intact: got.every((m, c) => m === expected[c]) }))
      loop.close()
    })
    ;(async () => {
      const port = loop.localAddress(listener).port
      for (let c = 0; c < CONNS; c++) {
        const { handle } = await loop.connectAsync('127.0.0.1', port)
        loop.send(handle, message(c))
      }
    })()`
  const r = await runChild(code)
  assert.equal(r.exitCode, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.deepEqual(out.caught, ['no second pool after 131 frames'], 'thrown once, after the first pool was delivered')
  assert.equal(out.pools, 3, 'the next batch asked again')
  assert.equal(out.intact, true, 'every frame arrived, each connection in order')
})

test('process exit with loops still open (closed or not) is clean', async () => {
  const code = `
    const { createLoop } = require('netcore')
    const a = createLoop(); a.listen('127.0.0.1', 0); a.timer(100000); a.unref()
    const b = createLoop(); b.timer(10); b.on('timer', () => { b.close(); console.log('done') })`
  const r = await runChild(code)
  assert.equal(r.signal, null, r.stderr)
  assert.equal(r.exitCode, 0, r.stderr)
  assert.equal(r.stdout.trim(), 'done')
})

test("with an 'uncaughtException' handler, events keep coming after a listener threw", async () => {
  const code = `
    const { createLoop } = require('netcore')
    process.on('uncaughtException', (e) => console.log('caught ' + e.message))
    const loop = createLoop()
    let n = 0
    loop.timer(1, 5)
    loop.on('timer', () => {
      n++
      if (n === 2) throw new Error('boom')
      if (n === 4) { loop.close(); console.log('done') }
    })`
  const r = await runChild(code)
  assert.equal(r.exitCode, 0, r.stderr)
  assert.deepEqual(r.stdout.trim().split('\n'), ['caught boom', 'done'])
})
