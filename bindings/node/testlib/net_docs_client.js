'use strict'
// Node's own client example (Node 20 docs, net.createConnection()), run by
// test/net.test.js: verbatim but for the require (netcore's `net`) and the
// port (the test's server, from argv, instead of 8124).
const net = require('netcore').net;
const client = net.createConnection({ port: Number(process.argv[2]) }, () => {
  // 'connect' listener.
  console.log('connected to server!');
  client.write('world!\r\n');
});
client.on('data', (data) => {
  console.log(data.toString());
  client.end();
});
client.on('end', () => {
  console.log('disconnected from server');
});
