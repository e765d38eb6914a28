'use strict'
// Node's own echo server example (Node 20 docs, net.createServer()), run by
// test/net.test.js: verbatim but for the require (netcore's `net`), port 0
// instead of 8124 (any free port), and the line printing that port for the test.
const net = require('netcore').net;
const server = net.createServer((c) => {
  // 'connection' listener.
  console.log('client connected');
  c.on('end', () => {
    console.log('client disconnected');
  });
  c.write('hello\r\n');
  c.pipe(c);
});
server.on('error', (err) => {
  throw err;
});
server.listen(0, () => {
  console.log('server bound');
  console.log(`port ${server.address().port}`); // added for the test
});
