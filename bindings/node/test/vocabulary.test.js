'use strict'
// The Node surface against the core's vocabulary, walked in full from the
// native module: every event kind is emitted under its name (and typed in
// index.d.ts), every option name is accepted by setOption/getOption, every
// framing mode by setFraming, every handle kind is what kind() returns,
// every operation is the Loop method of its name (camelCase), and the
// defaults are the core's.
//
// Loopback only; every wait is bounded (helpers' nextEvent).
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { newLoop, nextEvent } = require('../testlib/helpers')
const { vocabulary } = require('netcore')

/** A listener and a client connected to it. */
async function connected(loop) {
  const listener = loop.listen('127.0.0.1', 0)
  const accepted = nextEvent(loop, 'accepted')
  const client = loop.connect('127.0.0.1', loop.localAddress(listener).port)
  await nextEvent(loop, 'connected', { handle: client })
  await accepted
  return { listener, client }
}

const DTS = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8')

test('the vocabulary lists every kind, option, mode and family once, by number', () => {
  const lists = ['events', 'handleKinds', 'options', 'framingModes', 'families']
  for (const list of lists) {
    const names = vocabulary[list].map((v) => v.name)
    assert.ok(names.length > 0, list)
    assert.equal(new Set(names).size, names.length, `${list}: names are unique`)
    assert.equal(new Set(vocabulary[list].map((v) => v.value)).size, names.length, `${list}: numbers are unique`)
    for (const name of names) assert.match(name, /^[a-z0-9_]+$/, `${list}: ${name} is the core's spelling`)
  }
  assert.deepEqual(
    vocabulary.families.map((f) => [f.name, f.value]),
    [
      ['any', 0],
      ['ipv4', 4],
      ['ipv6', 6],
    ],
  )
})

test('every event kind is named in index.d.ts and accepted by onHandle', (t) => {
  const loop = newLoop(t)
  const timer = loop.timer(60000)
  for (const { name } of vocabulary.events) {
    assert.ok(DTS.includes(`type: '${name}'`) || DTS.includes(`'${name}'`), `index.d.ts names the '${name}' event`)
    loop.onHandle(timer, name, () => {})
  }
  loop.close(timer)
})

test('events are emitted under the core names (timer, closed, accepted, connected, data, eof)', async (t) => {
  const loop = newLoop(t)
  const timer = loop.timer(1)
  const fired = nextEvent(loop, 'timer', { handle: timer })
  const closed = nextEvent(loop, 'closed', { handle: timer })
  assert.equal((await fired).type, 'timer')
  assert.equal((await closed).type, 'closed')
  const listener = loop.listen('127.0.0.1', 0)
  const accepted = nextEvent(loop, 'accepted')
  const client = loop.connect('127.0.0.1', loop.localAddress(listener).port)
  assert.equal((await nextEvent(loop, 'connected', { handle: client })).type, 'connected')
  const server = (await accepted).handle
  const data = nextEvent(loop, 'data', { handle: server })
  loop.send(client, 'x')
  assert.equal((await data).type, 'data')
  const eof = nextEvent(loop, 'eof', { handle: server })
  loop.shutdown(client)
  assert.equal((await eof).type, 'eof')
})

test('every handle kind is what kind() returns for such a handle', async (t) => {
  const loop = newLoop(t)
  const { listener, client } = await connected(loop)
  const handles = { tcp_listener: listener, tcp_connection: client, udp: loop.udpBind('127.0.0.1', 0), timer: loop.timer(60000) }
  for (const { name } of vocabulary.handleKinds) {
    assert.ok(name in handles, `a handle of kind ${name} was made`)
    assert.equal(loop.kind(handles[name]), name)
    assert.ok(DTS.includes(`'${name}'`), `index.d.ts names the handle kind ${name}`)
  }
})

test('every operation of the core is the Loop method of its name, camelCase, declared in index.d.ts', (t) => {
  const loop = newLoop(t)
  const declared = DTS.slice(DTS.indexOf('export declare class Loop '))
  const loopClass = declared.slice(0, declared.indexOf('\n}\n'))
  assert.ok(vocabulary.operations.length > 0)
  for (const { name } of vocabulary.operations) {
    const method = name.replace(/_([a-z])/g, (_, c) => c.toUpperCase())
    assert.equal(typeof loop[method], 'function', `the core's ${name} is Loop.${method}`)
    assert.match(loopClass, new RegExp(`\\n  ${method}[(<]`), `index.d.ts declares Loop.${method}`)
  }
})

test('every option name is accepted by setOption/getOption on a handle it applies to, at both ends of its range', async (t) => {
  const loop = newLoop(t)
  const { listener, client } = await connected(loop)
  const handles = { tcp_listener: listener, tcp_connection: client, udp: loop.udpBind('127.0.0.1', 0) }
  for (const option of vocabulary.options) {
    assert.ok(DTS.includes(`  ${option.name}: `), `index.d.ts types the option ${option.name}`)
    const kind = option.appliesTo.find((k) => k in handles)
    assert.ok(kind, `${option.name} applies to some socket`)
    const handle = handles[kind]
    loop.getOption(handle, option.name)
    if (option.isBool) {
      for (const v of [true, false]) {
        loop.setOption(handle, option.name, v)
        assert.equal(loop.getOption(handle, option.name), v, option.name)
      }
    } else if (option.max <= 65535) {
      // Buffer sizes and water marks are rounded or tied to each other: only small ranges round-trip exactly.
      for (const v of [option.min, option.max]) {
        loop.setOption(handle, option.name, v)
        assert.equal(loop.getOption(handle, option.name), v, `${option.name} ${v}`)
      }
    }
    assert.throws(() => loop.setOption(handle, option.name, option.max + 1), { code: 'EINVAL', argument: option.name })
  }
})

test('every framing mode is accepted by setFraming, with the core\'s defaults', async (t) => {
  const loop = newLoop(t)
  const listener = loop.listen('127.0.0.1', 0)
  const client = loop.connect('127.0.0.1', loop.localAddress(listener).port)
  for (const { name } of vocabulary.framingModes) {
    // A fixed framing has no default size: the core asks for one.
    const params = name === 'fixed' ? { size: 4 } : {}
    loop.setFraming(client, { mode: name, ...params })
    assert.ok(DTS.includes(`'${name}'`), `index.d.ts names the framing mode ${name}`)
  }
  const { defaults } = vocabulary
  assert.equal(defaults.delimiter, '\n')
  assert.equal(defaults.lengthHeader, 4)
  assert.equal(defaults.maxFrame, 1 << 20)
  // The defaults are the limits setFraming applies: a frame of maxFrame
  // bytes with the default header is accepted, one byte more is refused by
  // the core when it arrives (see framing.test.js); here the parameters.
  loop.setFraming(client, { mode: 'length_prefixed', maxFrame: defaults.maxFrameLimit })
  assert.throws(() => loop.setFraming(client, { mode: 'length_prefixed', maxFrame: defaults.maxFrameLimit + 1 }), {
    code: 'EINVAL',
    argument: 'max_frame',
  })
  assert.throws(() => loop.setFraming(client, { mode: 'delimited', delimiter: 'x'.repeat(defaults.maxDelimiter + 1) }), {
    code: 'EINVAL',
    argument: 'delimiter',
  })
})

test('defaults are the core\'s: backlog 0 means its default, the water marks are its defaults', async (t) => {
  const loop = newLoop(t)
  const { defaults } = vocabulary
  assert.equal(defaults.backlog, 1024)
  loop.listen('127.0.0.1', 0, { backlog: 0 })
  loop.listen('127.0.0.1', 0)
  const { listener, client } = await connected(loop)
  assert.equal(loop.getOption(client, 'high_water'), defaults.highWater)
  assert.equal(loop.getOption(client, 'low_water'), defaults.lowWater)
  assert.ok(defaults.attemptDelayMs > 0)
  assert.ok(defaults.maxReconnectSteps > 0)
  loop.close(loop.connect('127.0.0.1', 9, { reconnect: new Array(defaults.maxReconnectSteps).fill(10) }))
  assert.throws(() => loop.connect('127.0.0.1', 9, { reconnect: new Array(defaults.maxReconnectSteps + 1).fill(10) }), {
    code: 'EINVAL',
    argument: 'reconnect',
  })
  for (const { name, value } of vocabulary.families) {
    const host = name === 'ipv6' ? '::1' : '127.0.0.1'
    for (const family of [name, value]) loop.close(loop.connect(host, 9, { family }))
  }
})
