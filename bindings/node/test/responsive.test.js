'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { newLoop, echoServer, withTimeout, WAIT_MS } = require('../testlib/helpers')

// Responsiveness in terms of work, not of the wall clock (which a loaded
// machine stretches): the driver hands JavaScript one core batch per libuv
// callback (each about the core's 4 MiB arena budget at most), and a turn of
// Node's loop runs only a few such callbacks: 8.3 to 12.4 MiB measured at
// most, on a loaded machine. Holding the loop for the whole transfer would
// show as 100 MiB in one turn.
const MOST_BYTES_PER_TURN = 32 * 1024 * 1024

test("Node's event loop keeps turning while netcore moves 100 MiB (echoed: 100 MiB each way)", async (t) => {
  const TOTAL = 100 * 1024 * 1024
  const CHUNK = 256 * 1024
  const server = echoServer(newLoop(t))
  const client = newLoop(t)
  const { handle } = await client.connectAsync('127.0.0.1', server.port)
  let received = 0
  let done
  const finished = new Promise((resolve) => (done = resolve))
  client.onHandle(handle, 'data', (ev) => {
    // Touch every byte, as an application would.
    if (ev.data.indexOf(0x62) !== -1) throw new Error('unexpected byte')
    received += ev.data.length
    sinceTurn += ev.data.length
    if (received === TOTAL) done()
  })

  // a setImmediate chain runs once per turn of Node's loop
  let sinceTurn = 0
  let mostPerTurn = 0
  let turns = 0
  let turning = true
  const turn = () => {
    mostPerTurn = Math.max(mostPerTurn, sinceTurn)
    sinceTurn = 0
    turns++
    if (turning) setImmediate(turn)
  }
  setImmediate(turn)
  t.after(() => (turning = false))

  const chunk = Buffer.alloc(CHUNK, 0x61)
  let sent = 0
  const pump = () => {
    while (sent < TOTAL) {
      if (!client.send(handle, chunk)) return
      sent += CHUNK
    }
  }
  client.onHandle(handle, 'drain', pump)
  const started = performance.now()
  pump()
  await withTimeout(finished, WAIT_MS * 6, 'the 100 MiB echo')
  const seconds = (performance.now() - started) / 1000
  turning = false
  t.diagnostic(
    `100 MiB echoed in ${seconds.toFixed(2)} s (${(100 / seconds).toFixed(0)} MiB/s each way); ` +
      `${turns} turns of Node's loop, at most ${mostPerTurn} bytes received between two`,
  )
  assert.equal(received, TOTAL)
  assert.ok(
    mostPerTurn <= MOST_BYTES_PER_TURN,
    `${mostPerTurn} bytes arrived between two turns of Node's loop (at most ${MOST_BYTES_PER_TURN} expected)`,
  )
  client.closeReset(handle)
})
