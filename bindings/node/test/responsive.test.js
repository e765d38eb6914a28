'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { newLoop, echoServer, withTimeout, WAIT_MS } = require('../testlib/helpers')

test("Node's event loop stays responsive while netcore moves 100 MiB (echoed: 100 MiB each way)", async (t) => {
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
    if (received === TOTAL) done()
  })

  const gaps = []
  let last = performance.now()
  const ticker = setInterval(() => {
    const now = performance.now()
    gaps.push(now - last)
    last = now
  }, 10)
  t.after(() => clearInterval(ticker))

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
  clearInterval(ticker)
  const worst = Math.max(...gaps)
  t.diagnostic(
    `100 MiB echoed in ${seconds.toFixed(2)} s (${(100 / seconds).toFixed(0)} MiB/s each way); ` +
      `${gaps.length} ticks of setInterval(10 ms), worst gap ${worst.toFixed(1)} ms`,
  )
  assert.equal(received, TOTAL)
  assert.ok(worst < 100, `a setInterval(10 ms) tick came ${worst.toFixed(1)} ms after the previous one`)
  client.closeReset(handle)
})
