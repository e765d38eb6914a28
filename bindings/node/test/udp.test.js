'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { newLoop, nextEvent, until } = require('../testlib/helpers')

test('UDP: sendTo, datagram events with the sender address, connected send', async (t) => {
  const loop = newLoop(t)
  const a = loop.udpBind('127.0.0.1', 0)
  const b = loop.udpBind('127.0.0.1', 0)
  const aAddr = loop.localAddress(a)
  const bAddr = loop.localAddress(b)
  assert.equal(aAddr.family, 'IPv4')
  assert.ok(aAddr.port > 0)
  assert.equal(loop.kind(a), 'udp')

  const got = nextEvent(loop, 'datagram', { handle: b })
  assert.equal(loop.sendTo(a, 'ping', '127.0.0.1', bAddr.port), true)
  const ev = await got
  assert.equal(ev.data.toString(), 'ping')
  assert.deepEqual(ev.address, { address: '127.0.0.1', port: aAddr.port, family: 'IPv4' })

  // Reply through a connected socket: send() without an address.
  loop.udpConnect(b, '127.0.0.1', aAddr.port)
  assert.deepEqual(loop.peerAddress(b), { address: '127.0.0.1', port: aAddr.port, family: 'IPv4' })
  const back = nextEvent(loop, 'datagram', { handle: a })
  assert.equal(loop.send(b, Buffer.from('pong')), true)
  assert.equal((await back).data.toString(), 'pong')
})

test('UDP: datagram boundaries are kept, sizes up to 60,000 bytes, one event per datagram', async (t) => {
  const loop = newLoop(t)
  const a = loop.udpBind('127.0.0.1', 0)
  const b = loop.udpBind('127.0.0.1', 0)
  loop.setOption(b, 'rcvbuf', 4 * 1024 * 1024)
  const port = loop.localAddress(b).port
  const sizes = [1, 100, 1472, 9000, 60000]
  const got = []
  loop.onHandle(b, 'datagram', (ev) => got.push(Buffer.from(ev.data)))
  for (const [i, n] of sizes.entries()) loop.sendTo(a, Buffer.alloc(n, i + 1), '127.0.0.1', port)
  await until(() => got.length === sizes.length, 'every datagram')
  assert.deepEqual(
    got.map((d) => d.length),
    sizes,
  )
  got.forEach((d, i) => assert.ok(d.every((byte) => byte === i + 1)))
})

test('UDP over IPv6 (::1)', async (t) => {
  const loop = newLoop(t)
  let a
  try {
    a = loop.udpBind('::1', 0)
  } catch (err) {
    return t.skip(`no IPv6 loopback: ${err.code}`)
  }
  const b = loop.udpBind('[::1]', 0)
  const got = nextEvent(loop, 'datagram', { handle: b })
  loop.sendTo(a, 'v6', '::1', loop.localAddress(b).port)
  const ev = await got
  assert.equal(ev.data.toString(), 'v6')
  assert.equal(ev.address.family, 'IPv6')
  assert.equal(ev.address.address, '::1')
  assert.equal(ev.address.port, loop.localAddress(a).port)
})

test('UDP errors: bad ports, names instead of IP literals, TCP-only calls', (t) => {
  const loop = newLoop(t)
  const u = loop.udpBind('127.0.0.1', 0)
  assert.throws(() => loop.sendTo(u, 'x', '127.0.0.1', 70000), { code: 'EINVAL', argument: 'port' })
  assert.throws(() => loop.sendTo(u, 'x', 'example.invalid', 9), { code: 'EINVAL' })
  assert.throws(() => loop.sendTo(u, 42, '127.0.0.1', 9), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => loop.send(u, 'not connected'), (err) => err.code === 'EDESTADDRREQ' || err.code === 'ENOTCONN')
  assert.throws(() => loop.shutdown(u), { code: 'EWRONGKIND' })
  assert.throws(() => loop.setOption(u, 'nodelay', true), { code: 'EWRONGKIND' })
  loop.setOption(u, 'broadcast', true)
  assert.equal(loop.getOption(u, 'broadcast'), true)
})

test('UDP multicast membership and options', (t) => {
  const loop = newLoop(t)
  const u = loop.udpBind('0.0.0.0', 0)
  loop.setOption(u, 'multicast_ttl', 1)
  assert.equal(loop.getOption(u, 'multicast_ttl'), 1)
  loop.setOption(u, 'multicast_loop', true)
  assert.equal(loop.getOption(u, 'multicast_loop'), true)
  try {
    loop.addMembership(u, '239.255.0.1', '127.0.0.1')
    loop.dropMembership(u, '239.255.0.1', '127.0.0.1')
  } catch (err) {
    // Some sandboxes have no multicast-capable interface.
    t.diagnostic(`multicast join not available here: ${err.code}`)
  }
  assert.throws(() => loop.addMembership(u, '10.0.0.1'), { code: 'EINVAL' }) // not a multicast group
  assert.throws(() => loop.setOption(u, 'multicast_ttl', 256), { code: 'EINVAL', argument: 'multicast_ttl' })
})

test('UDP: a zero-length datagram is sent (sendTo, send, sendv) and arrives as an empty datagram event', async (t) => {
  const loop = newLoop(t)
  const a = loop.udpBind('127.0.0.1', 0)
  const b = loop.udpBind('127.0.0.1', 0)
  const port = loop.localAddress(b).port
  const got = []
  loop.onHandle(b, 'datagram', (ev) => got.push(ev.data.length))
  assert.equal(loop.sendTo(a, Buffer.alloc(0), '127.0.0.1', port), true)
  loop.udpConnect(a, '127.0.0.1', port)
  assert.equal(loop.send(a, Buffer.alloc(0)), true)
  assert.equal(loop.sendv(a, [Buffer.alloc(0), new Uint8Array(0)]), true)
  await until(() => got.length === 3, 'three empty datagrams')
  assert.deepEqual(got, [0, 0, 0])
})

/** Collects the datagrams `handle` receives: [text, sender port]. */
function collect(loop, handle) {
  const got = []
  loop.onHandle(handle, 'datagram', (ev) => got.push([Buffer.from(ev.data).toString('latin1'), ev.address.port]))
  return got
}

test('UDP sendBatch: every datagram arrives in order at its address, more than one sendmmsg worth', async (t) => {
  const loop = newLoop(t)
  const a = loop.udpBind('127.0.0.1', 0)
  const from = loop.localAddress(a).port
  const rx = [loop.udpBind('127.0.0.1', 0), loop.udpBind('127.0.0.1', 0)]
  const got = rx.map((h) => collect(loop, h))
  const texts = Array.from({ length: 100 }, (_, i) => 'x'.repeat(i * 7) + i)
  const batch = texts.map((text, i) => ({ data: i % 2 ? Buffer.from(text) : text, ...loop.localAddress(rx[i % 2]) }))
  assert.equal(loop.sendBatch(a, batch), 100)
  await until(() => got[0].length + got[1].length === 100, 'every datagram')
  assert.deepEqual(got[0], texts.filter((_, i) => i % 2 === 0).map((text) => [text, from]))
  assert.deepEqual(got[1], texts.filter((_, i) => i % 2 === 1).map((text) => [text, from]))
  assert.equal(loop.sendBatch(a, []), 0)
})

test('UDP: twelve senders (more than a batch compares) each get their own address, and sendBatch replies reach each', async (t) => {
  const loop = newLoop(t)
  const server = loop.udpBind('127.0.0.1', 0)
  const port = loop.localAddress(server).port
  const senders = Array.from({ length: 12 }, (_, i) => loop.udpBind(`127.0.0.${i + 2}`, 0))
  const events = []
  loop.onHandle(server, 'datagram', (ev) => events.push({ text: Buffer.from(ev.data).toString(), address: ev.address }))
  const replies = senders.map((h) => collect(loop, h))
  // Twice round all twelve: the same peers, interleaved.
  for (let round = 0; round < 2; round++) {
    senders.forEach((h, i) => loop.sendTo(h, `${round}:${i}`, '127.0.0.1', port))
  }
  await until(() => events.length === 24, 'every datagram')
  for (const { text, address } of events) {
    const i = Number(text.split(':')[1])
    assert.deepEqual(address, loop.localAddress(senders[i]), text)
  }
  assert.equal(loop.sendBatch(server, events.map(({ text, address }) => ({ data: text, ...address }))), 24)
  await until(() => replies.every((got) => got.length === 2), 'every reply')
  replies.forEach((got, i) => assert.deepEqual(got.map(([text]) => text).sort(), [`0:${i}`, `1:${i}`]))
})

test('UDP sendBatch: a batch longer than one delivery batch (1,100 datagrams, two destinations)', async (t) => {
  const loop = newLoop(t)
  const a = loop.udpBind('127.0.0.1', 0)
  const rx = [loop.udpBind('127.0.0.1', 0), loop.udpBind('127.0.0.1', 0)]
  for (const h of rx) loop.setOption(h, 'rcvbuf', 4 * 1024 * 1024)
  const got = rx.map((h) => collect(loop, h))
  const batch = Array.from({ length: 1100 }, (_, i) => ({ data: String(i), ...loop.localAddress(rx[i % 2]) }))
  let sent = 0
  for (let tries = 0; sent < batch.length && tries < 100; tries++) {
    sent += loop.sendBatch(a, batch.slice(sent))
    if (sent < batch.length) await new Promise((resolve) => setTimeout(resolve, 10))
  }
  assert.equal(sent, 1100)
  await until(() => got[0].length + got[1].length === 1100, 'every datagram')
  assert.deepEqual(got[0].map(([text]) => Number(text)), batch.map((_, i) => i).filter((i) => i % 2 === 0))
  assert.deepEqual(got[1].map(([text]) => Number(text)), batch.map((_, i) => i).filter((i) => i % 2 === 1))
})

test('UDP sendBatch: a bad datagram in the middle stops the batch there; a call from it throws why', async (t) => {
  const loop = newLoop(t)
  const a = loop.udpBind('127.0.0.1', 0)
  const b = loop.udpBind('127.0.0.1', 0)
  const to = { address: '127.0.0.1', port: loop.localAddress(b).port }
  const got = collect(loop, b)
  const batch = [{ data: '0', ...to }, { data: '1', ...to }, { data: 'bad', address: 'not an ip', port: 9 }, { data: '3', ...to }]
  assert.equal(loop.sendBatch(a, batch), 2)
  assert.throws(() => loop.sendBatch(a, batch.slice(2)), { code: 'EINVAL' })
  batch[2] = { data: 'bad', address: '127.0.0.1', port: 0 }
  assert.throws(() => loop.sendBatch(a, batch.slice(2)), { code: 'EINVAL' })
  batch[2] = { data: Buffer.alloc(70000), ...to }
  assert.equal(loop.sendBatch(a, batch.slice(1)), 1)
  assert.throws(() => loop.sendBatch(a, batch.slice(2)), { code: 'EMSGSIZE' })
  // A wrong type anywhere throws before anything is sent.
  for (const bad of [[{ data: 'ok', ...to }, null], [{ data: 'ok', ...to }, { data: 5, ...to }], [{ data: 'ok', ...to }, { data: 'x', address: 1, port: 2 }]]) {
    assert.throws(() => loop.sendBatch(a, bad), { code: 'ERR_INVALID_ARG_TYPE' })
  }
  assert.throws(() => loop.sendBatch(a, 'x'), { code: 'ERR_INVALID_ARG_TYPE' })
  // An end marker: once it arrives, everything sent before it has too.
  assert.equal(loop.sendBatch(a, [{ data: 'end', ...to }]), 1)
  await until(() => got.length === 4, 'the datagrams and the end marker')
  assert.deepEqual(got.map(([text]) => text), ['0', '1', '1', 'end'])
})

test('UDP sendBatch: to the connected peer without an address', async (t) => {
  const loop = newLoop(t)
  const a = loop.udpBind('127.0.0.1', 0)
  const b = loop.udpBind('127.0.0.1', 0)
  const got = collect(loop, b)
  assert.throws(() => loop.sendBatch(a, [{ data: 'nowhere' }]), { code: 'ENOTCONN' })
  loop.udpConnect(a, '127.0.0.1', loop.localAddress(b).port)
  assert.equal(loop.sendBatch(a, [{ data: 'p' }, { data: '' }]), 2)
  await until(() => got.length === 2, 'both datagrams')
  assert.deepEqual(got.map(([text]) => text), ['p', ''])
})
