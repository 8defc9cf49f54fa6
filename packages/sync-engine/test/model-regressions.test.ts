import { SyncItem } from '@sync-engine/core'
import { describe, expect, it } from 'vitest'
import { embedded } from './helpers.js'

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
})
