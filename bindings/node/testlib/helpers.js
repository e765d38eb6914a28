'use strict'
// Helpers shared by the tests in ../test (kept out of test/ so that
// `node --test test/` does not run this file as a test).

const crypto = require('node:crypto')
const { createLoop } = require('netcore')

/**
 * Default bound for every wait in the tests: a hang guard only, long enough
 * for a loaded 2-core machine, never part of what a test asserts.
 */
const WAIT_MS = 30000

/** A loop that is closed when the test ends. */
function newLoop(t) {
  const loop = createLoop()
  t.after(() => loop.close())
  return loop
}

/**
 * Resolves with the first event of `type` (on `handle`, if given) for which
 * `filter` returns true; rejects after `ms`.
 */
function nextEvent(loop, type, { handle, filter, ms = WAIT_MS } = {}) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      loop.off(type, on)
      reject(new Error(`timed out after ${ms} ms waiting for '${type}'${handle ? ` on handle ${handle}` : ''}`))
    }, ms)
    function on(ev) {
      if (handle !== undefined && ev.handle !== handle) return
      if (filter && !filter(ev)) return
      clearTimeout(timer)
      loop.off(type, on)
      resolve(ev)
    }
    loop.on(type, on)
  })
}

/** Resolves once `check()` is true (polled on every event and every 5 ms); rejects after `ms`. */
function until(check, what, ms = WAIT_MS) {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const tick = () => {
      let ok
      try {
        ok = check()
      } catch (err) {
        return reject(err)
      }
      if (ok) return resolve()
      if (Date.now() - started > ms) return reject(new Error(`timed out after ${ms} ms waiting for ${what}`))
      setTimeout(tick, 5)
    }
    tick()
  })
}

/**
 * An echo server on `loop` (netcore listener on host:0) that handles
 * backpressure: refused bytes are held, reading pauses until 'drain'.
 * Closes a connection once the peer's EOF came and everything is echoed.
 */
function echoServer(loop, host = '127.0.0.1', options) {
  const listener = loop.listen(host, 0, options)
  const conns = new Map()
  const stats = { accepted: 0, closed: 0 }
  const close = (h, c) => {
    if (!c.closing) {
      c.closing = true
      loop.close(h)
    }
  }
  const resend = (h, c) => {
    while (c.held.length > 0) {
      if (!loop.send(h, c.held[0])) return
      c.held.shift()
    }
    if (c.eof) close(h, c)
    else if (c.paused) {
      c.paused = false
      loop.resume(h)
    }
  }
  loop.onHandle(listener, 'accepted', (ev) => {
    stats.accepted++
    const c = { held: [], paused: false, eof: false, closing: false }
    conns.set(ev.handle, c)
    loop.onHandle(ev.handle, 'data', (d) => {
      if (c.closing) return
      if (c.held.length === 0 && loop.send(ev.handle, d.data)) return
      c.held.push(Buffer.from(d.data))
      if (!c.paused) {
        c.paused = true
        loop.pause(ev.handle)
      }
    })
    loop.onHandle(ev.handle, 'drain', () => resend(ev.handle, c))
    loop.onHandle(ev.handle, 'eof', () => {
      c.eof = true
      if (c.held.length === 0) close(ev.handle, c)
    })
    loop.onHandle(ev.handle, 'closed', () => {
      stats.closed++
      conns.delete(ev.handle)
    })
  })
  return { listener, port: loop.localAddress(listener).port, conns, stats }
}

/**
 * Connects (with connect() `options`), sends `payload` (respecting
 * backpressure), half-closes, and resolves with everything received until 'closed'.
 */
async function roundTrip(loop, host, port, payload, { chunk = 256 * 1024, options } = {}) {
  const { handle } = await loop.connectAsync(host, port, options)
  const received = []
  let total = 0
  loop.onHandle(handle, 'data', (ev) => {
    received.push(Buffer.from(ev.data))
    total += ev.data.length
  })
  const closed = new Promise((resolve) => loop.onHandle(handle, 'closed', resolve))
  let off = 0
  const pump = () => {
    while (off < payload.length) {
      const piece = payload.subarray(off, Math.min(off + chunk, payload.length))
      if (!loop.send(handle, piece)) return false
      off += piece.length
    }
    loop.shutdown(handle)
    return true
  }
  loop.onHandle(handle, 'drain', pump)
  pump()
  loop.onHandle(handle, 'eof', () => loop.close(handle))
  const ev = await withTimeout(closed, WAIT_MS * 3, 'the echo round trip')
  return { data: Buffer.concat(received, total), closed: ev }
}

function withTimeout(promise, ms, what) {
  let timer
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

function randomBytes(n) {
  return crypto.randomBytes(n)
}

function sha(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex')
}

module.exports = { WAIT_MS, newLoop, nextEvent, until, echoServer, roundTrip, withTimeout, randomBytes, sha }
