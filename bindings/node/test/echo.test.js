'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { newLoop, echoServer, roundTrip, randomBytes, sha } = require('../testlib/helpers')

for (const [name, size] of [
  ['1 B', 1],
  ['1 KiB', 1024],
  ['64 KiB', 64 * 1024],
  ['16 MiB', 16 * 1024 * 1024],
]) {
  test(`echo ${name} through a netcore server and client on two loops`, async (t) => {
    const server = echoServer(newLoop(t))
    const client = newLoop(t)
    const payload = randomBytes(size)
    const { data, closed } = await roundTrip(client, '127.0.0.1', server.port, payload)
    assert.equal(data.length, payload.length)
    assert.equal(sha(data), sha(payload))
    assert.equal(closed.error, undefined)
  })
}

test('echo on one loop (server and client share it)', async (t) => {
  const loop = newLoop(t)
  const server = echoServer(loop)
  const payload = randomBytes(300 * 1024)
  const { data } = await roundTrip(loop, '127.0.0.1', server.port, payload)
  assert.ok(data.equals(payload))
})

test('send accepts Buffer, Uint8Array, other typed arrays, DataView, ArrayBuffer and strings', async (t) => {
  const loop = newLoop(t)
  const server = echoServer(loop)
  const { handle } = await loop.connectAsync('127.0.0.1', server.port)
  const chunks = []
  loop.onHandle(handle, 'data', (ev) => chunks.push(Buffer.from(ev.data)))
  const closed = new Promise((resolve) => loop.onHandle(handle, 'closed', resolve))
  loop.onHandle(handle, 'eof', () => loop.close(handle))
  const u16 = new Uint16Array([0x6968]) // "hi" little-endian
  assert.equal(loop.send(handle, Buffer.from('a')), true)
  assert.equal(loop.send(handle, new Uint8Array([0x62])), true)
  assert.equal(loop.send(handle, 'cé'), true)
  assert.equal(loop.send(handle, '64', 'hex'), true)
  assert.equal(loop.send(handle, { encoding: 'utf8' }.encoding === 'utf8' ? 'x' : ''), true)
  assert.equal(loop.send(handle, u16), true)
  assert.equal(loop.send(handle, new DataView(new Uint8Array([0x7a]).buffer)), true)
  assert.equal(loop.send(handle, new Uint8Array([0x21]).buffer), true)
  assert.equal(loop.sendv(handle, ['[', Buffer.from('v'), new Uint8Array([0x5d])]), true)
  loop.shutdown(handle)
  await closed
  const expected = Buffer.concat([
    Buffer.from('abcé'),
    Buffer.from([0x64]),
    Buffer.from('x'),
    Buffer.from(u16.buffer),
    Buffer.from('z![v]'),
  ])
  assert.deepEqual(Buffer.concat(chunks), expected)
})
