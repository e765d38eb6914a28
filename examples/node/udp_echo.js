#!/usr/bin/env node
'use strict'
// udp_echo — sends every datagram back to its sender.
//
//   usage: node udp_echo.js [HOST:]PORT   (HOST defaults to 127.0.0.1; PORT 0
//                                         picks a free port; IPv6 as [::1]:PORT)
//
// Prints "listening on HOST:PORT" once bound, echoes until SIGINT or SIGTERM,
// then closes the socket and exits 0.
//
// Each 'datagram' event carries the bytes and the sender's address. The
// replies to one batch of events go out together with sendBatch() (one
// system call for many datagrams) in a microtask, which runs once the batch
// has been emitted. sendBatch() never blocks: it returns how many it sent,
// and what the kernel had no room for is kept and sent on 'drain'. That
// backlog is bounded (UDP may drop, but this program says when it does).
// The benchmark suite (bench/run.py) measures this program against Node's
// dgram.

const { loadNetcore, serverTarget, formatAddress } = require('./common')
const { createLoop } = loadNetcore()

const PROG = 'udp_echo'
const BACKLOG_MAX = 1024 // replies kept while the kernel has no room

const target = serverTarget(PROG)
const loop = createLoop()
let sock
try {
  sock = loop.udpBind(target.host, target.port)
} catch (err) {
  process.stderr.write(`${PROG}: cannot bind ${process.argv[2]}: ${err.code} (${err.description || err.message})\n`)
  process.exit(1)
}

/** Replies the kernel had no room for, oldest first: [bytes, address, port]. */
const backlog = []
let dropped = 0

function keep(data, address, port) {
  if (backlog.length < BACKLOG_MAX) {
    // data may share memory with other events of the batch: keep a copy.
    backlog.push([Buffer.from(data), address, port])
    return
  }
  if (dropped++ % 1000 === 0) process.stderr.write(`${PROG}: reply backlog full, dropped ${dropped} datagram(s)\n`)
}

/** This batch's replies: { data, address, port }. */
let replies = []

loop.on('datagram', (ev) => {
  const { address, port } = ev.address
  if (backlog.length > 0) return keep(ev.data, address, port)
  if (replies.length === 0) queueMicrotask(sendReplies)
  replies.push({ data: ev.data, address, port })
})

function sendReplies() {
  const batch = replies
  replies = []
  let sent = 0
  while (sent < batch.length) {
    try {
      const n = loop.sendBatch(sock, sent === 0 ? batch : batch.slice(sent))
      if (n === 0) break // no room: the rest waits for 'drain'
      sent += n
    } catch (err) {
      // this reply alone is refused
      process.stderr.write(`${PROG}: reply to ${batch[sent].address}: ${err.code}\n`)
      sent++
    }
  }
  for (let i = sent; i < batch.length; i++) keep(batch[i].data, batch[i].address, batch[i].port)
}

loop.on('drain', () => {
  while (backlog.length > 0) {
    const [data, address, port] = backlog[0]
    if (!loop.sendTo(sock, data, address, port)) return // another 'drain' will come
    backlog.shift()
  }
})

// e.g. an ICMP error for an earlier reply: harmless
loop.on('error', (ev) => process.stderr.write(`${PROG}: ${ev.error.message}\n`))

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (backlog.length > 0) process.stderr.write(`${PROG}: ${backlog.length} queued replies not sent\n`)
    loop.close()
    process.exit(0)
  })
}

// Last, once the signal handlers are in place: a stop right after it is handled.
process.stdout.write(`listening on ${formatAddress(loop.localAddress(sock))}\n`)
