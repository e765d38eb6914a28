'use strict'
// Test certificates for the TLS tests: made once per test process by the
// repository's tests/tls/make-certs.sh (the openssl CLI) into a temporary
// directory that is removed at exit. See make-certs.sh for what each is.

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { REPO } = require('./procs')

let dir = null

/** The directory holding NAME.pem (certificate) and NAME.key (its key) for every test certificate. */
function certDir() {
  if (dir === null) {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netcore-node-tls-'))
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
    execFileSync('bash', [path.join(REPO, 'tests', 'tls', 'make-certs.sh'), dir], { stdio: 'ignore' })
  }
  return dir
}

/** The certificate NAME.pem (or another file of the directory), as a Buffer. */
function pem(name) {
  return fs.readFileSync(path.join(certDir(), name.includes('.') ? name : `${name}.pem`))
}

/** createSecureContext() options for a server with the certificate NAME and its key. */
function serverOptions(name = 'server', extra = {}) {
  return { cert: pem(name), key: pem(`${name}.key`), ...extra }
}

/** createSecureContext() options for a client trusting the test CA. */
function clientOptions(extra = {}) {
  return { ca: pem('ca'), ...extra }
}

module.exports = { certDir, pem, serverOptions, clientOptions }
