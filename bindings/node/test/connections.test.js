'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { newLoop, echoServer, until, withTimeout, WAIT_MS } = require('../testlib/helpers')

test('1,000 connections at once, each echoes its own message', async (t) => {
  const N = 1000
  const server = echoServer(newLoop(t))
  const client = newLoop(t)
  const expected = new Map()
  const got = new Map()
  let closed = 0
  let failures = []
  client.on('connect_failed', (ev) => failures.push(ev.error))
  client.on('data', (ev) => got.set(ev.handle, (got.get(ev.handle) || '') + ev.data.toString()))
  client.on('eof', (ev) => client.close(ev.handle))
  client.on('closed', () => closed++)
  for (let i = 0; i < N; i++) {
    const h = client.connect('127.0.0.1', server.port)
    const message = `message ${i} from connection ${h}`
    expected.set(h, message)
    // Bytes sent before the connection is up are queued and flushed on connect.
    assert.equal(client.send(h, message), true)
    client.shutdown(h)
  }
  assert.equal(client.handleCount, N)
  await until(() => closed === N || failures.length > 0, `${N} closed connections (closed ${closed})`, WAIT_MS * 3)
  assert.deepEqual(failures, [])
  for (const [h, message] of expected) assert.equal(got.get(h), message, `connection ${h}`)
  assert.equal(server.stats.accepted, N)
  await until(() => server.stats.closed === N, 'every server-side connection closed')
  assert.equal(client.handleCount, 0)
})

test('connect Promises: many in parallel', async (t) => {
  const server = echoServer(newLoop(t))
  const client = newLoop(t)
  const results = await withTimeout(
    Promise.all(Array.from({ length: 200 }, () => client.connectAsync('127.0.0.1', server.port))),
    WAIT_MS,
    '200 connections',
  )
  const handles = new Set(results.map((r) => r.handle))
  assert.equal(handles.size, 200)
  for (const r of results) {
    assert.deepEqual(r.address, { address: '127.0.0.1', port: server.port, family: 'IPv4' })
    client.closeReset(r.handle)
  }
})

test('connections one listener accepted share JS state until one of them changes: its siblings keep theirs', async (t) => {
  const server = newLoop(t)
  const client = newLoop(t)
  const listener = server.listen('127.0.0.1', 0, { userdata: 'listener data' })
  const accepted = []
  server.onHandle(listener, 'accepted', (ev) => accepted.push(ev.handle))
  const port = server.localAddress(listener).port
  const clients = []
  for (let i = 0; i < 4; i++) clients.push((await client.connectAsync('127.0.0.1', port)).handle)
  await until(() => accepted.length === 4, 'four accepted connections')
  const [withUserdata, withListener, paused, untouched] = accepted

  server.setUserdata(withUserdata, 'its own data')
  const heardByListener = []
  server.onHandle(withListener, 'data', (ev) => heardByListener.push(ev.handle))
  server.pause(paused)
  const got = new Map()
  server.on('data', (ev) => got.set(ev.handle, ev.userdata))
  for (const h of clients) assert.equal(client.send(h, 'ping'), true)
  await until(() => got.size === 3, 'data on the three connections that read')

  assert.equal(server.getUserdata(withUserdata), 'its own data')
  for (const h of [withListener, paused, untouched]) assert.equal(server.getUserdata(h), 'listener data', `handle ${h}`)
  assert.deepEqual([...got.entries()].sort(), [
    [withUserdata, 'its own data'],
    [withListener, 'listener data'],
    [untouched, 'listener data'],
  ].sort())
  assert.deepEqual(heardByListener, [withListener], "a handle's listener hears only its own handle")
  server.resume(paused)
  await until(() => got.has(paused), 'data on the resumed connection')
  assert.equal(got.get(paused), 'listener data')
})
