import { performance } from 'node:perf_hooks'
import { BackendUnavailableError, InvalidArgumentError, TimeoutError } from '@sync-engine/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  Cleanup,
  FaultProxy,
  freePort,
  RawSocket,
  requireMysql,
  requireRedis,
  respCommand,
  testSeed,
  uniquePrefix,
} from '../src/index.js'

const REDIS = { host: '127.0.0.1', port: 6379 }
const MARIADB = { host: '127.0.0.1', port: 3306 }
const seed = testSeed()
const prefix = uniquePrefix('faults')
const cleanup = new Cleanup()

beforeAll(async () => {
  console.log(`fault proxy jitter seed ${seed} (FC_SEED=${seed} reproduces)`)
  await requireRedis()
  await requireMysql()
})
afterAll(() => cleanup.run())

async function proxyTo(target = REDIS): Promise<FaultProxy> {
  const proxy = await FaultProxy.start({ target, seed })
  cleanup.add(() => proxy.close())
  return proxy
}

async function client(proxy: FaultProxy): Promise<RawSocket> {
  const socket = await RawSocket.connect(proxy.port)
  cleanup.add(() => socket.destroy())
  return socket
}

/** How a fresh connection through the proxy ends without being used: an error code or 'closed'. */
async function fateOfNewConnection(proxy: FaultProxy): Promise<string> {
  try {
    const socket = await RawSocket.connect(proxy.port)
    return (await socket.closed).errorCode ?? 'closed'
  } catch (e) {
    return (e as Error).message
  }
}

const ping = (socket: RawSocket, timeoutMs?: number) => socket.command(['PING'], timeoutMs)

describe('FaultProxy in front of Redis', () => {
  it('passes traffic through both ways and counts it', async () => {
    const proxy = await proxyTo()
    expect(proxy.url('redis')).toBe(`redis://127.0.0.1:${proxy.port}`)
    const socket = await client(proxy)
    expect(await ping(socket)).toBe('+PONG\r\n')
    expect(await socket.command(['SET', `${prefix}pass`, 'hello'])).toBe('+OK\r\n')
    expect(await socket.command(['GET', `${prefix}pass`])).toBe('$5\r\nhello\r\n')
    expect(await socket.command(['DEL', `${prefix}pass`])).toBe(':1\r\n')
    const stats = proxy.stats()
    expect(stats).toMatchObject({ mode: { kind: 'pass' }, connectionsOpen: 1, connectionsTotal: 1 })
    expect(stats.bytesToClient).toBe(7 + 5 + 11 + 4)
    expect(stats.bytesToServer).toBeGreaterThan(0)
  })

  it('latency delays each direction by at least the configured time and keeps order', async () => {
    const proxy = await proxyTo()
    const socket = await client(proxy)
    proxy.latency(60, 30)
    const started = performance.now()
    expect(await ping(socket)).toBe('+PONG\r\n')
    expect(performance.now() - started).toBeGreaterThanOrEqual(2 * 60)

    // Many small writes, each delayed by its own seeded jitter: the replies still come in order.
    const count = 15
    for (let i = 0; i < count; i++) {
      socket.write(respCommand(['ECHO', `m${i}`]))
      await new Promise((r) => setTimeout(r, 2))
    }
    const expected = Array.from({ length: count }, (_, i) => `$${`m${i}`.length}\r\nm${i}\r\n`).join('')
    const replies = await socket.readUntil((b) => b.length >= expected.length, 5000)
    expect(replies.toString()).toBe(expected)
  })

  it('stall holds requests unanswered (new connections too) until heal releases them', async () => {
    const proxy = await proxyTo()
    const before = await client(proxy)
    proxy.stall()
    before.write(respCommand(['PING']))
    await expect(before.readReply(300)).rejects.toBeInstanceOf(TimeoutError)
    const during = await client(proxy)
    during.write(respCommand(['PING']))
    await expect(during.readReply(300)).rejects.toBeInstanceOf(TimeoutError)
    expect(proxy.stats().bytesToServer).toBe(0)
    proxy.heal()
    expect((await before.readReply()).toString()).toBe('+PONG\r\n')
    expect((await during.readReply()).toString()).toBe('+PONG\r\n')
  })

  it('reset sends RST to open connections and to new ones; heal accepts again', async () => {
    const proxy = await proxyTo()
    const socket = await client(proxy)
    expect(await ping(socket)).toBe('+PONG\r\n')
    proxy.reset()
    expect((await socket.closed).errorCode).toBe('ECONNRESET')
    expect(await fateOfNewConnection(proxy)).toContain('ECONNRESET')
    expect(proxy.stats().connectionsRefused).toBe(1)
    proxy.heal()
    expect(await ping(await client(proxy))).toBe('+PONG\r\n')
  })

  it('closeAfter closes each connection (FIN) once N more bytes reached its client', async () => {
    const proxy = await proxyTo()
    const socket = await client(proxy)
    const value = 'v'.repeat(200)
    expect(await socket.command(['SET', `${prefix}big`, value])).toBe('+OK\r\n')
    const small = await client(proxy)
    proxy.closeAfter(50)
    const sentBefore = proxy.stats().bytesToClient
    socket.write(respCommand(['GET', `${prefix}big`]))
    expect((await socket.closed).errorCode).toBeUndefined()
    expect(socket.unread.toString()).toBe(`$200\r\n${value}\r\n`.slice(0, 50))
    expect(proxy.stats().bytesToClient - sentBefore).toBe(50)
    // Another connection has its own budget: a 7-byte PONG passes and it stays open.
    expect(await ping(small)).toBe('+PONG\r\n')
    expect(small.isClosed).toBe(false)
    proxy.heal()
    const after = await client(proxy)
    expect(await after.command(['DEL', `${prefix}big`])).toBe(':1\r\n')
  })

  it('cut destroys open connections and closes new ones on arrival; heal accepts again', async () => {
    const proxy = await proxyTo()
    const socket = await client(proxy)
    expect(await ping(socket)).toBe('+PONG\r\n')
    proxy.cut()
    await socket.closed
    expect(socket.isClosed).toBe(true)
    const fate = await fateOfNewConnection(proxy)
    expect(fate === 'closed' || fate === 'ECONNRESET' || fate.includes('connection closed')).toBe(true)
    expect(proxy.stats()).toMatchObject({ connectionsOpen: 0, connectionsRefused: 1 })
    proxy.heal()
    expect(await ping(await client(proxy))).toBe('+PONG\r\n')
  })

  it('a dead target looks like a reset connection to the client', async () => {
    const proxy = await proxyTo({ host: '127.0.0.1', port: await freePort() })
    const socket = await client(proxy)
    socket.write(respCommand(['PING']))
    expect((await socket.closed).errorCode).toBe('ECONNRESET')
  })

  it('close() ends every connection and frees the port, leaving no TCP handle behind', async () => {
    const tcpHandles = () => process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP')).length
    const baseline = tcpHandles()
    const proxy = await FaultProxy.start({ target: REDIS })
    const sockets = [await RawSocket.connect(proxy.port), await RawSocket.connect(proxy.port)]
    proxy.latency(1000) // pending timers must not keep anything alive
    sockets[0]!.write(respCommand(['PING']))
    await proxy.close()
    await Promise.all(sockets.map((s) => s.closed))
    expect(proxy.stats().connectionsOpen).toBe(0)
    expect(tcpHandles()).toBeLessThanOrEqual(baseline) // earlier tests' sockets may close meanwhile
    await expect(RawSocket.connect(proxy.port)).rejects.toBeInstanceOf(BackendUnavailableError)
    await proxy.close() // idempotent
  })

  it('rejects bad arguments with InvalidArgumentError naming them', async () => {
    const proxy = await proxyTo()
    const argumentOf = (f: () => unknown) => {
      try {
        f()
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidArgumentError)
        return (e as InvalidArgumentError).argument
      }
      return 'no error'
    }
    expect(argumentOf(() => proxy.latency(-1))).toBe('ms')
    expect(argumentOf(() => proxy.latency(10, Number.NaN))).toBe('jitterMs')
    expect(argumentOf(() => proxy.closeAfter(1.5))).toBe('bytes')
    expect(argumentOf(() => proxy.url('no scheme'))).toBe('scheme')
    await expect(FaultProxy.start({ target: { host: '127.0.0.1', port: 0 } })).rejects.toMatchObject({
      argument: 'target.port',
    })
    await expect(FaultProxy.start({ target: REDIS, listenPort: 70000 })).rejects.toMatchObject({
      argument: 'listenPort',
    })
    await expect(FaultProxy.start({ target: REDIS, seed: 1.5 })).rejects.toMatchObject({ argument: 'seed' })
    expect(proxy.mode).toEqual({ kind: 'pass' })
  })
})

describe('FaultProxy in front of MariaDB', () => {
  it('passes the server greeting through unchanged, and rewrites URLs', async () => {
    const proxy = await proxyTo(MARIADB)
    expect(proxy.url('mysql://root@127.0.0.1:3306/test')).toBe(`mysql://root@127.0.0.1:${proxy.port}/test`)
    const packet = (b: Buffer) => b.length >= 4 && b.length >= 4 + b.readUIntLE(0, 3)
    const direct = await RawSocket.connect(MARIADB.port)
    cleanup.add(() => direct.destroy())
    const viaProxy = await client(proxy)
    const [a, b] = await Promise.all([direct.readUntil(packet), viaProxy.readUntil(packet)])
    expect(b[4]).toBe(10) // protocol version 10
    // Same server version string (it ends at the first NUL after the protocol byte).
    const version = (g: Buffer) => g.subarray(5, g.indexOf(0, 5)).toString()
    expect(version(b)).toBe(version(a))
    expect(proxy.stats().bytesToClient).toBe(b.length)
  })
})
