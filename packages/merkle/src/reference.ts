import { InvalidArgumentError, type MerkleNode, validateId } from '@sync-engine/core'
import type { MerkleLeaf } from './batch.js'
import {
  checkContentHash,
  checkVersion,
  hashSortedChildren,
  leafHashUnchecked,
  sortChildren,
} from './hash.js'
import { childPath, ROOT_PATH } from './path.js'

interface TrieNode {
  leaf: string | null
  readonly kids: Map<string, TrieNode>
}

/**
 * Every node of the tree over `leaves`, computed from scratch (no store, no incremental step): the
 * reference the incremental algorithm is tested against, and what a verify/repair rebuild writes.
 * Throws `InvalidArgumentError` when an id appears twice.
 */
export function merkleNodesOf(leaves: Iterable<MerkleLeaf>): Map<string, MerkleNode> {
  const top: TrieNode = { leaf: null, kids: new Map() }
  let index = 0
  for (const { id, version, contentHash } of leaves) {
    const where = `leaves[${index++}]`
    validateId(id)
    const hash = leafHashUnchecked(
      id,
      checkVersion(version, `${where}.version`),
      checkContentHash(contentHash, `${where}.contentHash`),
    )
    let node = top
    for (const segment of id.split('.')) {
      let next = node.kids.get(segment)
      if (!next) {
        next = { leaf: null, kids: new Map() }
        node.kids.set(segment, next)
      }
      node = next
    }
    if (node.leaf !== null) throw new InvalidArgumentError('leaves', `id '${id}' appears twice`)
    node.leaf = hash
  }
  const nodes = new Map<string, MerkleNode>()
  if (top.kids.size > 0) emit(ROOT_PATH, top, nodes)
  return nodes
}

/** The root hash of the tree over `leaves`, from scratch; `null` when there are none. */
export function merkleRootOf(leaves: Iterable<MerkleLeaf>): string | null {
  return merkleNodesOf(leaves).get(ROOT_PATH)?.hash ?? null
}

/** Emits the node at `path` and everything below it; returns it. */
function emit(path: string, trie: TrieNode, out: Map<string, MerkleNode>): MerkleNode {
  let node: MerkleNode
  if (trie.kids.size === 0) {
    node = { path, hash: trie.leaf!, leaf: true, count: 1 }
  } else {
    const segments: string[] = []
    const hashes: string[] = []
    let count = 0
    if (trie.leaf !== null) {
      const slot = { path: `${path}.`, hash: trie.leaf, leaf: true, count: 1 }
      out.set(slot.path, slot)
      segments.push('')
      hashes.push(trie.leaf)
      count++
    }
    for (const [segment, kid] of trie.kids) {
      const child = emit(childPath(path, segment), kid, out)
      segments.push(segment)
      hashes.push(child.hash)
      count += child.count
    }
    sortChildren(segments, hashes)
    const hash = hashSortedChildren(segments, hashes, () => {
      throw new Error('unreachable: computed hashes are hex')
    })
    node = { path, hash, leaf: false, count }
  }
  out.set(path, node)
  return node
}
