'use strict'
// The process exits by itself once nothing is open, and stays alive while
// something ref'd is: each case runs in a child `node -e` process.
const test = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const path = require('node:path')

const ROOT = path.resolve(__dirname, '..')

/**
 * Runs `code` in a child Node; resolves { code, signal, ms, stdout, stderr, killed }.
 * The child is killed after a 30 s hang guard, or, with `killAfterReadyMs`,
 * that long after it printed "ready": whether it was still alive then does
 * not depend on how fast the machine started it.
 */
function runNode(code, { killAfterReadyMs } = {}) {
  return new Promise((resolve) => {
    const started = Date.now()
    const child = spawn(process.execPath, ['-e', code], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    let killed = false
    const kill = () => {
      killed = true
      child.kill('SIGKILL')
    }
    let timer = setTimeout(kill, 30000)
    if (killAfterReadyMs !== undefined) {
      let armed = false
      child.stdout.on('data', () => {
        if (!armed && /^ready$/m.test(stdout)) {
          armed = true
          clearTimeout(timer)
          timer = setTimeout(kill, killAfterReadyMs)
        }
      })
    }
    child.on('exit', (exitCode, signal) => {
      clearTimeout(timer)
      resolve({ code: exitCode, signal, ms: Date.now() - started, stdout, stderr, killed })
    })
  })
}

const PRELUDE = "const { createLoop, defaultLoop } = require('netcore');"

test('a script with one listener that it closes exits by itself', async () => {
  const r = await runNode(`${PRELUDE}
    const loop = createLoop()
    const h = loop.listen('127.0.0.1', 0)
    console.log('port', loop.localAddress(h).port)
    loop.close(h)`)
  assert.equal(r.killed, false, `still running after 30 s; stderr: ${r.stderr}`)
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /^port \d+/)
})

test('the same with the default loop, closing on a later tick', async () => {
  const r = await runNode(`${PRELUDE}
    const loop = defaultLoop()
    const h = loop.listen('127.0.0.1', 0)
    setTimeout(() => loop.close(h), 100)`)
  assert.equal(r.killed, false, r.stderr)
  assert.equal(r.code, 0, r.stderr)
})

test('an open listener keeps the process alive', async () => {
  const r = await runNode(`${PRELUDE}
    const loop = createLoop()
    loop.listen('127.0.0.1', 0)
    console.log('ready')`, { killAfterReadyMs: 1000 })
  assert.equal(r.killed, true, 'the process exited with a listener open')
})

test('loop.unref() and unrefHandle() let the process exit with handles open', async () => {
  const a = await runNode(`${PRELUDE}
    const loop = createLoop()
    loop.listen('127.0.0.1', 0)
    loop.unref()`)
  assert.equal(a.killed, false)
  assert.equal(a.code, 0, a.stderr)
  const b = await runNode(`${PRELUDE}
    const loop = createLoop()
    const h = loop.listen('127.0.0.1', 0)
    loop.unrefHandle(h)`)
  assert.equal(b.killed, false)
  assert.equal(b.code, 0, b.stderr)
  const c = await runNode(`${PRELUDE}
    const loop = createLoop()
    const h = loop.listen('127.0.0.1', 0)
    loop.unref()
    loop.ref()
    console.log('ready')`, { killAfterReadyMs: 1000 })
  assert.equal(c.killed, true, 'ref() after unref() keeps it alive again')
})

/**
 * A child with a `net` server, a client and the accepted socket, all
 * unref'd once connected, then `reRef` run; an unref'd timer prints "still
 * alive" (and closes everything) only if something ref'd keeps the process
 * running, so the output order tells, whatever the machine's speed.
 */
function netRefScript(reRef) {
  return `const { net } = require('netcore')
    process.on('exit', () => console.log('exit'))
    let ready = 0
    let socket
    const server = net.createServer((accepted) => { accepted.unref(); whenBoth() })
    server.listen(0, '127.0.0.1', () => { socket = net.connect(server.address().port, '127.0.0.1', whenBoth) })
    function whenBoth() {
      if (++ready < 2) return
      server.unref()
      socket.unref()
      ${reRef}
      console.log('ready')
      setTimeout(() => { console.log('still alive'); socket.destroy(); server.close() }, 100).unref()
    }`
}

test("net layer: unref'd servers and sockets let the process exit; ref() on either keeps it alive", async () => {
  for (const [reRef, expected] of [
    ['', 'ready\nexit\n'],
    ['server.ref()', 'ready\nstill alive\nexit\n'],
    ['socket.ref()', 'ready\nstill alive\nexit\n'],
  ]) {
    const r = await runNode(netRefScript(reRef))
    assert.equal(r.killed, false, `${reRef || 'all unref'}: still running after 30 s; stderr: ${r.stderr}`)
    assert.deepEqual([r.code, r.stdout], [0, expected], `${reRef || 'all unref'}; stderr: ${r.stderr}`)
  }
})

test('a refused connection, a one-shot timer, a full echo exchange: each exits once done', async () => {
  const refused = await runNode(`${PRELUDE}
    createLoop().connectAsync('127.0.0.1', 9).catch((e) => console.log(e.code))`)
  assert.equal(refused.killed, false, refused.stderr)
  assert.equal(refused.stdout.trim(), 'ECONNREFUSED')

  const timer = await runNode(`${PRELUDE}
    const loop = createLoop()
    loop.timer(200)
    loop.on('timer', () => console.log('fired'))`)
  assert.equal(timer.killed, false, timer.stderr)
  assert.equal(timer.stdout.trim(), 'fired')
  assert.ok(timer.ms >= 200)

  const echo = await runNode(`${PRELUDE}
    const loop = createLoop()
    const l = loop.listen('127.0.0.1', 0)
    loop.on('data', (ev) => {
      if (ev.userdata === 'client') { console.log(ev.data.toString()); loop.close(ev.handle); loop.close(l) }
      else loop.send(ev.handle, ev.data)
    })
    loop.on('eof', (ev) => loop.close(ev.handle))
    loop.connectAsync('127.0.0.1', loop.localAddress(l).port, { userdata: 'client' })
      .then(({ handle }) => loop.send(handle, 'hello'))`)
  assert.equal(echo.killed, false, echo.stderr)
  assert.equal(echo.code, 0, echo.stderr)
  assert.equal(echo.stdout.trim(), 'hello')
})

test('an exception in a listener is an uncaught exception (exit code 1), as in Node', async () => {
  const r = await runNode(`${PRELUDE}
    const loop = createLoop()
    loop.timer(10)
    loop.on('timer', () => { throw new Error('boom from a listener') })`)
  assert.equal(r.killed, false)
  assert.equal(r.code, 1)
  assert.match(r.stderr, /boom from a listener/)
})
