'use strict'
// Unix domain sockets and adopted descriptors through the raw Loop.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { newLoop, nextEvent } = require('../testlib/helpers')

/** A path in a fresh temporary directory, removed after the test. */
function socketPath(t, name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netcore-unix-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return path.join(dir, name)
}

test('Unix: listen on a path, connect, echo, peer credentials, the file goes with the listener', async (t) => {
  const loop = newLoop(t)
  const file = socketPath(t, 's.sock')
  const listener = loop.listenUnix(file)
  assert.ok(fs.existsSync(file))
  const accepted = nextEvent(loop, 'accepted')
  const client = loop.connectUnix(file)
  await nextEvent(loop, 'connected', { handle: client })
  const server = (await accepted).handle
  const got = nextEvent(loop, 'data', { handle: server })
  loop.send(client, 'over unix')
  assert.equal((await got).data.toString(), 'over unix')
  assert.deepEqual(loop.peerCredentials(server), { pid: process.pid, uid: process.getuid(), gid: process.getgid() })
  const closed = nextEvent(loop, 'closed', { handle: listener })
  loop.close(listener)
  await closed
  assert.equal(fs.existsSync(file), false)
  assert.throws(() => loop.connectUnix(file), { code: 'ENOENT' })
  assert.throws(() => loop.listenUnix('@' + 'x'.repeat(200)), { code: 'EINVAL' })
})

test('Unix: a Node client talks to a netcore Unix listener; a descriptor that is not a listener is refused', async (t) => {
  const loop = newLoop(t)
  const file = socketPath(t, 'n.sock')
  const listener = loop.listenUnix(file)
  assert.throws(() => loop.adoptListener(0), { code: 'EINVAL' })
  const accepted = nextEvent(loop, 'accepted')
  const sock = net.connect({ path: file })
  t.after(() => sock.destroy())
  const server = (await accepted).handle
  const got = new Promise((resolve) => sock.once('data', resolve))
  loop.send(server, 'from netcore')
  assert.equal((await got).toString(), 'from netcore')
  loop.close(listener)
})

test('net layer: listen({ path }) and connect(path) echo over a Unix socket, address() is the path', async (t) => {
  const { net: ncnet } = require('..')
  const file = socketPath(t, 'net.sock')
  const server = ncnet.createServer((s) => s.pipe(s))
  await new Promise((resolve) => server.listen({ path: file }, resolve))
  assert.equal(server.address(), file)
  const client = ncnet.connect(file)
  await new Promise((resolve, reject) => { client.once('connect', resolve); client.once('error', reject) })
  const got = new Promise((resolve) => client.once('data', resolve))
  client.write('piped')
  assert.equal((await got).toString(), 'piped')
  client.destroy()
  await new Promise((resolve) => server.close(resolve))
  assert.equal(fs.existsSync(file), false)
  const failed = ncnet.connect({ path: file })
  const err = await new Promise((resolve) => failed.once('error', resolve))
  assert.equal(err.code, 'ENOENT')
})

test('net layer: new Socket({ fd }) and listen({ fd }) refuse a descriptor that is not the right socket', async (t) => {
  const { net: ncnet } = require('..')
  const fd = fs.openSync(os.devNull, 'r')
  t.after(() => fs.closeSync(fd))
  assert.throws(() => new ncnet.Socket({ fd }), { code: 'EINVAL' })
  const server = ncnet.createServer()
  const err = await new Promise((resolve) => {
    server.once('error', resolve)
    server.listen({ fd })
  })
  assert.equal(err.code, 'EINVAL')
  assert.equal(fs.fstatSync(fd).isCharacterDevice(), true, 'left open and as it was')
})
