'use strict'
// One loopback echo with an installed netcore tarball (tests/packaging/install.sh).
const assert = require('node:assert/strict')
const netcore = require('netcore')
// The layers load from the tarball too (their files are in package.json's "files").
assert.equal(typeof netcore.net.createServer, 'function')
assert.equal(typeof netcore.dgram.createSocket, 'function')
assert.equal(typeof netcore.tls.createServer, 'function')
assert.equal(typeof netcore.createSecureContext, 'function')

const loop = netcore.createLoop()
const listener = loop.listen('127.0.0.1', 0)
const client = loop.connect('127.0.0.1', loop.localAddress(listener).port)
loop.send(client, Buffer.from('ping'))
let echoed = ''
// Bounded: the process fails if the echo has not come back after 20 s.
const deadline = setTimeout(() => assert.fail(`echoed '${echoed}' after 20 s`), 20000)
loop.on('data', (ev) => {
  if (ev.handle !== client) return loop.send(ev.handle, ev.data)
  echoed += ev.data.toString()
  if (echoed !== 'ping') return
  clearTimeout(deadline)
  loop.close()
  console.log(`node: netcore from ${require.resolve('netcore')}: echo ok`)
})
