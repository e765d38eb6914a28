#!/usr/bin/env node
'use strict'
// https_server — an HTTPS responder: Node's own http module serving on
// netcore's TLS sockets (require('netcore').tls), so `curl --cacert` can fetch from it.
//
//   usage: NETCORE_TLS_CERT=chain.pem NETCORE_TLS_KEY=key.pem node https_server.js [HOST:]PORT
//
// Answers every request with one line saying what the TLS handshake
// negotiated. Prints "listening on HOST:PORT", serves until SIGINT or
// SIGTERM, then closes and exits 0.

const http = require('node:http')
const { loadNetcore, serverTarget, tlsFiles, formatAddress } = require('./common')
const { tls } = loadNetcore()

const PROG = 'https_server'
const SHUTDOWN_MS = 5000

const target = serverTarget(PROG)
const app = http.createServer((req, res) => {
  const socket = req.socket
  res.setHeader('content-type', 'text/plain')
  res.end(`hello from netcore: ${req.method} ${req.url} over ${socket.getProtocol()} (${socket.getCipher().name}), ALPN ${socket.alpnProtocol}\n`)
})
let server
try {
  server = tls.createServer({ ...tlsFiles(PROG), ALPNProtocols: ['http/1.1'] }, (socket) => app.emit('connection', socket))
} catch (err) {
  process.stderr.write(`${PROG}: ${err.message}\n`)
  process.exit(1)
}
server.on('tlsClientError', (err) => process.stderr.write(`${PROG}: handshake: ${err.message}\n`))
server.on('error', (err) => {
  process.stderr.write(`${PROG}: cannot listen on ${process.argv[2]}: ${err.message}\n`)
  process.exit(1)
})
server.listen(target.port, target.host, () => process.stdout.write(`listening on ${formatAddress(server.address())}\n`))

function shutDown() {
  server.close(() => process.exit(0))
  app.closeIdleConnections() // keep-alive connections between requests
  setTimeout(() => process.exit(0), SHUTDOWN_MS).unref()
}
process.on('SIGINT', shutDown)
process.on('SIGTERM', shutDown)
