'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { newLoop, echoServer, roundTrip, nextEvent, randomBytes } = require('../testlib/helpers')
const { parseAddress } = require('netcore')

function hasIpv6(t) {
  const loop = newLoop(t)
  try {
    loop.close(loop.listen('::1', 0))
    return true
  } catch {
    return false
  }
}

test('TCP over IPv6 loopback: listen on ::1, connect, echo, addresses', async (t) => {
  if (!hasIpv6(t)) return t.skip('no IPv6 loopback on this machine')
  const loop = newLoop(t)
  const server = echoServer(loop, '::1')
  const local = loop.localAddress(server.listener)
  assert.deepEqual(local, { address: '::1', port: server.port, family: 'IPv6' })
  const accepted = nextEvent(loop, 'accepted')
  const payload = randomBytes(512 * 1024)
  const trip = roundTrip(loop, '::1', server.port, payload)
  const ev = await accepted
  assert.equal(ev.address.family, 'IPv6')
  assert.equal(ev.address.address, '::1')
  assert.equal(ev.listener, server.listener)
  const { data } = await trip
  assert.ok(data.equals(payload))
  // Bracketed literals work too.
  const { handle, address } = await loop.connectAsync('[::1]', server.port)
  assert.deepEqual(address, { address: '::1', port: server.port, family: 'IPv6' })
  assert.equal(loop.peerAddress(handle).family, 'IPv6')
  assert.equal(loop.localAddress(handle).address, '::1')
  loop.closeReset(handle)
})

test('IPv6 connect refused and family options', async (t) => {
  if (!hasIpv6(t)) return t.skip('no IPv6 loopback on this machine')
  const loop = newLoop(t)
  await assert.rejects(loop.connectAsync('::1', 9), { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED ::1:9' })
  const l4 = loop.listen('127.0.0.1', 0)
  // 'localhost' restricted to IPv6 cannot reach an IPv4-only listener.
  const port = loop.localAddress(l4).port
  const v4 = await loop.connectAsync('localhost', port, { family: 4 })
  assert.equal(v4.address.family, 'IPv4')
  loop.closeReset(v4.handle)
  await assert.rejects(loop.connectAsync('127.0.0.1', port, { family: 6 }), (err) => typeof err.code === 'string')
})

test('a dual-stack listener on :: sees IPv4 peers as IPv4-mapped addresses', async (t) => {
  if (!hasIpv6(t)) return t.skip('no IPv6 loopback on this machine')
  const loop = newLoop(t)
  const listener = loop.listen('::', 0)
  const accepted = nextEvent(loop, 'accepted')
  const { handle } = await loop.connectAsync('127.0.0.1', loop.localAddress(listener).port)
  const ev = await accepted
  assert.equal(ev.address.family, 'IPv6')
  assert.equal(ev.address.address, '::ffff:127.0.0.1')
  loop.closeReset(handle)
  assert.throws(() => loop.listen('::', 0, { ipv6Only: 'yes' }), { name: 'TypeError' })
  const v6only = loop.listen('::1', 0, { ipv6Only: true })
  assert.equal(loop.localAddress(v6only).family, 'IPv6')
})

test('Happy Eyeballs through a static host entry: ::1 refused, 127.0.0.1 answers', async (t) => {
  if (!hasIpv6(t)) return t.skip('no IPv6 loopback on this machine')
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0)
  const port = loop.localAddress(listener).port
  loop.setHostAddresses('dual.test', ['::1', '127.0.0.1'])
  const { address } = await loop.connectAsync('dual.test', port, { attemptDelay: 50 })
  assert.deepEqual(address, { address: '127.0.0.1', port, family: 'IPv4' })
  // Restricted to IPv6, the same name has nothing that answers.
  await assert.rejects(loop.connectAsync('dual.test', port, { family: 6 }), { code: 'ECONNREFUSED' })
  loop.setHostAddresses('dual.test', [])
  assert.throws(() => loop.setHostAddresses('x.test', ['not-an-ip']), { code: 'EINVAL' })
  assert.throws(() => loop.setHostAddresses('x.test', '127.0.0.1'), { name: 'TypeError' })
})

test('parseAddress: an IPv6 zone round-trips (as a number or an interface name, bracketed or not)', () => {
  // Parsing and formatting only: nothing is sent to a link-local address.
  for (const host of ['fe80::1%1', '[fe80::1%1]', 'fe80::1%lo']) {
    assert.deepEqual(parseAddress(host, 9), { address: 'fe80::1%1', port: 9, family: 'IPv6' }, host)
  }
  assert.deepEqual(parseAddress('fe80::1%1', '9'), { address: 'fe80::1%1', port: 9, family: 'IPv6' })
  assert.deepEqual(parseAddress('::1', 0), { address: '::1', port: 0, family: 'IPv6' })
  assert.deepEqual(parseAddress('localhost', 80), { address: '127.0.0.1', port: 80, family: 'IPv4' })
  assert.throws(() => parseAddress('fe80::1%no-such-interface', 9), { code: 'EINVAL', argument: 'host' })
  assert.throws(() => parseAddress('example.com', 9), { code: 'EINVAL', argument: 'host' })
  assert.throws(() => parseAddress('::1', 65536), { code: 'EINVAL', argument: 'port' })
  assert.throws(() => parseAddress(1, 9), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('event and socket addresses use the same conversion: a datagram from ::1 reports ::1', async (t) => {
  const loop = newLoop(t)
  const rx = loop.udpBind('::1', 0)
  const tx = loop.udpBind('::1', 0)
  const datagram = nextEvent(loop, 'datagram', { handle: rx })
  loop.sendTo(tx, 'hi', '::1', loop.localAddress(rx).port)
  const { address } = await datagram
  assert.deepEqual(address, parseAddress('::1', loop.localAddress(tx).port))
  assert.deepEqual(loop.localAddress(tx), address)
})
