#!/usr/bin/env node
'use strict'
// tls_echo_server — echo_server.js over TLS: echoes every byte it receives,
// on every connection, after a TLS handshake.
//
//   usage: NETCORE_TLS_CERT=chain.pem NETCORE_TLS_KEY=key.pem node tls_echo_server.js [HOST:]PORT
//
// The certificate chain (leaf first) and its private key are read from the
// PEM files the two environment variables name (tests/tls/make-certs.sh
// makes test ones). Prints "listening on HOST:PORT", serves until SIGINT or
// SIGTERM, closes every connection gracefully (close_notify, then FIN) and
// exits 0. A client whose handshake fails is logged with netcore's code and
// the TLS library's reason; the others are not disturbed.

const fs = require('node:fs')
const { loadNetcore } = require('./common')
const { serve } = require('./echo_server')
const { createSecureContext } = loadNetcore()

const PROG = 'tls_echo_server'

serve(PROG, () => {
  const { NETCORE_TLS_CERT: cert, NETCORE_TLS_KEY: key } = process.env
  if (!cert || !key) {
    process.stderr.write(`${PROG}: NETCORE_TLS_CERT and NETCORE_TLS_KEY must name the PEM files of the certificate chain and its key\n`)
    process.exit(2)
  }
  try {
    return { tls: createSecureContext({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }) }
  } catch (err) {
    process.stderr.write(`${PROG}: ${err.message}\n`)
    process.exit(1)
  }
})
