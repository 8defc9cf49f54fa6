import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { diff, type MerkleDiffSource, type MerkleLeaf, PathMerkleTree } from '../src/index.js'
import { applyToModel, fcOptions, op, remove, upsert } from './helpers.js'

/** A tree as a diff side that records every path it is asked for, answering asynchronously. */
function observed(tree: PathMerkleTree) {
  const fetched: string[] = []
  const source: MerkleDiffSource = {
    rootHash: async () => tree.root(),
    children: async (path) => {
      fetched.push(path)
      return tree.children(path)
    },
  }
  return { source, fetched }
}

function treeOf(ids: string[], version = 1) {
  const tree = new PathMerkleTree()
  tree.apply(ids.map((id) => upsert(id, version)))
  return tree
}

describe('diff', () => {
  it('finds nothing, and fetches nothing, between equal trees', async () => {
    const a = observed(treeOf(['a.b', 'a.c', 'd']))
    const b = observed(treeOf(['d', 'a.c', 'a.b']))
    expect(await diff(a.source, b.source)).toEqual({ divergent: [], localOnly: [], remoteOnly: [] })
    expect([...a.fetched, ...b.fetched]).toEqual([])
  })

  it('descends only into the differing branch', async () => {
    const ids = Array.from({ length: 200 }, (_, i) => `t${i % 4}.k${i % 5}.${i}`)
    const local = treeOf(ids)
    const remote = treeOf(ids)
    remote.apply([upsert('t1.k1.21', 2)])
    const a = observed(local)
    const b = observed(remote)
    expect(await diff(a.source, b.source)).toEqual({ divergent: ['t1.k1.21'], localOnly: [], remoteOnly: [] })
    // root, t1, t1.k1, and the leaf itself (to learn it is a leaf): nothing else, on either side.
    expect(a.fetched).toEqual(['', 't1', 't1.k1', 't1.k1.21'])
    expect(b.fetched).toEqual(a.fetched)
  })

  it('reports one-sided ids, the leaf slot of an id that is also a parent, and empty sides', async () => {
    const local = treeOf(['uk', 'uk.nhs.1', 'fr.paris', 'same'])
    const remote = treeOf(['uk', 'fr', 'de.berlin.1', 'de.berlin.2', 'same'])
    remote.apply([upsert('uk', 2)])
    expect(await diff(local.diffSource(), remote.diffSource())).toEqual({
      divergent: ['uk'],
      localOnly: ['fr.paris', 'uk.nhs.1'],
      remoteOnly: ['de.berlin.1', 'de.berlin.2', 'fr'],
    })
    const empty = new PathMerkleTree()
    expect(await diff(empty.diffSource(), local.diffSource())).toEqual({
      divergent: [],
      localOnly: [],
      remoteOnly: ['fr.paris', 'same', 'uk', 'uk.nhs.1'],
    })
    expect(await diff(local.diffSource(), empty.diffSource())).toMatchObject({
      remoteOnly: [],
      divergent: [],
    })
  })

  it('property: returns exactly the changed leaves, and fetches no subtree that is equal on both sides', async () => {
    const changes = fc.tuple(
      fc.array(op, { maxLength: 40 }),
      fc.array(op, { maxLength: 10 }),
      fc.array(op, { maxLength: 10 }),
    )
    await fc.assert(
      fc.asyncProperty(changes, async ([common, onLocal, onRemote]) => {
        const local = new PathMerkleTree()
        const remote = new PathMerkleTree()
        const lm = new Map<string, MerkleLeaf>()
        const rm = new Map<string, MerkleLeaf>()
        for (const [tree, model, ops] of [
          [local, lm, [...common, ...onLocal]],
          [remote, rm, [...common, ...onRemote]],
        ] as const) {
          tree.apply(ops)
          applyToModel(model, ops)
        }
        const expected = { divergent: [] as string[], localOnly: [] as string[], remoteOnly: [] as string[] }
        for (const [id, l] of lm) {
          const r = rm.get(id)
          if (!r) expected.localOnly.push(id)
          else if (r.version !== l.version || r.contentHash !== l.contentHash) expected.divergent.push(id)
        }
        for (const id of rm.keys()) if (!lm.has(id)) expected.remoteOnly.push(id)

        const a = observed(local)
        const b = observed(remote)
        const result = await diff(a.source, b.source)
        expect({
          divergent: [...result.divergent].sort(),
          localOnly: [...result.localOnly].sort(),
          remoteOnly: [...result.remoteOnly].sort(),
        }).toEqual({
          divergent: expected.divergent.sort(),
          localOnly: expected.localOnly.sort(),
          remoteOnly: expected.remoteOnly.sort(),
        })
        // Every fetched node differs between the sides (or exists on one side only).
        for (const [fetched, self, other] of [
          [a.fetched, local, remote],
          [b.fetched, remote, local],
        ] as const) {
          for (const path of fetched) expect(self.node(path)?.hash).not.toBe(other.node(path)?.hash)
        }
      }),
      fcOptions,
    )
  })

  it('works with synchronous sources too', async () => {
    const local = treeOf(['a'])
    const remote = treeOf(['a'])
    remote.apply([remove('a'), upsert('b')])
    const sync = (t: PathMerkleTree): MerkleDiffSource => ({
      rootHash: () => t.root(),
      children: (p) => t.children(p),
    })
    expect(await diff(sync(local), sync(remote))).toEqual({
      divergent: [],
      localOnly: ['a'],
      remoteOnly: ['b'],
    })
  })
})
