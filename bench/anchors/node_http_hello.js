// Node `http` anchor of the benchmark suite (issue 13): Node's own
// http.createServer() hello world, as Node's documentation teaches it.
//
//   usage: node node_http_hello.js [--netcore] [HOST:]PORT
//
// With --netcore the same http.Server serves connections accepted by
// require('netcore').net.createServer: each netcore Socket (a stream.Duplex)
// is handed to the http.Server as a 'connection', as Node's documentation
// describes for connections from elsewhere. Without it, the http.Server
// listens itself (Node's own `net` underneath).
//
// Every request gets "Hello, world!\n" (text/plain). Same contract as
// netcore's example servers: prints one line "listening on HOST:PORT" once it
// accepts connections, exits 0 on SIGINT or SIGTERM.
'use strict';

const http = require('node:http');

const viaNetcore = process.argv[2] === '--netcore';
if (viaNetcore) process.argv.splice(2, 1);
const m = process.argv.length === 3 ? /^(?:\[(.+)\]|(.*)):(\d+)$|^(\d+)$/.exec(process.argv[2]) : null;
if (m === null) {
  console.error('usage: node_http_hello.js [--netcore] [HOST:]PORT');
  process.exit(2);
}
const host = m[1] ?? m[2] ?? '127.0.0.1';
const port = Number(m[3] ?? m[4]);

const BODY = 'Hello, world!\n';
const httpServer = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length });
  res.end(BODY);
});

const listener = viaNetcore
  ? require('../../bindings/node').net.createServer({ noDelay: true }, (socket) => {
      httpServer.emit('connection', socket);
    })
  : httpServer;

listener.listen({ host, port, backlog: 1024 }, () => {
  const a = listener.address();
  const shown = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  console.log(`listening on ${shown}:${a.port}`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    listener.close();
    process.exit(0);
  });
}
