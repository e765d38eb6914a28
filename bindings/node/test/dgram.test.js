'use strict'
// require('netcore').dgram against Node's own dgram (the reference peer),
// on loopback: messages and rinfo both ways, Node's docs server unchanged
// but for the require, send callbacks, implicit bind, connected sockets,
// errors as events, close.

const test = require('node:test')
const assert = require('node:assert/strict')
const nodeDgram = require('node:dgram')
const { once } = require('node:events')
const { AsyncLocalStorage } = require('node:async_hooks')
const { dgram } = require('netcore')
const { WAIT_MS } = require('../testlib/helpers')

const bounded = () => ({ signal: AbortSignal.timeout(WAIT_MS) })

/** A socket of `module` bound to 127.0.0.1:0 (closed after the test), and its port. */
async function bound(t, module, type = 'udp4', host = '127.0.0.1') {
  const socket = module.createSocket(type)
  t.after(() => {
    try {
      socket.close()
    } catch {
      // closed by the test already
    }
  })
  socket.bind(0, host)
  await once(socket, 'listening', bounded())
  return { socket, port: socket.address().port }
}

test("Node's dgram docs server, unchanged but for the require, echoes to Node's own dgram", async (t) => {
  const lines = []
  const console = { log: (line) => lines.push(line), error: (line) => lines.push(line) }
  // -- from the Node 20 docs (dgram), only `require` and the port (0) changed --
  const server = dgram.createSocket('udp4')
  server.on('error', (err) => {
    console.error(`server error:\n${err.stack}`)
    server.close()
  })
  server.on('message', (msg, rinfo) => {
    console.log(`server got: ${msg} from ${rinfo.address}:${rinfo.port}`)
    server.send(msg, rinfo.port, rinfo.address) // added: echo, so the test sees a reply
  })
  server.on('listening', () => {
    const address = server.address()
    console.log(`server listening ${address.address}:${address.port}`)
  })
  server.bind(0)
  // -- end of the docs code --
  t.after(() => server.close())
  await once(server, 'listening', bounded())
  const { socket: peer, port: peerPort } = await bound(t, nodeDgram)
  const reply = once(peer, 'message', bounded())
  peer.send('hello', server.address().port, '127.0.0.1')
  const [msg, rinfo] = await reply
  assert.equal(msg.toString(), 'hello')
  assert.equal(rinfo.port, server.address().port)
  assert.deepEqual(lines, [`server listening 0.0.0.0:${server.address().port}`, `server got: hello from 127.0.0.1:${peerPort}`])
})

test('message and rinfo from Node; send callback (err, bytes) on a later tick', async (t) => {
  const { socket, port } = await bound(t, dgram)
  const { socket: peer, port: peerPort } = await bound(t, nodeDgram)
  const got = once(socket, 'message', bounded())
  peer.send(Buffer.from('from node'), port, '127.0.0.1')
  const [msg, rinfo] = await got
  assert.equal(msg.toString(), 'from node')
  assert.deepEqual(rinfo, { address: '127.0.0.1', family: 'IPv4', port: peerPort, size: 9 })

  const back = once(peer, 'message', bounded())
  let sync = true
  const sent = new Promise((resolve) =>
    socket.send(['from ', Buffer.from('netcore')], peerPort, '127.0.0.1', (err, bytes) => resolve({ err, bytes, sync })),
  )
  sync = false
  assert.deepEqual(await sent, { err: null, bytes: 12, sync: false })
  assert.equal((await back)[0].toString(), 'from netcore')
  const sliced = once(peer, 'message', bounded())
  socket.send(Buffer.from('xxsliceyy'), 2, 5, peerPort, '127.0.0.1')
  assert.equal((await sliced)[0].toString(), 'slice')
})

test('send before bind binds to any port first; localhost is looked up', async (t) => {
  const { socket: peer } = await bound(t, nodeDgram)
  const socket = dgram.createSocket('udp4')
  t.after(() => socket.close())
  const got = once(peer, 'message', bounded())
  socket.send('implicit', peer.address().port, 'localhost')
  const [msg, rinfo] = await got
  assert.equal(msg.toString(), 'implicit')
  assert.equal(rinfo.port, socket.address().port)
})

test('connected socket: connect event, send without an address, remoteAddress; port given is an error', async (t) => {
  const { socket: peer, port: peerPort } = await bound(t, nodeDgram)
  const socket = dgram.createSocket('udp4')
  t.after(() => socket.close())
  await new Promise((resolve) => socket.connect(peerPort, '127.0.0.1', resolve))
  assert.deepEqual(socket.remoteAddress(), { address: '127.0.0.1', port: peerPort, family: 'IPv4' })
  const got = once(peer, 'message', bounded())
  socket.send('connected')
  assert.equal((await got)[0].toString(), 'connected')
  assert.throws(() => socket.send('x', peerPort, '127.0.0.1'), { code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' })
  assert.throws(() => socket.connect(peerPort), { code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' })
})

test('disconnect(): no default peer, sends need an address again, the socket keeps its port; not connected: throws as dgram', async (t) => {
  const { socket: peer, port: peerPort } = await bound(t, nodeDgram)
  const { socket, port } = await bound(t, dgram)
  await new Promise((resolve) => socket.connect(peerPort, '127.0.0.1', resolve))
  socket.disconnect()
  assert.equal(socket.address().port, port)
  assert.throws(() => socket.remoteAddress(), { code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' })
  assert.throws(() => socket.disconnect(), { code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' })
  const { socket: theirs } = await bound(t, nodeDgram)
  assert.throws(() => theirs.disconnect(), { code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' })
  const got = once(peer, 'message', bounded())
  socket.send('addressed', peerPort, '127.0.0.1')
  assert.equal((await got)[0].toString(), 'addressed')
})

test("a connected socket's send refused by the peer's host: an error event named as dgram's (recvmsg, no address)", async (t) => {
  // A port nothing listens on: each send draws an ICMP port unreachable, reported on the next receive.
  const { socket: probe, port: deadPort } = await bound(t, nodeDgram)
  probe.close()
  await once(probe, 'close', bounded())
  const refusal = async (module) => {
    const socket = module.createSocket('udp4')
    t.after(() => socket.close())
    await new Promise((resolve) => socket.connect(deadPort, '127.0.0.1', resolve))
    const failed = once(socket, 'error', bounded())
    socket.send('anyone?')
    const [err] = await failed
    return { code: err.code, syscall: err.syscall, message: err.message, named: 'address' in err || 'port' in err }
  }
  const expected = await refusal(nodeDgram)
  assert.deepEqual(expected, { code: 'ECONNREFUSED', syscall: 'recvmsg', message: 'recvmsg ECONNREFUSED', named: false })
  assert.deepEqual(await refusal(dgram), expected)
})

test("send() throws a bad destination port as dgram does (RangeError ERR_SOCKET_BAD_PORT, Node's message), never an 'error' event", async (t) => {
  const { socket: ours } = await bound(t, dgram)
  const { socket: theirs } = await bound(t, nodeDgram)
  ours.on('error', (err) => assert.fail(`an 'error' event: ${err.message}`))
  for (const port of [0, 70000, -1, 1.5, 'abc', '', undefined, null]) {
    const thrown = (socket) => {
      try {
        socket.send('x', port, '127.0.0.1')
      } catch (err) {
        return { name: err.name, code: err.code, message: err.message }
      }
      return 'sent'
    }
    assert.deepEqual(thrown(ours), thrown(theirs), `port ${JSON.stringify(port)}`)
  }
  await new Promise((resolve) => setTimeout(resolve, 50)) // an 'error' event would come by now
})

test('setTTL: the unicast TTL, 1 to 255, EINVAL outside as dgram', async (t) => {
  const { socket } = await bound(t, dgram)
  const { socket: theirs } = await bound(t, nodeDgram)
  assert.equal(socket.setTTL(7), 7)
  assert.equal(socket._loop.getOption(socket._h, 'ttl'), 7)
  for (const ttl of [0, 256]) {
    assert.throws(() => theirs.setTTL(ttl), { code: 'EINVAL' })
    assert.throws(() => socket.setTTL(ttl), { code: 'EINVAL' })
  }
})

test('setMulticastInterface picks the interface multicast goes out of; bad arguments throw as dgram', async (t) => {
  const { socket: rx, port } = await bound(t, dgram, 'udp4', '0.0.0.0')
  rx.addMembership('239.1.2.5', '127.0.0.1')
  const { socket: tx } = await bound(t, dgram)
  tx.setMulticastLoopback(true)
  // IPPROTO_IP, IP_MULTICAST_IF (Linux): the interface's address, 0.0.0.0 until set.
  const chosen = () => [...tx._loop.getRawOption(tx._h, 0, 32, 4)]
  assert.deepEqual(chosen(), [0, 0, 0, 0])
  tx.setMulticastInterface('127.0.0.1')
  assert.deepEqual(chosen(), [127, 0, 0, 1])
  const got = once(rx, 'message', bounded())
  tx.send('to the group', port, '239.1.2.5')
  assert.equal((await got)[0].toString(), 'to the group')
  const { socket: theirs } = await bound(t, nodeDgram)
  for (const [call, code] of [
    [(s) => s.setMulticastInterface('not an address'), 'EINVAL'],
    [(s) => s.setMulticastInterface(42), 'ERR_INVALID_ARG_TYPE'],
    [(s) => s.addMembership(), 'ERR_MISSING_ARGS'],
  ]) {
    assert.throws(() => call(theirs), { code })
    assert.throws(() => call(tx), { code })
  }
  const { socket: v6 } = await bound(t, dgram, 'udp6', '::1')
  v6.setMulticastInterface('::') // no scope: the system's choice
  assert.throws(() => v6.setMulticastInterface('::%no-such-interface'), { code: 'EINVAL' })
})

test('bind to a port in use: an error event, no throw', async (t) => {
  const { port } = await bound(t, nodeDgram)
  const socket = dgram.createSocket('udp4')
  t.after(() => socket.close())
  assert.doesNotThrow(() => socket.bind(port, '127.0.0.1'))
  const [err] = await once(socket, 'error', { signal: AbortSignal.timeout(WAIT_MS) }).catch((e) => [e])
  assert.equal(err.code, 'EADDRINUSE')
})

test('udp6 on ::1; close emits close, then calls throw ERR_SOCKET_DGRAM_NOT_RUNNING', async (t) => {
  let a
  try {
    a = (await bound(t, dgram, 'udp6', '::1')).socket
  } catch (err) {
    return t.skip(`no IPv6 loopback: ${err.code}`)
  }
  const { socket: peer } = await bound(t, nodeDgram, 'udp6', '::1')
  const got = once(peer, 'message', bounded())
  a.send('v6', peer.address().port, '::1')
  const [, rinfo] = await got
  assert.equal(rinfo.family, 'IPv6')
  assert.equal(rinfo.port, a.address().port)
  const closed = once(a, 'close', bounded())
  a.close()
  await closed
  assert.throws(() => a.send('x', 1, '::1'), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' })
  assert.throws(() => a.address(), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' })
})

test('options: broadcast, buffer sizes; AsyncLocalStorage: messages see the store of createSocket()', async (t) => {
  const als = new AsyncLocalStorage()
  const socket = als.run('created', () => dgram.createSocket({ type: 'udp4', recvBufferSize: 256 * 1024 }))
  t.after(() => socket.close())
  socket.bind(0, '127.0.0.1')
  await once(socket, 'listening', bounded())
  assert.ok(socket.getRecvBufferSize() >= 256 * 1024)
  socket.setBroadcast(true)
  socket.setSendBufferSize(128 * 1024)
  assert.ok(socket.getSendBufferSize() >= 128 * 1024)
  const { socket: peer } = await bound(t, nodeDgram)
  const store = new Promise((resolve) => socket.once('message', () => resolve(als.getStore())))
  als.run('elsewhere', () => peer.send('x', socket.address().port, '127.0.0.1'))
  assert.equal(await store, 'created')
  assert.equal(socket.getSendQueueCount(), 0)
})

test('signal: aborting closes the socket', async () => {
  const controller = new AbortController()
  const socket = dgram.createSocket({ type: 'udp4', signal: controller.signal })
  socket.bind(0, '127.0.0.1')
  await once(socket, 'listening', bounded())
  const closed = once(socket, 'close', bounded())
  controller.abort()
  await closed
  assert.throws(() => socket.address(), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' })
})
