// Node `net` anchor of the benchmark suite: a TCP echo server written the way
// Node's `net` documentation teaches it (net.createServer with a connection
// listener that pipes the socket into itself, socket.pipe(socket)), with the
// `noDelay: true` server option.
//
//   usage: node node_net_echo.js [--netcore] [--tls] [HOST:]PORT
//
// With --netcore the same code runs on require('netcore').net and
// require('netcore').tls (netcore's `net`- and `tls`-compatible layers)
// instead of require('node:net') and require('node:tls').
//
// With --tls it is the Node `tls` anchor: the same connection listener on
// tls.createServer (as Node's `tls` documentation teaches it: `key` and
// `cert` read with fs.readFileSync, here from the PEM files named by the
// environment variables NETCORE_TLS_KEY and NETCORE_TLS_CERT, the contract
// of netcore's TLS example servers), with the same `noDelay: true`. Versions
// and ciphers are Node's defaults; the load generator chooses them from the
// client side.
//
// Same contract as netcore's example servers: prints one line
// "listening on HOST:PORT" once it accepts connections, echoes raw bytes,
// exits 0 on SIGINT or SIGTERM.
'use strict';

const flags = new Set();
while (['--netcore', '--tls'].includes(process.argv[2])) flags.add(process.argv.splice(2, 1)[0]);
const lib = flags.has('--netcore')
  ? require('../../bindings/node')
  : { net: require('node:net'), tls: require('node:tls') };

function parseAddr(arg) {
  let m = /^\[(.+)\]:(\d+)$/.exec(arg);
  if (m) return [m[1], Number(m[2])];
  m = /^(.*):(\d+)$/.exec(arg);
  if (m) return [m[1], Number(m[2])];
  if (/^\d+$/.test(arg)) return ['127.0.0.1', Number(arg)];
  return null;
}

const parsed = process.argv.length === 3 ? parseAddr(process.argv[2]) : null;
if (parsed === null) {
  console.error('usage: node_net_echo.js [--netcore] [--tls] [HOST:]PORT');
  process.exit(2);
}
const [host, port] = parsed;

function echo(socket) {
  socket.on('error', () => {}); // a peer reset is not the server's failure
  socket.pipe(socket);
}

const fs = require('node:fs');
const server = flags.has('--tls')
  ? lib.tls.createServer(
      {
        noDelay: true,
        key: fs.readFileSync(process.env.NETCORE_TLS_KEY),
        cert: fs.readFileSync(process.env.NETCORE_TLS_CERT),
      },
      echo,
    )
  : lib.net.createServer({ noDelay: true }, echo);

server.listen({ host, port, backlog: 1024 }, () => {
  const a = server.address();
  const shown = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  console.log(`listening on ${shown}:${a.port}`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    server.close();
    process.exit(0);
  });
}
