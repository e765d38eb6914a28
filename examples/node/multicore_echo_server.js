#!/usr/bin/env node
'use strict'
// multicore_echo_server — an echo server with one loop per core: WORKERS
// worker_threads, each with its own netcore loop (the binding gives every
// thread its own) and its own listener on the same port, opened with
// SO_REUSEPORT (`listen({ reusePort: true })`): the kernel gives each
// listener its own backlog and spreads new connections over them by a hash
// of the addresses. Each worker is a `net`-style echo server
// (require('netcore').net, socket.pipe(socket)).
//
//   usage: node multicore_echo_server.js [-w WORKERS] [HOST:]PORT
//
//   -w WORKERS  threads (default: one per CPU, os.availableParallelism())
//
// Prints "listening on HOST:PORT" once every worker accepts connections,
// then serves. SIGINT/SIGTERM stops every worker: it stops accepting, ends
// its connections gracefully (destroying those still open after 5 s) and
// reports; "worker N: K connections" is printed on stderr for each, then
// the process exits 0.

const os = require('node:os')
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads')
const { loadNetcore, parseHostPort, formatAddress } = require('./common')

const PROG = 'multicore_echo_server'
const SHUTDOWN_MS = 5000

/** One worker thread: serves until the main thread says 'stop', then reports its count. */
function worker({ host, port }) {
  const { net } = loadNetcore()
  const sockets = new Set()
  let served = 0
  const server = net.createServer({ noDelay: true }, (socket) => {
    served++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {}) // a peer reset is not the server's failure
    socket.pipe(socket)
  })
  server.on('error', (err) => {
    parentPort.postMessage({ error: `cannot listen on ${host}:${port}: ${err.code} (${err.message})` })
    process.exit(1)
  })
  server.listen({ host, port, reusePort: true, backlog: 1024 }, () => {
    parentPort.postMessage({ address: server.address() })
  })
  parentPort.on('message', () => {
    const report = () => {
      parentPort.postMessage({ served })
      process.exit(0)
    }
    server.close(report)
    for (const socket of sockets) socket.end()
    setTimeout(() => {
      for (const socket of sockets) socket.destroy()
      report()
    }, SHUTDOWN_MS).unref()
  })
}

function usage() {
  process.stderr.write(`usage: ${PROG} [-w WORKERS] [HOST:]PORT\n`)
  process.exit(2)
}

function main() {
  const args = process.argv.slice(2)
  let count = os.availableParallelism()
  if (args[0] === '-w') {
    count = Number(args[1])
    args.splice(0, 2)
  }
  if (args.length !== 1 || !Number.isInteger(count) || count < 1) usage()
  let target
  try {
    target = parseHostPort(args[0], '127.0.0.1')
  } catch (err) {
    process.stderr.write(`${PROG}: ${err.message}\n`)
    process.exit(2)
  }

  const workers = [] // Worker objects
  const exited = [] // and a promise of each one's exit
  let status = 0
  let stopping = false
  const stop = () => {
    stopping = true
    for (const w of workers) w.postMessage('stop')
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)

  /** Starts worker `index` on `port`; resolves with its address once it listens. */
  const start = (index, port) =>
    new Promise((resolve) => {
      const w = new Worker(__filename, { workerData: { host: target.host, port } })
      workers.push(w)
      exited.push(
        new Promise((done) =>
          w.on('exit', (code) => {
            if (code !== 0) status = 1
            resolve(null)
            done()
          }),
        ),
      )
      w.on('message', (msg) => {
        if (msg.address) resolve(msg.address)
        else if (msg.error) {
          process.stderr.write(`${PROG}: worker ${index}: ${msg.error}\n`)
          status = 1
          resolve(null)
        } else process.stderr.write(`${PROG}: worker ${index}: ${msg.served} connections\n`)
      })
    })

  ;(async () => {
    // Worker 0 may pick the port (PORT 0); the others join it.
    const first = await start(0, target.port)
    for (let i = 1; first && status === 0 && i < count; i++) {
      if (!(await start(i, first.port))) break
    }
    if (status !== 0 || !first) stop()
    else if (!stopping) process.stdout.write(`listening on ${formatAddress(first)}\n`)
    await Promise.all(exited)
    process.exitCode = status
  })()
}

if (isMainThread) main()
else worker(workerData)
