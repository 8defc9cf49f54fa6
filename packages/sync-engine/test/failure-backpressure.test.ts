import { BackpressureError, SyncItem } from '@sync-engine/core'
import { SqliteL3Store } from '@sync-engine/sqlite-tier'
import { makeTempDir } from '@sync-engine/testkit'
import { afterAll, describe, expect, it } from 'vitest'
import { SyncEngine } from '../src/index.js'
import { eventually, faultyL3, sleep } from './fixtures/faults.js'
import { quiet, track } from './helpers.js'

// SPEC §9: pressure = max(L1, pipeline, WAL); Throttle makes submit wait for room; Critical and above
// refuse writes with BackpressureError { level, retryAfterMs }; reads are never refused.

const temp = makeTempDir('failure-backpressure')
afterAll(() => temp.remove())

const batch = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => SyncItem.fromJson(`${prefix}.${i}`, { i }))

describe('backpressure fed by the WAL while L3 is away', () => {
  it('Warn, Throttle (submit waits for the drain), Critical (refused, reads still served), each change counted', async () => {
    const faulty = faultyL3(new SqliteL3Store({ url: `sqlite:${temp.path}/l3.db`, logger: quiet }))
    const engine = track(
      new SyncEngine({
        sql: faulty.store,
        wal: { path: `${temp.path}/wal.db`, maxRows: 1000 },
        resilience: { halfOpenAfterMs: 50, halfOpenMaxMs: 200, retries: 0 },
        logger: quiet,
      }),
    )
    await engine.start()
    await eventually(() => !engine.filterStats().warming, 5000)
    faulty.mode = 'refuse'

    await engine.submitMany(batch('bp.a', 750))
    await engine.flush()
    expect(engine.pressureLevel()).toBe('Warn')
    await engine.submitMany(batch('bp.b', 60))
    await engine.flush()
    expect(engine.pressureLevel()).toBe('Throttle')

    // Throttle: the write is taken, but its submit waits until the drain makes room.
    let resolved = false
    const waiting = engine.submit(SyncItem.fromJson('bp.throttled', { waited: true })).then(() => {
      resolved = true
    })
    await sleep(200)
    expect(resolved).toBe(false)
    faulty.mode = 'pass'
    await waiting
    await eventually(async () => (await engine.health()).wal.rows === 0, 10_000)
    expect(engine.pressureLevel()).toBe('Normal')

    faulty.mode = 'refuse'
    await engine.submitMany(batch('bp.c', 920))
    await engine.flush()
    expect(engine.pressureLevel()).toBe('Critical')
    const refused = await engine.submit(SyncItem.fromJson('bp.refused', {})).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(BackpressureError)
    expect(refused).toMatchObject({ level: 'Critical' })
    expect((refused as BackpressureError).retryAfterMs).toBeGreaterThan(0)
    expect((await engine.health()).acceptingWrites).toBe(false)
    // Reads are never refused.
    expect((await engine.get('bp.c.7'))?.json()).toEqual({ i: 7 })
    expect((await engine.getMany(['bp.a.1', 'bp.throttled'])).size).toBe(2)

    faulty.mode = 'pass'
    await eventually(async () => (await engine.health()).wal.rows === 0, 10_000)
    await engine.submit(SyncItem.fromJson('bp.after', {}))
    expect(await engine.countPrefix('bp.')).toBe(750 + 60 + 1 + 920 + 1)

    const transitions = engine.metrics
      .counters()
      .filter((c) => c.name === 'sync_engine_backpressure_transitions_total')
      .map((c) => `${c.attributes.from}→${c.attributes.to}`)
    expect(transitions).toEqual(
      expect.arrayContaining([
        'Normal→Warn',
        'Warn→Throttle',
        'Throttle→Normal',
        'Normal→Critical',
        'Critical→Normal',
      ]),
    )
  })
})
