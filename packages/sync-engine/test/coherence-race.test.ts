import { type L3Store, SyncItem } from '@sync-engine/core'
import { MysqlL3Store } from '@sync-engine/mysql-tier'
import { describe, expect, it } from 'vitest'
import { deferred } from '../src/pipeline.js'
import { eventually } from './fixtures/faults.js'
import { engineFactory, quiet } from './helpers.js'
import { servicesForFile } from './services.js'

// Regressions found by the multi-process load test (multiprocess.test.ts): races between this
// engine's writes in flight and other processes' changes arriving on the stream.

const file = servicesForFile('coh_race')

const engine = engineFactory(file.temp.path, () => ({
  sql: file.services.mysqlUrl,
  redis: { url: file.services.redisUrl, prefix: file.services.prefix },
  cdc: { enabled: true, maxStalenessMs: 200 },
  batch: { maxAgeMs: 10 },
}))

/** A MariaDB L3 whose `putBatch`, once `arm()`ed, commits and then waits for `release()` before it answers. */
function heldAfterCommit(): { store: L3Store; arm(): void; held: Promise<void>; release(): void } {
  const inner = new MysqlL3Store({ url: file.services.mysqlUrl, logger: quiet })
  const committed = deferred<void>()
  const gate = deferred<void>()
  let holding = false
  const store = new Proxy(inner, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target)
      if (typeof value !== 'function') return value
      const fn = value as (...args: unknown[]) => Promise<unknown>
      if (key !== 'putBatch') return fn.bind(target)
      return async (...args: unknown[]) => {
        const result = await fn.apply(target, args)
        if (holding) {
          committed.waiter.resolve()
          await gate.promise
        }
        return result
      }
    },
  })
  return {
    store,
    arm: () => {
      holding = true
    },
    held: committed.promise,
    release: () => gate.waiter.resolve(),
  }
}

describe('coherence races', () => {
  it("another process's newer write landing while this engine's own write of the id is in flight does not leave the older value in L1", async () => {
    const gated = heldAfterCommit()
    const a = engine({ instanceId: 'race-a' })
    const b = engine({ instanceId: 'race-b', sql: gated.store })
    await a.start()
    await b.start()
    await a.submit(SyncItem.fromJson('race.probe', { v: 1 }))
    await a.flush()
    expect((await b.get('race.probe'))?.version).toBe(1) // cached in b: tells when b read a's changes

    gated.arm()
    const writing = b.submit(SyncItem.fromJson('race.doc', { by: 'b' }, { version: 1 }))
    const flushing = b.flush()
    await gated.held // b's row is committed in L3; b's flush is still in flight
    await writing
    await a.submit(SyncItem.fromJson('race.doc', { by: 'a' }, { version: 2 }))
    await a.submit(SyncItem.fromJson('race.probe', { v: 2 }, { version: 2 }))
    await a.flush()
    // b has read a's changes (the probe left its L1) while race.doc was still pending in b.
    await eventually(async () => (await b.get('race.probe'))?.version === 2, 2000)
    gated.release()
    await flushing
    expect((await b.get('race.doc'))?.json()).toEqual({ by: 'a' })
  })

  for (const late of [false, true]) {
    it(`another process's delete landing between this engine's L3 commit and its L2 write leaves nothing in L2 (the delete seen ${late ? 'after the write settled' : 'while it was in flight'})`, async () => {
      const gated = heldAfterCommit()
      const a = engine({ instanceId: `race-del-a-${late}`, sql: gated.store })
      const b = engine({ instanceId: `race-del-b-${late}` })
      const c = engine({ instanceId: `race-del-c-${late}` })
      await a.start()
      await b.start()
      await c.start()
      const id = `race.gone.${late}`
      if (late) a.pauseCoherence() // a reads b's delete only after its own write settled
      gated.arm()
      await a.submit(SyncItem.fromJson(id, { by: 'a' }))
      const flushing = a.flush()
      await gated.held // in L3; a's L2 write not made yet
      expect(await b.delete(id)).toBe(true)
      gated.release()
      await flushing
      a.resumeCoherence()
      await eventually(async () => (await c.get(id)) === null && (await a.get(id)) === null, 3000)
    })
  }
})
