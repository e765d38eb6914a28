#!/usr/bin/env node
'use strict'
// starttls_server — an SMTP-style server that upgrades live connections to
// TLS (STARTTLS), as `openssl s_client -starttls smtp` expects.
//
//   usage: NETCORE_TLS_CERT=chain.pem NETCORE_TLS_KEY=key.pem node starttls_server.js [HOST:]PORT
//
// Greets with "220", answers EHLO with its STARTTLS capability, answers
// STARTTLS with "220" and starts TLS on the same connection (loop.startTls:
// the reply is queued first, so it goes out in plaintext before the
// handshake; a line the client sent after STARTTLS in plaintext is never
// delivered, the connection fails ETLSPROTOCOL). Under TLS every other line
// is answered "250 ok: LINE", QUIT with "221" and a close. Refuses mail
// talk before STARTTLS ("530"). Prints "listening on HOST:PORT", exits 0 on
// SIGINT or SIGTERM.

const { loadNetcore, serverTarget, tlsFiles, formatAddress } = require('./common')
const { createLoop, createSecureContext } = loadNetcore()

const PROG = 'starttls_server'

const target = serverTarget(PROG)
const loop = createLoop()
let context
let listener
try {
  context = createSecureContext(tlsFiles(PROG))
  listener = loop.listen(target.host, target.port)
} catch (err) {
  process.stderr.write(`${PROG}: ${err.message}\n`)
  process.exit(1)
}
process.stdout.write(`listening on ${formatAddress(loop.localAddress(listener))}\n`)

/** Connections that started TLS. */
const upgraded = new Set()

function reply(handle, text) {
  loop.send(handle, `${text}\r\n`)
}

loop.on('accepted', (ev) => {
  loop.setFraming(ev.handle, { mode: 'delimited', delimiter: '\n', maxFrame: 4096 })
  reply(ev.handle, '220 netcore ESMTP ready')
})

loop.on('data', (ev) => {
  const handle = ev.handle
  const line = ev.data.toString('latin1').replace(/\r$/, '')
  const secure = upgraded.has(handle)
  const verb = line.split(' ')[0].toUpperCase()
  if (verb === 'EHLO' || verb === 'HELO') reply(handle, secure ? '250 netcore' : '250-netcore\r\n250 STARTTLS')
  else if (verb === 'STARTTLS' && !secure) {
    reply(handle, '220 go ahead')
    loop.startTls(handle, context, { isServer: true })
    upgraded.add(handle)
  } else if (verb === 'QUIT') {
    reply(handle, '221 bye')
    loop.close(handle)
  } else reply(handle, secure ? `250 ok: ${line}` : '530 issue STARTTLS first')
})

loop.on('tls_failed', (ev) => process.stderr.write(`${PROG}: handshake: ${ev.error.message}\n`))
loop.on('eof', (ev) => loop.close(ev.handle))
loop.on('closed', (ev) => upgraded.delete(ev.handle))

function shutDown() {
  loop.close() // every connection at once
  process.exit(0)
}
process.on('SIGINT', shutDown)
process.on('SIGTERM', shutDown)
