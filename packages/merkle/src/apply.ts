import {
  CorruptDataError,
  type MerkleNode,
  type MerkleNodeChanges,
  type MerkleNodeStore,
} from '@sync-engine/core'
import { type MerkleBatch, reduceBatch } from './batch.js'
import { compareSegments, hashSortedChildren, sortChildren } from './hash.js'
import { childPath, parentPath, pathDepth, ROOT_PATH, segmentOf } from './path.js'

/** What one batch did: the new root and exactly the nodes that changed (for mirrors). */
export interface MerkleApplyResult {
  /** The root hash after the batch; `null` for an empty tree. */
  readonly root: string | null
  /** Leaves in the tree after the batch. */
  readonly leafCount: number
  /** The node writes made (and to copy to a mirror); empty when the batch changed nothing. */
  readonly changes: MerkleNodeChanges
}

/** A `MerkleNodeStore` that answers synchronously (the in-memory store): no promise per step. */
export interface SyncMerkleNodeStore {
  getNodesSync(paths: readonly string[]): Map<string, MerkleNode>
  getChildrenSync(parents: readonly string[]): Map<string, ReadonlyMap<string, string>>
  writeNodesSync(changes: MerkleNodeChanges): void
}

/** The store operations the algorithm asks for, in order; a driver performs them and sends back the answer. */
type Step =
  | { readonly kind: 'getNodes'; readonly paths: string[] }
  | { readonly kind: 'getChildren'; readonly parents: string[] }
  | { readonly kind: 'writeNodes'; readonly changes: MerkleNodeChanges }

type Plan = Generator<Step, MerkleApplyResult, unknown>

/**
 * Applies a batch to a tree kept in `store` incrementally (SPEC §6): only the touched leaves and
 * their ancestors are read and rewritten, with three store calls whatever the depth (one `getNodes`,
 * one `getChildren`, one `writeNodes`). The result equals a from-scratch computation over the final
 * set of leaves. Applies on one store must not overlap.
 */
export async function applyMerkleBatch(
  store: MerkleNodeStore,
  batch: MerkleBatch,
): Promise<MerkleApplyResult> {
  const plan = planBatch(batch)
  for (let step = plan.next(); ; ) {
    if (step.done) return step.value
    const s = step.value
    if (s.kind === 'getNodes') step = plan.next(await store.getNodes(s.paths))
    else if (s.kind === 'getChildren') step = plan.next(await store.getChildren(s.parents))
    else step = plan.next(await store.writeNodes(s.changes))
  }
}

/** `applyMerkleBatch` over a synchronous store: the same algorithm, without promises. */
export function applyMerkleBatchSync(store: SyncMerkleNodeStore, batch: MerkleBatch): MerkleApplyResult {
  const plan = planBatch(batch)
  for (let step = plan.next(); ; ) {
    if (step.done) return step.value
    const s = step.value
    if (s.kind === 'getNodes') step = plan.next(store.getNodesSync(s.paths))
    else if (s.kind === 'getChildren') step = plan.next(store.getChildrenSync(s.parents))
    else step = plan.next(store.writeNodesSync(s.changes))
  }
}

/** A change of one child, propagated to its parent. */
interface ChildChange {
  /** The child's new hash, `null` when it is gone. */
  readonly hash: string | null
  /** New leaf count minus old leaf count of the child. */
  readonly countDelta: number
}

const NO_CHILDREN: ReadonlyMap<string, string> = new Map()

/** The incremental algorithm, written once; drivers above perform its store steps. */
function* planBatch(batch: MerkleBatch): Plan {
  const effect = reduceBatch(batch)

  // 1. Read the root, each touched id's node and its leaf-under-interior path `id.`, and ancestors.
  const read = new Set<string>([ROOT_PATH])
  for (const id of effect.keys()) {
    read.add(`${id}.`)
    for (let p = id; !read.has(p); p = parentPath(p)) read.add(p)
  }
  const before = (yield { kind: 'getNodes', paths: [...read] }) as ReadonlyMap<string, MerkleNode>

  // 2. Drop operations that change nothing; group the remaining ids and their ancestors by depth.
  const levels: string[][] = []
  const touched = new Set<string>()
  for (const [id, leaf] of effect) {
    if (leaf === currentLeaf(before, id)) {
      effect.delete(id)
      continue
    }
    let depth = pathDepth(id)
    for (let p = id; !touched.has(p); p = parentPath(p), depth--) {
      touched.add(p)
      let level = levels[depth]
      if (!level) levels[depth] = level = []
      level.push(p)
      if (p === ROOT_PATH) break
    }
  }

  // 3. Read the children of the touched interior nodes.
  const parents = [...touched].filter((p) => before.get(p)?.leaf === false)
  const children =
    parents.length === 0
      ? new Map<string, ReadonlyMap<string, string>>()
      : ((yield { kind: 'getChildren', parents }) as ReadonlyMap<string, ReadonlyMap<string, string>>)

  // 4. Recompute level by level, deepest first; each changed node reports to its parent.
  const upsert: MerkleNode[] = []
  const remove: string[] = []
  const pending = new Map<string, Map<string, ChildChange>>()
  let root = before.get(ROOT_PATH)
  for (let depth = levels.length - 1; depth >= 0; depth--) {
    for (const path of levels[depth] ?? []) {
      const old = before.get(path)
      let kids = NO_CHILDREN
      if (old?.leaf === false) {
        kids = children.get(path) ?? NO_CHILDREN
        if (kids.size === 0) throw new CorruptDataError(nodeLocation(path), 'interior node without children')
      }
      const ownLeaf =
        path === ROOT_PATH
          ? null
          : effect.has(path)
            ? effect.get(path)!
            : old?.leaf
              ? old.hash
              : (kids.get('') ?? null)
      const node = rebuildNode(path, old, kids, ownLeaf, pending.get(path), upsert, remove)
      if (sameNode(old, node)) continue
      if (node) upsert.push(node)
      else if (old) remove.push(path)
      if (path === ROOT_PATH) {
        root = node
        continue
      }
      const parent = parentPath(path)
      let siblings = pending.get(parent)
      if (!siblings) {
        siblings = new Map()
        pending.set(parent, siblings)
      }
      siblings.set(segmentOf(path), {
        hash: node?.hash ?? null,
        countDelta: (node?.count ?? 0) - (old?.count ?? 0),
      })
    }
  }

  const changes: MerkleNodeChanges = { upsert, delete: remove }
  if (upsert.length > 0 || remove.length > 0) yield { kind: 'writeNodes', changes }
  return { root: root?.hash ?? null, leafCount: root?.count ?? 0, changes }
}

/** The current leaf hash of `id`: at `id` when it is a leaf, at `id.` when `id` is interior. */
function currentLeaf(nodes: ReadonlyMap<string, MerkleNode>, id: string): string | null {
  const node = nodes.get(id)
  if (node?.leaf) return node.hash
  return nodes.get(`${id}.`)?.hash ?? null
}

/**
 * The node at `path` after the batch, from its old children `kids` (segment → hash), its own leaf
 * hash `ownLeaf` (`null` when `path` is not an id afterwards) and the changes of its children. Pushes
 * the write or delete of the `path.` leaf slot when the id's leaf moves or changes there.
 */
function rebuildNode(
  path: string,
  old: MerkleNode | undefined,
  kids: ReadonlyMap<string, string>,
  ownLeaf: string | null,
  changes: ReadonlyMap<string, ChildChange> | undefined,
  upsert: MerkleNode[],
  remove: string[],
): MerkleNode | undefined {
  const segments: string[] = []
  const hashes: string[] = []
  if (ownLeaf !== null) {
    segments.push('')
    hashes.push(ownLeaf)
  }
  const oldLeafSlot = kids.get('')
  // Leaves below `path` other than its own, before the batch.
  let count = old?.leaf === false ? old.count - (oldLeafSlot === undefined ? 0 : 1) : 0
  let sorted = true
  let previous = ''
  const add = (segment: string, hash: string) => {
    if (sorted && compareSegments(previous, segment) >= 0) sorted = false
    previous = segment
    segments.push(segment)
    hashes.push(hash)
  }
  for (const [segment, hash] of kids) {
    if (segment === '') continue
    const change = changes?.get(segment)
    const now = change === undefined ? hash : change.hash
    if (now !== null) add(segment, now)
  }
  if (changes) {
    for (const [segment, change] of changes) {
      count += change.countDelta
      if (change.hash !== null && !kids.has(segment)) add(segment, change.hash)
    }
  }
  if (!sorted) sortChildren(segments, hashes)

  const interior = segments.length > (ownLeaf === null ? 0 : 1)
  const leafSlot = `${path}.`
  if (interior && ownLeaf !== null) {
    if (oldLeafSlot !== ownLeaf) upsert.push({ path: leafSlot, hash: ownLeaf, leaf: true, count: 1 })
  } else if (oldLeafSlot !== undefined) remove.push(leafSlot)

  if (interior) {
    const hash = hashSortedChildren(segments, hashes, (i) => {
      throw new CorruptDataError(nodeLocation(childPath(path, segments[i]!)), 'hash is not 64 hex characters')
    })
    return { path, hash, leaf: false, count: count + (ownLeaf === null ? 0 : 1) }
  }
  return ownLeaf === null ? undefined : { path, hash: ownLeaf, leaf: true, count: 1 }
}

function sameNode(a: MerkleNode | undefined, b: MerkleNode | undefined): boolean {
  if (a === undefined || b === undefined) return a === b
  return a.hash === b.hash && a.leaf === b.leaf && a.count === b.count
}

function nodeLocation(path: string): string {
  return `merkle node ${JSON.stringify(path)}`
}
