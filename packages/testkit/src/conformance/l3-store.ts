import type { L3Store, LeafRecord, MerkleNode, MerkleTreeWrites } from '@sync-engine/core'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { AWKWARD_IDS, binaryItem, jsonItem, rawRecord, sameItem } from './fixtures.js'

export interface L3StoreHarness {
  /** A fresh, connected, empty store (its own tables or database). */
  create(): Promise<L3Store>
  /** Drops what `create` made; called after each test with the store (already closed). */
  destroy?(store: L3Store): Promise<void>
  /** Called once after the suite. */
  teardown?(): Promise<void>
  /**
   * The root a correct tree has over these leaves (pass `merkleRootOf` from `@sync-engine/merkle`).
   * When given, every test ends by checking `store.merkleRoot()` against the rows the store holds.
   */
  expectedRoot?(leaves: LeafRecord[]): string | null
}

/** Every node of a store's tree, found by walking down from the root. */
async function allNodes(store: L3Store): Promise<Map<string, MerkleNode>> {
  const found = new Map<string, MerkleNode>()
  for (let level = ['']; level.length > 0; ) {
    const nodes = await store.merkle.getNodes(level)
    for (const node of nodes.values()) found.set(node.path, node)
    const interior = [...nodes.values()].filter((n) => !n.leaf).map((n) => n.path)
    const children = await store.merkle.getChildren(interior)
    level = [...children].flatMap(([parent, segments]) =>
      [...segments.keys()].map((segment) => (parent === '' ? segment : `${parent}.${segment}`)),
    )
  }
  return found
}

async function allLeaves(store: L3Store): Promise<LeafRecord[]> {
  const leaves: LeafRecord[] = []
  for (;;) {
    const page = await store.scanLeaves(leaves[leaves.length - 1]?.id, 1000)
    if (page.length === 0) return leaves
    leaves.push(...page)
  }
}

/**
 * The contract every L3 ground-truth store keeps (SPEC §4, §5.2). Run it from the store's own tests:
 * `describeL3Store('mysql', { create: … })`. Built-in tiers and custom backends run the same suite.
 */
export function describeL3Store(name: string, harness: L3StoreHarness): void {
  describe(`L3Store conformance: ${name}`, () => {
    let store: L3Store
    beforeEach(async () => {
      store = await harness.create()
    })
    afterEach(async () => {
      try {
        if (harness.expectedRoot) {
          // The tree must match the rows after every kind of mutation each test made.
          expect(await store.merkleRoot()).toBe(harness.expectedRoot(await allLeaves(store)))
        }
      } finally {
        await store.close()
        await harness.destroy?.(store)
      }
    })
    if (harness.teardown) afterAll(() => harness.teardown!())

    it('starts empty, with no Merkle root', async () => {
      expect(await store.count()).toBe(0)
      expect(await store.merkleRoot()).toBeNull()
    })

    it('stores and returns items byte for byte, JSON and binary', async () => {
      const a = jsonItem('user.alice', { name: 'Alice', role: 'admin' }, { state: 'active', version: 3 })
      const b = binaryItem('blob.1')
      const outcomes = await store.putBatch([a, b])
      expect(outcomes).toEqual([
        { id: 'user.alice', status: 'written', created: true },
        { id: 'blob.1', status: 'written', created: true },
      ])
      expect(sameItem(await store.get('user.alice'), a)).toBe(true)
      const blob = await store.get('blob.1')
      expect(sameItem(blob, b)).toBe(true)
      expect(blob?.contentType).toBe('binary')
      expect(await store.get('user.nobody')).toBeUndefined()
    })

    it('keeps the greatest (version, updatedAt): stale writes are reported and ignored', async () => {
      await store.putBatch([jsonItem('doc', { v: 2 }, { version: 2, updatedAt: 2000 })])
      const outcomes = await store.putBatch([
        jsonItem('doc', { v: 1 }, { version: 1, updatedAt: 9000 }),
        jsonItem('other', { v: 1 }),
      ])
      expect(outcomes.map((o) => o.status)).toEqual(['stale', 'written'])
      expect((await store.get('doc'))?.json()).toEqual({ v: 2 })
      expect(
        (await store.putBatch([jsonItem('doc', { v: 'old-ts' }, { version: 2, updatedAt: 1000 })]))[0]
          ?.status,
      ).toBe('stale')
      expect(
        (await store.putBatch([jsonItem('doc', { v: 'new-ts' }, { version: 2, updatedAt: 3000 })]))[0],
      ).toEqual({ id: 'doc', status: 'written', created: false })
      expect((await store.get('doc'))?.json()).toEqual({ v: 'new-ts' })
      expect(
        (await store.putBatch([jsonItem('doc', { v: 3 }, { version: 3, updatedAt: 1 })]))[0]?.status,
      ).toBe('written')
      expect((await store.get('doc'))?.version).toBe(3)
    })

    it('rejects a bad row alone; the rest of its batch lands', async () => {
      const good1 = jsonItem('good.1', { n: 1 })
      const good2 = jsonItem('good.2', { n: 2 })
      const outcomes = await store.putBatch([
        good1,
        rawRecord('x'.repeat(300)),
        rawRecord('bad.state', { state: 's'.repeat(40) }),
        good2,
      ])
      expect(outcomes.map((o) => o.status)).toEqual(['written', 'rejected', 'rejected', 'written'])
      expect(outcomes[1]?.reason).toMatch(/255|too long|id/i)
      expect(outcomes[2]?.reason).toMatch(/state/i)
      expect(await store.count()).toBe(2)
      expect(await store.exists('good.2')).toBe(true)
    })

    it('round-trips awkward ids exactly and treats them as data, never as SQL', async () => {
      const items = AWKWARD_IDS.map((id, i) => jsonItem(id, { i }))
      await store.putBatch(items)
      for (const item of items) expect(sameItem(await store.get(item.id), item)).toBe(true)
      expect(await store.count()).toBe(items.length)
    })

    it('getMany answers in one call with the ids found', async () => {
      await store.putBatch([jsonItem('m.2', [2]), jsonItem('m.3', [3])])
      const { items, errors } = await store.getMany(['m.2', 'm.3', 'm.missing'])
      expect([...items.keys()].sort()).toEqual(['m.2', 'm.3'])
      expect(errors.size).toBe(0)
      expect((await store.getMany([])).items.size).toBe(0)
    })

    it('deleteBatch resolves with the ids that existed', async () => {
      await store.putBatch([jsonItem('d.1', [1]), jsonItem('d.2', [2])])
      expect((await store.deleteBatch(['d.1', 'd.nope'])).sort()).toEqual(['d.1'])
      expect(await store.exists('d.1')).toBe(false)
      expect(await store.exists('d.2')).toBe(true)
      expect(await store.deleteBatch([])).toEqual([])
    })

    it('scans ids by keyset pagination in byte order', async () => {
      const ids = ['b', 'a.2', 'a.10', 'a.1', 'é', 'z', 'B', '😀']
      await store.putBatch(ids.map((id) => jsonItem(id, [id])))
      const expected = [...ids].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
      const seen: string[] = []
      let after: string | undefined
      for (;;) {
        const page = await store.scanIds(after, 3)
        if (page.length === 0) break
        seen.push(...page)
        after = page[page.length - 1]
      }
      expect(seen).toEqual(expected)
      const leaves = await store.scanLeaves(undefined, 100)
      expect(leaves.map((l) => l.id)).toEqual(expected)
      expect(leaves[0]).toMatchObject({ version: 1 })
      expect(leaves[0]?.contentHash).toMatch(/^[0-9a-f]{64}$/)
    })

    it('tracks states: byState, countByState, setState, deleteByState', async () => {
      await store.putBatch([
        jsonItem('s.1', [1], { state: 'hot' }),
        jsonItem('s.2', [2], { state: 'hot' }),
        jsonItem('s.3', [3], { state: 'cold' }),
      ])
      expect((await store.byState('hot')).sort()).toEqual(['s.1', 's.2'])
      expect(await store.countByState('cold')).toBe(1)
      expect((await store.setState(['s.1', 's.3', 's.none'], 'cold')).sort()).toEqual(['s.1'])
      expect((await store.get('s.1'))?.state).toBe('cold')
      expect((await store.deleteByState('cold')).sort()).toEqual(['s.1', 's.3'])
      expect(await store.count()).toBe(1)
      expect(await store.byState("x' OR '1'='1")).toEqual([])
    })

    it('scans, counts and deletes by prefix with LIKE metacharacters taken literally', async () => {
      const ids = ['p%.1', 'p%.2', 'pX.1', 'p_.1', 'pa.1', 'p\\.1', 'p\\x.1', 'q.1']
      await store.putBatch(ids.map((id) => jsonItem(id, [id])))
      expect((await store.scanPrefix('p%')).sort()).toEqual(['p%.1', 'p%.2'])
      expect(await store.countPrefix('p_')).toBe(1)
      expect(await store.countPrefix('p\\')).toBe(2)
      expect(await store.countPrefix('p')).toBe(7)
      expect(await store.countPrefix("p' OR 1=1 --")).toBe(0)
      expect((await store.scanPrefix('p', { limit: 2 })).length).toBe(2)
      expect((await store.deletePrefix('p%')).sort()).toEqual(['p%.1', 'p%.2'])
      expect(await store.count()).toBe(6)
    })

    it('refuses an empty prefix (it would match every id) and deletes nothing', async () => {
      await store.putBatch([jsonItem('e.1', [1]), jsonItem('e.2', [2])])
      for (const call of [
        () => store.scanPrefix(''),
        () => store.countPrefix(''),
        () => store.deletePrefix(''),
      ])
        await expect(call()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', argument: 'prefix' })
      expect(await store.count()).toBe(2)
    })

    it('reports health', async () => {
      const health = await store.health(2000)
      expect(health.ok).toBe(true)
      expect(health.latencyMs).toBeGreaterThanOrEqual(0)
    })

    // Registered only for stores whose harness says how to compute a root (every real tier does).
    if (harness.expectedRoot)
      it('keeps the Merkle root a function of (id, version, content): rewrites keep it, overwrites change it', async () => {
        await store.putBatch([jsonItem('mk.a', { v: 1 }, { updatedAt: 1000 }), jsonItem('mk.b', [1])])
        const first = await store.merkleRoot()
        expect(first).toMatch(/^[0-9a-f]{64}$/)
        await store.putBatch([jsonItem('mk.a', { v: 1 }, { updatedAt: 2000 })])
        expect(await store.merkleRoot()).toBe(first)
        await store.putBatch([jsonItem('mk.a', { v: 'changed' }, { updatedAt: 3000 })])
        const changed = await store.merkleRoot()
        expect(changed).not.toBe(first)
        await store.setState(['mk.a'], 'other')
        expect(await store.merkleRoot()).toBe(changed)
        await store.deleteBatch(['mk.a', 'mk.b'])
        expect(await store.merkleRoot()).toBeNull()
      })

    if (harness.expectedRoot)
      it('reports the Merkle node writes of a putBatch and the roots around them: copied to a mirror, they make the same tree', async () => {
        const mirror = new Map<string, MerkleNode>()
        let reported = 0
        const put = async (...items: Parameters<L3Store['putBatch']>[0]) => {
          const before = await store.merkleRoot()
          let writes: MerkleTreeWrites | null | undefined
          await store.putBatch(items, { onMerkleChanges: (w) => (writes = w) })
          // The option is optional, and `null` says the store cannot tell (it keeps no tree).
          if (writes === undefined || writes === null) return
          reported++
          const { changes, rootBefore, rootAfter } = writes
          if (changes.upsert.length > 0 || changes.delete.length > 0) {
            expect(rootBefore).toBe(before)
            expect(rootAfter).toBe(await store.merkleRoot())
          }
          for (const path of changes.delete) mirror.delete(path)
          for (const node of changes.upsert) mirror.set(node.path, node)
        }
        await put(jsonItem('mc.a.1', { v: 1 }), jsonItem('mc.a.2', [1]), jsonItem('mc.b', 'x'))
        // An id that becomes the parent of others (its leaf moves to the `mc.b.` slot), an overwrite,
        // a new branch and a stale write.
        await put(
          jsonItem('mc.b.1', { v: 2 }),
          jsonItem('mc.a.1', { v: 'new' }, { version: 2 }),
          jsonItem('mc.c.9', true),
          jsonItem('mc.a.2', [0], { updatedAt: 1 }),
        )
        await put(jsonItem('mc.a.2', [1]))
        if (reported === 0) return
        expect(reported).toBe(3)
        const stored = await allNodes(store)
        expect(new Map([...mirror].sort())).toEqual(new Map([...stored].sort()))
      })
  })
}
