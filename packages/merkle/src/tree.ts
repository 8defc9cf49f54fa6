import type { MerkleNode } from '@sync-engine/core'
import { applyMerkleBatchSync, type MerkleApplyResult } from './apply.js'
import type { MerkleBatch } from './batch.js'
import type { MerkleDiffSource } from './diff.js'
import { MemoryMerkleNodeStore } from './memory-store.js'
import { ROOT_PATH } from './path.js'

/**
 * A path Merkle tree in memory. `apply` runs the same incremental algorithm as `applyMerkleBatch`
 * (synchronously, over a `MemoryMerkleNodeStore`).
 */
export class PathMerkleTree {
  readonly store: MemoryMerkleNodeStore

  constructor(store: MemoryMerkleNodeStore = new MemoryMerkleNodeStore()) {
    this.store = store
  }

  /** Applies a batch of upserts and deletes (in order; the last operation of an id wins). */
  apply(batch: MerkleBatch): MerkleApplyResult {
    return applyMerkleBatchSync(this.store, batch)
  }

  /** The root hash, `null` when the tree is empty. */
  root(): string | null {
    return this.node(ROOT_PATH)?.hash ?? null
  }

  /** The node at `path`, if any. */
  node(path: string): MerkleNode | undefined {
    return this.store.getNodesSync([path]).get(path)
  }

  /** The children of `path` as segment → hash, in ascending segment byte order (a copy). */
  children(path: string): Map<string, string> {
    return new Map(this.store.getChildrenSync([path]).get(path))
  }

  /** Number of ids in the tree. */
  leafCount(): number {
    return this.node(ROOT_PATH)?.count ?? 0
  }

  /** This tree as one side of `diff`. */
  diffSource(): MerkleDiffSource {
    return { rootHash: () => this.root(), children: (path) => this.children(path) }
  }
}
