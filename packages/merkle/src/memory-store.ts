import type { MerkleNode, MerkleNodeChanges, MerkleNodeStore } from '@sync-engine/core'
import type { SyncMerkleNodeStore } from './apply.js'
import { compareSegments } from './hash.js'
import { parentPath, ROOT_PATH, segmentOf } from './path.js'

/** The children of one node, kept in ascending segment order so readers rarely need to sort. */
interface ChildList {
  map: Map<string, string>
  /** False after a segment was inserted out of order; the next read re-sorts. */
  sorted: boolean
  /** A segment ≥ every segment in `map` (the greatest one appended). */
  last: string
}

const NO_CHILDREN: ReadonlyMap<string, string> = new Map()

/**
 * `MerkleNodeStore` in process memory: a map of nodes plus, per parent, a map of segment → child
 * hash in ascending segment order. Answers both the async interface and, synchronously, the
 * `SyncMerkleNodeStore` one. Children maps handed out are live: read-only, valid until the next write.
 */
export class MemoryMerkleNodeStore implements MerkleNodeStore, SyncMerkleNodeStore {
  readonly #nodes = new Map<string, MerkleNode>()
  readonly #children = new Map<string, ChildList>()

  /** Number of nodes stored (0 for an empty tree). */
  get size(): number {
    return this.#nodes.size
  }

  /** Every stored node, in no particular order. */
  nodes(): IterableIterator<MerkleNode> {
    return this.#nodes.values()
  }

  clear(): void {
    this.#nodes.clear()
    this.#children.clear()
  }

  getNodesSync(paths: readonly string[]): Map<string, MerkleNode> {
    const out = new Map<string, MerkleNode>()
    for (const path of paths) {
      const node = this.#nodes.get(path)
      if (node) out.set(path, node)
    }
    return out
  }

  getChildrenSync(parents: readonly string[]): Map<string, ReadonlyMap<string, string>> {
    const out = new Map<string, ReadonlyMap<string, string>>()
    for (const parent of parents) out.set(parent, this.#sortedChildren(parent))
    return out
  }

  writeNodesSync(changes: MerkleNodeChanges): void {
    for (const path of changes.delete) {
      if (!this.#nodes.delete(path) || path === ROOT_PATH) continue
      const parent = parentPath(path)
      const list = this.#children.get(parent)
      if (list?.map.delete(segmentOf(path)) && list.map.size === 0) this.#children.delete(parent)
    }
    for (const node of changes.upsert) {
      this.#nodes.set(node.path, node)
      if (node.path !== ROOT_PATH) this.#setChild(parentPath(node.path), segmentOf(node.path), node.hash)
    }
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

  #setChild(parent: string, segment: string, hash: string): void {
    const list = this.#children.get(parent)
    if (!list) {
      this.#children.set(parent, { map: new Map([[segment, hash]]), sorted: true, last: segment })
      return
    }
    if (!list.map.has(segment)) {
      if (compareSegments(segment, list.last) > 0) list.last = segment
      else list.sorted = false
    }
    list.map.set(segment, hash)
  }

  #sortedChildren(parent: string): ReadonlyMap<string, string> {
    const list = this.#children.get(parent)
    if (!list) return NO_CHILDREN
    if (!list.sorted) {
      const entries = [...list.map].sort((a, b) => compareSegments(a[0], b[0]))
      list.map = new Map(entries)
      list.sorted = true
      list.last = entries[entries.length - 1]![0]
    }
    return list.map
  }
}
