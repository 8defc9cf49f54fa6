import type { L2Store } from '@sync-engine/core'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { AWKWARD_IDS, binaryItem, jsonItem, sameItem } from './fixtures.js'

export interface L2StoreHarness {
  /** A fresh, connected store under its own key prefix. */
  create(): Promise<L2Store>
  /** Removes what `create` made (its keys); called after each test with the store (already closed). */
  destroy?(store: L2Store): Promise<void>
  teardown?(): Promise<void>
}

/** The contract every L2 shared-cache store keeps (SPEC §4, §5.1). */
export function describeL2Store(name: string, harness: L2StoreHarness): void {
  describe(`L2Store conformance: ${name}`, () => {
    let store: L2Store
    beforeEach(async () => {
      store = await harness.create()
    })
    afterEach(async () => {
      await store.close()
      await harness.destroy?.(store)
    })
    if (harness.teardown) afterAll(() => harness.teardown!())

    it('stores and returns items byte for byte, JSON and binary', async () => {
      const a = jsonItem('user.alice', { name: 'Alice' }, { version: 4, state: 'active' })
      const b = binaryItem('blob.1')
      const outcomes = await store.putBatch([a, b])
      expect(outcomes.map((o) => o.status)).toEqual(['written', 'written'])
      expect(sameItem(await store.get(a.id), a)).toBe(true)
      expect(sameItem(await store.get(b.id), b)).toBe(true)
      expect(await store.get('nobody')).toBeUndefined()
    })

    it('never lets an older (version, updatedAt) replace a newer one', async () => {
      await store.putBatch([jsonItem('doc', { v: 2 }, { version: 2, updatedAt: 2000 })])
      const [outcome] = await store.putBatch([jsonItem('doc', { v: 1 }, { version: 1, updatedAt: 5000 })])
      expect(outcome?.status).toBe('stale')
      expect((await store.get('doc'))?.json()).toEqual({ v: 2 })
    })

    it('expires items with a TTL', async () => {
      await store.putBatch([jsonItem('ttl.1', [1])], { ttlSeconds: 1 })
      await store.putBatch([jsonItem('ttl.keep', [1])])
      expect(await store.exists('ttl.1')).toBe(true)
      await new Promise((r) => setTimeout(r, 2100))
      expect(await store.exists('ttl.1')).toBe(false)
      expect(await store.exists('ttl.keep')).toBe(true)
    })

    it('getMany, exists and deleteBatch', async () => {
      await store.putBatch([jsonItem('g.1', [1]), jsonItem('g.2', [2])])
      const { items, errors } = await store.getMany(['g.1', 'g.2', 'g.3'])
      expect([...items.keys()].sort()).toEqual(['g.1', 'g.2'])
      expect(errors.size).toBe(0)
      expect((await store.deleteBatch(['g.1', 'g.3'])).sort()).toEqual(['g.1'])
      expect(await store.exists('g.1')).toBe(false)
    })

    it('keeps state sets', async () => {
      await store.putBatch([
        jsonItem('st.1', [1], { state: 'hot' }),
        jsonItem('st.2', [2], { state: 'cold' }),
      ])
      expect(await store.byState('hot')).toEqual(['st.1'])
      await store.putBatch([jsonItem('st.1', [1], { state: 'cold', version: 2 })])
      expect(await store.byState('hot')).toEqual([])
      expect((await store.byState('cold')).sort()).toEqual(['st.1', 'st.2'])
      await store.deleteBatch(['st.2'])
      expect(await store.byState('cold')).toEqual(['st.1'])
    })

    it('round-trips awkward ids, including ones that look like engine keys', async () => {
      const ids = [...AWKWARD_IDS, '__se', '_se:merkle:', 'sync:__se:cdc', '__SE:x']
      const items = ids.map((id, i) => jsonItem(id, { i }))
      await store.putBatch(items)
      for (const item of items) expect(sameItem(await store.get(item.id), item)).toBe(true)
    })

    it('reports health', async () => {
      const health = await store.health(2000)
      expect(health.ok).toBe(true)
    })
  })
}
