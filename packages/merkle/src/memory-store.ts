import {
  InvalidArgumentError,
  type MerkleNode,
  type MerkleNodeChanges,
  type MerkleNodeStore,
} from '@sync-engine/core'
import type { MerkleApplyResult, SyncMerkleNodeStore } from './apply.js'
import { ChildTable } from './child-table.js'
import { isHashHex } from './hash.js'
import { childPath, pathDepth, ROOT_PATH } from './path.js'

const NO_CHILDREN: ReadonlyMap<string, string> = new Map()

/**
 * Replaces the whole content of `store` by a tree built from scratch (`buildTree`): its root and its
 * interior paths' tables, which the store keeps. For `apply.ts` only (not exported by the package).
 */
export let adoptTree: (
  store: MemoryMerkleNodeStore,
  root: MerkleNode | undefined,
  tables: Map<string, ChildTable>,
) => void

/**
 * For `apply.ts` only: applies a reduced batch (`reduceBatch`) when every id in it is an upsert of an
 * id stored as a leaf (the child sets stay as they are), patching the hashes in the tables in place and
 * hashing each touched table's preimage once, deepest first; the result (changes in the same order) is
 * that of the generic algorithm. `undefined`, having changed nothing, for any other batch.
 */
export let updateLeaves: (
  store: MemoryMerkleNodeStore,
  effect: ReadonlyMap<string, string | null>,
) => MerkleApplyResult | undefined

/** A node `updateLeaves` rewrites: child `index` of `parent`; `leaf` is the new hash of a leaf, `table` an interior node's children. */
interface Touched {
  readonly path: string
  readonly parent: ChildTable
  readonly index: number
  readonly leaf?: string
  readonly table?: ChildTable
}

/**
 * `MerkleNodeStore` in process memory. Every node but the root lives in its parent's `ChildTable`
 * (segments, leaf flags, counts, and the hashes packed as the parent's hash preimage), so a tree of a
 * million leaves costs about 140 bytes per leaf and no per-node objects (65 when built into an empty
 * store in one batch and not read yet: segments are decoded on first read). Answers the async interface
 * and, synchronously, `SyncMerkleNodeStore`. Children maps handed out are live: read-only, valid until
 * the next write. Nodes read are fresh objects. Hashes written must be 64 hex characters, counts
 * non-negative integers (`InvalidArgumentError` otherwise, and nothing is written).
 */
export class MemoryMerkleNodeStore implements MerkleNodeStore, SyncMerkleNodeStore {
  #root: MerkleNode | undefined
  /** Parent path → its children. */
  #tables = new Map<string, ChildTable>()
  /**
   * Where the last `getNodesSync` found each node (its parent's table and index): the Merkle
   * algorithm writes the nodes it read, so `writeNodesSync` patches them without a second lookup.
   * Any write empties it (indexes may move).
   */
  #located = new Map<string, { readonly table: ChildTable; readonly index: number }>()

  /** Number of nodes stored (0 for an empty tree). */
  get size(): number {
    let size = this.#root ? 1 : 0
    for (const table of this.#tables.values()) size += table.size
    return size
  }

  /** Every stored node, in no particular order. */
  *nodes(): Generator<MerkleNode> {
    if (this.#root) yield this.#root
    for (const [parent, table] of this.#tables) yield* table.nodes((segment) => childPath(parent, segment))
  }

  /** True when the store holds no node. */
  isEmpty(): boolean {
    return this.#root === undefined && this.#tables.size === 0
  }

  static {
    adoptTree = (store, root, tables) => {
      store.#root = root
      store.#tables = tables
      store.#located = new Map()
    }
  }

  static {
    updateLeaves = (store, effect) => {
      const root = store.#root
      const rootTable = store.#tables.get(ROOT_PATH)
      if (root === undefined || rootTable === undefined) return undefined
      const previousRoot = root.hash
      // Everything is located before anything is written: a batch this cannot apply changes nothing.
      const byDepth: Touched[][] = []
      const touch = (depth: number, node: Touched) => {
        while (byDepth.length <= depth) byDepth.push([])
        byDepth[depth]!.push(node)
      }
      const seen = new Set<string>()
      const locate = (path: string, depth: number, leaf?: string): boolean => {
        const dot = path.lastIndexOf('.')
        const parent = store.#tables.get(dot < 0 ? ROOT_PATH : path.slice(0, dot))
        const index = parent ? parent.indexOf(path.slice(dot + 1)) : -1
        if (parent === undefined || index < 0) return false
        if (leaf === undefined) {
          const table = store.#tables.get(path)
          if (table === undefined || parent.leafAt(index)) return false
          touch(depth, { path, parent, index, table })
          return true
        }
        if (!parent.leafAt(index)) return false
        if (parent.hashAt(index) === leaf) return true // an identical leaf: nothing to do
        touch(depth, { path, parent, index, leaf })
        // The ancestors not touched yet, nearest first (the root is rewritten last, in any case).
        for (let p = path, d = depth - 1; d > 0; d--) {
          p = p.slice(0, p.lastIndexOf('.'))
          if (seen.has(p)) break
          seen.add(p)
          if (!locate(p, d)) return false
        }
        return true
      }
      for (const [id, leaf] of effect) if (leaf === null || !locate(id, pathDepth(id), leaf)) return undefined
      const upsert: MerkleNode[] = []
      let after = root
      if (byDepth.length > 0) {
        store.#located = new Map()
        for (let depth = byDepth.length - 1; depth > 0; depth--) {
          for (const { path, parent, index, leaf, table } of byDepth[depth]!) {
            if (table === undefined) {
              parent.patch(index, { hash: leaf!, leaf: true, count: 1 })
              upsert.push({ path, hash: leaf!, leaf: true, count: 1 })
              continue
            }
            const digest = table.digest()
            parent.patchHashBytes(index, digest)
            upsert.push({ path, hash: digest.toString('hex'), leaf: false, count: parent.countAt(index) })
          }
        }
        after = { path: ROOT_PATH, hash: rootTable.digest().toString('hex'), leaf: false, count: root.count }
        store.#root = after
        upsert.push(after)
      }
      return { root: after.hash, previousRoot, leafCount: after.count, changes: { upsert, delete: [] } }
    }
  }

  clear(): void {
    this.#root = undefined
    this.#tables.clear()
    this.#located = new Map()
  }

  getNodesSync(paths: readonly string[]): Map<string, MerkleNode> {
    const out = new Map<string, MerkleNode>()
    const located = new Map<string, { readonly table: ChildTable; readonly index: number }>()
    for (const path of paths) {
      if (path === ROOT_PATH) {
        if (this.#root) out.set(path, this.#root)
        continue
      }
      const dot = path.lastIndexOf('.')
      const table = this.#tables.get(dot < 0 ? ROOT_PATH : path.slice(0, dot))
      const index = table ? table.indexOf(path.slice(dot + 1)) : -1
      if (index < 0) continue
      out.set(path, table!.nodeAt(index, path))
      located.set(path, { table: table!, index })
    }
    this.#located = located
    return out
  }

  getChildrenSync(parents: readonly string[]): Map<string, ReadonlyMap<string, string>> {
    const out = new Map<string, ReadonlyMap<string, string>>()
    for (const parent of parents) out.set(parent, this.#tables.get(parent) ?? NO_CHILDREN)
    return out
  }

  writeNodesSync(changes: MerkleNodeChanges): void {
    for (const node of changes.upsert) {
      if (!isHashHex(node.hash) || !(Number.isSafeInteger(node.count) && node.count >= 0)) {
        throw new InvalidArgumentError(
          'changes',
          `node ${JSON.stringify(node.path)}: hash must be 64 hex characters and count a non-negative integer`,
        )
      }
    }
    const located = this.#located
    this.#located = new Map()
    const touched = new Set<ChildTable>()
    const shrunk = new Map<string, ChildTable>()
    for (const path of changes.delete) {
      if (path === ROOT_PATH) {
        this.#root = undefined
        continue
      }
      const dot = path.lastIndexOf('.')
      const parent = dot < 0 ? ROOT_PATH : path.slice(0, dot)
      const table = this.#tables.get(parent)
      if (!table) continue
      table.remove(path.slice(dot + 1))
      touched.add(table)
      shrunk.set(parent, table)
    }
    for (const node of changes.upsert) {
      const path = node.path
      if (path === ROOT_PATH) {
        this.#root = { path, hash: node.hash, leaf: node.leaf, count: node.count }
        continue
      }
      const at = located.get(path)
      if (at?.table.patch(at.index, node)) continue
      const dot = path.lastIndexOf('.')
      const parent = dot < 0 ? ROOT_PATH : path.slice(0, dot)
      let table = this.#tables.get(parent)
      if (!table) {
        table = new ChildTable()
        this.#tables.set(parent, table)
      }
      if (table.put(path.slice(dot + 1), node)) touched.add(table)
    }
    // Merge staged additions and removals once per table; drop tables left empty.
    for (const table of touched) table.flush()
    for (const [parent, table] of shrunk)
      if (table.size === 0 && this.#tables.get(parent) === table) this.#tables.delete(parent)
  }

  async getNodes(paths: readonly string[]): Promise<Map<string, MerkleNode>> {
    return this.getNodesSync(paths)
  }

  async getChildren(parents: readonly string[]): Promise<Map<string, ReadonlyMap<string, string>>> {
    return this.getChildrenSync(parents)
  }

  async writeNodes(changes: MerkleNodeChanges): Promise<void> {
    this.writeNodesSync(changes)
  }
}
