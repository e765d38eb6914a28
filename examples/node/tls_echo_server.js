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

const { loadNetcore, tlsFiles } = require('./common')
const { serve } = require('./echo_server')
const { createSecureContext } = loadNetcore()

const PROG = 'tls_echo_server'

serve(PROG, () => {
  try {
    return { tls: createSecureContext(tlsFiles(PROG)) }
  } catch (err) {
    process.stderr.write(`${PROG}: ${err.message}\n`)
    process.exit(1)
  }
})
