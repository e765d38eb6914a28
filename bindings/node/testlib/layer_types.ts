// Type-checked by `tsc -p .` (tsconfig.json): the `net` and `dgram` layers' declarations
// used as Node's own modules would be.
import { dgram, net } from 'netcore'

const server: net.Server = net.createServer({ pauseOnConnect: false }, (socket) => {
  socket.setNoDelay(true).setKeepAlive(true, 1000).setTimeout(5000)
  socket.on('data', (chunk) => socket.write(chunk))
  socket.on('close', (hadError: boolean) => void hadError)
  socket.pipe(socket)
})
server.on('error', (err) => console.error(err.message))
server.listen({ port: 0, host: '127.0.0.1', signal: AbortSignal.timeout(1000) }, () => {
  const address = server.address()
  if (address === null) return
  const client: net.Socket = net.connect(address.port, '127.0.0.1', () => client.end('hi'))
  client.once('end', () => server.close())
  const remote: string | undefined = client.remoteAddress
  void remote
})

const udp = dgram.createSocket('udp4', (msg, rinfo) => udp.send(msg, rinfo.port, rinfo.address, (err, bytes) => void [err, bytes]))
udp.bind(0, '127.0.0.1', () => udp.close())
