#!/usr/bin/env node
'use strict'
// echo_client — sends lines to an echo server and prints what comes back.
//
//   usage: node echo_client.js HOST:PORT [MESSAGE...]
//
// Connects to HOST:PORT (an IP literal, [IPV6]:PORT, or a name resolved off
// the loop thread), then sends each MESSAGE followed by "\n" — or, with no
// messages, each line read from stdin — and prints every echoed line as it
// arrives (one at a time: send, wait for the echo, print). Incoming bytes are
// cut into lines by netcore's delimiter framing. Closes gracefully and exits
// 0; exits 1 with the reason if the connection fails.

const readline = require('node:readline')
const { loadNetcore, parseHostPort } = require('./common')
const { createLoop } = loadNetcore()

const PROG = 'echo_client'
const MAX_LINE = 16 * 1024 * 1024
const REPLY_TIMEOUT_MS = 10000

if (process.argv.length < 3) {
  process.stderr.write(`usage: ${PROG} HOST:PORT [MESSAGE...]\n`)
  process.exit(2)
}
let target
try {
  target = parseHostPort(process.argv[2])
} catch (err) {
  process.stderr.write(`${PROG}: ${err.message}\n`)
  process.exit(2)
}

function fail(message) {
  process.stderr.write(`${PROG}: ${message}\n`)
  process.exitCode = 1
  loop.close()
}

const loop = createLoop()
let replies = null // resolves the line we wait for

loop.on('data', (ev) => {
  if (replies) {
    const resolve = replies
    replies = null
    resolve(ev.data.toString('utf8'))
  }
})
loop.on('eof', () => {
  if (replies) fail('the server closed the connection early')
})
loop.on('error', (ev) => fail(`connection: ${ev.error.message}`))

/** Sends a line (waiting for 'drain' if the queue is full) and waits for its echo. */
async function roundTrip(conn, line) {
  const reply = new Promise((resolve) => {
    replies = resolve
  })
  const payload = Buffer.from(`${line}\n`)
  while (!loop.send(conn, payload)) {
    await new Promise((resolve) => {
      const once = () => {
        loop.offHandle(conn, 'drain', once)
        resolve()
      }
      loop.onHandle(conn, 'drain', once)
    })
  }
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('the server did not answer in time')), REPLY_TIMEOUT_MS)
  })
  try {
    return await Promise.race([reply, timeout])
  } finally {
    clearTimeout(timer)
  }
}

async function main() {
  let conn
  try {
    ;({ handle: conn } = await loop.connectAsync(target.host, target.port))
  } catch (err) {
    return fail(`cannot connect to ${process.argv[2]}: ${err.code} (${err.description || err.message})`)
  }
  loop.setFraming(conn, { mode: 'delimited', delimiter: '\n', maxFrame: MAX_LINE })
  const messages = process.argv.slice(3)
  const lines = messages.length > 0 ? messages : readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
  try {
    for await (const line of lines) {
      process.stdout.write(`${await roundTrip(conn, line)}\n`)
      if (loop.closed) return
    }
  } catch (err) {
    return fail(err.message)
  }
  // Graceful close: the process exits once 'closed' is delivered.
  loop.close(conn)
}

main()
