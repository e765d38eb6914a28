'use strict'
// Server CPU per operation of require('netcore').net against Node's own
// `net`, same server code, interleaved runs: a quick check while working on
// the layer. `make bench` compares throughput (bench/run.py: echo;
// bench/http_bench.py: HTTP with wrk). Loopback only.
//
//   node bench/node_layer.js [echo|http] [operations] [runs]
//
// echo: 8 connections ping-pong 64-byte messages with a `socket.pipe(socket)`
// server. http: Node's http.createServer() hello world, fed by the layer's
// sockets through `server.emit('connection', socket)` (Node's: its own
// sockets, the same way), 8 keep-alive requests in flight. The server runs
// in a child process and reports process.cpuUsage() over the load; the
// client (Node's own net/http) runs here.

const { spawn } = require('node:child_process')
const http = require('node:http')
const path = require('node:path')
const nodeNet = require('node:net')

const CONCURRENCY = 8

/** The server child: argv [node|netcore, echo|http]; prints its port, then its CPU µs when stdin says 'stop'. */
function serve(which, mode) {
  const net = which === 'netcore' ? require(path.join(__dirname, '..', 'bindings', 'node')).net : nodeNet
  let server
  if (mode === 'http') {
    const httpServer = http.createServer((req, res) => res.end('hello world\n'))
    server = net.createServer((socket) => httpServer.emit('connection', socket))
  } else {
    server = net.createServer((socket) => socket.pipe(socket))
  }
  server.listen(0, '127.0.0.1', () => console.log(server.address().port))
  let start
  process.stdin.on('data', (d) => {
    if (String(d).startsWith('start')) start = process.cpuUsage()
    else {
      const used = process.cpuUsage(start)
      console.log(used.user + used.system)
      process.exit(0)
    }
  })
}

function httpLoad(port, count) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY })
  let started = 0
  let done = 0
  return new Promise((resolve, reject) => {
    const one = () => {
      started++
      http
        .get({ host: '127.0.0.1', port, agent, path: '/' }, (res) => {
          res.resume()
          res.on('end', () => {
            if (++done === count) {
              agent.destroy()
              resolve()
            } else if (started < count) one()
          })
        })
        .on('error', reject)
    }
    for (let i = 0; i < CONCURRENCY; i++) one()
  })
}

function echoLoad(port, count) {
  const msg = Buffer.alloc(64, 97)
  const perConnection = Math.ceil(count / CONCURRENCY)
  const connection = () =>
    new Promise((resolve, reject) => {
      const socket = nodeNet.connect(port, '127.0.0.1', () => socket.write(msg))
      let pending = 0
      let echoed = 0
      socket.on('error', reject)
      socket.on('data', (d) => {
        pending += d.length
        while (pending >= msg.length) {
          pending -= msg.length
          if (++echoed === perConnection) {
            socket.destroy()
            return resolve()
          }
          socket.write(msg)
        }
      })
    })
  return Promise.all(Array.from({ length: CONCURRENCY }, connection))
}

/** One run: the server's CPU µs per operation. */
async function measure(which, mode, count) {
  const child = spawn(process.execPath, [__filename, '--serve', which, mode], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = []
  let wake = null
  child.stdout.on('data', (d) => {
    lines.push(...String(d).trim().split('\n'))
    if (wake) wake()
  })
  const line = () =>
    new Promise((resolve) => {
      const take = () => (lines.length > 0 ? resolve(lines.shift()) : (wake = take))
      take()
    })
  const port = Number(await line())
  child.stdin.write('start\n')
  await (mode === 'http' ? httpLoad(port, count) : echoLoad(port, count))
  child.stdin.write('stop\n')
  return Number(await line()) / count
}

async function main() {
  const [mode = 'echo', count = mode === 'http' ? '20000' : '80000', runs = '3'] = process.argv.slice(2)
  const results = { node: [], netcore: [] }
  for (let r = 0; r < Number(runs); r++) {
    for (const which of ['node', 'netcore']) results[which].push(await measure(which, mode, Number(count)))
  }
  for (const [which, values] of Object.entries(results)) {
    const sorted = [...values].sort((a, b) => a - b)
    const median = sorted[Math.floor(sorted.length / 2)]
    console.log(`${mode} ${which === 'node' ? "Node's net" : "netcore's net"}: server CPU ${median.toFixed(1)} µs/op (median of ${values.length}: ${values.map((v) => v.toFixed(1)).join(' ')})`)
  }
}

if (process.argv[2] === '--serve') serve(process.argv[3], process.argv[4])
else main()
