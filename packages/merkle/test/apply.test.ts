import {
  CorruptDataError,
  InvalidArgumentError,
  InvalidIdError,
  type MerkleNode,
  type MerkleNodeStore,
} from '@sync-engine/core'
import fc from 'fast-check'
import { describe, expect, it, vi } from 'vitest'
import {
  applyMerkleBatch,
  MemoryMerkleNodeStore,
  type MerkleLeaf,
  type MerkleOp,
  merkleNodesOf,
  merkleRootOf,
  PathMerkleTree,
} from '../src/index.js'
import {
  applyToModel,
  byPath,
  contentHash,
  dump,
  dumpNodes,
  fcOptions,
  nestedId,
  op,
  plainStore,
  remove,
  upsert,
} from './helpers.js'

/** Wraps a store and counts its calls. */
function countingStore(inner: MerkleNodeStore = new MemoryMerkleNodeStore()) {
  const calls = { getNodes: 0, getChildren: 0, writeNodes: 0 }
  const store: MerkleNodeStore = {
    getNodes(paths) {
      calls.getNodes++
      return inner.getNodes(paths)
    },
    getChildren(parents) {
      calls.getChildren++
      return inner.getChildren(parents)
    },
    writeNodes(changes) {
      calls.writeNodes++
      return inner.writeNodes(changes)
    },
  }
  return { store, calls }
}

describe('PathMerkleTree / applyMerkleBatch', () => {
  it('an empty tree has no root, no nodes, no leaves', () => {
    const tree = new PathMerkleTree()
    expect(tree.root()).toBeNull()
    expect(tree.leafCount()).toBe(0)
    expect(tree.node('')).toBeUndefined()
    expect(tree.children('').size).toBe(0)
    expect(tree.apply([])).toEqual({
      root: null,
      previousRoot: null,
      leafCount: 0,
      changes: { upsert: [], delete: [] },
    })
  })

  it('a single-segment id is a child of the root', () => {
    const tree = new PathMerkleTree()
    tree.apply([upsert('a')])
    expect([...tree.children('').keys()]).toEqual(['a'])
    expect(tree.node('a')?.leaf).toBe(true)
    expect(tree.node('')).toMatchObject({ leaf: false, count: 1 })
  })

  it('moves a leaf from X to X. when X gains its first child, and back when it loses it', () => {
    const tree = new PathMerkleTree()
    tree.apply([upsert('uk')])
    const leaf = tree.node('uk')!
    expect(leaf.leaf).toBe(true)

    const grown = tree.apply([upsert('uk.nhs.1')])
    expect(tree.node('uk')).toMatchObject({ leaf: false, count: 2 })
    expect(tree.node('uk.')).toEqual({ ...leaf, path: 'uk.' })
    expect([...tree.children('uk').keys()]).toEqual(['', 'nhs'])
    expect(grown.changes.upsert.map((n) => n.path).sort()).toEqual(['', 'uk', 'uk.', 'uk.nhs', 'uk.nhs.1'])
    expect(grown.changes.delete).toEqual([])

    const shrunk = tree.apply([remove('uk.nhs.1')])
    expect(tree.node('uk')).toEqual(leaf)
    expect(tree.node('uk.')).toBeUndefined()
    expect(tree.node('uk.nhs')).toBeUndefined()
    expect([...shrunk.changes.delete].sort()).toEqual(['uk.', 'uk.nhs', 'uk.nhs.1'])
    expect(shrunk.changes.upsert.map((n) => n.path).sort()).toEqual(['', 'uk'])
    expect(tree.store.size).toBe(2)
  })

  it('deleting an id that is also a parent keeps its subtree and drops the "" slot', () => {
    const tree = new PathMerkleTree()
    tree.apply([upsert('a'), upsert('a.b'), upsert('c')])
    tree.apply([remove('a')])
    expect(tree.node('a')).toMatchObject({ leaf: false, count: 1 })
    expect(tree.node('a.')).toBeUndefined()
    expect(tree.root()).toBe(merkleRootOf([leafOf(upsert('a.b')), leafOf(upsert('c'))]))
  })

  it('batch semantics: operations apply in order, the last one of an id wins', () => {
    const tree = new PathMerkleTree()
    tree.apply([upsert('x', 1), remove('x'), upsert('y', 1), upsert('y', 2), remove('z'), upsert('z', 5)])
    expect(tree.root()).toBe(merkleRootOf([leafOf(upsert('y', 2)), leafOf(upsert('z', 5))]))
    tree.apply([remove('y'), upsert('y', 3), upsert('z', 6), remove('z')])
    expect(tree.root()).toBe(merkleRootOf([leafOf(upsert('y', 3))]))
  })

  it('rewriting identical leaves or deleting absent ids changes nothing and writes nothing', async () => {
    const { store, calls } = countingStore()
    await applyMerkleBatch(store, [upsert('a.b'), upsert('a.c'), upsert('d')])
    const before = { ...calls }
    const result = await applyMerkleBatch(store, [
      upsert('a.b'),
      remove('nope'),
      remove('a.b.c'),
      upsert('d'),
    ])
    expect(result.changes).toEqual({ upsert: [], delete: [] })
    expect(result.leafCount).toBe(3)
    expect(calls.writeNodes).toBe(before.writeNodes)
  })

  it('uses at most one getNodes, one getChildren and one writeNodes per batch, whatever the depth', async () => {
    const { store, calls } = countingStore()
    const ids = Array.from({ length: 300 }, (_, i) => `t${i % 3}.k${i % 7}.x${i % 11}.${i}`)
    await applyMerkleBatch(
      store,
      ids.map((id) => upsert(id)),
    )
    expect(calls).toEqual({ getNodes: 1, getChildren: 0, writeNodes: 1 })
    await applyMerkleBatch(store, [
      ...ids.slice(0, 100).map((id) => upsert(id, 2)),
      ...ids.slice(200).map(remove),
    ])
    expect(calls).toEqual({ getNodes: 2, getChildren: 1, writeNodes: 2 })
  })

  it('reads no children of a node whose children are all rewritten, and reads them otherwise', async () => {
    const memory = new MemoryMerkleNodeStore()
    const asked: string[][] = []
    const store: MerkleNodeStore = {
      ...plainStore(memory),
      getChildren: (parents) => {
        asked.push([...parents].sort())
        return plainStore(memory).getChildren(parents)
      },
    }
    const ids = ['u.1.a', 'u.1.b', 'u.2.a', 'u.2.b', 'u']
    await applyMerkleBatch(
      store,
      ids.map((id) => upsert(id)),
    )
    // Every child of u.1 and u.2 is rewritten; u keeps its own leaf slot (""), so it is read, and the
    // root's only child u is touched with its whole count.
    let result = await applyMerkleBatch(
      store,
      ['u.1.a', 'u.1.b', 'u.2.a', 'u.2.b'].map((id) => upsert(id, 2)),
    )
    expect(asked).toEqual([['u']])
    // An untouched sibling (u.2.b) means u.2 must be read.
    result = await applyMerkleBatch(
      store,
      ['u.1.a', 'u.1.b', 'u.2.a'].map((id) => upsert(id, 3)),
    )
    expect(asked[1]).toEqual(['u', 'u.2'])
    const model = new Map<string, MerkleLeaf>()
    applyToModel(
      model,
      ids.map((id) => upsert(id)),
    )
    applyToModel(
      model,
      ['u.1.a', 'u.1.b', 'u.2.a', 'u.2.b'].map((id) => upsert(id, 2)),
    )
    applyToModel(
      model,
      ['u.1.a', 'u.1.b', 'u.2.a'].map((id) => upsert(id, 3)),
    )
    expect(result.root).toBe(merkleRootOf(model.values()))
    expect(dump(memory)).toEqual(dumpNodes(merkleNodesOf(model.values())))
  })

  it('async over a store and sync in memory produce the same nodes and changes', async () => {
    const batches = [
      [upsert('a'), upsert('a.b.c'), upsert('é.😀')],
      [upsert('a.b'), remove('a'), upsert('\u{e000}')],
      [remove('a.b.c'), remove('a.b')],
    ]
    const store = new MemoryMerkleNodeStore()
    const tree = new PathMerkleTree()
    for (const batch of batches) {
      const a = await applyMerkleBatch(store, batch)
      const b = tree.apply(batch)
      expect(a).toEqual(b)
    }
    expect(dump(store)).toEqual(dump(tree.store))
  })

  it('refuses a bad batch with a typed error naming what is wrong, and applies none of it', () => {
    const tree = new PathMerkleTree()
    tree.apply([upsert('keep')])
    const root = tree.root()
    const bad: [unknown[], unknown, RegExp][] = [
      [
        [upsert('ok'), { op: 'upsert', id: 'a..b', version: 1, contentHash: contentHash('') }],
        InvalidIdError,
        /a\.\.b/,
      ],
      [
        [upsert('ok'), { op: 'upsert', id: 'a', version: 0, contentHash: contentHash('') }],
        InvalidArgumentError,
        /batch\[1\]\.version/,
      ],
      [
        [{ op: 'upsert', id: 'a', version: 1.5, contentHash: contentHash('') }],
        InvalidArgumentError,
        /version/,
      ],
      [
        [{ op: 'upsert', id: 'a', version: 1, contentHash: 'abc' }],
        InvalidArgumentError,
        /batch\[0\]\.contentHash/,
      ],
      [[{ op: 'upsert', id: 'a', version: 1 }], InvalidArgumentError, /contentHash/],
      [[{ op: 'put', id: 'a' }], InvalidArgumentError, /batch\[0\]\.op/],
      [[null], InvalidArgumentError, /batch\[0\]/],
      [[remove('__se:merkle')], InvalidIdError, /reserved/],
    ]
    for (const [batch, type, message] of bad) {
      expect(() => tree.apply(batch as MerkleOp[])).toThrow(type as typeof Error)
      expect(() => tree.apply(batch as MerkleOp[])).toThrow(message)
    }
    expect(tree.root()).toBe(root)
    expect(tree.leafCount()).toBe(1)
  })

  it('reports a corrupt store (interior node without children, child hash not hex)', async () => {
    const store = new MemoryMerkleNodeStore()
    await store.writeNodes({
      upsert: [{ path: '', hash: 'f'.repeat(64), leaf: false, count: 1 }],
      delete: [],
    })
    await expect(applyMerkleBatch(store, [upsert('a')])).rejects.toThrow(CorruptDataError)

    const tree = new PathMerkleTree()
    tree.apply([upsert('a'), upsert('b')])
    const corrupt = plainStore(tree.store, (parent, kids) =>
      parent === '' ? new Map([...kids, ['b', 'not hex']]) : kids,
    )
    await expect(applyMerkleBatch(corrupt, [upsert('a', 2)])).rejects.toThrow(/merkle node "b"/)
  })

  it('the in-memory store refuses hashes that are not 64 hex characters, writing nothing', () => {
    const store = new MemoryMerkleNodeStore()
    const node = { path: 'a', hash: 'f'.repeat(64), leaf: true, count: 1 }
    expect(() =>
      store.writeNodesSync({ upsert: [node, { ...node, path: 'b', hash: 'xyz' }], delete: [] }),
    ).toThrow(InvalidArgumentError)
    expect(store.size).toBe(0)
  })
})

describe('properties (fast-check, fixed seed)', () => {
  const batches = fc.array(fc.array(op, { maxLength: 12 }), { maxLength: 8 })

  it('incremental == from scratch (every node) after random upsert/delete batches of nesting ids', () => {
    fc.assert(
      fc.property(batches, (seq) => {
        const tree = new PathMerkleTree()
        const model = new Map<string, MerkleLeaf>()
        for (const batch of seq) {
          const result = tree.apply(batch)
          applyToModel(model, batch)
          const reference = merkleNodesOf(model.values())
          expect(result.root).toBe(reference.get('')?.hash ?? null)
          expect(result.leafCount).toBe(model.size)
          expect(dump(tree.store)).toEqual(dumpNodes(reference))
        }
      }),
      fcOptions,
    )
  })

  it('the same, through a store answering plain Maps (the path SQL and Redis stores take)', async () => {
    await fc.assert(
      fc.asyncProperty(batches, async (seq) => {
        const memory = new MemoryMerkleNodeStore()
        const store = plainStore(memory)
        const model = new Map<string, MerkleLeaf>()
        for (const batch of seq) {
          // Every other step also rewrites every stored id (whole subtrees: children known, not read).
          const rewrite = [...model.values()].map((leaf) => upsert(leaf.id, Number(leaf.version) + 1))
          for (const step of [batch, rewrite]) {
            const result = await applyMerkleBatch(store, step)
            applyToModel(model, step)
            const reference = merkleNodesOf(model.values())
            expect(result.root).toBe(reference.get('')?.hash ?? null)
            expect(dump(memory)).toEqual(dumpNodes(reference))
          }
        }
      }),
      fcOptions,
    )
  })

  it('rewriting stored leaves in place (the in-memory fast path) == the generic algorithm, changes in the same order', async () => {
    let inPlace = 0
    await fc.assert(
      fc.asyncProperty(
        batches,
        fc.array(fc.array(fc.nat(), { maxLength: 12 }), { maxLength: 8 }),
        async (seq, picks) => {
          const tree = new PathMerkleTree()
          const generic = new MemoryMerkleNodeStore()
          const reads = vi.spyOn(tree.store, 'getNodesSync')
          for (let k = 0; k < Math.max(seq.length, picks.length); k++) {
            // Upserts of stored ids (some identical, some repeated), then the random batch, if any.
            const ids = [...generic.nodes()].filter((n) => n.leaf).map((n) => n.path.replace(/\.$/, ''))
            const rewrite =
              ids.length === 0 ? [] : (picks[k] ?? []).map((p) => upsert(ids[p % ids.length]!, 1 + (p % 3)))
            for (const batch of [rewrite, seq[k] ?? []]) {
              const leavesOnly = batch.every((o) => o.op === 'upsert' && tree.node(o.id)?.leaf === true)
              reads.mockClear()
              // Into an empty store, the tree is built in one pass: its changes come in another order.
              const order = tree.store.isEmpty() ? byPath : (nodes: readonly MerkleNode[]) => nodes
              const fast = tree.apply(batch)
              const expected = await applyMerkleBatch(plainStore(generic), batch)
              expect({ ...fast, changes: order(fast.changes.upsert) }).toEqual({
                ...expected,
                changes: order(expected.changes.upsert),
              })
              expect(fast.changes.delete).toEqual(expected.changes.delete)
              expect(dump(tree.store)).toEqual(dump(generic))
              if (leavesOnly && batch.length > 0 && reads.mock.calls.length === 0) inPlace++
            }
          }
        },
      ),
      fcOptions,
    )
    expect(inPlace).toBeGreaterThan(fcOptions.numRuns)
  })

  it('the root is independent of insertion order and of how the changes are split into batches', () => {
    const leaves = fc.uniqueArray(fc.record({ id: nestedId, version: fc.integer({ min: 1, max: 9 }) }), {
      selector: (l) => l.id,
      maxLength: 30,
    })
    const orders = leaves.chain((list) =>
      fc.tuple(fc.constant(list), fc.shuffledSubarray(list, { minLength: list.length }), fc.array(fc.nat(5))),
    )
    fc.assert(
      fc.property(orders, ([list, shuffled, cuts]) => {
        const a = new PathMerkleTree()
        a.apply(list.map((l) => upsert(l.id, l.version)))
        const b = new PathMerkleTree()
        let at = 0
        for (const size of [...cuts, shuffled.length]) {
          b.apply(shuffled.slice(at, at + size).map((l) => upsert(l.id, l.version)))
          at += size
        }
        expect(b.root()).toBe(a.root())
        expect(dump(b.store)).toEqual(dump(a.store))
        expect(a.root()).toBe(merkleRootOf(list.map((l) => leafOf(upsert(l.id, l.version)))))
      }),
      fcOptions,
    )
  })

  it('the same net changes give the same tree whether applied one op per batch or all at once', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const one = new PathMerkleTree()
        for (const o of ops) one.apply([o])
        const all = new PathMerkleTree()
        all.apply(ops)
        expect(dump(one.store)).toEqual(dump(all.store))
      }),
      fcOptions,
    )
  })

  it('deleting everything gives a null root and leaves the store empty (no orphan nodes)', async () => {
    await fc.assert(
      fc.asyncProperty(batches, fc.boolean(), async (seq, oneBatch) => {
        const store = new MemoryMerkleNodeStore()
        const model = new Map<string, MerkleLeaf>()
        for (const batch of seq) {
          await applyMerkleBatch(store, batch)
          applyToModel(model, batch)
        }
        const deletes = [...model.keys()].map(remove)
        let last = await applyMerkleBatch(store, [])
        if (oneBatch) last = await applyMerkleBatch(store, deletes)
        else for (const d of deletes) last = await applyMerkleBatch(store, [d])
        expect(last).toMatchObject({ root: null, leafCount: 0 })
        expect(store.size).toBe(0)
      }),
      fcOptions,
    )
  })
})

function leafOf(o: MerkleOp): MerkleLeaf {
  if (o.op !== 'upsert') throw new Error('not an upsert')
  return o
}
