// A TypeScript tour of the netcore Node API: an echo server with
// backpressure, a client using the Promise helpers, per-handle listeners,
// framing, options, UDP and a timer. Type-checked with
// `tsc --noEmit --strict -p bindings/node` (see bindings/node/tsconfig.json);
// run it with ts-node/tsx, or compile it, from the repository root.

import { createLoop, type Handle, type NetcoreEvent, type AddressInfo, type NetcoreError } from '../../bindings/node'

const loop = createLoop()

// --- an echo server that never buffers without bound ------------------------

interface Conn {
  held: Buffer[]
  paused: boolean
  peerDone: boolean
}

const conns = new Map<Handle, Conn>()
const listener: Handle = loop.listen('127.0.0.1', 0, { backlog: 128, maxConnections: 1000 })
const bound: AddressInfo = loop.localAddress(listener)
console.log(`listening on ${bound.address}:${bound.port}`)

function flush(h: Handle, c: Conn): void {
  while (c.held.length > 0) {
    if (!loop.send(h, c.held[0])) return // refused whole: wait for 'drain'
    c.held.shift()
  }
  if (c.peerDone) loop.close(h)
  else if (c.paused) {
    loop.resume(h)
    c.paused = false
  }
}

loop.onHandle(listener, 'accepted', (ev) => {
  const conn: Conn = { held: [], paused: false, peerDone: false }
  conns.set(ev.handle, conn)
  loop.setOption(ev.handle, 'keepalive', 60)
  loop.onHandle(ev.handle, 'data', (d) => {
    if (conn.held.length === 0 && loop.send(d.handle, d.data)) return
    conn.held.push(Buffer.from(d.data)) // data may share memory: copy what we keep
    if (!conn.paused) {
      loop.pause(d.handle)
      conn.paused = true
    }
  })
  loop.onHandle(ev.handle, 'drain', () => flush(ev.handle, conn))
  loop.onHandle(ev.handle, 'eof', () => {
    conn.peerDone = true
    if (conn.held.length === 0) loop.close(ev.handle)
  })
})

loop.on('closed', (ev: NetcoreEvent<'closed'>) => {
  conns.delete(ev.handle)
  if (ev.error) console.error(`handle ${ev.handle} closed: ${ev.error.code}`)
})

loop.on('error', (ev) => {
  const err: NetcoreError = ev.error
  console.error(`handle ${ev.handle}: ${err.message} (errno ${err.errno})`)
})

// --- a client: Promise helpers, framing, gather send ------------------------

async function client(): Promise<string[]> {
  const { handle, address } = await loop.connectAsync('127.0.0.1', bound.port, { timeout: 2000, userdata: 'client' })
  console.log(`connected to ${address.address}:${address.port} (${address.family})`)
  loop.setFraming(handle, { mode: 'delimited', delimiter: '\n', maxFrame: 64 * 1024 })
  const lines: string[] = []
  const done = new Promise<string[]>((resolve) => {
    loop.onHandle(handle, 'data', (ev) => {
      lines.push(ev.data.toString('utf8'))
      if (lines.length === 3) resolve(lines)
    })
  })
  loop.send(handle, 'first line\n')
  loop.sendv(handle, ['second', ' ', 'line\n'], { token: 7 })
  loop.onHandle(handle, 'sent', (ev) => console.log(`token ${ev.value} reached the kernel`))
  loop.send(handle, new Uint8Array([0x33, 0x0a])) // "3\n"
  const result = await done
  loop.close(handle)
  return result
}

// --- UDP and a timer ----------------------------------------------------------

function udpPing(): Promise<void> {
  const a = loop.udpBind('127.0.0.1', 0)
  const b = loop.udpBind('127.0.0.1', 0, { userdata: { role: 'pong' } })
  return new Promise((resolve) => {
    loop.onHandle(b, 'datagram', (ev) => {
      const from: AddressInfo | undefined = ev.address // undefined on a Unix datagram socket (ev.path)
      console.log(`datagram ${JSON.stringify(ev.data.toString())} from ${from?.address}:${from?.port}`, ev.userdata)
      loop.close(a)
      loop.close(b)
      resolve()
    })
    loop.sendTo(a, 'ping', '127.0.0.1', loop.localAddress(b).port)
  })
}

async function main(): Promise<void> {
  try {
    console.log(await client())
    await udpPing()
    await loop.connectAsync('127.0.0.1', 9).catch((err: NetcoreError) => console.log(`expected: ${err.message}`))
  } finally {
    const timer = loop.timer(10)
    loop.onHandle(timer, 'timer', () => loop.close(listener)) // then the process exits by itself
  }
}

void main()
