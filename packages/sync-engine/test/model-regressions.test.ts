import { basename } from 'node:path'
import { BackendUnavailableError, SyncItem } from '@sync-engine/core'
import { RedisL2Store } from '@sync-engine/redis-tier'
import { SqliteL3Store } from '@sync-engine/sqlite-tier'
import { FaultProxy } from '@sync-engine/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SyncEngine } from '../src/index.js'
import { eventually, faultyL3 } from './fixtures/faults.js'
import { embedded, quiet, track } from './helpers.js'
import { servicesForFile } from './services.js'

const file = servicesForFile('model_reg')
let redisProxy: FaultProxy
beforeAll(async () => {
  const redis = new URL(file.services.redisUrl)
  redisProxy = await FaultProxy.start({ target: { host: redis.hostname, port: Number(redis.port || 6379) } })
})
afterAll(() => redisProxy?.close())

/** An engine on a SQLite L3 that can refuse (`faultyL3`) and on Redis behind the fault proxy. */
function faultyEngine(dir: string, redis: boolean) {
  const l3 = faultyL3(new SqliteL3Store({ url: `sqlite:${dir}/l3.db`, logger: quiet }))
  const engine = track(
    new SyncEngine({
      sql: l3.store,
      wal: { path: `${dir}/wal.db` },
      ...(redis
        ? { redis: { url: redisProxy.url('redis'), prefix: `${file.services.prefix}${basename(dir)}:` } }
        : {}),
      allowDegradedStart: true,
      resilience: { retries: 0, halfOpenAfterMs: 20, probeIntervalMs: 20, l2TimeoutMs: 300 },
      logger: quiet,
    }),
  )
  return { l3, engine }
}

// Regressions found by the model-based test (model.test.ts), reproduced on an embedded engine.

describe('found by the model-based test', () => {
  it("setState on a `local` write still queued carries the write's WAL record once (it used to loop forever copying the record list into itself)", async () => {
    const { engine } = embedded({ batch: { maxAgeMs: 60_000 } })
    await engine.start()
    await engine.submit(SyncItem.fromJson('reg.local', { n: 1 }), { durability: 'local' })
    expect(await engine.setState('reg.local', 'hot')).toBe(true)
    await engine.flush()
    expect((await engine.health()).wal.rows).toBe(0) // the record was acknowledged once its write committed
    expect((await engine.get('reg.local'))?.state).toBe('hot')
    expect(await engine.getByState('hot')).toEqual(['reg.local'])
  })

  it('a local write committed while records of the previous run still wait in the WAL does not acknowledge them away (FC_SEED=778)', async () => {
    const dir = `${file.temp.path}/leftover-ack`
    // Run 1: L3 refuses; the write goes to the WAL and stays there through shutdown.
    const one = faultyEngine(dir, false)
    await one.engine.start()
    one.l3.mode = 'refuse'
    await one.engine.submit(SyncItem.fromJson('left.over', { run: 1 }))
    await one.engine.shutdown()

    // Run 2 starts degraded; a `local` write and a delete commit (to the WAL) before L3 is back.
    const two = faultyEngine(dir, false)
    two.l3.mode = 'refuse'
    await two.engine.start()
    await two.engine.submit(SyncItem.fromJson('run.two', { run: 2 }), { durability: 'local' })
    await two.engine.delete('never.was')
    two.l3.mode = 'pass'
    await eventually(async () => !(await two.engine.health()).wal.backlog, 10_000)
    expect((await two.engine.get('left.over'))?.json()).toEqual({ run: 1 })
    expect((await two.engine.get('run.two'))?.json()).toEqual({ run: 2 })
  })

  it('records of a previous run drained into L3 do not leave L2 with an older value the Merkle mirror no longer shows (FC_SEED=4244)', async () => {
    const dir = `${file.temp.path}/leftover-l2`
    const one = faultyEngine(dir, true)
    await one.engine.start()
    one.l3.mode = 'refuse'
    await one.engine.submit(SyncItem.fromJson('stale.l2', { v: 1 }))
    await one.engine.flush() // into the WAL; L2 gets v1
    redisProxy.cut()
    await one.engine.submit(SyncItem.fromJson('stale.l2', { v: 2 }, { version: 2 }))
    await one.engine.flush() // into the WAL; L2 misses v2 (remembered only by this process)
    redisProxy.heal()
    await one.engine.shutdown() // L3 still refuses: both records stay in the WAL

    const two = faultyEngine(dir, true)
    two.l3.mode = 'refuse'
    await two.engine.start() // degraded; L2 attached as it is (v1)
    two.l3.mode = 'pass'
    await eventually(async () => {
      const h = await two.engine.health()
      return !h.wal.backlog && h.l2.attached === true
    }, 10_000)
    const roots = await two.engine.merkleRoots()
    expect(roots.l2).toBe(roots.l3)
    expect((await two.engine.get('stale.l2'))?.version).toBe(2)
  })

  it('an L2 client that ended while L2 was away is connected again by the probe (FC_SEED=31337)', async () => {
    // A Redis client closed while it was reconnecting answers "Connection is closed." until connect().
    const inner = new RedisL2Store({
      url: file.services.redisUrl,
      prefix: `${file.services.prefix}ended:`,
      logger: quiet,
    })
    let ended = false
    const closed = () => new BackendUnavailableError('redis', 'Connection is closed.')
    const l2 = new Proxy(inner, {
      get(target, key) {
        const value: unknown = Reflect.get(target, key, target)
        if (typeof value !== 'function') return value
        const fn = value as (...args: unknown[]) => Promise<unknown>
        if (key === 'connect')
          return (...args: unknown[]) => {
            ended = false
            return fn.apply(target, args)
          }
        if (key === 'health')
          return (...args: unknown[]) =>
            ended
              ? Promise.resolve({ ok: false, latencyMs: 0, error: closed().message })
              : fn.apply(target, args)
        if (key === 'close') return fn.bind(target)
        return (...args: unknown[]) => (ended ? Promise.reject(closed()) : fn.apply(target, args))
      },
    })
    const { engine } = embedded({ redis: l2, resilience: { probeIntervalMs: 20, halfOpenAfterMs: 20 } })
    await engine.start()
    ended = true
    await engine.submit(SyncItem.fromJson('ended.1', { n: 1 }))
    await engine.flush() // the L2 write fails: L2 detached, the probe starts
    expect((await engine.health()).l2.attached).toBe(false)
    await eventually(async () => (await engine.health()).l2.attached === true, 5000)
    expect(await inner.get('ended.1')).not.toBeNull() // repaired into L2
  })
})
