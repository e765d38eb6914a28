#!/usr/bin/env node
'use strict'
// echo_server — echoes every byte it receives, on every connection.
//
//   usage: node echo_server.js [HOST:]PORT   (HOST defaults to 127.0.0.1; PORT 0
//                                            picks a free port; IPv6 as [::1]:PORT)
//
// Prints "listening on HOST:PORT" once it accepts connections, then serves
// until SIGINT or SIGTERM, closes every handle gracefully and exits 0.
//
// Flow control: send() never blocks; when a connection's send queue is full
// it refuses the bytes whole and returns false. The server then keeps the
// refused bytes itself, pauses reading that connection (so TCP slows the
// peer down) and, on 'drain', sends them again and resumes. No byte is lost.

const { loadNetcore, serverTarget, formatAddress } = require('./common')
const { createLoop } = loadNetcore()

const SHUTDOWN_MS = 5000

/**
 * Runs the server as program PROG: parses [HOST:]PORT, listens with the
 * options `listenOptions()` returns (tls_echo_server.js adds TLS), serves until a signal.
 */
function serve(PROG, listenOptions) {
  const target = serverTarget(PROG)

  const options = listenOptions()
  const loop = createLoop()
  /** Per connection: bytes refused by send() (oldest first), and why it ends. */
  const conns = new Map()
  let listener = 0
  let stopping = false

  try {
    listener = loop.listen(target.host, target.port, options)
  } catch (err) {
    process.stderr.write(`${PROG}: cannot listen on ${process.argv[2]}: ${err.code} (${err.description || err.message})\n`)
    process.exit(1)
  }
  process.stdout.write(`listening on ${formatAddress(loop.localAddress(listener))}\n`)

  function closeConn(handle, conn) {
    if (conn.closing) return
    conn.closing = true
    try {
      loop.close(handle)
    } catch (err) {
      if (err.code !== 'ECLOSED') process.stderr.write(`${PROG}: close: ${err.message}\n`)
    }
  }

  /**
   * A send failed for good: drop the connection now. A peer reset shows as
   * ECONNRESET or EPIPE, or as ECLOSED when netcore noticed it first and is
   * already closing the connection ('closed' follows).
   */
  function failConn(handle, conn, err) {
    conn.closing = true
    if (err.code === 'ECLOSED') return
    if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') process.stderr.write(`${PROG}: send: ${err.message}\n`)
    loop.closeReset(handle)
  }

  function echo(handle, conn, data) {
    if (data.length === 0 || conn.closing) return
    if (conn.held.length === 0) {
      try {
        if (loop.send(handle, data)) return
      } catch (err) {
        return failConn(handle, conn, err)
      }
    }
    // The queue is full (or bytes are already held): keep these too, in order,
    // and stop reading until 'drain'. data may share memory with other events:
    // keep a copy.
    conn.held.push(Buffer.from(data))
    if (!conn.paused) {
      loop.pause(handle)
      conn.paused = true
    }
  }

  /** On 'drain': sends the held bytes again, resumes reading once all went. */
  function resend(handle, conn) {
    while (conn.held.length > 0) {
      let sent
      try {
        sent = loop.send(handle, conn.held[0])
      } catch (err) {
        return failConn(handle, conn, err)
      }
      if (!sent) return // another 'drain' will come
      conn.held.shift()
    }
    if (conn.closeWhenFlushed) closeConn(handle, conn)
    else if (conn.paused) {
      loop.resume(handle)
      conn.paused = false
    }
  }

  loop.on('accepted', (ev) => {
    const conn = { held: [], paused: false, closeWhenFlushed: false, closing: false }
    conns.set(ev.handle, conn)
    if (stopping) {
      conn.closeWhenFlushed = true
      closeConn(ev.handle, conn)
    }
  })

  loop.on('data', (ev) => {
    const conn = conns.get(ev.handle)
    if (conn) echo(ev.handle, conn, ev.data)
  })

  loop.on('drain', (ev) => {
    const conn = conns.get(ev.handle)
    if (conn) resend(ev.handle, conn)
  })

  // The peer is done sending: finish echoing, then close.
  loop.on('eof', (ev) => {
    const conn = conns.get(ev.handle)
    if (!conn) return
    conn.closeWhenFlushed = true
    if (conn.held.length === 0) closeConn(ev.handle, conn)
  })

  loop.on('error', (ev) => {
    process.stderr.write(`${PROG}: ${ev.handle === listener ? 'listener' : 'connection'}: ${ev.error.message}\n`)
  })

  loop.on('closed', (ev) => {
    if (ev.handle === listener) {
      listener = 0
      return
    }
    if (ev.error && ev.error.code !== 'ECONNRESET') process.stderr.write(`${PROG}: connection closed: ${ev.error.message}\n`)
    conns.delete(ev.handle)
  })

  /** Closes everything gracefully; the process exits once every handle is closed. */
  function shutDown() {
    if (stopping) {
      process.stderr.write(`${PROG}: second signal, not waiting any longer\n`)
      loop.close()
      process.exit(0)
    }
    stopping = true
    if (listener) loop.close(listener)
    for (const [handle, conn] of conns) {
      conn.closeWhenFlushed = true
      if (conn.held.length === 0) closeConn(handle, conn) // otherwise once its bytes are out
    }
    setTimeout(() => {
      process.stderr.write(`${PROG}: ${conns.size} connection(s) did not close in time, dropping them\n`)
      loop.close()
      process.exit(0)
    }, SHUTDOWN_MS).unref()
  }

  process.on('SIGINT', shutDown)
  process.on('SIGTERM', shutDown)
}

module.exports = { serve }

if (require.main === module) serve('echo_server', () => ({}))
