export type { MerkleNode, MerkleNodeChanges, MerkleNodeStore } from '@sync-engine/core'
export {
  applyMerkleBatch,
  applyMerkleBatchSync,
  type MerkleApplyResult,
  NO_TREE_WRITES,
  type SyncMerkleNodeStore,
  treeWritesOf,
} from './apply.js'
export type { MerkleBatch, MerkleDelete, MerkleLeaf, MerkleOp, MerkleUpsert } from './batch.js'
export { diff, type MerkleDiff, type MerkleDiffSource } from './diff.js'
export { compareSegments, interiorHash, leafHash, type MerkleVersion } from './hash.js'
export { MemoryMerkleNodeStore } from './memory-store.js'
export {
  ancestors,
  childPath,
  idOfLeafPath,
  leafPathOf,
  parentPath,
  pathDepth,
  ROOT_PATH,
  segmentOf,
} from './path.js'
export { merkleNodesOf, merkleRootOf } from './reference.js'
export { PathMerkleTree } from './tree.js'
