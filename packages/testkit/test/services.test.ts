import { createServer, type Server } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import {
  Cleanup,
  makeTempDir,
  requireMysql,
  requireRedis,
  ServiceUnavailableError,
  serviceUrls,
  testSeed,
  uniqueName,
  uniquePrefix,
} from '../src/index.js'

const servers: Server[] = []
afterAll(() => {
  for (const s of servers) s.close()
})

/** A TCP server on a free loopback port that answers every connection with `reply`. */
async function fakeServer(reply: Buffer | undefined): Promise<string> {
  const server = createServer((socket) => {
    if (reply) socket.end(reply)
    // else: accept and say nothing (a stalled service)
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return `127.0.0.1:${address.port}`
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

describe('service URLs and names', () => {
  it('defaults to the machine services and honours the environment', () => {
    expect(serviceUrls({})).toEqual({
      redisUrl: 'redis://127.0.0.1:6379',
      mysqlUrl: 'mysql://root@127.0.0.1:3306/test',
    })
    expect(serviceUrls({ REDIS_URL: 'redis://x:1', MYSQL_URL: 'mysql://y/z' })).toEqual({
      redisUrl: 'redis://x:1',
      mysqlUrl: 'mysql://y/z',
    })
  })

  it('makes unique SQL-safe names and Redis prefixes', () => {
    const a = uniqueName('Merkle Nodes-Test')
    expect(a).toMatch(/^merkle_nodes_test_\d+_[0-9a-f]{6}$/)
    expect(a.length).toBeLessThanOrEqual(64)
    expect(uniqueName('x')).not.toBe(uniqueName('x'))
    expect(uniquePrefix('l2')).toMatch(/^test:l2:\d+:[0-9a-f]{6}:$/)
  })

  it('reads FC_SEED to reproduce a randomized failure', () => {
    expect(testSeed(5, {})).toBe(5)
    expect(testSeed(5, { FC_SEED: '42' })).toBe(42)
    expect(() => testSeed(5, { FC_SEED: 'x' })).toThrow(/FC_SEED must be an integer/)
  })
})

describe('requireRedis / requireMysql', () => {
  it('pass against the real services of this machine', async () => {
    await requireRedis()
    await requireMysql()
  })

  it('fail — never skip — with a start hint when nothing listens', async () => {
    const port = await freePort()
    const err = await requireRedis(`redis://127.0.0.1:${port}`).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ServiceUnavailableError)
    expect((err as Error).message).toMatch(
      /Redis does not answer at redis:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
    )
    expect((err as Error).message).toMatch(/tooling\/scripts\/services\.sh/)
    await expect(requireMysql(`mysql://root@127.0.0.1:${port}/test`)).rejects.toThrow(
      /MySQL\/MariaDB does not answer/,
    )
  })

  it('fail on a server that is not what it should be, or that stalls', async () => {
    const http = await fakeServer(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'))
    await expect(requireRedis(`redis://${http}`)).rejects.toThrow(/unexpected reply/)
    await expect(requireMysql(`mysql://${http}/x`)).rejects.toThrow(/not a MySQL handshake/)
    const silent = await fakeServer(undefined)
    await expect(requireRedis(`redis://${silent}`, 200)).rejects.toThrow(/no answer within 200 ms/)
  })
})

describe('Cleanup and temp dirs', () => {
  it('runs every step in reverse order and rethrows the first error', async () => {
    const order: number[] = []
    const cleanup = new Cleanup()
    cleanup.add(() => order.push(1))
    cleanup.add(() => {
      throw new Error('step 2 failed')
    })
    cleanup.add(async () => order.push(3))
    await expect(cleanup.run()).rejects.toThrow('step 2 failed')
    expect(order).toEqual([3, 1])
  })

  it('creates and removes a temp dir', async () => {
    const { existsSync } = await import('node:fs')
    const dir = makeTempDir('testkit')
    expect(existsSync(dir.path)).toBe(true)
    dir.remove()
    expect(existsSync(dir.path)).toBe(false)
  })
})
