'use strict'
// The Node examples (examples/node), driven as a user would: as processes.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { once } = require('node:events')
const dgram = require('node:dgram')
const { newLoop, roundTrip, until, randomBytes, sha, WAIT_MS } = require('../testlib/helpers')
const { NODE_EXAMPLES, startServer, run, stop } = require('../testlib/procs')

const node = (script, ...args) => [process.execPath, path.join(NODE_EXAMPLES, script), ...args]

for (const signal of ['SIGINT', 'SIGTERM']) {
  test(`echo_server.js: one listening line, echoes 8 MiB with backpressure, exits 0 on ${signal}`, async (t) => {
    const server = await startServer(node('echo_server.js', '0'))
    t.after(() => server.child.kill('SIGKILL'))
    assert.equal(server.host, '127.0.0.1')
    assert.ok(server.port > 0)
    const loop = newLoop(t)
    const payload = randomBytes(8 * 1024 * 1024)
    // Everything is sent before anything is read back: the server's queue
    // fills up and it must hold, pause and resume.
    const { data } = await roundTrip(loop, '127.0.0.1', server.port, payload, { chunk: 1024 * 1024 })
    assert.equal(sha(data), sha(payload))
    // A connection still open at the signal is closed gracefully. (One echo
    // first: a connection still in the kernel's backlog when the listener
    // closes would be reset instead.)
    const { handle } = await loop.connectAsync('127.0.0.1', server.port)
    const echoed = new Promise((resolve) => loop.onHandle(handle, 'data', resolve))
    loop.send(handle, 'x')
    await echoed
    let eof = false
    const closed = new Promise((resolve) => {
      loop.onHandle(handle, 'eof', () => {
        eof = true
        loop.close(handle) // so the server's graceful close need not wait for us
      })
      loop.onHandle(handle, 'closed', resolve)
    })
    const result = await stop(server, signal)
    assert.deepEqual(result, { code: 0, signal: null })
    const ev = await closed
    assert.equal(eof, true, `the server closed gracefully (closed: ${ev.error && ev.error.code})`)
    assert.equal(server.stdout(), `listening on 127.0.0.1:${server.port}\n`)
  })
}

test('udp_echo.js: echoes every datagram to its sender (empty to 65,507 B), exits 0 on SIGTERM', async (t) => {
  const server = await startServer(node('udp_echo.js', '0'))
  t.after(() => server.child.kill('SIGKILL'))
  const socket = dgram.createSocket('udp4')
  t.after(() => socket.close())
  await new Promise((resolve) => socket.connect(server.port, '127.0.0.1', resolve))
  const payloads = [Buffer.alloc(0), Buffer.from('x'), randomBytes(1200), randomBytes(65507)]
  for (const payload of payloads) {
    // One at a time: loopback UDP does not drop them then.
    const echoed = once(socket, 'message', { signal: AbortSignal.timeout(WAIT_MS) })
    socket.send(payload)
    const [message] = await echoed
    assert.ok(message.equals(payload), `a ${payload.length} B datagram came back intact`)
  }
  assert.deepEqual(await stop(server, 'SIGTERM'), { code: 0, signal: null })
})

test('echo_server.js: usage errors exit 2, a port in use exits 1', async (t) => {
  const usage = await run(node('echo_server.js'))
  assert.equal(usage.code, 2)
  assert.match(usage.stderr, /usage: echo_server \[HOST:\]PORT/)
  const bad = await run(node('echo_server.js', '127.0.0.1:99999'))
  assert.equal(bad.code, 2)
  const loop = newLoop(t)
  const taken = loop.listen('127.0.0.1', 0)
  const inUse = await run(node('echo_server.js', `127.0.0.1:${loop.localAddress(taken).port}`))
  assert.equal(inUse.code, 1)
  assert.match(inUse.stderr, /EADDRINUSE/)
})

test('echo_server.js on [::1] and echo_client.js against it', async (t) => {
  let server
  try {
    server = await startServer(node('echo_server.js', '[::1]:0'))
  } catch (err) {
    return t.skip(`no IPv6 loopback: ${err.message}`)
  }
  t.after(() => server.child.kill('SIGKILL'))
  assert.equal(server.host, '::1')
  const r = await run(node('echo_client.js', `[::1]:${server.port}`, 'hello', 'wide world'))
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, 'hello\nwide world\n')
  const lines = await run(node('echo_client.js', `[::1]:${server.port}`), { input: 'from\nstdin\n' })
  assert.equal(lines.stdout, 'from\nstdin\n')
  assert.deepEqual(await stop(server), { code: 0, signal: null })
})

test('echo_client.js: a refused connection exits 1 with the reason', async () => {
  const r = await run(node('echo_client.js', '127.0.0.1:9', 'x'))
  assert.equal(r.code, 1)
  assert.match(r.stderr, /cannot connect to 127\.0\.0\.1:9: ECONNREFUSED/)
})

test('chat_server.js: lines go to every other client as "<peer>: <line>"', async (t) => {
  const server = await startServer(node('chat_server.js', '127.0.0.1:0'))
  t.after(() => server.child.kill('SIGKILL'))
  const loop = newLoop(t)
  const clients = []
  for (let i = 0; i < 3; i++) {
    const { handle } = await loop.connectAsync('127.0.0.1', server.port)
    loop.setFraming(handle, { mode: 'delimited' })
    const c = { handle, name: (() => { const a = loop.localAddress(handle); return `${a.address}:${a.port}` })(), lines: [] }
    loop.onHandle(handle, 'data', (ev) => c.lines.push(ev.data.toString()))
    clients.push(c)
  }
  await until(() => (server.stderr().match(/joined/g) || []).length === 3, 'three joins')
  loop.send(clients[0].handle, 'hi all\n')
  loop.send(clients[1].handle, 'hello\r\n')
  await until(() => clients[2].lines.length === 2 && clients[0].lines.length === 1 && clients[1].lines.length === 1, 'the broadcast')
  assert.deepEqual(clients[0].lines, [`${clients[1].name}: hello`])
  assert.deepEqual(clients[1].lines, [`${clients[0].name}: hi all`])
  assert.deepEqual(clients[2].lines.sort(), [`${clients[0].name}: hi all`, `${clients[1].name}: hello`].sort())
  const eofs = clients.map(
    (c) =>
      new Promise((resolve) =>
        loop.onHandle(c.handle, 'eof', () => {
          loop.close(c.handle)
          resolve()
        }),
      ),
  )
  assert.deepEqual(await stop(server, 'SIGTERM'), { code: 0, signal: null })
  await Promise.all(eofs)
})

test('echo_server.js survives clients that reset mid-echo and keeps echoing to others', async (t) => {
  const server = await startServer(node('echo_server.js', '0'))
  t.after(() => server.child.kill('SIGKILL'))
  const loop = newLoop(t)
  // Each client sends more than the socket buffers hold and resets at once:
  // the server's echo sends then meet the reset (ECONNRESET / EPIPE).
  const payload = randomBytes(1024 * 1024)
  for (let i = 0; i < 20; i++) {
    const { handle } = await loop.connectAsync('127.0.0.1', server.port)
    loop.send(handle, payload)
    const echoed = new Promise((resolve) => loop.onHandle(handle, 'data', resolve))
    await echoed
    loop.closeReset(handle)
  }
  const { data } = await roundTrip(loop, '127.0.0.1', server.port, Buffer.from('still echoing'))
  assert.equal(data.toString(), 'still echoing')
  assert.equal(server.stderr(), '')
  assert.deepEqual(await stop(server), { code: 0, signal: null })
})

test("the README quickstart's echo server survives a client that resets mid-echo", async () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8')
  const quickstart = /## Quickstart\n\n```js\n([\s\S]*?)```/.exec(readme)[1]
  // Before the sample's own client connects, a client of ours sends 1 MiB
  // and resets once the echo started: the sample's next echo sends fail.
  const prelude = `
    const netcore = require('netcore')
    const newLoop = netcore.createLoop
    netcore.createLoop = () => {
      const loop = newLoop()
      const connectAsync = loop.connectAsync.bind(loop)
      loop.connectAsync = async (host, port, options) => {
        const { handle } = await connectAsync(host, port)
        loop.send(handle, Buffer.alloc(1024 * 1024))
        await new Promise((resolve) => loop.onHandle(handle, 'data', resolve))
        loop.closeReset(handle)
        return connectAsync(host, port, options)
      }
      return loop
    }
  `
  const r = await run([process.execPath, '-e', prelude + quickstart], { cwd: path.join(__dirname, '..'), ms: 20000 })
  assert.equal(r.stderr, '')
  assert.equal(r.code, 0)
  assert.match(r.stdout, /^listening on [\s\S]*\nechoed: hello\n$/)
})

test('multicore_echo_server.js: two worker_threads on one port (SO_REUSEPORT) serve every connection', async (t) => {
  const server = await startServer(node('multicore_echo_server.js', '-w', '2', '127.0.0.1:0'))
  t.after(() => server.child.kill('SIGKILL'))
  const loop = newLoop(t)
  // The kernel picks a worker per connection by a hash of the addresses:
  // which one is not asserted; every connection is echoed and the workers'
  // counts add up.
  for (let i = 0; i < 8; i++) {
    const payload = randomBytes(1024 * (i + 1))
    const { data } = await roundTrip(loop, '127.0.0.1', server.port, payload)
    assert.equal(sha(data), sha(payload))
  }
  assert.deepEqual(await stop(server, 'SIGTERM'), { code: 0, signal: null })
  const counts = [...server.stderr().matchAll(/worker (\d+): (\d+) connections/g)].map((m) => [Number(m[1]), Number(m[2])])
  assert.deepEqual(counts.map(([w]) => w).sort(), [0, 1], server.stderr())
  assert.equal(counts.reduce((sum, [, n]) => sum + n, 0), 8, server.stderr())
})
