import { type PressureLevel, pressureRank, SyncItem } from '@sync-engine/core'
import { L1MemoryCache } from '@sync-engine/l1-cache'
import { describe, expect, it } from 'vitest'
import { embedded } from './helpers.js'

describe('memory pressure (SPEC §9)', () => {
  it('L1 capped at 1 MiB while 50 MiB are written: everything readable, pressure below Critical, nothing pending evicted', async () => {
    const l1 = new L1MemoryCache({ maxBytes: 1024 * 1024 })
    const { engine } = embedded({ l1 })
    const evictedWhilePending: string[] = []
    await engine.start()
    l1.onRemove((item, reason) => {
      // An evicted entry must never be the only copy of a write still in the pipeline.
      if (reason === 'evicted' && engine.isPending(item.id)) evictedWhilePending.push(item.id)
    })
    const pad = 'x'.repeat(10 * 1024)
    const ids: string[] = []
    let worst: PressureLevel = 'Normal'
    for (let i = 0; i < 5000; i++) {
      const item = SyncItem.fromJson(`blob.${i}`, { i, pad })
      ids.push(item.id)
      await engine.submit(item)
      const level = engine.pressureLevel()
      if (pressureRank(level) > pressureRank(worst)) worst = level
    }
    await engine.flush()
    expect(pressureRank(worst)).toBeLessThan(pressureRank('Critical'))
    expect(evictedWhilePending).toEqual([])
    expect(l1.stats().evictions).toBeGreaterThan(4000)
    for (let i = 0; i < ids.length; i += 97) expect((await engine.get(ids[i]!))?.json()).toMatchObject({ i })
    expect(await engine.countPrefix('blob.')).toBe(5000)
  })
})
