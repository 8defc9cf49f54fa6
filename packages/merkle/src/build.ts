import type { MerkleNode } from '@sync-engine/core'
import { forEachEffect, type MerkleBatch } from './batch.js'
import { ChildTable } from './child-table.js'
import {
  compareSegments,
  ensureScratch,
  HASH_BYTES,
  isSorted,
  keepLastOfEach,
  sha256Hex,
  sortChildren,
  writeChild,
  writeChildBytes,
  writeHash,
} from './hash.js'
import { pathDepth, ROOT_PATH } from './path.js'

/** A tree built from scratch: its root and every interior node's children. */
export interface BuiltTree {
  readonly root: MerkleNode | undefined
  /** Interior path → its children. */
  readonly tables: Map<string, ChildTable>
  /** Every node of the tree, made on demand (from the build's own copy: later writes do not show). */
  nodes(): MerkleNode[]
}

const LEAF = { leaf: true, count: 1 } as const

/**
 * The batch's operations in order: entry `e` has its raw leaf hash at byte `32 e`, unless it is dead
 * (a delete, or an id's leaf moved to the `""` slot of its own group).
 */
class Entries {
  bytes = Buffer.allocUnsafe(1024 * HASH_BYTES)
  length = 0
  readonly dead = new Set<number>()

  add(leaf: string | null): number {
    const e = this.length++
    if (leaf === null) this.dead.add(e)
    else {
      if (this.bytes.length < this.length * HASH_BYTES) {
        const grown = Buffer.allocUnsafe(this.bytes.length * 2)
        this.bytes.copy(grown)
        this.bytes = grown
      }
      writeHash(this.bytes, leaf, e * HASH_BYTES)
    }
    return e
  }

  hex(e: number): string {
    return this.bytes.toString('hex', e * HASH_BYTES, (e + 1) * HASH_BYTES)
  }
}

/** The children of one interior path in the making. */
interface Group {
  readonly path: string
  readonly parent: Group | undefined
  /** Where a segment starts in the path of a child (after `path.`). */
  readonly from: number
  /**
   * The batch's ids directly below `path` and their `Entries`, in batch order until sorted and
   * reduced (the last operation of an id wins). Ids under one parent sort as their segments do, so
   * no segment string is made.
   */
  readonly ids: string[]
  readonly entries: number[]
  /** The UTF-16 length of all `ids` pushed (a bound of their preimage). */
  units: number
  /** The leaf hash of the id `path` itself (its `""` child), taken from the parent's entries. */
  ownLeaf: string | null
  /** The nodes the groups below made, and their paths. */
  readonly nodePaths: string[]
  readonly nodes: MerkleNode[]
}

/**
 * The tree of `batch` applied to an empty tree, built bottom-up without the incremental machinery:
 * the ids are grouped by parent path once, each group is sorted and reduced once, and each interior
 * node is hashed once, from its finished children; leaf hashes stay raw bytes, no per-leaf object is
 * made. Validates the whole batch first. Equals `applyMerkleBatch` on an empty store (a delete
 * changes nothing there).
 */
export function buildTree(batch: MerkleBatch): BuiltTree {
  const groups = new Map<string, Group>()
  const entries = new Entries()
  forEachEffect(batch, (id, leaf) => {
    const dot = id.lastIndexOf('.')
    const group = groupOf(groups, dot < 0 ? ROOT_PATH : id.slice(0, dot))
    group.ids.push(id)
    group.entries.push(entries.add(leaf))
    group.units += id.length
  })
  // Deepest first, so that a group's child nodes are made before it.
  const ordered = [...groups.values()]
    .map((group) => ({ group, depth: pathDepth(group.path) }))
    .sort((a, b) => b.depth - a.depth)
    .map(({ group }) => group)
  for (const group of ordered) keepLastOfEach(group.ids, group.entries, group.from)
  for (const group of ordered) if (group.parent) takeOwnLeaf(group, group.parent, entries)

  const tables = new Map<string, ChildTable>()
  const made: MerkleNode[] = []
  let root: MerkleNode | undefined
  for (const group of ordered) {
    const node = finish(group, entries, tables, made)
    if (node === undefined) continue
    made.push(node)
    if (group.parent === undefined) root = node
    else {
      group.parent.nodePaths.push(group.path)
      group.parent.nodes.push(node)
    }
  }
  return { root, tables, nodes: () => [...made, ...ordered.flatMap((group) => leafNodes(group, entries))] }
}

/** The group of `path`, made (with its missing ancestors) when absent. */
function groupOf(groups: Map<string, Group>, path: string): Group {
  let group = groups.get(path)
  if (group === undefined) {
    const dot = path.lastIndexOf('.')
    const parent = path === ROOT_PATH ? undefined : groupOf(groups, dot < 0 ? ROOT_PATH : path.slice(0, dot))
    group = {
      path,
      parent,
      from: path === ROOT_PATH ? 0 : path.length + 1,
      ids: [],
      entries: [],
      units: 0,
      ownLeaf: null,
      nodePaths: [],
      nodes: [],
    }
    groups.set(path, group)
  }
  return group
}

/** Moves the leaf of the id `group.path`, when the batch upserts it, from the parent's entries to `ownLeaf`. */
function takeOwnLeaf(group: Group, parent: Group, entries: Entries): void {
  const ids = parent.ids
  let lo = 0
  let hi = ids.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (compareSegments(ids[mid]!, group.path) < 0) lo = mid + 1
    else hi = mid
  }
  if (ids[lo] !== group.path) return
  const e = parent.entries[lo]!
  if (entries.dead.has(e)) return
  group.ownLeaf = entries.hex(e)
  entries.dead.add(e)
}

/**
 * The node at `group.path` from its own leaf, its ids' leaves and the nodes made below it: interior
 * (its table goes to `tables`), a leaf (when only its own leaf is left), or `undefined` (nothing is).
 * Pushes the `""` slot it writes to `made`.
 */
function finish(
  group: Group,
  entries: Entries,
  tables: Map<string, ChildTable>,
  made: MerkleNode[],
): MerkleNode | undefined {
  const { path, from, ids, ownLeaf, nodePaths, nodes } = group
  if (!isSorted(nodePaths, from)) sortChildren(nodePaths, nodes, from)
  // UTF-8 takes at most 3 bytes per UTF-16 unit; each child adds `:`, its hash and `;`.
  const children = ids.length + nodes.length + (ownLeaf === null ? 0 : 1)
  let units = group.units
  for (const nodePath of nodePaths) units += nodePath.length
  const out = ensureScratch(units * 3 + children * (2 + HASH_BYTES))
  const hashAt = new Int32Array(children)
  const leaf = new Uint8Array(children)
  const count = new Float64Array(children)
  let n = 0
  let o = 0
  let total = 0
  const added = (end: number, node: { leaf: boolean; count: number }) => {
    hashAt[n] = end - HASH_BYTES - 1
    leaf[n] = node.leaf ? 1 : 0
    count[n] = node.count
    n++
    total += node.count
    o = end
  }
  const addNode = (j: number) =>
    added(writeChild(out, o, nodePaths[j]!.slice(from), nodes[j]!.hash), nodes[j]!)
  if (ownLeaf !== null) added(writeChild(out, o, '', ownLeaf), LEAF)
  let j = 0
  for (let k = 0; k < ids.length; k++) {
    const e = group.entries[k]!
    if (entries.dead.has(e)) continue
    for (; j < nodes.length && compareSegments(nodePaths[j]!, ids[k]!) < 0; j++) addNode(j)
    added(writeChildBytes(out, o, ids[k]!, from, entries.bytes, e * HASH_BYTES), LEAF)
  }
  for (; j < nodes.length; j++) addNode(j)

  if (n === (ownLeaf === null ? 0 : 1))
    return ownLeaf === null ? undefined : { path, hash: ownLeaf, leaf: true, count: 1 }
  if (ownLeaf !== null) made.push({ path: `${path}.`, hash: ownLeaf, leaf: true, count: 1 })
  const preimage = Buffer.from(out.subarray(0, o))
  const table =
    n === children
      ? ChildTable.fromPreimage(preimage, hashAt, leaf, count)
      : ChildTable.fromPreimage(preimage, hashAt.slice(0, n), leaf.slice(0, n), count.slice(0, n))
  tables.set(path, table)
  return { path, hash: sha256Hex(preimage), leaf: false, count: total }
}

/** The leaves of the ids the group's table holds (not its `""` slot), as nodes. */
function leafNodes(group: Group, entries: Entries): MerkleNode[] {
  const out: MerkleNode[] = []
  for (let k = 0; k < group.ids.length; k++) {
    const e = group.entries[k]!
    if (!entries.dead.has(e)) out.push({ path: group.ids[k]!, hash: entries.hex(e), leaf: true, count: 1 })
  }
  return out
}
