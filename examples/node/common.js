'use strict'
// Shared bits of the Node examples: loading netcore, parsing [HOST:]PORT,
// reading the TLS servers' certificate and key.

const fs = require('node:fs')

/** The binding: `require('netcore')` when installed, else the one in this repository. */
function loadNetcore() {
  try {
    return require('../../bindings/node')
  } catch (err) {
    if (err.code !== 'MODULE_NOT_FOUND') throw err
    return require('netcore')
  }
}

/**
 * Splits "HOST:PORT", "[IPV6]:PORT" or (when defaultHost is given) "PORT"
 * into { host, port }. Throws an Error with a usage-friendly message.
 */
function parseHostPort(arg, defaultHost) {
  let host = defaultHost
  let port = arg
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(arg)
  if (bracketed) {
    host = bracketed[1]
    port = bracketed[2]
  } else if (arg.includes(':')) {
    const i = arg.lastIndexOf(':')
    host = arg.slice(0, i)
    port = arg.slice(i + 1)
  }
  if (host === undefined || host === '') throw new Error(`'${arg}': expected HOST:PORT`)
  if (!/^\d+$/.test(port) || Number(port) > 65535) throw new Error(`'${arg}': bad port (0..65535)`)
  return { host, port: Number(port) }
}

/**
 * A server's one argument, [HOST:]PORT (HOST defaults to 127.0.0.1), as
 * { host, port }; prints the usage or the problem as PROG and exits 2 if it is wrong.
 */
function serverTarget(prog) {
  if (process.argv.length !== 3) {
    process.stderr.write(`usage: ${prog} [HOST:]PORT\n`)
    process.exit(2)
  }
  try {
    return parseHostPort(process.argv[2], '127.0.0.1')
  } catch (err) {
    process.stderr.write(`${prog}: ${err.message}\n`)
    process.exit(2)
  }
}

/**
 * The TLS servers' certificate chain and key: { cert, key }, read from the
 * PEM files NETCORE_TLS_CERT and NETCORE_TLS_KEY name. Exits 2 (as PROG)
 * when either is unset, 1 when a file cannot be read.
 */
function tlsFiles(prog) {
  const { NETCORE_TLS_CERT: cert, NETCORE_TLS_KEY: key } = process.env
  if (!cert || !key) {
    process.stderr.write(`${prog}: NETCORE_TLS_CERT and NETCORE_TLS_KEY must name the PEM files of the certificate chain and its key\n`)
    process.exit(2)
  }
  try {
    return { cert: fs.readFileSync(cert), key: fs.readFileSync(key) }
  } catch (err) {
    process.stderr.write(`${prog}: ${err.message}\n`)
    process.exit(1)
  }
}

/** "ip:port", or "[ip6]:port" for IPv6, as the C examples print addresses. */
function formatAddress({ address, port, family }) {
  return family === 'IPv6' ? `[${address}]:${port}` : `${address}:${port}`
}

module.exports = { loadNetcore, parseHostPort, serverTarget, tlsFiles, formatAddress }
