import { BackendUnavailableError, SyncEngineError } from '@sync-engine/core'
import { jsonItem, RedisProcess } from '@sync-engine/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RedisChangeFeed, RedisChangePublisher, RedisL2Store } from '../src/index.js'
import { waitFor } from './helpers.js'

// A redis-server this file owns, killed with SIGKILL while the store is open, then started again on
// the same port: the store must fail fast while it is gone and heal by itself when it is back.
const TIMEOUT_MS = 500
/** Generous: a call against a dead server must settle well within this (it usually takes < 10 ms). */
const BOUND_MS = 5_000

let server: RedisProcess
let store: RedisL2Store
let publisher: RedisChangePublisher
let feed: RedisChangeFeed

beforeAll(async () => {
  server = await RedisProcess.start()
  const options = { url: server.url, prefix: 'kill:', commandTimeoutMs: TIMEOUT_MS }
  store = new RedisL2Store(options)
  publisher = new RedisChangePublisher(options)
  feed = new RedisChangeFeed({ ...options, start: 'earliest' })
  await store.connect()
  await publisher.connect()
}, 30_000)

afterAll(async () => {
  await feed?.close()
  await publisher?.close()
  await store?.close()
  await server?.close()
})

/** Runs `call`, asserting it settles within the bound; returns its error (or undefined). */
async function settle(name: string, call: () => Promise<unknown>): Promise<unknown> {
  const started = performance.now()
  let error: unknown
  try {
    await call()
  } catch (e) {
    error = e
  }
  const elapsed = performance.now() - started
  expect(elapsed, `${name} took ${elapsed.toFixed(0)} ms`).toBeLessThan(BOUND_MS)
  return error
}

const calls: [string, () => Promise<unknown>][] = [
  ['putBatch', () => store.putBatch([jsonItem('k.1', [1])])],
  ['get', () => store.get('k.1')],
  ['getMany', () => store.getMany(['k.1', 'k.2'])],
  ['exists', () => store.exists('k.1')],
  ['deleteBatch', () => store.deleteBatch(['k.2'])],
  ['byState', () => store.byState('default')],
  ['merkle.getNodes', () => store.merkle.getNodes([''])],
  [
    'merkle.writeNodes',
    () =>
      store.merkle.writeNodes({
        upsert: [{ path: 'k', hash: 'a'.repeat(64), leaf: true, count: 1 }],
        delete: [],
      }),
  ],
  [
    'publish',
    () =>
      publisher.publish([
        {
          op: 'DEL',
          key: 'k.1',
          hash: '',
          meta: { contentType: undefined, version: undefined, updatedAt: 1, state: undefined, origin: 'x' },
        },
      ]),
  ],
  ['feed.read', () => feed.read({ blockMs: 100 })],
]

describe('Redis killed and restarted under an open store', () => {
  it('works, fails fast with typed errors while Redis is dead, and heals when it is back', async () => {
    for (const [name, call] of calls) expect(await settle(name, call), name).toBeUndefined()

    // A feed blocked in XREAD when the server dies settles too.
    const blocked = feed.read({ blockMs: 3_000 }).catch((e: unknown) => e)
    await new Promise((r) => setTimeout(r, 100))
    await server.kill()
    const started = performance.now()
    const outcome = await blocked
    expect(performance.now() - started).toBeLessThan(BOUND_MS)
    expect(
      outcome instanceof SyncEngineError || (outcome as { changes?: unknown }).changes !== undefined,
    ).toBe(true)

    for (const [name, call] of calls) {
      const error = await settle(name, call)
      expect(error, name).toBeInstanceOf(SyncEngineError)
      expect(['BACKEND_UNAVAILABLE', 'TIMEOUT'], `${name}: ${(error as Error).message}`).toContain(
        (error as SyncEngineError).code,
      )
    }
    const health = await store.health(TIMEOUT_MS)
    expect(health.ok).toBe(false)
    const late = new RedisL2Store({ url: server.url, prefix: 'kill:', commandTimeoutMs: TIMEOUT_MS })
    expect(await settle('connect', () => late.connect())).toBeInstanceOf(BackendUnavailableError)

    // Back on the same port: the same store objects reconnect by themselves.
    await server.restart()
    await waitFor('the store to reconnect', async () => (await store.health(TIMEOUT_MS)).ok)
    await waitFor('the publisher to reconnect', async () => {
      await calls[8]![1]()
      return true
    })
    for (const [name, call] of calls) expect(await settle(name, call), name).toBeUndefined()
    expect((await store.get('k.1'))?.json()).toEqual([1])
    // A store whose first connect() failed connects on a later call.
    await late.connect()
    expect(await late.exists('k.1')).toBe(true)
    await late.close()
  })
})
