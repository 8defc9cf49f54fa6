import {
  CorruptDataError,
  type MerkleNode,
  type MerkleNodeChanges,
  type MerkleNodeStore,
  type MerkleTreeWrites,
} from '@sync-engine/core'
import { type MerkleBatch, reduceBatch } from './batch.js'
import { buildTree } from './build.js'
import { ChildTable, type SortedChanges } from './child-table.js'
import { hashSortedChildren, isSorted, sortChildren } from './hash.js'
import { adoptTree, MemoryMerkleNodeStore, updateLeaves } from './memory-store.js'
import { childPath, parentPath, pathDepth, ROOT_PATH } from './path.js'

/** What one batch did: the new root and exactly the nodes that changed (for mirrors). */
export interface MerkleApplyResult {
  /** The root hash after the batch; `null` for an empty tree. */
  readonly root: string | null
  /** The root hash before it (what a mirror copying `changes` must hold to stay in step). */
  readonly previousRoot: string | null
  /** Leaves in the tree after the batch. */
  readonly leafCount: number
  /**
   * The node writes made (and to copy to a mirror); empty when the batch changed nothing. After a
   * batch into an empty `MemoryMerkleNodeStore` (built in one pass), made on first read, as they were
   * after that batch.
   */
  readonly changes: MerkleNodeChanges
}

/** What an update that changed no leaf wrote, as an L3 store reports it. */
export const NO_TREE_WRITES: MerkleTreeWrites = { changes: { upsert: [], delete: [] } }

/** What a batch wrote, as an L3 store reports it to a mirror (`L3PutOptions.onMerkleChanges`). */
export function treeWritesOf(result: MerkleApplyResult): MerkleTreeWrites {
  return { changes: result.changes, rootBefore: result.previousRoot, rootAfter: result.root }
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
 * set of leaves. Applies on one store must not overlap. An empty `MemoryMerkleNodeStore` is filled
 * in one pass instead (`buildTree`: the same tree, without the incremental bookkeeping), and a batch
 * that only changes the hashes of leaves it holds is applied in place (`updateLeaves`: the same nodes
 * and changes, without reading nodes out and writing them back).
 */
export async function applyMerkleBatch(
  store: MerkleNodeStore,
  batch: MerkleBatch,
): Promise<MerkleApplyResult> {
  if (store instanceof MemoryMerkleNodeStore) return applyInMemory(store, batch)
  const plan = planBatch(reduceBatch(batch), true)
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
  if (store instanceof MemoryMerkleNodeStore) return applyInMemory(store, batch)
  return runSync(store, planBatch(reduceBatch(batch), true))
}

/** Performs the steps of `plan` on a synchronous store. */
function runSync(store: SyncMerkleNodeStore, plan: Plan): MerkleApplyResult {
  for (let step = plan.next(); ; ) {
    if (step.done) return step.value
    const s = step.value
    if (s.kind === 'getNodes') step = plan.next(store.getNodesSync(s.paths))
    else if (s.kind === 'getChildren') step = plan.next(store.getChildrenSync(s.parents))
    else step = plan.next(store.writeNodesSync(s.changes))
  }
}

/**
 * A batch applied to the in-memory store: built in one pass into an empty store (`buildInto`); when
 * it only changes the hashes of existing leaves, applied in place (`updateLeaves`); otherwise by the
 * generic algorithm, synchronously.
 */
function applyInMemory(store: MemoryMerkleNodeStore, batch: MerkleBatch): MerkleApplyResult {
  if (store.isEmpty()) return buildInto(store, batch)
  const effect = reduceBatch(batch)
  return updateLeaves(store, effect) ?? runSync(store, planBatch(effect, false))
}

/**
 * A batch applied to an empty in-memory store: the tree is built bottom-up in one pass (`buildTree`)
 * and handed to the store, with the same result as the incremental algorithm.
 */
function buildInto(store: MemoryMerkleNodeStore, batch: MerkleBatch): MerkleApplyResult {
  const built = buildTree(batch)
  adoptTree(store, built.root, built.tables)
  let changes: MerkleNodeChanges | undefined
  return {
    root: built.root?.hash ?? null,
    previousRoot: null,
    leafCount: built.root?.count ?? 0,
    // A million node objects nobody may read: made on the first read (as they were after this batch).
    get changes() {
      changes ??= { upsert: built.nodes(), delete: [] }
      return changes
    },
  }
}

/**
 * What the children of one node did in this batch: `hashes[j]` is the new hash of child `segments[j]`
 * (`null`: gone; each child reports once), and the leaf count change.
 */
interface ChildChanges {
  readonly segments: string[]
  readonly hashes: (string | null)[]
  countDelta: number
}

const NO_CHILDREN: ReadonlyMap<string, string> = new Map()

/**
 * The incremental algorithm, written once; the drivers above perform its store steps. The generator
 * only sequences the steps: the work is in plain functions (which V8 optimizes better). With
 * `skipKnownChildren` (every store but the in-memory one, whose children reads cost nothing),
 * children already known are not read (see `knownChildren`).
 */
function* planBatch(effect: Map<string, string | null>, skipKnownChildren: boolean): Plan {
  let levels = touchedLevels(effect)
  const before = (yield {
    kind: 'getNodes',
    paths: levels.paths.length > 0 ? levels.paths.flat() : [ROOT_PATH],
  }) as ReadonlyMap<string, MerkleNode>
  let parents = interiorPaths(levels, before)
  const known = skipKnownChildren && parents.length > 0 ? knownChildren(levels, before, parents) : undefined
  if (known) parents = parents.filter((p) => !known.has(p))
  const read =
    parents.length === 0
      ? new Map<string, ReadonlyMap<string, string>>()
      : ((yield { kind: 'getChildren', parents }) as ReadonlyMap<string, ReadonlyMap<string, string>>)
  const children = known ? new Map([...read, ...known]) : read
  if (dropNoOps(effect, before, children)) levels = touchedLevels(effect)
  const { changes, root } = recompute(levels, before, children)
  if (changes.upsert.length > 0 || changes.delete.length > 0) yield { kind: 'writeNodes', changes }
  return {
    root: root?.hash ?? null,
    previousRoot: before.get(ROOT_PATH)?.hash ?? null,
    leafCount: root?.count ?? 0,
    changes,
  }
}

/**
 * The touched paths grouped by depth (index 0 holds the root): the ids and all their ancestors.
 * `ops[d][k]` is the effect on `paths[d][k]` when it is an id (new leaf hash, or `null` for a
 * delete), `undefined` for an ancestor that is not an id.
 */
interface Levels {
  readonly paths: string[][]
  readonly ops: (string | null | undefined)[][]
}

function touchedLevels(effect: ReadonlyMap<string, string | null>): Levels {
  const paths: string[][] = []
  const ops: (string | null | undefined)[][] = []
  const add = (path: string, depth: number, op: string | null | undefined) => {
    if (!paths[depth]) {
      paths[depth] = []
      ops[depth] = []
    }
    paths[depth].push(path)
    ops[depth]!.push(op)
  }
  // Ancestors that are not ids themselves, each once (ids are unique keys already).
  const ancestors = new Set<string>()
  // `forEach`, not `for…of` with destructuring: no entry array per id (this runs once per leaf).
  effect.forEach((op, id) => {
    let depth = pathDepth(id)
    add(id, depth, op)
    for (let p = id; p !== ROOT_PATH; ) {
      p = parentPath(p)
      depth--
      if (ancestors.has(p) || effect.has(p)) break
      ancestors.add(p)
      add(p, depth, undefined)
    }
  })
  return { paths, ops }
}

/** The touched paths that hold an interior node now: their children must be read. */
function interiorPaths(levels: Levels, before: ReadonlyMap<string, MerkleNode>): string[] {
  const out: string[] = []
  for (const level of levels.paths)
    for (const p of level ?? []) if (before.get(p)?.leaf === false) out.push(p)
  return out
}

/**
 * The children of the interior nodes in `parents` that are all touched paths: an interior node whose
 * touched, existing children account for its whole leaf count has no other child and no leaf slot
 * (every child counts at least 1), so its children are those, with the hashes read in `before`. A
 * flush that rewrites every id under a parent then reads those rows once, not twice.
 */
function knownChildren(
  levels: Levels,
  before: ReadonlyMap<string, MerkleNode>,
  parents: readonly string[],
): Map<string, Map<string, string>> {
  // Per interior parent: the leaves its touched, existing children hold, and those children.
  const seen = new Map<string, { covered: number; children: Map<string, string> }>()
  for (const parent of parents) seen.set(parent, { covered: 0, children: new Map() })
  for (let depth = 1; depth < levels.paths.length; depth++) {
    for (const path of levels.paths[depth] ?? []) {
      const node = before.get(path)
      if (node === undefined) continue
      const dot = path.lastIndexOf('.')
      const entry = seen.get(dot < 0 ? ROOT_PATH : path.slice(0, dot))
      if (entry === undefined) continue
      entry.covered += node.count
      entry.children.set(path.slice(dot + 1), node.hash)
    }
  }
  const known = new Map<string, Map<string, string>>()
  for (const [parent, { covered, children }] of seen)
    if (covered === before.get(parent)!.count) known.set(parent, children)
  return known
}

/**
 * Removes from `effect` the operations that change nothing (an identical leaf, a delete of an absent
 * id); returns whether it removed any. The leaf of an interior id is its `""` child.
 */
function dropNoOps(
  effect: Map<string, string | null>,
  before: ReadonlyMap<string, MerkleNode>,
  children: ReadonlyMap<string, ReadonlyMap<string, string>>,
): boolean {
  const size = effect.size
  effect.forEach((leaf, id) => {
    const node = before.get(id)
    const current = node === undefined ? null : node.leaf ? node.hash : (children.get(id)?.get('') ?? null)
    if (leaf === current) effect.delete(id)
  })
  return effect.size !== size
}

/** Recomputes the touched nodes level by level, deepest first; each changed node reports to its parent. */
function recompute(
  levels: Levels,
  before: ReadonlyMap<string, MerkleNode>,
  children: ReadonlyMap<string, ReadonlyMap<string, string>>,
): { changes: MerkleNodeChanges; root: MerkleNode | undefined } {
  const upsert: MerkleNode[] = []
  const remove: string[] = []
  const pending = new Map<string, ChildChanges>()
  let root = before.get(ROOT_PATH)
  for (let depth = levels.paths.length - 1; depth >= 0; depth--) {
    const paths = levels.paths[depth] ?? []
    const ops = levels.ops[depth] ?? []
    for (let k = 0; k < paths.length; k++) {
      const path = paths[k]!
      const old = before.get(path)
      let kids = NO_CHILDREN
      if (old?.leaf === false) {
        kids = children.get(path) ?? NO_CHILDREN
        if (kids.size === 0) throw new CorruptDataError(nodeLocation(path), 'interior node without children')
      }
      const op = ops[k]
      const ownLeaf =
        op !== undefined ? op : path === ROOT_PATH ? null : old?.leaf ? old.hash : (kids.get('') ?? null)
      const node = rebuildNode(path, old, kids, ownLeaf, pending.get(path), upsert, remove)
      if (sameNode(old, node)) continue
      if (node) upsert.push(node)
      else if (old) remove.push(path)
      if (path === ROOT_PATH) {
        root = node
        continue
      }
      const dot = path.lastIndexOf('.')
      const parent = dot < 0 ? ROOT_PATH : path.slice(0, dot)
      let siblings = pending.get(parent)
      if (!siblings) {
        siblings = { segments: [], hashes: [], countDelta: 0 }
        pending.set(parent, siblings)
      }
      siblings.segments.push(path.slice(dot + 1))
      siblings.hashes.push(node?.hash ?? null)
      siblings.countDelta += (node?.count ?? 0) - (old?.count ?? 0)
    }
  }
  return { changes: { upsert, delete: remove }, root }
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
  changes: ChildChanges | undefined,
  upsert: MerkleNode[],
  remove: string[],
): MerkleNode | undefined {
  if (kids === NO_CHILDREN && changes === undefined)
    return ownLeaf === null ? undefined : { path, hash: ownLeaf, leaf: true, count: 1 }
  const oldLeafSlot = kids.get('')
  // Leaves below `path`, other than its own.
  const count =
    (old?.leaf === false ? old.count - (oldLeafSlot === undefined ? 0 : 1) : 0) + (changes?.countDelta ?? 0)
  if (changes && !isSorted(changes.segments)) sortChildren(changes.segments, changes.hashes)
  const hash = interiorHashAfter(path, kids, ownLeaf, changes)

  if (hash !== null && ownLeaf !== null) {
    if (oldLeafSlot !== ownLeaf) upsert.push({ path: `${path}.`, hash: ownLeaf, leaf: true, count: 1 })
  } else if (oldLeafSlot !== undefined) remove.push(`${path}.`)

  if (hash !== null) return { path, hash, leaf: false, count: count + (ownLeaf === null ? 0 : 1) }
  return ownLeaf === null ? undefined : { path, hash: ownLeaf, leaf: true, count: 1 }
}

/**
 * The interior hash of `path` after the batch, or `null` when no child other than its own leaf is
 * left (then it is a leaf, or gone). A `ChildTable` (the in-memory store) computes it from its packed
 * preimage, copying the unchanged runs; any other map is walked child by child.
 */
function interiorHashAfter(
  path: string,
  kids: ReadonlyMap<string, string>,
  ownLeaf: string | null,
  changes: SortedChanges | undefined,
): string | null {
  if (kids instanceof ChildTable) return kids.hashAfter(ownLeaf, changes)
  const segments: string[] = []
  const hashes: string[] = []
  if (ownLeaf !== null) {
    segments.push('')
    hashes.push(ownLeaf)
  }
  const changed = changes && kids.size > 0 ? changesBySegment(changes) : undefined
  kids.forEach((hash, segment) => {
    if (segment === '') return
    const now = changed?.has(segment) ? changed.get(segment)! : hash
    if (now === null) return
    segments.push(segment)
    hashes.push(now)
  })
  if (changes) {
    for (let j = 0; j < changes.segments.length; j++) {
      const hash = changes.hashes[j]
      if (hash === null || hash === undefined || kids.has(changes.segments[j]!)) continue
      segments.push(changes.segments[j]!)
      hashes.push(hash)
    }
  }
  if (segments.length === (ownLeaf === null ? 0 : 1)) return null
  if (!isSorted(segments)) sortChildren(segments, hashes)
  return hashSortedChildren(segments, hashes, (i) => {
    throw new CorruptDataError(nodeLocation(childPath(path, segments[i]!)), 'hash is not 64 hex characters')
  })
}

function changesBySegment(changes: SortedChanges): Map<string, string | null> {
  const map = new Map<string, string | null>()
  for (let j = 0; j < changes.segments.length; j++) map.set(changes.segments[j]!, changes.hashes[j]!)
  return map
}

function sameNode(a: MerkleNode | undefined, b: MerkleNode | undefined): boolean {
  if (a === undefined || b === undefined) return a === b
  return a.hash === b.hash && a.leaf === b.leaf && a.count === b.count
}

function nodeLocation(path: string): string {
  return `merkle node ${JSON.stringify(path)}`
}
