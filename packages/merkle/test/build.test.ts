import { InvalidArgumentError, InvalidIdError } from '@sync-engine/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  applyMerkleBatch,
  MemoryMerkleNodeStore,
  type MerkleLeaf,
  type MerkleOp,
  merkleNodesOf,
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

// Besides the nesting unicode ids, up to 41 siblings per parent (sorted by more than insertion).
const id = fc.oneof(
  nestedId,
  fc.tuple(fc.nat(3), fc.nat(40)).map(([t, n]) => `t${t}.${n}`),
)
const bigBatch = fc.array(
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({ id, v: fc.nat(3) }).map(({ id, v }) => upsert(id, v + 1, `${id}#${v}`)),
    },
    { weight: 1, arbitrary: id.map(remove) },
  ),
  { maxLength: 200 },
)

describe('a batch into an empty in-memory store (built bottom-up)', () => {
  it('gives what the incremental algorithm gives: root, leaf count, every node, the changes (property)', async () => {
    await fc.assert(
      fc.asyncProperty(bigBatch, async (batch) => {
        const tree = new PathMerkleTree()
        const built = tree.apply(batch)
        const memory = new MemoryMerkleNodeStore()
        const grown = await applyMerkleBatch(plainStore(memory), batch)
        expect(built.root).toBe(grown.root)
        expect(built.leafCount).toBe(grown.leafCount)
        expect(dump(tree.store)).toEqual(dump(memory))
        expect(byPath(built.changes.upsert)).toEqual(byPath(grown.changes.upsert))
        expect(built.changes.delete).toEqual([])
        const model = new Map<string, MerkleLeaf>()
        applyToModel(model, batch)
        expect(dump(tree.store)).toEqual(dumpNodes(merkleNodesOf(model.values())))
      }),
      fcOptions,
    )
  })

  it('leaves a tree the incremental algorithm keeps applying to: nodes and children as if grown (property)', async () => {
    const later = fc.array(fc.array(op, { maxLength: 12 }), { minLength: 1, maxLength: 4 })
    await fc.assert(
      fc.asyncProperty(bigBatch, later, async (first, rest) => {
        const tree = new PathMerkleTree()
        const memory = new MemoryMerkleNodeStore()
        const store = plainStore(memory)
        for (const batch of [first, ...rest]) {
          const a = tree.apply(batch)
          const b = await applyMerkleBatch(store, batch)
          expect(a.root).toBe(b.root)
          expect(byPath(a.changes.upsert)).toEqual(byPath(b.changes.upsert))
          expect([...a.changes.delete].sort()).toEqual([...b.changes.delete].sort())
          expect(dump(tree.store)).toEqual(dump(memory))
          for (const node of memory.nodes()) {
            if (node.leaf) continue
            // Same children in the same (byte) order, segments decoded from the built tables.
            expect([...tree.children(node.path)]).toEqual([
              ...(await memory.getChildren([node.path])).get(node.path)!,
            ])
          }
        }
      }),
      fcOptions,
    )
  })

  it('takes the last operation of an id, moves the leaf of an id that is a parent to its "" slot', () => {
    const batch: MerkleOp[] = [
      upsert('uk.nhs.1'),
      upsert('uk', 1),
      remove('uk'),
      upsert('uk', 2),
      upsert('fr', 1),
      remove('fr'),
      upsert('fr.paris'),
      remove('absent.child'),
      upsert('de', 1),
      upsert('de', 3),
    ]
    const tree = new PathMerkleTree()
    const result = tree.apply(batch)
    expect(result.leafCount).toBe(4)
    expect(tree.node('uk')).toMatchObject({ leaf: false, count: 2 })
    expect(tree.node('uk.')).toMatchObject({ leaf: true, count: 1 })
    expect(tree.node('fr')).toMatchObject({ leaf: false, count: 1 })
    expect(tree.node('fr.')).toBeUndefined()
    expect(tree.node('absent')).toBeUndefined()
    expect([...tree.children('uk').keys()]).toEqual(['', 'nhs'])
    const model = new Map<string, MerkleLeaf>()
    applyToModel(model, batch)
    expect(dump(tree.store)).toEqual(dumpNodes(merkleNodesOf(model.values())))
    expect(byPath(result.changes.upsert).map((n) => n.path)).toEqual(
      byPath([...tree.store.nodes()]).map((n) => n.path),
    )
  })

  it('reports the changes as they were after the batch, even when read after later batches', () => {
    const tree = new PathMerkleTree()
    const result = tree.apply([upsert('a.b'), upsert('a.c'), upsert('d')])
    const after = dump(tree.store)
    tree.apply([upsert('a.b', 2), remove('d'), upsert('a', 3)])
    const nodes = new MemoryMerkleNodeStore()
    nodes.writeNodesSync(result.changes)
    expect(dump(nodes)).toEqual(after)
    expect(result.changes).toBe(result.changes)
  })

  it('a batch of deletes only, or none, leaves the store empty', () => {
    const tree = new PathMerkleTree()
    expect(tree.apply([remove('a'), remove('a.b')])).toEqual({
      root: null,
      previousRoot: null,
      leafCount: 0,
      changes: { upsert: [], delete: [] },
    })
    expect(tree.apply([]).root).toBeNull()
    expect(tree.store.isEmpty()).toBe(true)
    expect(tree.store.size).toBe(0)
  })

  it('validates the whole batch first: a bad operation anywhere leaves the tree empty', async () => {
    const good = Array.from({ length: 50 }, (_, i) => upsert(`t.${i % 7}.${i}`))
    const bad: [unknown, unknown, RegExp][] = [
      [{ op: 'upsert', id: 'a..b', version: 1, contentHash: contentHash('') }, InvalidIdError, /a\.\.b/],
      [
        { op: 'upsert', id: 'a', version: 0, contentHash: contentHash('') },
        InvalidArgumentError,
        /batch\[50\]\.version/,
      ],
      [
        { op: 'upsert', id: 'a', version: 1, contentHash: 'abc' },
        InvalidArgumentError,
        /batch\[50\]\.contentHash/,
      ],
      [{ op: 'put', id: 'a' }, InvalidArgumentError, /batch\[50\]\.op/],
    ]
    for (const [operation, type, message] of bad) {
      const batch = [...good, operation, upsert('z')] as MerkleOp[]
      const tree = new PathMerkleTree()
      expect(() => tree.apply(batch)).toThrow(type as typeof Error)
      expect(() => tree.apply(batch)).toThrow(message)
      const store = new MemoryMerkleNodeStore()
      await expect(applyMerkleBatch(store, batch)).rejects.toThrow(message)
      expect(tree.store.isEmpty() && store.isEmpty()).toBe(true)
      expect(tree.root()).toBeNull()
    }
  })
})
