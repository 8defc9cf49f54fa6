import { SyncItem } from '@sync-engine/core'
import { SqliteL3Store } from '@sync-engine/sqlite-tier'
import { makeTempDir } from '@sync-engine/testkit'
import { afterAll, describe, expect, it } from 'vitest'
import { SyncEngine } from '../src/index.js'
import { eventually, faultyL3 } from './fixtures/faults.js'
import { embedded, quiet, track } from './helpers.js'

const temp = makeTempDir('model-regressions')
afterAll(() => temp.remove())

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

  it('a local write committed while records of the previous run still wait in the WAL does not acknowledge them away (SEED 778)', async () => {
    const dir = temp.path
    const faulty = () => faultyL3(new SqliteL3Store({ url: `sqlite:${dir}/l3.db`, logger: quiet }))
    const make = (l3: ReturnType<typeof faulty>) =>
      track(
        new SyncEngine({
          sql: l3.store,
          wal: { path: `${dir}/wal.db` },
          allowDegradedStart: true,
          resilience: { retries: 0, halfOpenAfterMs: 20, probeIntervalMs: 20 },
          logger: quiet,
        }),
      )
    // Run 1: L3 refuses; the write goes to the WAL and stays there through shutdown.
    const first = faulty()
    const one = make(first)
    await one.start()
    first.mode = 'refuse'
    await one.submit(SyncItem.fromJson('left.over', { run: 1 }))
    await one.shutdown()
    expect((await one.health()).state).toBe('Stopped')

    // Run 2 starts degraded; a `local` write and a delete commit (to the WAL) before L3 is back.
    const second = faulty()
    second.mode = 'refuse'
    const two = make(second)
    await two.start()
    await two.submit(SyncItem.fromJson('run.two', { run: 2 }), { durability: 'local' })
    await two.delete('never.was')
    second.mode = 'pass'
    await eventually(async () => !(await two.health()).wal.backlog, 10_000)
    expect((await two.get('left.over'))?.json()).toEqual({ run: 1 })
    expect((await two.get('run.two'))?.json()).toEqual({ run: 2 })
  })
})
