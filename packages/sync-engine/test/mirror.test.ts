import type { MerkleNode, MerkleNodeStore } from '@sync-engine/core'
import { MemoryMerkleNodeStore, type MerkleOp, PathMerkleTree } from '@sync-engine/merkle'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { mirrorPaths } from '../src/mirror.js'

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

describe('mirrorPaths (L3 tree → L2 mirror after each flush)', () => {
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
