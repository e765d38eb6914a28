#!/usr/bin/env node
'use strict'
// tls_echo_client — sends its messages to a TLS echo server and prints the echo.
//
//   usage: [NETCORE_TLS_CA=ca.pem] node tls_echo_client.js HOST:PORT MESSAGE...
//
// Verifies the server's certificate against HOST and the CA bundle that
// NETCORE_TLS_CA names (without it, the system's trust store). Sends each
// MESSAGE followed by "\n" (queued at once: netcore sends it after the
// handshake), half-closes once the handshake is over, prints what comes back
// until the server closes, and exits 0. A failure exits 1 with netcore's
// code, the TLS library's reason and Node's equivalent code.

const fs = require('node:fs')
const { loadNetcore, parseHostPort } = require('./common')
const { createLoop, createSecureContext } = loadNetcore()

const PROG = 'tls_echo_client'

if (process.argv.length < 4) {
  process.stderr.write(`usage: ${PROG} HOST:PORT MESSAGE...\n`)
  process.exit(2)
}
let conn
const loop = createLoop()
try {
  const { host, port } = parseHostPort(process.argv[2])
  const ca = process.env.NETCORE_TLS_CA
  conn = loop.connect(host, port, { tls: createSecureContext(ca ? { ca: fs.readFileSync(ca) } : {}) })
} catch (err) {
  process.stderr.write(`${PROG}: ${err.message}\n`)
  process.exit(2)
}
loop.send(conn, process.argv.slice(3).map((m) => `${m}\n`).join(''))

loop.on('tls_ready', (ev) => {
  const server = loop.getPeerCertificate(conn)
  process.stderr.write(`${PROG}: ${ev.protocol} ${ev.cipher}, server ${server.subject} issued by ${server.issuer}\n`)
  loop.shutdown(conn) // our messages go first, then close_notify and FIN
})
loop.on('data', (ev) => process.stdout.write(ev.data))
loop.on('eof', () => loop.close(conn))
loop.on('closed', (ev) => {
  if (!ev.error) return
  const { message, nodeCode } = ev.error
  process.stderr.write(`${PROG}: ${message}${nodeCode ? ` [Node: ${nodeCode}]` : ''}\n`)
  process.exitCode = 1
})
