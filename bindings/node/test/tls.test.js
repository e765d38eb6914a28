'use strict'
// TLS in the raw model: netcore against netcore, Node's own `tls` (both
// ways) and `openssl s_client`; the failure table, each case with its exact
// code on both ends; STARTTLS; certificate rotation; backpressure.
// Certificates: tests/tls/make-certs.sh into a temporary directory.
const test = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const nodeTls = require('node:tls')
const { spawn, spawnSync } = require('node:child_process')
const { X509Certificate } = require('node:crypto')
const { createSecureContext, SecureContext } = require('netcore')
const { newLoop, nextEvent, until, echoServer, roundTrip, randomBytes, sha, withTimeout, WAIT_MS } = require('../testlib/helpers')
const { certDir, pem, serverOptions, clientOptions } = require('../testlib/tls')
const { NODE_EXAMPLES, startServer, run, stop } = require('../testlib/procs')

/** Records a connection's TLS outcome in `out`: ready (the event), failed and closed (their errors, null for none). */
function watch(loop, handle, out) {
  loop.onHandle(handle, 'tls_ready', (ev) => (out.ready = ev))
  loop.onHandle(handle, 'tls_failed', (ev) => (out.failed = ev.error))
  loop.onHandle(handle, 'eof', () => loop.close(handle))
  loop.onHandle(handle, 'closed', (ev) => (out.closed = ev.error || null))
}

/** A TLS listener whose accepted connections' outcomes are recorded (see watch()) in `outcomes`, in order. */
function watchedListener(loop, tls) {
  const listener = loop.listen('127.0.0.1', 0, { tls })
  const outcomes = []
  loop.onHandle(listener, 'accepted', (ev) => {
    const out = {}
    outcomes.push(out)
    watch(loop, ev.handle, out)
  })
  return { port: loop.localAddress(listener).port, outcomes }
}

/**
 * A netcore TLS server and a netcore TLS client on one loop, each side's
 * outcome recorded (see watch()) until both are closed.
 */
async function pair(t, serverOpts, clientOpts, connectOpts = {}) {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0, { tls: createSecureContext(serverOpts) })
  const server = {}
  const client = {}
  loop.onHandle(listener, 'accepted', (ev) => watch(loop, ev.handle, server))
  const handle = loop.connect('localhost', loop.localAddress(listener).port, { tls: createSecureContext(clientOpts), ...connectOpts })
  watch(loop, handle, client)
  await until(() => server.closed !== undefined && client.closed !== undefined, 'both ends closed')
  return { server, client }
}

/** Asserts a TLS error: netcore's code, Node's equivalent, the alert if one is expected. */
function assertTlsError(err, code, nodeCode, alert) {
  assert.ok(err, `an error ${code}`)
  assert.equal(err.code, code, err.message)
  assert.equal(err.nodeCode, nodeCode, err.message)
  assert.equal(err.alert, alert, err.message)
  assert.equal(typeof err.reason, 'string')
}

/** Sends `payload` in pieces as the handle's queue takes them ('drain' for the rest), then calls `done`. */
function pump(loop, handle, payload, done) {
  let off = 0
  const more = () => {
    while (off < payload.length) {
      const piece = payload.subarray(off, off + 64 * 1024)
      if (!loop.send(handle, piece)) return
      off += piece.length
    }
    loop.offHandle(handle, 'drain', more)
    done()
  }
  loop.onHandle(handle, 'drain', more)
  more()
}

test('a netcore TLS client and server: bytes, ALPN, version, the peer certificate as a crypto.X509Certificate', async (t) => {
  const loop = newLoop(t)
  const { port } = echoServer(loop, '127.0.0.1', { tls: createSecureContext(serverOptions('server', { ALPNProtocols: ['h2', 'echo/1'] })) })
  const tls = createSecureContext(clientOptions({ ALPNProtocols: ['echo/1'] }))
  const ready = nextEvent(loop, 'tls_ready', { filter: (ev) => loop.getUserdata(ev.handle) === 'client' })
  const payload = randomBytes(3 * 1024 * 1024 + 1)
  const trip = roundTrip(loop, 'localhost', port, payload, { options: { tls, userdata: 'client' } })
  const ev = await ready
  assert.equal(ev.alpnProtocol, 'echo/1')
  assert.equal(ev.protocol, 'TLSv1.3')
  assert.equal(ev.authorized, true)
  assert.equal(ev.resumed, false)
  assert.match(ev.cipher, /^TLS13_/)
  assert.deepEqual(loop.tlsInfo(ev.handle), ev.value)
  const cert = loop.getPeerCertificate(ev.handle)
  assert.ok(cert instanceof X509Certificate)
  assert.equal(cert.subject, 'CN=localhost')
  assert.ok(cert.checkIssued(new X509Certificate(pem('ca'))))
  assert.equal(loop.getPeerCertificateChain(ev.handle).length, 1)
  const { data, closed } = await trip
  assert.equal(sha(data), sha(payload))
  assert.equal(closed.error, undefined)
})

test('a netcore TLS server and a client of Node\'s own tls: bytes both ways, ALPN, a client certificate', async (t) => {
  const loop = newLoop(t)
  const context = createSecureContext(serverOptions('server', { ALPNProtocols: ['h2', 'http/1.1'], ca: pem('ca'), requestCert: true, rejectUnauthorized: false }))
  const { port } = echoServer(loop, '127.0.0.1', { tls: context })
  let peer
  const serverReady = nextEvent(loop, 'tls_ready')
  loop.on('tls_ready', (ev) => (peer = loop.getPeerCertificate(ev.handle)))
  const payload = randomBytes(1024 * 1024)
  const socket = nodeTls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: pem('ca'), cert: pem('client'), key: pem('client.key'), ALPNProtocols: ['http/1.1'] })
  t.after(() => socket.destroy())
  const chunks = []
  socket.on('data', (d) => chunks.push(d))
  await withTimeout(new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject)), WAIT_MS, 'secureConnect')
  assert.equal(socket.authorized, true, socket.authorizationError)
  assert.equal(socket.alpnProtocol, 'http/1.1')
  socket.end(payload)
  await withTimeout(new Promise((resolve, reject) => socket.once('end', resolve).once('error', reject)), WAIT_MS, 'the echo')
  assert.equal(sha(Buffer.concat(chunks)), sha(payload))
  const ev = await serverReady
  assert.equal(ev.authorized, true, 'the client sent a certificate the CA issued')
  assert.equal(ev.alpnProtocol, 'http/1.1')
  assert.equal(peer.subject, 'CN=netcore-test-client')
})

test('a netcore TLS client and a server of Node\'s own tls requiring a client certificate', async (t) => {
  let seen
  const server = nodeTls.createServer({ ...serverOptions(), ca: pem('ca'), requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['echo/1'] }, (s) => {
    seen = { authorized: s.authorized, cn: s.getPeerCertificate().subject.CN, alpn: s.alpnProtocol }
    s.pipe(s)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => server.close())
  const loop = newLoop(t)
  const tls = createSecureContext(clientOptions({ cert: pem('client'), key: pem('client.key'), ALPNProtocols: ['echo/1'] }))
  const ready = nextEvent(loop, 'tls_ready')
  const payload = randomBytes(512 * 1024)
  const { data } = await roundTrip(loop, '127.0.0.1', server.address().port, payload, { options: { tls, servername: 'localhost' } })
  assert.equal(sha(data), sha(payload))
  const ev = await ready
  assert.equal(ev.alpnProtocol, 'echo/1')
  assert.equal(ev.authorized, true)
  assert.deepEqual(seen, { authorized: true, cn: 'netcore-test-client', alpn: 'echo/1' })
})

for (const version of ['tls1_2', 'tls1_3']) {
  test(`openssl s_client -${version} -alpn and a netcore TLS server: 10 MiB each way sha256-checked, closed with close_notify`, async (t) => {
    const loop = newLoop(t)
    const listener = loop.listen('127.0.0.1', 0, { tls: serverOptions('server', { ALPNProtocols: ['h2', 'echo/1'] }) })
    const up = randomBytes(10 * 1024 * 1024)
    const down = randomBytes(10 * 1024 * 1024)
    const received = []
    let total = 0
    let ready
    loop.onHandle(listener, 'accepted', ({ handle }) => {
      loop.onHandle(handle, 'tls_ready', (ev) => (ready = ev.value))
      loop.onHandle(handle, 'data', (ev) => {
        received.push(Buffer.from(ev.data))
        total += ev.data.length
        if (total === up.length) pump(loop, handle, down, () => loop.close(handle))
      })
    })
    const port = loop.localAddress(listener).port
    const argv = ['s_client', `-${version}`, '-alpn', 'echo/1', '-connect', `127.0.0.1:${port}`, '-CAfile', `${certDir()}/ca.pem`, '-verify_return_error', '-quiet']
    const child = spawn('openssl', argv, { stdio: ['pipe', 'pipe', 'pipe'] })
    t.after(() => child.kill('SIGKILL'))
    const out = []
    let stderr = ''
    child.stdout.on('data', (d) => out.push(d))
    child.stderr.on('data', (d) => (stderr += d))
    child.stdin.end(up)
    const code = await withTimeout(new Promise((resolve) => child.on('close', resolve)), WAIT_MS * 2, 'openssl s_client')
    assert.equal(ready.protocol, version === 'tls1_2' ? 'TLSv1.2' : 'TLSv1.3')
    assert.equal(ready.alpnProtocol, 'echo/1')
    assert.equal(sha(Buffer.concat(received, total)), sha(up), 'the server got every byte')
    assert.equal(sha(Buffer.concat(out)), sha(down), 'openssl got every byte')
    assert.doesNotMatch(stderr, /unexpected eof/i)
    assert.equal(code, 0, stderr)
  })
}

// -- the failure table ---------------------------------------------------------------

test('failure: a server certificate of an unknown CA (client ETLSUNKNOWNCA, server alert 48)', async (t) => {
  const { server, client } = await pair(t, serverOptions('untrusted'), clientOptions())
  assertTlsError(client.failed, 'ETLSUNKNOWNCA', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
  assert.equal(client.closed.code, 'ETLSUNKNOWNCA')
  assertTlsError(server.failed, 'ETLSALERT', 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 48)
  assert.equal(client.ready, undefined)
})

test('nodeCode is the code Node\'s own tls client reports for the same certificate (unknown CA, expired, wrong name)', async (t) => {
  for (const cert of ['untrusted', 'expired', 'wrongname']) {
    const { client } = await pair(t, serverOptions(cert), clientOptions())
    const loop = newLoop(t)
    const { port } = watchedListener(loop, serverOptions(cert))
    const socket = nodeTls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: pem('ca') })
    const [err] = await withTimeout(new Promise((resolve) => socket.once('error', (e) => resolve([e]))), WAIT_MS, 'the error of Node\'s client')
    assert.equal(client.failed.nodeCode, err.code, `${cert}: netcore ${client.failed.code}`)
  }
})

test('a Node client refusing the server certificate: the netcore server\'s nodeCode is what Node\'s own server reports (unknown CA, expired)', async (t) => {
  for (const cert of ['untrusted', 'expired']) {
    const nodeServer = nodeTls.createServer(serverOptions(cert))
    const nodeSide = new Promise((resolve) => nodeServer.once('tlsClientError', (e) => resolve(e.code)))
    await new Promise((resolve) => nodeServer.listen(0, '127.0.0.1', resolve))
    t.after(() => nodeServer.close())
    const loop = newLoop(t)
    const { port, outcomes } = watchedListener(loop, serverOptions(cert))
    for (const p of [nodeServer.address().port, port]) {
      nodeTls.connect({ host: '127.0.0.1', port: p, servername: 'localhost', ca: pem('ca') }).on('error', () => {})
    }
    const expected = await withTimeout(nodeSide, WAIT_MS, 'the Node server\'s tlsClientError')
    await until(() => outcomes.length === 1 && outcomes[0].closed !== undefined, 'the netcore server closed')
    // Node's client checks the certificate after the handshake and closes without an alert.
    assert.equal(outcomes[0].failed.code, 'ETLSTRUNCATED')
    assert.equal(outcomes[0].failed.nodeCode, expected, cert)
  }
})

test('failure: a certificate for another name (client ETLSBADNAME)', async (t) => {
  const { server, client } = await pair(t, serverOptions('wrongname'), clientOptions())
  assertTlsError(client.failed, 'ETLSBADNAME', 'ERR_TLS_CERT_ALTNAME_INVALID')
  assertTlsError(server.failed, 'ETLSALERT', 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 42)
})

test('failure: an expired certificate (client ETLSEXPIRED)', async (t) => {
  const { server, client } = await pair(t, serverOptions('expired'), clientOptions())
  assertTlsError(client.failed, 'ETLSEXPIRED', 'CERT_HAS_EXPIRED')
  assertTlsError(server.failed, 'ETLSALERT', 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED', 45)
})

test('failure: no ALPN protocol in common (server ETLSNOSHARED, client alert 120)', async (t) => {
  const { server, client } = await pair(t, serverOptions('server', { ALPNProtocols: ['h2'] }), clientOptions({ ALPNProtocols: ['echo/1'] }))
  assertTlsError(server.failed, 'ETLSNOSHARED', undefined)
  assertTlsError(client.failed, 'ETLSALERT', 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL', 120)
})

test('failure: a client without the certificate the server requires (server ETLSBADCERT, client alert 116)', async (t) => {
  const { server, client } = await pair(t, serverOptions('server', { ca: pem('ca'), requestCert: true }), clientOptions())
  assertTlsError(server.failed, 'ETLSBADCERT', undefined)
  // A TLS 1.3 client learns it only after its Finished: its handshake was ready, the close reason says why.
  assert.ok(client.ready)
  assertTlsError(client.closed, 'ETLSALERT', 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 116)
})

test('failure: plaintext to a TLS port (server ETLSNOTTLS)', async (t) => {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0, { tls: serverOptions() })
  const server = {}
  loop.onHandle(listener, 'accepted', (ev) => watch(loop, ev.handle, server))
  const socket = net.connect(loop.localAddress(listener).port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'))
  socket.on('error', () => {})
  socket.resume()
  t.after(() => socket.destroy())
  await until(() => server.closed !== undefined, 'the server closed')
  assertTlsError(server.failed, 'ETLSNOTTLS', 'ERR_SSL_WRONG_VERSION_NUMBER')
  assert.equal(server.closed.code, 'ETLSNOTTLS')
})

test('failure: TLS to a plaintext port (client ETLSNOTTLS)', async (t) => {
  const plain = net.createServer((s) => s.end('220 plaintext here\r\n'))
  await new Promise((resolve) => plain.listen(0, '127.0.0.1', resolve))
  t.after(() => plain.close())
  const loop = newLoop(t)
  const client = {}
  watch(loop, loop.connect('127.0.0.1', plain.address().port, { tls: clientOptions() }), client)
  await until(() => client.closed !== undefined, 'the client closed')
  assertTlsError(client.failed, 'ETLSNOTTLS', 'ERR_SSL_WRONG_VERSION_NUMBER')
})

test('failure: a peer that stays silent (server ETLSTIMEDOUT after handshakeTimeout)', async (t) => {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0, { tls: serverOptions('server', { handshakeTimeout: 100 }) })
  const server = {}
  loop.onHandle(listener, 'accepted', (ev) => watch(loop, ev.handle, server))
  const socket = net.connect(loop.localAddress(listener).port, '127.0.0.1')
  socket.on('error', () => {})
  t.after(() => socket.destroy())
  await until(() => server.closed !== undefined, 'the server closed')
  assertTlsError(server.failed, 'ETLSTIMEDOUT', 'ERR_TLS_HANDSHAKE_TIMEOUT')
})

test('failure: a FIN without close_notify after data (server closed ETLSTRUNCATED)', async (t) => {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0, { tls: serverOptions() })
  const server = { data: '' }
  loop.onHandle(listener, 'accepted', (ev) => {
    watch(loop, ev.handle, server)
    loop.onHandle(ev.handle, 'data', (d) => (server.data += d.data))
  })
  // Node's tls client through a relay that forwards its bytes, then ends
  // the connection to netcore itself: the client never sent close_notify.
  let upstream
  const relay = net.createServer((down) => {
    upstream = net.connect(loop.localAddress(listener).port, '127.0.0.1')
    down.pipe(upstream)
    upstream.pipe(down)
    for (const s of [down, upstream]) s.on('error', () => {})
  })
  await new Promise((resolve) => relay.listen(0, '127.0.0.1', resolve))
  t.after(() => relay.close())
  const socket = nodeTls.connect({ host: '127.0.0.1', port: relay.address().port, servername: 'localhost', ca: pem('ca') })
  socket.on('error', () => {})
  t.after(() => socket.destroy())
  socket.write('cut short')
  await until(() => server.data === 'cut short', 'the data')
  upstream.unpipe()
  upstream.end()
  await until(() => server.closed !== undefined, 'the server closed')
  assert.ok(server.ready)
  assertTlsError(server.closed, 'ETLSTRUNCATED', 'ECONNRESET')
})

/** A TCP relay to `port`: `onChunk(chunk, fromClient)` returns what to forward (default: the chunk). */
async function relay(t, port, onChunk = (chunk) => chunk) {
  // Half-open both ways: an end is forwarded as an end, nothing more.
  const server = net.createServer({ allowHalfOpen: true }, (down) => {
    const up = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true })
    for (const [from, to, fromClient] of [[down, up, true], [up, down, false]]) {
      from.on('data', (chunk) => {
        for (const piece of [].concat(onChunk(chunk, fromClient))) to.write(piece)
      })
      from.on('end', () => to.end())
      from.on('error', () => to.destroy())
    }
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => server.close())
  return server.address().port
}

/** The first bytes of a real ClientHello (Node's tls, captured by a plain TCP server). */
async function clientHelloStart(t) {
  const capture = net.createServer()
  await new Promise((resolve) => capture.listen(0, '127.0.0.1', resolve))
  t.after(() => capture.close())
  const hello = new Promise((resolve) => capture.once('connection', (s) => s.once('data', (d) => resolve(d)).on('error', () => {})))
  const client = nodeTls.connect({ port: capture.address().port, host: '127.0.0.1', servername: 'localhost' })
  client.on('error', () => {})
  t.after(() => client.destroy())
  return (await withTimeout(hello, WAIT_MS, 'the ClientHello')).subarray(0, 40)
}

test('failure: half a ClientHello then FIN (server ETLSTRUNCATED), then RST (server ECONNRESET)', async (t) => {
  const half = await clientHelloStart(t)
  const loop = newLoop(t)
  const { port, outcomes } = watchedListener(loop, serverOptions())
  const fin = net.connect(port, '127.0.0.1', () => fin.end(half))
  fin.on('error', () => {})
  await until(() => outcomes.length === 1 && outcomes[0].closed !== undefined, 'the first connection closed')
  assertTlsError(outcomes[0].failed, 'ETLSTRUNCATED', 'ECONNRESET')
  const rst = net.connect(port, '127.0.0.1', () => rst.write(half))
  rst.on('error', () => {})
  await until(() => outcomes.length === 2, 'the second connection')
  rst.resetAndDestroy()
  await until(() => outcomes[1].closed !== undefined, 'the second connection closed')
  assert.equal(outcomes[1].failed.code, 'ECONNRESET')
  assert.equal(outcomes[1].closed.code, 'ECONNRESET')
})

test('failure: half a ClientHello then silence (server ETLSTIMEDOUT after handshakeTimeout, nothing left open)', async (t) => {
  const half = await clientHelloStart(t)
  const loop = newLoop(t)
  const { port, outcomes } = watchedListener(loop, serverOptions('server', { handshakeTimeout: 100 }))
  const silent = net.connect(port, '127.0.0.1', () => silent.write(half))
  silent.on('error', () => {})
  silent.resume()
  t.after(() => silent.destroy())
  const ended = new Promise((resolve) => silent.on('close', resolve))
  await until(() => outcomes.length === 1 && outcomes[0].closed !== undefined, 'the connection closed')
  assertTlsError(outcomes[0].failed, 'ETLSTIMEDOUT', 'ERR_TLS_HANDSHAKE_TIMEOUT')
  assert.equal(outcomes[0].closed.code, 'ETLSTIMEDOUT')
  await withTimeout(ended, WAIT_MS, 'the silent client to see the connection end')
  await until(() => loop.handleCount === 1, 'only the listener left open')
})

test('failure: one flipped byte in a record (server ETLSPROTOCOL, client alert 20 bad_record_mac)', async (t) => {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0, { tls: serverOptions() })
  const server = {}
  loop.onHandle(listener, 'accepted', (ev) => watch(loop, ev.handle, server))
  let flip = false
  const port = await relay(t, loop.localAddress(listener).port, (chunk, fromClient) => {
    if (!fromClient || !flip) return chunk
    flip = false
    const copy = Buffer.from(chunk)
    copy[copy.length - 1] ^= 0x01 // in the record's authentication tag
    return copy
  })
  const client = {}
  const handle = loop.connect('127.0.0.1', port, { tls: clientOptions(), servername: 'localhost' })
  watch(loop, handle, client)
  await until(() => client.ready !== undefined && server.ready !== undefined, 'both handshakes')
  flip = true
  loop.send(handle, 'tampered')
  await until(() => server.closed !== undefined && client.closed !== undefined, 'both ends closed')
  assertTlsError(server.closed, 'ETLSPROTOCOL', undefined)
  assertTlsError(client.closed, 'ETLSALERT', undefined, 20)
})

test('failure: openssl s_client offering only TLS 1.1, and one offering another ALPN protocol (server ETLSNOSHARED)', async (t) => {
  const loop = newLoop(t)
  const { port, outcomes } = watchedListener(loop, serverOptions('server', { ALPNProtocols: ['h2'] }))
  for (const args of [['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0'], ['-alpn', 'echo/1']]) {
    const r = await run(['openssl', 's_client', '-connect', `127.0.0.1:${port}`, ...args], { ms: WAIT_MS })
    assert.notEqual(r.code, 0, 'openssl failed the handshake too')
    await until(() => outcomes.length > 0 && outcomes.at(-1).closed !== undefined, 'the server closed')
    assertTlsError(outcomes.at(-1).failed, 'ETLSNOSHARED', undefined)
    // By number: s_client's words for an alert differ between OpenSSL versions.
    if (args[0] === '-alpn') assert.match(r.stdout + r.stderr, /SSL alert number 120\b/)
  }
})

test('a netcore client with a certificate and ALPN against openssl s_server requiring one (-Verify, -rev)', async (t) => {
  const child = spawn('openssl', ['s_server', '-accept', '127.0.0.1:0', '-cert', `${certDir()}/server.pem`, '-key', `${certDir()}/server.key`, '-CAfile', `${certDir()}/ca.pem`, '-Verify', '1', '-verify_return_error', '-alpn', 'echo/1', '-rev', '-naccept', '1'], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(() => child.kill('SIGKILL'))
  let out = ''
  child.stderr.on('data', (d) => (out += d))
  const port = await withTimeout(new Promise((resolve) => child.stdout.on('data', (d) => {
    out += d
    const m = /ACCEPT 127\.0\.0\.1:(\d+)/.exec(out)
    if (m) resolve(Number(m[1]))
  })), WAIT_MS, 'openssl s_server')
  const loop = newLoop(t)
  const tls = createSecureContext(clientOptions({ cert: pem('client'), key: pem('client.key'), ALPNProtocols: ['echo/1'] }))
  const { handle } = await loop.connectAsync('127.0.0.1', port, { tls, servername: 'localhost' })
  loop.setFraming(handle, 'delimited')
  const ready = await nextEvent(loop, 'tls_ready', { handle })
  assert.equal(ready.alpnProtocol, 'echo/1')
  const reply = nextEvent(loop, 'data', { handle })
  loop.send(handle, 'netcore\n')
  assert.equal((await reply).data.toString(), 'erocten')
  loop.close(handle)
})

test('bytes at record boundaries (1 B, 16383, 16384, 16385, 1 MiB + 1), also through a relay forwarding one byte at a time', async (t) => {
  const loop = newLoop(t)
  const { port } = echoServer(loop, '127.0.0.1', { tls: serverOptions() })
  const tls = createSecureContext(clientOptions())
  for (const size of [1, 16383, 16384, 16385, 1024 * 1024 + 1]) {
    const payload = randomBytes(size)
    const { data } = await roundTrip(loop, 'localhost', port, payload, { options: { tls } })
    assert.equal(sha(data), sha(payload), `${size} bytes`)
  }
  const slow = await relay(t, port, (chunk) => [...chunk].map((byte) => Buffer.of(byte)))
  const payload = randomBytes(16385)
  const { data, closed } = await roundTrip(loop, '127.0.0.1', slow, payload, { options: { tls, servername: 'localhost' } })
  assert.equal(closed.error, undefined)
  assert.equal(sha(data), sha(payload), 'one byte at a time')
})

test('send tokens and pause/resume under TLS: sent after the bytes left, no data while paused, all of it after resume', async (t) => {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0, { tls: serverOptions() })
  let server
  const received = []
  loop.onHandle(listener, 'accepted', (ev) => {
    server = ev.handle
    loop.onHandle(server, 'data', (d) => received.push(Buffer.from(d.data)))
  })
  const { handle } = await loop.connectAsync('localhost', loop.localAddress(listener).port, { tls: clientOptions() })
  await nextEvent(loop, 'tls_ready', { handle: server, filter: () => server !== undefined })
  loop.pause(server)
  const payload = randomBytes(256 * 1024)
  const sent = nextEvent(loop, 'sent', { handle })
  loop.send(handle, payload, { token: 7 })
  assert.equal((await sent).value, 7)
  const before = received.length
  await nextEvent(loop, 'timer', { handle: loop.timer(50) }) // the loop keeps running while paused
  assert.equal(received.length, before, 'no data while paused')
  loop.resume(server)
  await until(() => received.reduce((n, b) => n + b.length, 0) === payload.length, 'every byte after resume')
  assert.equal(sha(Buffer.concat(received)), sha(payload))
})

// -- STARTTLS, rotation, backpressure --------------------------------------------------

test('STARTTLS: a live plaintext connection upgraded by both ends, then data under TLS', async (t) => {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0)
  const serverTls = createSecureContext(serverOptions())
  const got = []
  loop.onHandle(listener, 'accepted', ({ handle }) => {
    loop.setFraming(handle, 'delimited')
    loop.onHandle(handle, 'data', (ev) => {
      got.push(ev.data.toString())
      if (ev.data.toString() === 'STARTTLS') {
        loop.send(handle, 'GO\n') // plaintext: queued before the upgrade, it goes first
        loop.startTls(handle, serverTls, { isServer: true })
      }
    })
  })
  const { handle } = await loop.connectAsync('localhost', loop.localAddress(listener).port)
  loop.setFraming(handle, 'delimited')
  assert.equal(loop.tlsInfo(handle), null)
  const go = nextEvent(loop, 'data', { handle })
  loop.send(handle, 'STARTTLS\n')
  assert.equal((await go).data.toString(), 'GO')
  const ready = nextEvent(loop, 'tls_ready', { handle })
  loop.startTls(handle, createSecureContext(clientOptions()))
  loop.send(handle, 'secret\n')
  assert.equal((await ready).protocol, 'TLSv1.3')
  await until(() => got.length === 2, 'the line sent under TLS')
  assert.deepEqual(got, ['STARTTLS', 'secret'])
  assert.throws(() => loop.startTls(handle, createSecureContext(clientOptions())), { code: 'EINVAL' }, 'already TLS')
})

test('STARTTLS injection: plaintext after STARTTLS in the same read is never delivered, the connection fails ETLSPROTOCOL', async (t) => {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0)
  const serverTls = createSecureContext(serverOptions())
  const server = { lines: [] }
  loop.onHandle(listener, 'accepted', ({ handle }) => {
    watch(loop, handle, server)
    loop.setFraming(handle, 'delimited')
    loop.onHandle(handle, 'data', (ev) => {
      server.lines.push(ev.data.toString())
      if (ev.data.toString() === 'STARTTLS') loop.startTls(handle, serverTls, { isServer: true })
    })
  })
  const { handle } = await loop.connectAsync('127.0.0.1', loop.localAddress(listener).port)
  loop.onHandle(handle, 'eof', () => loop.close(handle))
  loop.send(handle, 'STARTTLS\nINJECTED\n')
  await until(() => server.closed !== undefined, 'the server closed')
  assert.deepEqual(server.lines, ['STARTTLS'])
  assert.equal(server.failed.code, 'ETLSPROTOCOL')
  assert.match(server.failed.reason, /upgrade point/)
  assert.equal(server.closed.code, 'ETLSPROTOCOL')
})

test('setSecureContext rotates a listener\'s certificate for later accepts', async (t) => {
  const loop = newLoop(t)
  const { listener, port } = echoServer(loop, '127.0.0.1', { tls: createSecureContext(serverOptions()) })
  const issuer = async (ca) => {
    const ready = nextEvent(loop, 'tls_ready', { filter: (ev) => loop.getUserdata(ev.handle) === ca })
    const trip = roundTrip(loop, 'localhost', port, Buffer.from('hi'), { options: { tls: { ca: pem(ca) }, userdata: ca } })
    const issuerName = loop.getPeerCertificate((await ready).handle).issuer
    assert.equal((await trip).data.toString(), 'hi')
    return issuerName
  }
  assert.equal(await issuer('ca'), 'CN=netcore test CA')
  loop.setSecureContext(listener, serverOptions('untrusted'))
  assert.equal(await issuer('other-ca'), 'CN=netcore untrusted CA')
})

test('backpressure under TLS: send() refuses above the high-water mark, drain, every byte echoed in order', async (t) => {
  const loop = newLoop(t)
  const { port } = echoServer(loop, '127.0.0.1', { tls: serverOptions() })
  const payload = randomBytes(8 * 1024 * 1024)
  let refusals = 0
  const { handle } = await loop.connectAsync('localhost', port, { tls: clientOptions() })
  loop.setOption(handle, 'low_water', 32 * 1024)
  loop.setOption(handle, 'high_water', 128 * 1024)
  const received = []
  let total = 0
  loop.onHandle(handle, 'data', (ev) => {
    received.push(Buffer.from(ev.data))
    total += ev.data.length
  })
  loop.onHandle(handle, 'drain', () => refusals++)
  const closed = nextEvent(loop, 'closed', { handle })
  loop.onHandle(handle, 'eof', () => loop.close(handle))
  pump(loop, handle, payload, () => loop.shutdown(handle))
  assert.equal((await closed).error, undefined)
  assert.ok(refusals > 0, 'some sends were refused and drained')
  assert.equal(sha(Buffer.concat(received, total)), sha(payload))
})

test('water marks and queuedBytes count TLS records on the wire: a mark of 3 x 1022 - 1 refuses the third 1,000 B message, 3 x 1022 admits it', async (t) => {
  const loop = newLoop(t)
  const { port } = echoServer(loop, '127.0.0.1', { tls: serverOptions() })
  // Queued before the handshake ends (nothing runs the loop in between):
  // each message is one TLS 1.3 record, 5 B header + 1 B content type + 16 B tag.
  const handle = loop.connect('localhost', port, { tls: clientOptions() })
  const wire = 1000 + 22
  const messages = [0, 1, 2].map((i) => Buffer.alloc(1000, 97 + i))
  loop.setOption(handle, 'low_water', 0)
  loop.setOption(handle, 'high_water', 3 * wire - 1)
  assert.equal(loop.send(handle, messages[0]), true)
  assert.equal(loop.send(handle, messages[1]), true)
  assert.equal(loop.queuedBytes(handle), 2 * wire)
  assert.equal(loop.send(handle, messages[2]), false, 'counting plaintext would admit it')
  loop.setOption(handle, 'high_water', 3 * wire)
  assert.equal(loop.send(handle, messages[2]), true)
  assert.equal(loop.queuedBytes(handle), 3 * wire)
  const received = []
  loop.onHandle(handle, 'data', (ev) => received.push(Buffer.from(ev.data)))
  await until(() => received.reduce((n, b) => n + b.length, 0) >= 3000, 'the echo')
  assert.deepEqual(Buffer.concat(received), Buffer.concat(messages))
  assert.equal(loop.queuedBytes(handle), 0)
})

/** The whole TLS records at the start of `raw`: [content type, length]. */
function tlsRecords(raw) {
  const found = []
  let at = 0
  while (raw.length - at >= 5 && raw.length - at >= 5 + raw.readUInt16BE(at + 3)) {
    found.push([raw[at], raw.readUInt16BE(at + 3)])
    at += 5 + raw.readUInt16BE(at + 3)
  }
  return found
}

test('a gather send under TLS: sendv of 100 + 1,000 + 5,000 B is one record on the wire, 3 x 10,000 B full records', async (t) => {
  const APPLICATION_DATA = 23
  const OVERHEAD = 1 + 16 // TLS 1.3: the inner content type and the AEAD tag
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0, { tls: serverOptions() })
  let server
  loop.onHandle(listener, 'accepted', (ev) => (server = ev.handle))
  // A relay that keeps what the server sends, so the test sees its records.
  let wire = []
  const port = await relay(t, loop.localAddress(listener).port, (chunk, fromClient) => {
    if (!fromClient) wire.push(chunk)
    return chunk
  })
  const handle = loop.connect('127.0.0.1', port, { tls: clientOptions(), servername: 'localhost' })
  let received = 0
  loop.onHandle(handle, 'data', (ev) => (received += ev.data.length))
  await nextEvent(loop, 'tls_ready', { handle: server, filter: () => server !== undefined })
  const recordsUntil = async (total) => {
    await until(() => received >= total, `${total} bytes`)
    assert.equal(received, total)
    const found = tlsRecords(Buffer.concat(wire))
    wire = []
    return found
  }
  // What the server sends after its handshake (session tickets) comes first.
  loop.send(server, 'ping')
  await recordsUntil(4)
  assert.equal(loop.sendv(server, [Buffer.alloc(100, 97), Buffer.alloc(1000, 98), Buffer.alloc(5000, 99)]), true)
  assert.deepEqual(await recordsUntil(4 + 6100), [[APPLICATION_DATA, 6100 + OVERHEAD]], 'three buffers, one record')
  const part = Buffer.alloc(10000, 100)
  assert.equal(loop.sendv(server, [part, part, part]), true)
  assert.deepEqual(await recordsUntil(4 + 6100 + 30000),
    [[APPLICATION_DATA, 16384 + OVERHEAD], [APPLICATION_DATA, 13616 + OVERHEAD]], 'full records')
})

test('a half-close under TLS: shutdown() sends close_notify, then FIN, after the data; the peer\'s answer still arrives', async (t) => {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0, { tls: serverOptions() })
  const server = { data: '' }
  const order = []
  loop.onHandle(listener, 'accepted', (ev) => {
    loop.onHandle(ev.handle, 'data', (d) => (server.data += d.data))
    loop.onHandle(ev.handle, 'eof', () => {
      order.push('server eof')
      assert.equal(loop.send(ev.handle, 'answer'), true)
      loop.close(ev.handle)
    })
    loop.onHandle(ev.handle, 'closed', (c) => (server.closed = c.error || null))
  })
  const handle = loop.connect('localhost', loop.localAddress(listener).port, { tls: clientOptions() })
  let answer = ''
  loop.onHandle(handle, 'data', (d) => (answer += d.data))
  loop.onHandle(handle, 'eof', () => order.push('client eof'))
  const closed = nextEvent(loop, 'closed', { handle })
  assert.equal(loop.send(handle, 'question'), true)
  loop.shutdown(handle)
  assert.throws(() => loop.send(handle, 'more'), { code: 'EPIPE' })
  assert.equal((await closed).error, undefined)
  await until(() => server.closed !== undefined, 'the server closed')
  assert.equal(server.closed, null)
  assert.equal(server.data, 'question')
  assert.equal(answer, 'answer')
  assert.deepEqual(order, ['server eof', 'client eof']) // the client's eof: the server's close_notify and FIN
})

test('an idle TLS connection gets idle and stays usable', async (t) => {
  const loop = newLoop(t)
  const { port } = echoServer(loop, '127.0.0.1', { tls: serverOptions() })
  const handle = loop.connect('localhost', port, { tls: clientOptions() })
  await nextEvent(loop, 'tls_ready', { handle })
  const closed = []
  loop.onHandle(handle, 'closed', (ev) => closed.push(ev))
  loop.setIdleTimeout(handle, 100)
  await nextEvent(loop, 'idle', { handle })
  assert.equal(closed.length, 0)
  loop.setIdleTimeout(handle, null)
  let echoed = ''
  loop.onHandle(handle, 'data', (ev) => (echoed += ev.data))
  assert.equal(loop.send(handle, 'after idle'), true)
  await until(() => echoed === 'after idle', 'the echo')
})

test('handshake traffic keeps a TLS connection from going idle: a ClientHello trickled over 3 s, idle timeout 2 s', async (t) => {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0, { tls: serverOptions() })
  const IDLE_MS = 2000
  const PIECES = 6
  const events = []
  let server
  loop.onHandle(listener, 'accepted', (ev) => {
    server = ev.handle
    loop.setIdleTimeout(server, IDLE_MS)
    for (const kind of ['tls_ready', 'idle', 'closed']) loop.onHandle(server, kind, () => events.push(kind))
  })
  // A relay that forwards the client's first bytes (its ClientHello) in
  // pieces a quarter of the idle timeout apart, then everything at once.
  const trickler = net.createServer((down) => {
    const up = net.connect(loop.localAddress(listener).port, '127.0.0.1')
    up.pipe(down)
    for (const s of [down, up]) s.on('error', () => {})
    down.once('data', (hello) => {
      down.pause()
      const size = Math.ceil(hello.length / PIECES)
      const next = (at) => {
        up.write(hello.subarray(at, at + size))
        if (at + size < hello.length) setTimeout(next, IDLE_MS / 4, at + size)
        else setTimeout(() => down.pipe(up), IDLE_MS / 4)
      }
      next(0)
    })
  })
  await new Promise((resolve) => trickler.listen(0, '127.0.0.1', resolve))
  t.after(() => trickler.close())
  const socket = nodeTls.connect({ host: '127.0.0.1', port: trickler.address().port, servername: 'localhost', ca: pem('ca') })
  socket.on('error', () => {})
  t.after(() => socket.destroy())
  await withTimeout(new Promise((resolve) => socket.once('secureConnect', resolve)), WAIT_MS + 2 * PIECES * IDLE_MS / 4, 'secureConnect')
  await until(() => events.includes('tls_ready'), 'the server\'s handshake')
  assert.deepEqual(events, ['tls_ready'], 'handshake traffic counts')
  await until(() => events.includes('idle'), 'idle once silent')
  assert.deepEqual(events, ['tls_ready', 'idle'])
})

// -- contexts ---------------------------------------------------------------------------

test('createSecureContext: the core judges the values, type errors are Node\'s', () => {
  assert.ok(createSecureContext(serverOptions()) instanceof SecureContext)
  assert.throws(() => createSecureContext({ cert: pem('server'), key: pem('client.key') }), { code: 'EINVAL', argument: 'key' })
  assert.throws(() => createSecureContext({ cert: 'not PEM', key: pem('server.key') }), { code: 'EINVAL', argument: 'cert' })
  assert.throws(() => createSecureContext({ ...serverOptions(), minVersion: 'TLSv1.1' }), { code: 'EINVAL', argument: 'min_version' })
  assert.throws(() => createSecureContext({ ...serverOptions(), requestCert: true }), { code: 'EINVAL', argument: 'client_ca' })
  assert.throws(() => createSecureContext({ key: 5 }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => createSecureContext({ ALPNProtocols: 'h2' }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => createSecureContext({ handshakeTimeout: -1 }), { code: 'ERR_OUT_OF_RANGE' })
  // Node options netcore does not implement are refused, never ignored.
  for (const option of ['pfx', 'passphrase', 'ciphers', 'SNICallback', 'checkServerIdentity']) {
    assert.throws(() => createSecureContext({ ...serverOptions(), [option]: 'x' }), { code: 'ERR_INVALID_ARG_VALUE', message: new RegExp(`options\\.${option}`) })
  }
  assert.throws(() => createSecureContext({ ...serverOptions(), maxVersion: 'TLSv1.2' }), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.ok(createSecureContext({ ...serverOptions(), maxVersion: 'TLSv1.3', ciphers: undefined }) instanceof SecureContext)
  const loop = newLoop({ after: () => {} })
  assert.throws(() => loop.connect('localhost', 1, { tls: clientOptions({ ca: 'not PEM' }) }), { code: 'EINVAL', argument: 'ca' })
  assert.throws(() => loop.listen('127.0.0.1', 0, { tls: 'yes' }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => loop.connect('127.0.0.1', 9, { tls: clientOptions(), servername: 'bad name!' }), { code: 'EINVAL', argument: 'server_name' })
  assert.equal(loop.handleCount, 0, 'nothing was created')
  loop.close()
})

test('rejectUnauthorized: false takes a server nobody trusts, and tls_ready says authorized: false', async (t) => {
  const loop = newLoop(t)
  const { port } = watchedListener(loop, createSecureContext(serverOptions('untrusted')))
  const client = {}
  const handle = loop.connect('localhost', port, { tls: createSecureContext({ rejectUnauthorized: false }) })
  watch(loop, handle, client)
  await until(() => client.ready !== undefined || client.failed !== undefined, 'the handshake')
  assert.equal(client.failed, undefined)
  assert.equal(client.ready.authorized, false)
  loop.close(handle)
  await until(() => client.closed !== undefined, 'closed')
})

// -- the examples -----------------------------------------------------------------------

test('tls_echo_server.js: listening line, echoes 1 MiB to Node\'s tls, tls_echo_client.js, exits 0 on SIGTERM', async (t) => {
  const env = { ...process.env, NETCORE_TLS_CERT: `${certDir()}/server.pem`, NETCORE_TLS_KEY: `${certDir()}/server.key`, NETCORE_TLS_CA: `${certDir()}/ca.pem` }
  const server = await startServer([process.execPath, `${NODE_EXAMPLES}/tls_echo_server.js`, '0'], { env })
  t.after(() => server.child.kill('SIGKILL'))
  const payload = randomBytes(1024 * 1024)
  const socket = nodeTls.connect({ host: '127.0.0.1', port: server.port, servername: 'localhost', ca: pem('ca') })
  t.after(() => socket.destroy())
  const chunks = []
  socket.on('data', (d) => chunks.push(d))
  socket.end(payload)
  await withTimeout(new Promise((resolve, reject) => socket.once('end', resolve).once('error', reject)), WAIT_MS, 'the echo')
  assert.equal(sha(Buffer.concat(chunks)), sha(payload))
  const client = await run([process.execPath, `${NODE_EXAMPLES}/tls_echo_client.js`, `localhost:${server.port}`, 'one', 'two'], { env })
  assert.equal(client.code, 0, client.stderr)
  assert.equal(client.stdout, 'one\ntwo\n')
  assert.match(client.stderr, /TLSv1\.3 .* server CN=localhost issued by CN=netcore test CA/)
  const refused = await run([process.execPath, `${NODE_EXAMPLES}/tls_echo_client.js`, `localhost:${server.port}`, 'x'], { env: { ...env, NETCORE_TLS_CA: `${certDir()}/other-ca.pem` } })
  assert.equal(refused.code, 1)
  assert.match(refused.stderr, /ETLSUNKNOWNCA .*\[Node: UNABLE_TO_VERIFY_LEAF_SIGNATURE\]/)
  assert.deepEqual(await stop(server, 'SIGTERM'), { code: 0, signal: null })
})

test('tls_echo_server.js without NETCORE_TLS_CERT / NETCORE_TLS_KEY exits 2, with a key that does not match exits 1', async () => {
  const env = { ...process.env, NETCORE_TLS_CERT: '', NETCORE_TLS_KEY: '' }
  const missing = await run([process.execPath, `${NODE_EXAMPLES}/tls_echo_server.js`, '0'], { env })
  assert.equal(missing.code, 2)
  assert.match(missing.stderr, /NETCORE_TLS_CERT and NETCORE_TLS_KEY/)
  const mismatch = await run([process.execPath, `${NODE_EXAMPLES}/tls_echo_server.js`, '0'], { env: { ...env, NETCORE_TLS_CERT: `${certDir()}/server.pem`, NETCORE_TLS_KEY: `${certDir()}/client.key` } })
  assert.equal(mismatch.code, 1)
  assert.match(mismatch.stderr, /EINVAL \(key: /)
})

test('https_server.js: curl --cacert fetches from it over TLS with ALPN http/1.1; exits 0 on SIGTERM', async (t) => {
  assert.ok(!spawnSync('curl', ['--version']).error, 'curl is missing: bindings/node/test.sh installs it when run as root, else apt-get install curl')
  const env = { ...process.env, NETCORE_TLS_CERT: `${certDir()}/server.pem`, NETCORE_TLS_KEY: `${certDir()}/server.key` }
  const server = await startServer([process.execPath, `${NODE_EXAMPLES}/https_server.js`, '0'], { env })
  t.after(() => server.child.kill('SIGKILL'))
  const r = await run(['curl', '-sS', '--cacert', `${certDir()}/ca.pem`, `https://localhost:${server.port}/hi`], { ms: WAIT_MS })
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /^hello from netcore: GET \/hi over TLSv1\.3 \(TLS13_\w+\), ALPN http\/1\.1\n$/)
  assert.deepEqual(await stop(server, 'SIGTERM'), { code: 0, signal: null })
})

test('starttls_server.js: openssl s_client -starttls smtp upgrades the live connection and talks under TLS', async (t) => {
  const env = { ...process.env, NETCORE_TLS_CERT: `${certDir()}/server.pem`, NETCORE_TLS_KEY: `${certDir()}/server.key` }
  const server = await startServer([process.execPath, `${NODE_EXAMPLES}/starttls_server.js`, '0'], { env })
  t.after(() => server.child.kill('SIGKILL'))
  const argv = ['openssl', 's_client', '-starttls', 'smtp', '-connect', `127.0.0.1:${server.port}`, '-CAfile', `${certDir()}/ca.pem`, '-verify_return_error', '-quiet']
  const r = await run(argv, { input: 'hello\nQUIT\n', ms: WAIT_MS })
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /250 ok: hello\r\n221 bye\r\n$/)
  assert.deepEqual(await stop(server, 'SIGTERM'), { code: 0, signal: null })
})

// -- the connection contracts under TLS -------------------------------------------------

test('the connect timeout covers the handshake: a silent server fails the client ETLSTIMEDOUT', async (t) => {
  const silent = net.createServer((s) => s.on('error', () => {}))
  await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve))
  t.after(() => silent.close())
  const loop = newLoop(t)
  const client = {}
  watch(loop, loop.connect('127.0.0.1', silent.address().port, { tls: clientOptions(), servername: 'localhost', timeout: 100 }), client)
  await until(() => client.closed !== undefined, 'the client closed')
  assertTlsError(client.failed, 'ETLSTIMEDOUT', 'ERR_TLS_HANDSHAKE_TIMEOUT')
  assert.equal(client.closed.code, 'ETLSTIMEDOUT')
})

test('auto-reconnect under TLS: a lost connection comes back with a fresh handshake', async (t) => {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0, { tls: serverOptions() })
  let handshakes = 0
  loop.onHandle(listener, 'accepted', (ev) => {
    loop.onHandle(ev.handle, 'tls_ready', () => {
      if (++handshakes === 1) loop.close(ev.handle) // the first connection is lost
    })
  })
  const handle = loop.connect('localhost', loop.localAddress(listener).port, { tls: clientOptions(), reconnect: [20] })
  const seen = []
  for (const type of ['connected', 'tls_ready', 'reconnecting']) loop.onHandle(handle, type, () => seen.push(type))
  // The server's tls_ready may come after the client's (TLS 1.3: the client finishes first).
  await until(() => seen.length === 5 && handshakes === 2, 'connected, ready, reconnecting, connected, ready; 2 on the server')
  assert.deepEqual(seen, ['connected', 'tls_ready', 'reconnecting', 'connected', 'tls_ready'])
  loop.close(handle)
})

test('graceful server shutdown under TLS: the client gets close_notify (a clean eof), then shutdown_complete', async (t) => {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0, { tls: serverOptions() })
  const client = {}
  const handle = loop.connect('localhost', loop.localAddress(listener).port, { tls: clientOptions() })
  watch(loop, handle, client)
  let eof = false
  loop.onHandle(handle, 'eof', () => (eof = true))
  await until(() => client.ready !== undefined, 'the handshake')
  const complete = nextEvent(loop, 'shutdown_complete', { handle: listener })
  loop.shutdownServer(listener, WAIT_MS)
  await complete
  await until(() => client.closed !== undefined, 'the client closed')
  assert.equal(eof, true)
  assert.equal(client.closed, null, 'closed without an error')
})

test('one SecureContext shares its session cache: a second connection resumes, one with a fresh context does not', async (t) => {
  const loop = newLoop(t)
  const { port } = echoServer(loop, '127.0.0.1', { tls: serverOptions() })
  const shared = createSecureContext(clientOptions())
  const resumed = async (tls) => {
    const ready = nextEvent(loop, 'tls_ready', { filter: (ev) => loop.getUserdata(ev.handle) === tls })
    await roundTrip(loop, 'localhost', port, Buffer.from('x'), { options: { tls, userdata: tls } })
    return (await ready).resumed
  }
  assert.equal(await resumed(shared), false)
  assert.equal(await resumed(shared), true)
  assert.equal(await resumed(createSecureContext(clientOptions())), false)
})

test('the connection cap under TLS: a second client is accepted and handshakes only after the first closed', async (t) => {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0, { tls: serverOptions(), maxConnections: 1 })
  const order = []
  loop.onHandle(listener, 'accepted', (ev) => {
    loop.onHandle(ev.handle, 'eof', () => loop.close(ev.handle))
    loop.onHandle(ev.handle, 'closed', () => order.push('server closed'))
  })
  const port = loop.localAddress(listener).port
  const first = loop.connect('localhost', port, { tls: clientOptions() })
  await nextEvent(loop, 'tls_ready', { handle: first })
  const second = loop.connect('localhost', port, { tls: clientOptions() })
  const secondReady = nextEvent(loop, 'tls_ready', { handle: second }).then(() => order.push('second ready'))
  await nextEvent(loop, 'connected', { handle: second }) // in the backlog: the kernel accepted it
  loop.close(first)
  await secondReady
  assert.deepEqual(order, ['server closed', 'second ready'])
})

test('a hard close under TLS: closeReset() on the client, the server closes ECONNRESET', async (t) => {
  const { port, outcomes } = watchedListener(newLoop(t), serverOptions())
  const loop = newLoop(t)
  const handle = loop.connect('localhost', port, { tls: clientOptions() })
  await nextEvent(loop, 'tls_ready', { handle })
  await until(() => outcomes.length === 1 && outcomes[0].ready !== undefined, 'the server handshake')
  loop.closeReset(handle)
  await until(() => outcomes[0].closed !== undefined, 'the server closed')
  assert.equal(outcomes[0].closed.code, 'ECONNRESET')
})
