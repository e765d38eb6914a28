'use strict'
// netcore's Node binding against the C examples (build/examples, built by
// `make examples` at the repository root), and the reverse.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { newLoop, roundTrip, until, randomBytes, sha } = require('../testlib/helpers')
const { NODE_EXAMPLES, cExample, startServer, run, stop } = require('../testlib/procs')

const C_MISSING = 'build/examples is missing: run `make examples` at the repository root'

test('a Node client against the C echo_server (1 B to 4 MiB, then SIGINT)', async (t) => {
  const bin = cExample('echo_server')
  if (!bin) return t.skip(C_MISSING)
  const server = await startServer([bin, '127.0.0.1:0'])
  t.after(() => server.child.kill('SIGKILL'))
  const loop = newLoop(t)
  for (const size of [1, 1024, 4 * 1024 * 1024]) {
    const payload = randomBytes(size)
    const { data } = await roundTrip(loop, server.host, server.port, payload)
    assert.equal(sha(data), sha(payload), `${size} bytes`)
  }
  assert.deepEqual(await stop(server), { code: 0, signal: null })
})

test('the Node echo_client.js against the C echo_server', async (t) => {
  const bin = cExample('echo_server')
  if (!bin) return t.skip(C_MISSING)
  const server = await startServer([bin, '127.0.0.1:0'])
  t.after(() => server.child.kill('SIGKILL'))
  const r = await run([process.execPath, path.join(NODE_EXAMPLES, 'echo_client.js'), `127.0.0.1:${server.port}`, 'one', 'two'])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, 'one\ntwo\n')
  assert.deepEqual(await stop(server), { code: 0, signal: null })
})

test('the C echo_client against the Node echo_server.js', async (t) => {
  const bin = cExample('echo_client')
  if (!bin) return t.skip(C_MISSING)
  const server = await startServer([process.execPath, path.join(NODE_EXAMPLES, 'echo_server.js'), '0'])
  t.after(() => server.child.kill('SIGKILL'))
  const r = await run([bin, `127.0.0.1:${server.port}`, 'hello', 'from C'])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, 'hello\nfrom C\n')
  const long = 'x'.repeat(100000)
  const r2 = await run([bin, `127.0.0.1:${server.port}`], { input: `a\n${long}\nb\n` })
  assert.equal(r2.code, 0, r2.stderr)
  assert.equal(r2.stdout, `a\n${long}\nb\n`)
  assert.deepEqual(await stop(server, 'SIGTERM'), { code: 0, signal: null })
})

test('Node clients in the C chat_server', async (t) => {
  const bin = cExample('chat_server')
  if (!bin) return t.skip(C_MISSING)
  const server = await startServer([bin, '127.0.0.1:0'])
  t.after(() => server.child.kill('SIGKILL'))
  const loop = newLoop(t)
  const clients = []
  for (let i = 0; i < 2; i++) {
    const { handle } = await loop.connectAsync('127.0.0.1', server.port)
    loop.setFraming(handle, { mode: 'delimited' })
    const a = loop.localAddress(handle)
    const c = { handle, name: `${a.address}:${a.port}`, lines: [] }
    loop.onHandle(handle, 'data', (ev) => c.lines.push(ev.data.toString()))
    clients.push(c)
  }
  // the server logs "NAME joined (N online)" once it registered a client
  await until(() => (server.stderr().match(/ joined \(/g) || []).length >= 2, 'two joins')
  loop.send(clients[0].handle, 'hello from node\n')
  await until(() => clients[1].lines.length === 1, 'the broadcast')
  assert.deepEqual(clients[1].lines, [`${clients[0].name}: hello from node`])
  assert.deepEqual(clients[0].lines, [])
  for (const c of clients) loop.onHandle(c.handle, 'eof', () => loop.close(c.handle))
  assert.deepEqual(await stop(server), { code: 0, signal: null })
})
