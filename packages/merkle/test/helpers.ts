import type { MerkleNode, MerkleNodeStore } from '@sync-engine/core'
import { sha256Hex } from '@sync-engine/core'
import fc from 'fast-check'
import type { MemoryMerkleNodeStore, MerkleLeaf, MerkleOp } from '../src/index.js'

/** One seed for every property, printed so a failure can be replayed. */
export const SEED = 20240611
console.log(`fast-check seed: ${SEED}`)
export const fcOptions = { seed: SEED, numRuns: 150 } as const

export const contentHash = (content: string) => sha256Hex(content)

export const upsert = (id: string, version = 1, content = id): MerkleOp => ({
  op: 'upsert',
  id,
  version,
  contentHash: contentHash(content),
})
export const remove = (id: string): MerkleOp => ({ op: 'delete', id })

/** The store's content as path → `hash/leaf/count`, to compare whole trees. */
export function dump(store: MemoryMerkleNodeStore): Record<string, string> {
  return Object.fromEntries(
    [...store.nodes()]
      .map((n) => [n.path, `${n.hash}/${n.leaf ? 'leaf' : 'interior'}/${n.count}`] as const)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  )
}

/** Nodes sorted by path. */
export const byPath = (nodes: readonly MerkleNode[]) =>
  [...nodes].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))

/** The same shape from a node map (e.g. `merkleNodesOf`). */
export function dumpNodes(nodes: Map<string, { hash: string; leaf: boolean; count: number }>) {
  return Object.fromEntries(
    [...nodes]
      .map(([path, n]) => [path, `${n.hash}/${n.leaf ? 'leaf' : 'interior'}/${n.count}`] as const)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  )
}

/** Model of a batch sequence: id → leaf. */
export function applyToModel(model: Map<string, MerkleLeaf>, ops: readonly MerkleOp[]) {
  for (const op of ops) {
    if (op.op === 'upsert') model.set(op.id, op)
    else model.delete(op.id)
  }
}

// Ids that nest (`a`, `a.b`, `a.b.c`), with unicode segments and segments whose UTF-16 order differs
// from their byte order (U+E000 vs an astral character).
const segment = fc.constantFrom('a', 'b', 'c', 'é', '日本', '😀', '\u{e000}', '10', '9', 'hash')
export const nestedId = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join('.'))

export const op: fc.Arbitrary<MerkleOp> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .record({ id: nestedId, version: fc.integer({ min: 1, max: 3 }), v: fc.nat(3) })
      .map(({ id, version, v }) => upsert(id, version, `${id}#${v}`)),
  },
  { weight: 1, arbitrary: nestedId.map(remove) },
)

/** The store as a backend without `ChildTable`s would answer: children as plain Maps (optionally altered). */
export function plainStore(
  inner: MemoryMerkleNodeStore,
  alter: (parent: string, kids: Map<string, string>) => Map<string, string> = (_, kids) => kids,
): MerkleNodeStore {
  return {
    getNodes: (paths) => inner.getNodes(paths),
    getChildren: async (parents) => {
      const out = new Map<string, ReadonlyMap<string, string>>()
      for (const [parent, kids] of await inner.getChildren(parents))
        out.set(parent, alter(parent, new Map(kids)))
      return out
    },
    writeNodes: (changes) => inner.writeNodes(changes),
  }
}
