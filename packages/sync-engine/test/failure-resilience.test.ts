import { BackendUnavailableError, SyncItem, TimeoutError } from '@sync-engine/core'
import { SqliteL3Store } from '@sync-engine/sqlite-tier'
import { makeTempDir } from '@sync-engine/testkit'
import { afterEach, describe, expect, it } from 'vitest'
import { SyncEngine, type SyncEngineConfig } from '../src/index.js'
import { BackendGuard, isDataError, isOutage, isTransient } from '../src/resilience.js'
import { driverError, eventually, faultyL3 } from './fixtures/faults.js'
import { quiet, track } from './helpers.js'

// SPEC §9: every backend call has a timeout; only transient errors are retried; a breaker per backend.

const dirs: (() => void)[] = []
afterEach(() => {
  while (dirs.length) dirs.pop()!()
})

function engineOn(config: SyncEngineConfig = {}) {
  const t = makeTempDir('failure-resilience')
  dirs.push(t.remove)
  const faulty = faultyL3(new SqliteL3Store({ url: `sqlite:${t.path}/l3.db`, logger: quiet }))
  const engine = track(
    new SyncEngine({
      sql: faulty.store,
      wal: { path: `${t.path}/wal.db` },
      logger: quiet,
      ...config,
      resilience: {
        l3TimeoutMs: 150,
        retries: 2,
        retryBaseMs: 5,
        retryMaxMs: 20,
        breakerThreshold: 3,
        halfOpenAfterMs: 100,
        halfOpenMaxMs: 200,
        ...config.resilience,
      },
    }),
  )
  return { engine, faulty }
}

/** Started, with its filter warm-up done (so the only L3 calls are the ones a test makes). */
async function started(engine: SyncEngine): Promise<void> {
  await engine.start()
  await eventually(() => !engine.filterStats().warming, 5000)
}

const items = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => SyncItem.fromJson(`${prefix}.${i}`, { i }))

describe('error classes', () => {
  it('retries resets, timeouts, deadlocks and lock waits; not refusals or bad data', () => {
    expect(isTransient(driverError('read ECONNRESET', 'ECONNRESET'))).toBe(true)
    expect(isTransient(new TimeoutError('mysql statement', 100))).toBe(true)
    expect(isTransient(driverError('Deadlock found', 'ER_LOCK_DEADLOCK', 1213))).toBe(true)
    expect(isTransient(driverError('Lock wait timeout exceeded', 'ER_LOCK_WAIT_TIMEOUT', 1205))).toBe(true)
    const wrapped = new BackendUnavailableError('mysql', 'lost', { cause: driverError('x', 'ECONNRESET') })
    expect(isTransient(wrapped)).toBe(true)
    expect(isTransient(driverError('connect ECONNREFUSED', 'ECONNREFUSED'))).toBe(false)
    expect(isTransient(driverError('Data too long', 'ER_DATA_TOO_LONG', 1406))).toBe(false)
    expect(isDataError(driverError('Data too long', 'ER_DATA_TOO_LONG', 1406))).toBe(true)
    expect(isOutage(driverError('connect ECONNREFUSED', 'ECONNREFUSED'))).toBe(true)
    expect(isOutage(new Error('something unknown'))).toBe(true)
  })

  it('a guard times out a stalled call, retries it, opens its circuit and probes it half-open', async () => {
    const states: string[] = []
    const guard = new BackendGuard(
      'L3',
      {
        l2TimeoutMs: 50,
        l2BatchTimeoutMs: 50,
        l3TimeoutMs: 50,
        retries: 1,
        retryBaseMs: 1,
        retryMaxMs: 5,
        breakerThreshold: 2,
        halfOpenAfterMs: 50,
        halfOpenMaxMs: 50,
        probeIntervalMs: 50,
      },
      { circuit: (state) => states.push(state) },
    )
    let calls = 0
    const stall = () => {
      calls++
      return new Promise<never>(() => undefined)
    }
    const policy = { timeoutMs: 50, retry: true }
    await expect(guard.run('putBatch', stall, policy)).rejects.toBeInstanceOf(TimeoutError)
    expect(calls).toBe(2) // the first attempt and one retry
    expect(guard.circuit).toBe('open')
    await expect(guard.run('putBatch', stall, policy)).rejects.toThrow(/circuit open/)
    expect(calls).toBe(2) // refused without calling
    await new Promise((resolve) => setTimeout(resolve, 120))
    await expect(guard.run('putBatch', async () => 'ok', policy)).resolves.toBe('ok')
    expect(guard.circuit).toBe('closed')
    expect(states).toEqual(['open', 'half-open', 'closed'])
    // Data errors are neither retried nor counted against the backend.
    let dataCalls = 0
    const bad = () => {
      dataCalls++
      return Promise.reject(driverError('Data too long', 'ER_DATA_TOO_LONG', 1406))
    }
    for (let i = 0; i < 3; i++) await expect(guard.run('putBatch', bad, policy)).rejects.toThrow(/too long/)
    expect(dataCalls).toBe(3)
    expect(guard.circuit).toBe('closed')
  })
})

describe('an engine whose L3 stalls or refuses', () => {
  it('a stalled L3: the flush times out into the WAL, the circuit opens, and the backlog drains once L3 answers', async () => {
    const { engine, faulty } = engineOn()
    await started(engine)
    faulty.mode = 'stall'
    const first = items('stall.a', 50)
    await engine.submitMany(first)
    const report = await engine.flush()
    expect(report.walFallback).toBe(50)
    // The stalled call was tried 1 + 2 times (a timeout is transient), then the batch went to the WAL.
    expect(faulty.calls.get('putBatch')).toBe(3)
    // Later flushes queue behind the backlog in the WAL without touching L3.
    const second = items('stall.b', 50)
    await engine.submitMany(second)
    expect((await engine.flush()).walFallback).toBe(50)
    const health = await engine.health()
    expect(health.wal).toMatchObject({ rows: 100, backlog: true })
    // Open, or half-open while a drain probe tries the stalled L3.
    expect(['open', 'half-open']).toContain(health.l3.circuit)
    // Reads of what is pending or in L1 never wait for L3.
    expect((await engine.get('stall.b.7'))?.json()).toEqual({ i: 7 })
    faulty.mode = 'pass'
    await eventually(async () => (await engine.health()).wal.rows === 0, 10_000)
    expect(await engine.countPrefix('stall.')).toBe(100)
    expect((await engine.health()).l3.circuit).toBe('closed')
  })

  it('a refused connection is not retried; deletes and state changes wait in order behind the backlog', async () => {
    const { engine, faulty } = engineOn()
    await started(engine)
    await engine.submitMany(items('order', 10))
    await engine.flush()
    faulty.mode = 'refuse'
    const before = faulty.calls.get('putBatch') ?? 0
    await engine.submit(SyncItem.fromJson('order.1', { i: 1, v: 2 }, { version: 2 }))
    expect((await engine.flush()).walFallback).toBe(1)
    expect(faulty.calls.get('putBatch')! - before).toBe(1)
    const deleted = engine.delete('order.2')
    const tagged = engine.setState('order.3', 'archived')
    await engine.flush()
    expect(await deleted).toBe(true)
    expect(await tagged).toBe(true)
    await engine.submit(SyncItem.fromJson('order.2', { back: true }, { version: 5 }))
    await engine.flush()
    faulty.mode = 'pass'
    await eventually(async () => (await engine.health()).wal.rows === 0, 10_000)
    expect((await engine.get('order.1'))?.json()).toEqual({ i: 1, v: 2 })
    expect((await engine.get('order.2'))?.json()).toEqual({ back: true })
    expect(await engine.getByState('archived')).toEqual(['order.3'])
    expect(await engine.countPrefix('order.')).toBe(10)
  })
})
