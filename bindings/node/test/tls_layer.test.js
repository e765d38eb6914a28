'use strict'
// require('netcore').tls: Node's tls API over netcore sockets, against
// Node's own tls and https both ways, and against itself.
const test = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')
const net = require('node:net')
const https = require('node:https')
const nodeTls = require('node:tls')
const { tls } = require('netcore')
const { newLoop, until, randomBytes, sha, withTimeout, WAIT_MS } = require('../testlib/helpers')
const { pem, serverOptions, clientOptions } = require('../testlib/tls')

/** Resolves with `emitter`'s first `event` (its arguments), rejects on its 'error'. */
function once(emitter, event) {
  return withTimeout(
    new Promise((resolve, reject) => {
      emitter.once(event, (...args) => resolve(args))
      if (event !== 'error') emitter.once('error', reject)
    }),
    WAIT_MS,
    `'${event}'`,
  )
}

/** Writes `payload`, ends, and resolves with everything read until 'end'. */
async function exchange(socket, payload) {
  const chunks = []
  socket.on('data', (d) => chunks.push(d))
  socket.end(payload)
  await once(socket, 'end')
  return Buffer.concat(chunks)
}

function listening(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)))
}

test('tls.createServer (netcore) and a client of Node\'s tls: secureConnection, ALPN, client certificate, 2 MiB piped back', async (t) => {
  const loop = newLoop(t)
  let seen
  const server = tls.createServer({ loop, ...serverOptions('server', { ca: pem('ca'), requestCert: true, ALPNProtocols: ['h2', 'echo/1'] }) }, (socket) => {
    seen = { alpn: socket.alpnProtocol, authorized: socket.authorized, cn: socket.getPeerCertificate().subject.CN, protocol: socket.getProtocol(), encrypted: socket.encrypted }
    socket.pipe(socket)
  })
  const port = await listening(server)
  t.after(() => server.close())
  const client = nodeTls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: pem('ca'), cert: pem('client'), key: pem('client.key'), ALPNProtocols: ['echo/1'] })
  await once(client, 'secureConnect')
  assert.equal(client.authorized, true, client.authorizationError)
  const payload = randomBytes(2 * 1024 * 1024)
  assert.equal(sha(await exchange(client, payload)), sha(payload))
  assert.deepEqual(seen, { alpn: 'echo/1', authorized: true, cn: 'netcore-test-client', protocol: 'TLSv1.3', encrypted: true })
})

test('tls.connect (netcore) to a server of Node\'s tls: secureConnect, authorized, the server certificate, 1 MiB echoed', async (t) => {
  const server = nodeTls.createServer({ ...serverOptions(), ALPNProtocols: ['echo/1'] }, (s) => s.pipe(s))
  const port = await listening(server)
  t.after(() => server.close())
  const loop = newLoop(t)
  const socket = tls.connect(port, 'localhost', { loop, ...clientOptions({ ALPNProtocols: ['echo/1'] }) })
  await once(socket, 'secureConnect')
  assert.equal(socket.authorized, true)
  assert.equal(socket.alpnProtocol, 'echo/1')
  assert.equal(socket.getPeerCertificate().subject.CN, 'localhost')
  assert.equal(socket.getPeerX509Certificate().issuer, 'CN=netcore test CA')
  assert.equal(socket.getCipher().version, 'TLSv1.3')
  const payload = randomBytes(1024 * 1024)
  assert.equal(sha(await exchange(socket, payload)), sha(payload))
})

test('Node\'s http serves HTTPS on tls.createServer sockets, fetched by Node\'s https with the test CA', async (t) => {
  const loop = newLoop(t)
  const body = randomBytes(4 * 1024 * 1024)
  const app = http.createServer((req, res) => res.end(body))
  const server = tls.createServer({ loop, ...serverOptions() }, (socket) => app.emit('connection', socket))
  const port = await listening(server)
  t.after(() => server.close())
  const got = await withTimeout(
    new Promise((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port, servername: 'localhost', ca: pem('ca'), agent: false }, (res) => {
          const chunks = []
          res.on('data', (d) => chunks.push(d))
          res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }))
        })
        .on('error', reject)
    }),
    WAIT_MS,
    'the HTTPS response',
  )
  assert.equal(got.status, 200)
  assert.equal(sha(got.body), sha(body))
})

test('a failed handshake: the client\'s error (Node\'s code, netcore\'s in netcoreCode), the server\'s tlsClientError', async (t) => {
  const loop = newLoop(t)
  const server = tls.createServer({ loop, ...serverOptions('expired') }, () => assert.fail('no secure connection'))
  const clientError = once(server, 'tlsClientError')
  const port = await listening(server)
  t.after(() => server.close())
  const socket = tls.connect({ loop, port, host: 'localhost', ...clientOptions() })
  const closed = new Promise((resolve) => socket.once('close', resolve))
  const [err] = await once(socket, 'error')
  assert.equal(err.code, 'CERT_HAS_EXPIRED')
  assert.equal(err.netcoreCode, 'ETLSEXPIRED')
  const [serverErr, serverSocket] = await clientError
  assert.equal(serverErr.code, 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED')
  assert.equal(serverErr.netcoreCode, 'ETLSALERT')
  assert.equal(serverErr.alert, 45)
  assert.ok(serverSocket instanceof tls.TLSSocket)
  assert.equal(await withTimeout(closed, WAIT_MS, "'close'"), true, 'hadError')
})

test("a certificate the client cannot trust: the same error code as Node's tls client gets", async (t) => {
  const loop = newLoop(t)
  const server = tls.createServer({ loop, ...serverOptions() }, (s) => s.end())
  server.on('tlsClientError', () => {})
  const port = await listening(server)
  t.after(() => server.close())
  const refusal = async (module) => {
    const socket = module.connect({ port, host: '127.0.0.1', servername: 'localhost' }) // no ca: the test CA is unknown
    const [err] = await once(socket, 'error')
    return err.code
  }
  const expected = await refusal(nodeTls)
  assert.equal(expected, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
  assert.equal(await refusal(tls), expected)
})

test('setSecureContext on a tls.Server: later connections get the new certificate', async (t) => {
  const loop = newLoop(t)
  const server = tls.createServer({ loop, ...serverOptions() }, (s) => s.pipe(s))
  const port = await listening(server)
  t.after(() => server.close())
  const issuer = async (ca) => {
    const socket = tls.connect({ loop, port, host: 'localhost', ca: pem(ca) })
    await once(socket, 'secureConnect')
    const name = socket.getPeerX509Certificate().issuer
    assert.equal((await exchange(socket, 'ping')).toString(), 'ping')
    return name
  }
  assert.equal(await issuer('ca'), 'CN=netcore test CA')
  server.setSecureContext(serverOptions('untrusted'))
  assert.equal(await issuer('other-ca'), 'CN=netcore untrusted CA')
})

test('as Node\'s tls: a client\'s FIN without close_notify after the handshake ends the server socket without an error', async (t) => {
  const loop = newLoop(t)
  const events = []
  let serverSocket
  const server = tls.createServer({ loop, ...serverOptions() }, (socket) => {
    serverSocket = socket
    socket.on('data', (d) => events.push(`data ${d}`))
    socket.on('end', () => events.push('end'))
    socket.on('error', (err) => events.push(`error ${err.code}`))
  })
  const port = await listening(server)
  t.after(() => server.close())
  // Node's tls client through a relay that ends the connection to the server itself: no close_notify.
  let upstream
  const relay = net.createServer({ allowHalfOpen: true }, (down) => {
    upstream = net.connect(port, '127.0.0.1')
    down.pipe(upstream)
    upstream.pipe(down)
    for (const s of [down, upstream]) s.on('error', () => {})
  })
  await listening(relay)
  t.after(() => relay.close())
  const client = nodeTls.connect({ host: '127.0.0.1', port: relay.address().port, servername: 'localhost', ca: pem('ca') })
  client.on('error', () => {})
  t.after(() => client.destroy())
  await once(client, 'secureConnect')
  client.write('cut short')
  await until(() => events.length > 0, 'the data')
  upstream.unpipe()
  upstream.end()
  const [hadError] = await once(serverSocket, 'close')
  assert.equal(hadError, false)
  assert.deepEqual(events, ['data cut short', 'end'])
})

/** An SMTP-style STARTTLS exchange on a plain socket `raw`: resolves once the server said "220 go" to STARTTLS. */
async function askStartTls(raw) {
  let text = ''
  await withTimeout(
    new Promise((resolve) => {
      raw.on('data', function onData(d) {
        text += d
        if (text.includes('220 ready\r\n') && !text.includes('STARTTLS sent')) {
          text += 'STARTTLS sent'
          raw.write('STARTTLS\r\n')
        }
        if (text.includes('220 go\r\n')) {
          raw.off('data', onData)
          resolve()
        }
      })
    }),
    WAIT_MS,
    'the STARTTLS exchange',
  )
}

/** The server side: greets, answers STARTTLS with "220 go" and `upgrade(socket)`s. */
function onStartTls(socket, upgrade) {
  socket.write('220 ready\r\n')
  socket.on('data', function onData(d) {
    if (d.toString() !== 'STARTTLS\r\n') return
    socket.off('data', onData)
    socket.write('220 go\r\n')
    upgrade(socket)
  })
}

test('STARTTLS in the tls layer: new tls.TLSSocket(socket, { isServer }) on a netcore net socket, Node\'s tls.connect({ socket }) as the client', async (t) => {
  const loop = newLoop(t)
  const secureContext = tls.createSecureContext(serverOptions())
  let upgraded
  const server = require('netcore').net.createServer({ loop }, (socket) =>
    onStartTls(socket, (plain) => {
      upgraded = new tls.TLSSocket(plain, { isServer: true, secureContext })
      upgraded.on('secure', () => upgraded.on('data', (d) => upgraded.write(`echo:${d}`)))
    }),
  )
  const port = await listening(server)
  t.after(() => server.close())
  const raw = net.connect(port, '127.0.0.1')
  t.after(() => raw.destroy())
  await askStartTls(raw)
  const secure = nodeTls.connect({ socket: raw, servername: 'localhost', ca: pem('ca') })
  await once(secure, 'secureConnect')
  secure.write('hi')
  const [reply] = await once(secure, 'data')
  assert.equal(reply.toString(), 'echo:hi')
  assert.equal(upgraded.getProtocol(), 'TLSv1.3')
  secure.end()
  await once(upgraded, 'close')
})

test('STARTTLS in the tls layer: tls.connect({ socket }) on a netcore net socket against Node\'s new tls.TLSSocket(socket, { isServer })', async (t) => {
  const secureContext = nodeTls.createSecureContext(serverOptions())
  const server = net.createServer((socket) =>
    onStartTls(socket, (plain) => {
      const upgraded = new nodeTls.TLSSocket(plain, { isServer: true, secureContext })
      upgraded.on('data', (d) => upgraded.write(`echo:${d}`))
    }),
  )
  const port = await listening(server)
  t.after(() => server.close())
  const loop = newLoop(t)
  const raw = require('netcore').net.connect({ port, host: 'localhost', loop })
  t.after(() => raw.destroy())
  await askStartTls(raw)
  const secure = tls.connect({ socket: raw, ca: pem('ca') })
  await once(secure, 'secureConnect')
  assert.equal(secure.authorized, true)
  assert.equal(secure.getPeerCertificate().subject.CN, 'localhost')
  secure.write('hi')
  const [reply] = await once(secure, 'data')
  assert.equal(reply.toString(), 'echo:hi')
  assert.equal(raw.destroyed, true, 'the plain socket handed its connection over')
  secure.destroy()
})
