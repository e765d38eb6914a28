// Type-checked by `tsc -p .` (tsconfig.json): the `net`, `dgram` and `tls` layers' declarations
// used as Node's own modules would be.
import { dgram, net, tls } from 'netcore'

const server: net.Server = net.createServer({ pauseOnConnect: false }, (socket) => {
  socket.setNoDelay(true).setKeepAlive(true, 1000).setTimeout(5000)
  socket.on('data', (chunk) => socket.write(chunk))
  socket.on('close', (hadError: boolean) => void hadError)
  socket.pipe(socket)
})
server.on('error', (err) => console.error(err.message))
server.listen({ port: 0, host: '127.0.0.1', signal: AbortSignal.timeout(1000) }, () => {
  const address = server.address()
  if (address === null || typeof address === 'string') return
  const client: net.Socket = net.connect(address.port, '127.0.0.1', () => client.end('hi'))
  client.once('end', () => server.close())
  const remote: string | undefined = client.remoteAddress
  void remote
})

const udp = dgram.createSocket('udp4', (msg, rinfo) => udp.send(msg, rinfo.port, rinfo.address, (err, bytes) => void [err, bytes]))
udp.bind(0, '127.0.0.1', () => udp.close())

const secure: tls.Server = tls.createServer({ cert: 'PEM', key: 'PEM', ALPNProtocols: ['h2'] }, (socket: tls.TLSSocket) => {
  const alpn: string | false | null = socket.alpnProtocol
  void alpn
  socket.pipe(socket)
})
secure.on('tlsClientError', (err) => console.error(err.code, err.nodeCode))
const tlsClient: tls.TLSSocket = tls.connect({ port: 443, host: 'localhost', ca: ['PEM'] }, () => tlsClient.end(tlsClient.getProtocol()))
const upgraded: tls.TLSSocket = new tls.TLSSocket(net.connect(25, 'localhost'), { isServer: false, ca: 'PEM' })
upgraded.on('secureConnect', () => upgraded.end())
const startTlsClient: tls.TLSSocket = tls.connect({ socket: net.connect(25, 'localhost'), ca: 'PEM' })
void startTlsClient
