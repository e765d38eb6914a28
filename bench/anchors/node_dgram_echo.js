// Node `dgram` anchor of the UDP comparison: a datagram echo server written
// the way Node's `dgram` documentation teaches it (dgram.createSocket('udp4')
// with a 'message' listener that sends the bytes back to rinfo.port and
// rinfo.address with socket.send).
//
//   usage: node node_dgram_echo.js [--netcore] [HOST:]PORT
//
// With --netcore the same code runs on require('netcore').dgram (netcore's
// `dgram`-compatible layer) instead of require('node:dgram').
//
// Same contract as netcore's example servers: prints one line
// "listening on HOST:PORT" once bound, echoes datagrams, exits 0 on SIGINT
// or SIGTERM.
'use strict';

const netcoreLayer = process.argv[2] === '--netcore';
if (netcoreLayer) process.argv.splice(2, 1);
const dgram = netcoreLayer ? require('../../bindings/node').dgram : require('node:dgram');

const m = process.argv.length === 3 ? /^(?:\[(.+)\]|(.*)):(\d+)$|^(\d+)$/.exec(process.argv[2]) : null;
if (m === null) {
  console.error('usage: node_dgram_echo.js [--netcore] [HOST:]PORT');
  process.exit(2);
}
const host = m[1] || m[2] || '127.0.0.1';
const port = Number(m[3] || m[4]);

const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
socket.on('message', (msg, rinfo) => {
  socket.send(msg, rinfo.port, rinfo.address);
});
socket.on('error', (err) => console.error(`node_dgram_echo: ${err.message}`));
socket.bind(port, host, () => {
  const a = socket.address();
  const shown = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  console.log(`listening on ${shown}:${a.port}`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    socket.close();
    process.exit(0);
  });
}
