import { InvalidArgumentError, type MerkleNode, validateId } from '@sync-engine/core'
import type { MerkleLeaf } from './batch.js'
import { checkVersion, hashSortedChildren, leafHashChecked, sortChildren } from './hash.js'
import { ROOT_PATH } from './path.js'

interface TrieNode {
  leaf: string | null
  kids: Map<string, TrieNode> | undefined
}

/**
 * Every node of the tree over `leaves`, computed from scratch (no store, no incremental step): the
 * reference the incremental algorithm is tested against, and what a verify/repair rebuild writes.
 * Throws `InvalidArgumentError` when an id appears twice.
 */
export function merkleNodesOf(leaves: Iterable<MerkleLeaf>): Map<string, MerkleNode> {
  const nodes = new Map<string, MerkleNode>()
  const top = trieOf(leaves)
  if (top.kids) hashNode(top, ROOT_PATH, nodes)
  return nodes
}

/** The root hash of the tree over `leaves`, from scratch; `null` when there are none. */
export function merkleRootOf(leaves: Iterable<MerkleLeaf>): string | null {
  const top = trieOf(leaves)
  return top.kids ? hashNode(top, ROOT_PATH, undefined).hash : null
}

function trieOf(leaves: Iterable<MerkleLeaf>): TrieNode {
  const top: TrieNode = { leaf: null, kids: undefined }
  let index = 0
  for (const { id, version, contentHash } of leaves) {
    const at = index++
    validateId(id)
    const hash = leafHashChecked(
      id,
      checkVersion(version, `leaves[${at}].version`),
      contentHash,
      () => `leaves[${at}].contentHash`,
    )
    let node = top
    let start = 0
    for (let dot = id.indexOf('.'); ; dot = id.indexOf('.', start)) {
      const segment = dot < 0 ? id.slice(start) : id.slice(start, dot)
      if (!node.kids) node.kids = new Map()
      let next = node.kids.get(segment)
      if (!next) {
        next = { leaf: null, kids: undefined }
        node.kids.set(segment, next)
      }
      node = next
      if (dot < 0) break
      start = dot + 1
    }
    if (node.leaf !== null) throw new InvalidArgumentError('leaves', `id '${id}' appears twice`)
    node.leaf = hash
  }
  return top
}

/**
 * The hash and count of the node at `path` (a leaf, or interior with its own leaf as the `""` child);
 * when `out` is given, records it and every node below, with paths.
 */
function hashNode(
  trie: TrieNode,
  path: string,
  out: Map<string, MerkleNode> | undefined,
): { hash: string; count: number } {
  if (!trie.kids) {
    const leaf = { path, hash: trie.leaf!, leaf: true, count: 1 }
    out?.set(path, leaf)
    return leaf
  }
  const segments: string[] = []
  const hashes: string[] = []
  let count = 0
  if (trie.leaf !== null) {
    out?.set(`${path}.`, { path: `${path}.`, hash: trie.leaf, leaf: true, count: 1 })
    segments.push('')
    hashes.push(trie.leaf)
    count++
  }
  for (const [segment, kid] of trie.kids) {
    const child = hashNode(
      kid,
      out === undefined ? '' : path === ROOT_PATH ? segment : `${path}.${segment}`,
      out,
    )
    segments.push(segment)
    hashes.push(child.hash)
    count += child.count
  }
  sortChildren(segments, hashes)
  const hash = hashSortedChildren(segments, hashes, () => {
    throw new Error('unreachable: computed hashes are hex')
  })
  out?.set(path, { path, hash, leaf: false, count })
  return { hash, count }
}
