'use strict'
// Unix domain sockets and adopted descriptors through the raw Loop.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { newLoop, nextEvent, withTimeout, WAIT_MS } = require('../testlib/helpers')

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
  assert.equal(loop.localPath(listener), file)
  assert.equal(loop.peerPath(client), file)
  assert.equal(loop.localPath(client), null, "an unbound client's end has no name")
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

test('Unix: maxConnections caps a Unix listener from the start', async (t) => {
  const loop = newLoop(t)
  const file = socketPath(t, 'cap.sock')
  const listener = loop.listenUnix(file, { maxConnections: 1 })
  const accepted = []
  loop.on('accepted', (ev) => accepted.push(ev.listener))
  const first = nextEvent(loop, 'accepted')
  loop.connectUnix(file)
  loop.connectUnix(file)
  await first
  await new Promise((resolve) => setTimeout(resolve, 200))
  assert.deepEqual(accepted, [listener], 'the second client waits')
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

test('net layer: listen({ fd: 3 }) in a child process serves a listening socket it inherited (socket activation)', async (t) => {
  const { spawn } = require('node:child_process')
  // The parent's listening socket goes to the child as its fd 3.
  const loop = newLoop(t)
  const parent = loop.listen('127.0.0.1', 0)
  const { port } = loop.localAddress(parent)
  const child = spawn(process.execPath, ['-e', `
    const { net } = require(${JSON.stringify(path.join(__dirname, '..'))})
    const server = net.createServer((socket) => socket.pipe(socket))
    server.on('error', (err) => { console.error(err.code); process.exit(1) })
    server.listen({ fd: 3 }, () => console.log('adopted ' + server.address().port))
    process.on('SIGTERM', () => server.close(() => process.exit(0)))
  `], { stdio: ['ignore', 'pipe', 'inherit', loop.rawFd(parent)] })
  t.after(() => child.kill('SIGKILL'))
  const line = await new Promise((resolve, reject) => {
    child.stdout.once('data', (chunk) => resolve(chunk.toString().trim()))
    child.once('exit', (code) => reject(new Error(`child exited ${code}`)))
  })
  assert.equal(line, `adopted ${port}`)
  // Only the child accepts from now on.
  const closed = nextEvent(loop, 'closed', { handle: parent })
  loop.close(parent)
  await closed
  const client = net.connect(port, '127.0.0.1')
  const echoed = new Promise((resolve, reject) => {
    client.once('data', resolve)
    client.once('error', reject)
  })
  client.write('through the adopted listener')
  assert.equal((await echoed).toString(), 'through the adopted listener')
  client.destroy()
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  child.kill('SIGTERM')
  assert.deepEqual(await exited, { code: 0, signal: null })
})

/**
 * Runs `script` in a child Node that inherits, as fd 3, the client end of a
 * TCP connection to a plain `node:net` server here and, as fd 4, a UDP
 * socket bound on 127.0.0.1 (this process keeps no copy of either). The
 * script must print `adopted [TCP peer port, UDP port]`, answer every TCP
 * chunk and every datagram in upper case, and exit once the TCP peer ends.
 * Checks all of that, both ways.
 */
async function adoptedInChild(t, script) {
  const { spawn } = require('node:child_process')
  const nodeDgram = require('node:dgram')
  const server = net.createServer()
  t.after(() => server.close())
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const accepted = new Promise((resolve) => server.once('connection', resolve))
  const client = net.connect(server.address().port, '127.0.0.1')
  client.pause() // never read here: the connection's bytes are the child's
  await withTimeout(new Promise((resolve, reject) => { client.once('connect', resolve); client.once('error', reject) }), WAIT_MS, 'connect')
  const peer = await withTimeout(accepted, WAIT_MS, 'accept')
  const loop = newLoop(t)
  const udp = loop.udpBind('127.0.0.1', 0)
  const udpPort = loop.localAddress(udp).port
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit', client, loop.rawFd(udp)] })
  t.after(() => child.kill('SIGKILL'))
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  let stdout = ''
  const adopted = new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      stdout += chunk
      if (stdout.includes('\n')) resolve(stdout.trim())
    })
    exited.then(({ code }) => reject(new Error(`child exited ${code} before adopting`)))
  })
  // The child has its copies now (spawn returns once it ran): close ours.
  client.destroy()
  const closed = nextEvent(loop, 'closed', { handle: udp })
  loop.close(udp)
  await closed
  assert.equal(await withTimeout(adopted, WAIT_MS, "the child's line"), `adopted [${server.address().port},${udpPort}]`)

  let answer = ''
  const answered = new Promise((resolve) => peer.on('data', (chunk) => {
    answer += chunk
    if (answer.length >= 8) resolve(answer)
  }))
  peer.write('over tcp')
  assert.equal(await withTimeout(answered, WAIT_MS, 'the TCP answer'), 'OVER TCP')

  const plain = nodeDgram.createSocket('udp4')
  t.after(() => plain.close())
  await new Promise((resolve) => plain.bind(0, '127.0.0.1', resolve))
  const reply = new Promise((resolve) => plain.once('message', (msg, rinfo) => resolve([msg.toString(), rinfo.port])))
  plain.send('over udp', udpPort, '127.0.0.1')
  assert.deepEqual(await withTimeout(reply, WAIT_MS, 'the UDP answer'), ['OVER UDP', udpPort])

  peer.end()
  assert.deepEqual(await withTimeout(exited, WAIT_MS, 'the child to exit'), { code: 0, signal: null })
  assert.equal(stdout.trim(), `adopted [${server.address().port},${udpPort}]`, 'nothing else printed')
}

test('Loop: adoptConnection and adoptUdp take an inherited connected TCP fd and a bound UDP fd; data both ways', async (t) => {
  await adoptedInChild(t, `
    const loop = require(${JSON.stringify(path.join(__dirname, '..'))}).createLoop()
    const conn = loop.adoptConnection(3)
    const udp = loop.adoptUdp(4)
    loop.on('data', (ev) => loop.send(conn, ev.data.toString().toUpperCase()))
    loop.on('datagram', (ev) => loop.sendTo(udp, ev.data.toString().toUpperCase(), ev.address.address, ev.address.port))
    loop.on('eof', () => { loop.close(conn); loop.close(udp) })
    console.log('adopted ' + JSON.stringify([loop.peerAddress(conn).port, loop.localAddress(udp).port]))
  `)
})

test('net and dgram layers: new Socket({ fd }) and bind({ fd }) take an inherited connected TCP fd and a bound UDP fd; data both ways', async (t) => {
  await adoptedInChild(t, `
    const { net, dgram } = require(${JSON.stringify(path.join(__dirname, '..'))})
    const socket = new net.Socket({ fd: 3 })
    const udp = dgram.createSocket('udp4')
    socket.on('data', (chunk) => socket.write(chunk.toString().toUpperCase()))
    socket.on('end', () => { socket.end(); udp.close() })
    udp.on('message', (msg, rinfo) => udp.send(msg.toString().toUpperCase(), rinfo.port, rinfo.address))
    udp.bind({ fd: 4 }, () => console.log('adopted ' + JSON.stringify([socket.remotePort, udp.address().port])))
  `)
})

test('dgram layer: bind({ fd }) with a descriptor that is not a datagram socket is an error event, the descriptor left open', async (t) => {
  const { dgram } = require('..')
  const fd = fs.openSync(os.devNull, 'r')
  t.after(() => fs.closeSync(fd))
  const udp = dgram.createSocket('udp4')
  const err = await withTimeout(new Promise((resolve) => {
    udp.once('error', resolve)
    udp.bind({ fd })
  }), WAIT_MS, 'the error')
  assert.equal(err.code, 'EINVAL')
  assert.equal(fs.fstatSync(fd).isCharacterDevice(), true, 'left open and as it was')
  udp.close()
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

test('Unix datagrams: bind on a path and in the abstract namespace, sendToUnix, the sender path, udpConnectUnix, the file goes on close', async (t) => {
  const loop = newLoop(t)
  const fileA = socketPath(t, 'a.sock')
  const a = loop.udpBindUnix(fileA)
  const abstract = `@netcore-node-dgram-${process.pid}`
  const b = loop.udpBindUnix(abstract)
  assert.ok(fs.existsSync(fileA))
  // a -> b: b learns a's path; b answers there.
  let got = nextEvent(loop, 'datagram', { handle: b })
  assert.equal(loop.sendToUnix(a, 'ping', abstract), true)
  let ev = await got
  assert.equal(ev.data.toString(), 'ping')
  assert.equal(ev.path, fileA)
  assert.equal(ev.address, undefined)
  got = nextEvent(loop, 'datagram', { handle: a })
  loop.sendToUnix(b, Buffer.from('pong'), ev.path)
  ev = await got
  assert.equal(ev.data.toString(), 'pong')
  assert.equal(ev.path, abstract)
  // A default peer: send() goes there, whole datagrams each.
  loop.udpConnectUnix(a, abstract)
  got = nextEvent(loop, 'datagram', { handle: b })
  loop.send(a, 'connected')
  assert.equal((await got).data.toString(), 'connected')
  assert.throws(() => loop.sendToUnix(a, 'x', socketPath(t, 'nobody.sock')), { code: 'ENOENT' })
  const udp = loop.udpBind('127.0.0.1', 0)
  assert.throws(() => loop.sendToUnix(udp, 'x', fileA), { code: 'EWRONGKIND' })
  const closed = nextEvent(loop, 'closed', { handle: a })
  loop.close(a)
  await closed
  assert.equal(fs.existsSync(fileA), false)
})

test("dgram layer: createSocket('unix_dgram'): bind(path), send(msg, path), 'message' with the sender's path, connect(path)", async (t) => {
  const { dgram } = require('..')
  const fileA = socketPath(t, 'a.sock')
  const fileB = socketPath(t, 'b.sock')
  const a = dgram.createSocket('unix_dgram')
  const b = dgram.createSocket({ type: 'unix_dgram' })
  t.after(() => {
    for (const s of [a, b]) if (!s._closed) s.close()
  })
  assert.throws(() => a.send('too early', fileB), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' })
  await Promise.all([new Promise((resolve) => a.bind(fileA, resolve)), new Promise((resolve) => b.bind(fileB, resolve))])
  assert.deepEqual(a.address(), { path: fileA })
  const message = (socket) => new Promise((resolve) => socket.once('message', (msg, rinfo) => resolve([msg.toString(), rinfo])))
  let got = message(b)
  const sent = await new Promise((resolve, reject) => a.send('hello', fileB, (err, bytes) => (err ? reject(err) : resolve(bytes))))
  assert.equal(sent, 5)
  assert.deepEqual(await got, ['hello', { path: fileA, size: 5 }])
  got = message(a)
  await new Promise((resolve) => b.connect(fileA, resolve))
  b.send(Buffer.from('back'))
  assert.deepEqual(await got, ['back', { path: fileB, size: 4 }])
  await new Promise((resolve) => a.close(resolve))
  assert.equal(fs.existsSync(fileA), false)
  // Connected to a's path, which is gone: the callback gets the error.
  const failed = await new Promise((resolve) => b.send('to nobody', (err) => resolve(err)))
  assert.ok(failed && ['ECONNREFUSED', 'ENOENT'].includes(failed.code), String(failed))
  assert.throws(() => dgram.createSocket('unix'), { code: 'ERR_SOCKET_BAD_TYPE' })
})
