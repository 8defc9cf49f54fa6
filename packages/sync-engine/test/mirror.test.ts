import type { MerkleNode, MerkleNodeStore } from '@sync-engine/core'
import { MemoryMerkleNodeStore, type MerkleOp, PathMerkleTree, treeWritesOf } from '@sync-engine/merkle'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { copyInStep, mergeChanges, mirrorPaths } from '../src/mirror.js'

const HASH = (n: number) => n.toString(16).padStart(64, '0')
const sorted = (store: MemoryMerkleNodeStore): MerkleNode[] =>
  [...store.nodes()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))

/** Counts the paths a store is asked for and the deletes written to it. */
function counting(inner: MemoryMerkleNodeStore) {
  const seen = { asked: 0, deleted: 0 }
  const store: MerkleNodeStore = {
    getNodes: (paths) => {
      seen.asked += paths.length
      return inner.getNodes(paths)
    },
    getChildren: (parents) => inner.getChildren(parents),
    writeNodes: (changes) => {
      seen.deleted += changes.delete.length
      return inner.writeNodes(changes)
    },
  }
  return { store, seen }
}

// Ids that nest (a, a.b, a.b.c …), so ids become parents and stop being parents.
const id = fc.constantFrom('a', 'a.b', 'a.b.c', 'a.c', 'b', 'b.a', 'b.a.a', 'c.d.e', 'c.d', 'c')
const op: fc.Arbitrary<MerkleOp> = fc.oneof(
  fc.record({
    op: fc.constant('upsert' as const),
    id,
    version: fc.integer({ min: 1, max: 9 }),
    contentHash: fc.nat(50).map(HASH),
  }),
  fc.record({ op: fc.constant('delete' as const), id }),
)

describe('mirrorPaths (L3 tree → L2 mirror after each flush)', () => {
  it('keeps the mirror equal to the source tree after any sequence of batches', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(op, { maxLength: 6 }), { maxLength: 10 }), async (batches) => {
        const tree = new PathMerkleTree()
        const mirror = new MemoryMerkleNodeStore()
        for (const batch of batches) {
          tree.apply(batch)
          await mirrorPaths(
            tree.store,
            mirror,
            batch.map((o) => o.id),
          )
          expect(sorted(mirror)).toEqual(sorted(tree.store))
        }
      }),
      { seed: 20261126, numRuns: 300 },
    )
  })

  it('asks for and deletes no leaf slot of an id that is a leaf', async () => {
    const tree = new PathMerkleTree()
    const ids = Array.from({ length: 100 }, (_, i) => `t.k.${i}`)
    tree.apply(ids.map((i) => ({ op: 'upsert', id: i, version: 1, contentHash: HASH(1) })))
    const { store, seen } = counting(tree.store)
    const mirror = counting(new MemoryMerkleNodeStore())
    await mirrorPaths(store, mirror.store, ids)
    // root, t, t., t.k, t.k. and the 100 ids; the deletes are the two absent prefix slots.
    expect(seen.asked).toBe(105)
    expect(mirror.seen.deleted).toBe(2)
  })
})

describe('copyInStep (the tree writes L3 reported → the L2 mirror, in L3 order)', () => {
  /** A mirror taking writes in step, as the Redis one does. */
  function inStepMirror() {
    const store = new MemoryMerkleNodeStore()
    const mirror: MerkleNodeStore = {
      getNodes: (paths) => store.getNodes(paths),
      getChildren: (parents) => store.getChildren(parents),
      writeNodes: (changes) => store.writeNodes(changes),
      writeNodesInStep: async (changes, before, after) => {
        const root = (await store.getNodes([''])).get('')?.hash ?? null
        if (root !== before && root !== after) return false
        await store.writeNodes(changes)
        return true
      },
    }
    return { store, mirror }
  }

  it('the merged writes of consecutive updates make the source tree; a broken chain or an update out of turn is refused', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(op, { maxLength: 6 }), { minLength: 2, maxLength: 6 }),
        async (batches) => {
          const tree = new PathMerkleTree()
          const { store, mirror } = inStepMirror()
          const writes = batches.map((batch) => treeWritesOf(tree.apply(batch)))
          const changed = writes.filter((w) => w.changes.upsert.length + w.changes.delete.length > 0)
          // (A mirror that is empty takes writes that end at the empty tree: it already is their result.)
          if (changed.length >= 2 && changed[changed.length - 1]!.rootAfter !== null) {
            // The second before the first: out of turn.
            expect(await copyInStep(mirror, changed.slice(1))).toBe(false)
            // A chain with a gap.
            expect(await copyInStep(mirror, [changed[0]!, ...changed.slice(2)])).toBe(changed.length === 2)
            if (changed.length > 2) expect(sorted(store)).toEqual([])
          }
          const fresh = inStepMirror()
          expect(await copyInStep(fresh.mirror, writes)).toBe(true)
          expect(sorted(fresh.store)).toEqual(sorted(tree.store))
          // The rest of the updates, in turn, after a mirror that took the first one alone.
          if (changed.length === 2 && changed[1]!.rootAfter !== null) {
            expect(await copyInStep(mirror, changed.slice(1))).toBe(true)
            expect(sorted(store)).toEqual(sorted(tree.store))
          }
        },
      ),
      { seed: 20261127, numRuns: 200 },
    )
  })

  it('refuses writes a mirror cannot take in step, and writes that do not say their roots', async () => {
    const tree = new PathMerkleTree()
    const writes = treeWritesOf(tree.apply([{ op: 'upsert', id: 'a.b', version: 1, contentHash: HASH(1) }]))
    const plain = new MemoryMerkleNodeStore()
    expect(await copyInStep(plain, [writes])).toBe(false)
    expect(plain.size).toBe(0)
    const { mirror } = inStepMirror()
    expect(await copyInStep(mirror, [{ changes: writes.changes }])).toBe(false)
    expect(await copyInStep(mirror, [{ changes: { upsert: [], delete: [] } }])).toBe(true)
    expect(mergeChanges([])).toEqual({ upsert: [], delete: [] })
  })
})
