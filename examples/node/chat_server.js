#!/usr/bin/env node
'use strict'
// chat_server — a line-based chat room.
//
//   usage: node chat_server.js [HOST:]PORT   (HOST defaults to 127.0.0.1; PORT 0
//                                            picks a free port; IPv6 as [::1]:PORT)
//
// Prints "listening on HOST:PORT" once it accepts connections. Every line a
// client sends (cut by netcore's delimiter framing, "\n", at most 64 KiB) is
// sent to every OTHER connected client as "<peer-addr>: <line>\n", in one
// gather send (sendv). Joins and leaves are logged on stderr. On SIGINT or
// SIGTERM it closes every handle gracefully and exits 0.
//
// A client whose send queue is full (it does not read what it is sent) is
// dropped (closeReset) rather than allowed to make the server buffer
// without bound.

const { loadNetcore, serverTarget, formatAddress } = require('./common')
const { createLoop } = loadNetcore()

const PROG = 'chat_server'
const MAX_LINE = 64 * 1024
const SHUTDOWN_MS = 5000
const COLON = Buffer.from(': ')
const NEWLINE = Buffer.from('\n')

const target = serverTarget(PROG)

const loop = createLoop()
let listener = 0
try {
  listener = loop.listen(target.host, target.port)
} catch (err) {
  process.stderr.write(`${PROG}: cannot listen on ${process.argv[2]}: ${err.code} (${err.description || err.message})\n`)
  process.exit(1)
}
process.stdout.write(`listening on ${formatAddress(loop.localAddress(listener))}\n`)

/** handle -> { name: Buffer ("ip:port"), closing } */
const clients = new Map()
let stopping = false

function closeClient(handle, client) {
  if (client.closing) return
  client.closing = true
  try {
    loop.close(handle)
  } catch (err) {
    if (err.code !== 'ECLOSED') process.stderr.write(`${PROG}: close: ${err.message}\n`)
  }
}

function broadcast(from, line) {
  if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1) // CRLF clients
  const parts = [from.name, COLON, line, NEWLINE]
  for (const [handle, to] of clients) {
    if (to === from || to.closing) continue
    let queued
    try {
      queued = loop.sendv(handle, parts)
    } catch (err) {
      // The peer reset (ECONNRESET, EPIPE), or netcore noticed that first and
      // is closing the connection (ECLOSED): 'closed' follows either way.
      to.closing = true
      if (err.code !== 'ECLOSED') loop.closeReset(handle)
      continue
    }
    if (!queued) {
      process.stderr.write(`${PROG}: ${to.name} is not reading, dropping it\n`)
      to.closing = true
      loop.closeReset(handle)
    }
  }
}

loop.on('accepted', (ev) => {
  const client = { name: Buffer.from(formatAddress(ev.address)), closing: false }
  clients.set(ev.handle, client)
  loop.setFraming(ev.handle, { mode: 'delimited', delimiter: '\n', maxFrame: MAX_LINE })
  process.stderr.write(`${PROG}: ${client.name} joined\n`)
  if (stopping) closeClient(ev.handle, client)
})

loop.on('data', (ev) => {
  const client = clients.get(ev.handle)
  if (client && !client.closing) broadcast(client, ev.data)
})

loop.on('eof', (ev) => {
  const client = clients.get(ev.handle)
  if (client) closeClient(ev.handle, client)
})

loop.on('error', (ev) => {
  const client = clients.get(ev.handle)
  process.stderr.write(`${PROG}: ${client ? client.name : 'listener'}: ${ev.error.message}\n`)
})

loop.on('closed', (ev) => {
  if (ev.handle === listener) {
    listener = 0
    return
  }
  const client = clients.get(ev.handle)
  if (!client) return
  clients.delete(ev.handle)
  process.stderr.write(`${PROG}: ${client.name} left${ev.error ? ` (${ev.error.code})` : ''}\n`)
})

function shutDown() {
  if (stopping) {
    loop.close()
    process.exit(0)
  }
  stopping = true
  if (listener) loop.close(listener)
  for (const [handle, client] of clients) closeClient(handle, client)
  setTimeout(() => {
    loop.close()
    process.exit(0)
  }, SHUTDOWN_MS).unref()
}

process.on('SIGINT', shutDown)
process.on('SIGTERM', shutDown)
