import type {
  ItemRecord,
  L2Store,
  L3Store,
  MerkleNode,
  MerkleNodeChanges,
  MerkleNodeStore,
  MerkleTreeWrites,
} from '@sync-engine/core'
import { diff, type MerkleDiff, type MerkleDiffSource } from '@sync-engine/merkle'

/** Paths per `getChildren` call of a diff. */
const DIFF_BATCH = 1000

interface ChildrenRequest {
  readonly path: string
  resolve(children: ReadonlyMap<string, string>): void
  reject(error: unknown): void
}

/**
 * A node store seen as one side of a Merkle diff. The diff asks for a whole level's children at
 * once, path by path; those asks are gathered within the turn into `getChildren` calls of up to
 * `DIFF_BATCH` paths, so a diff costs one round trip per level and batch, not one per node.
 */
export function diffSource(store: MerkleNodeStore): MerkleDiffSource {
  let pending: ChildrenRequest[] | undefined
  const send = async (batch: ChildrenRequest[]) => {
    try {
      const found = await store.getChildren(batch.map((r) => r.path))
      for (const r of batch) r.resolve(found.get(r.path) ?? new Map())
    } catch (error) {
      for (const r of batch) r.reject(error)
    }
  }
  const flush = async () => {
    const requests = pending ?? []
    pending = undefined
    for (let i = 0; i < requests.length; i += DIFF_BATCH) await send(requests.slice(i, i + DIFF_BATCH))
  }
  return {
    rootHash: async () => (await store.getNodes([''])).get('')?.hash ?? null,
    children: (path) =>
      new Promise((resolve, reject) => {
        if (pending === undefined) {
          pending = []
          queueMicrotask(() => void flush())
        }
        pending.push({ path, resolve, reject })
      }),
  }
}

/**
 * The node paths a change to `ids` can create, change or remove, but the ids' own `id.` leaf slots:
 * the root, each proper prefix and its `prefix.` slot (a prefix gains or loses its slot when its
 * children come or go), and each id.
 */
function touchedPaths(ids: Iterable<string>): Set<string> {
  const paths = new Set<string>([''])
  for (const id of ids) {
    let at = id.indexOf('.')
    while (at >= 0) {
      const prefix = id.slice(0, at)
      paths.add(prefix)
      paths.add(`${prefix}.`)
      at = id.indexOf('.', at + 1)
    }
    paths.add(id)
  }
  return paths
}

/**
 * Copies the nodes a batch touched from the L3 tree to the L2 mirror: nodes present in L3 are
 * upserted, candidate paths absent from L3 are deleted. An id's `id.` leaf slot is a candidate only
 * when `id` is an interior node in L3 (a leaf id has no slot, and an id that lost its children in
 * this batch is a prefix of other touched ids, whose slot is a candidate already); those few are
 * read in a second call. Resolves with how many nodes were written or deleted.
 */
export async function mirrorPaths(
  source: MerkleNodeStore,
  target: MerkleNodeStore,
  ids: Iterable<string>,
): Promise<number> {
  const unique = new Set(ids)
  const candidates = touchedPaths(unique)
  const nodes = await source.getNodes([...candidates])
  const slots: string[] = []
  for (const id of unique) {
    const slot = `${id}.`
    if (nodes.get(id)?.leaf === false && !candidates.has(slot)) slots.push(slot)
  }
  if (slots.length > 0) {
    for (const slot of slots) candidates.add(slot)
    for (const [path, node] of await source.getNodes(slots)) nodes.set(path, node)
  }
  const upsert: MerkleNode[] = [...nodes.values()]
  const remove = [...candidates].filter((p) => !nodes.has(p))
  await target.writeNodes({ upsert, delete: remove })
  return upsert.length + remove.length
}

/** Change sets made one after the other, as one set: the last write of each path wins. */
export function mergeChanges(sets: readonly MerkleNodeChanges[]): MerkleNodeChanges {
  if (sets.length === 1) return sets[0]!
  const last = new Map<string, MerkleNode | null>()
  for (const set of sets) {
    for (const path of set.delete) last.set(path, null)
    for (const node of set.upsert) last.set(node.path, node)
  }
  const upsert: MerkleNode[] = []
  const remove: string[] = []
  for (const [path, node] of last) {
    if (node) upsert.push(node)
    else remove.push(path)
  }
  return { upsert, delete: remove }
}

/**
 * Copies tree writes made one after the other (`writes`, in order) to `target` in step (see
 * `MerkleNodeStore.writeNodesInStep`): resolves `true` when they are there (or there was nothing to
 * copy), `false` when the target refused them or cannot take writes in step, or when they do not form
 * one chain of roots (another writer's update came between two of them).
 */
export async function copyInStep(
  target: MerkleNodeStore,
  writes: readonly MerkleTreeWrites[],
): Promise<boolean> {
  const made = writes.filter((w) => w.changes.upsert.length > 0 || w.changes.delete.length > 0)
  if (made.length === 0) return true
  const first = made[0]!
  const last = made[made.length - 1]!
  for (let i = 0; i < made.length; i++) {
    const { rootBefore, rootAfter } = made[i]!
    if (rootBefore === undefined || rootAfter === undefined) return false
    if (i > 0 && rootBefore !== made[i - 1]!.rootAfter) return false
  }
  if (!target.writeNodesInStep) return false
  return target.writeNodesInStep(
    mergeChanges(made.map((w) => w.changes)),
    first.rootBefore ?? null,
    last.rootAfter ?? null,
  )
}

/**
 * Makes L2 agree with L3 where their Merkle trees differ (SPEC §8, startup `SyncingRedis`): the ids
 * whose leaves differ are rewritten into L2 from L3, ids only in L2 are removed from it, and the
 * mirror's nodes along those paths are copied. Equal branches are never visited.
 */
export async function repairL2FromL3(l3: L3Store, l2: L2Store): Promise<MerkleDiff> {
  const difference = await diff(diffSource(l3.merkle), diffSource(l2.merkle))
  const fromL3 = [...difference.divergent, ...difference.localOnly]
  for (let i = 0; i < fromL3.length; i += 1000) {
    const { items } = await l3.getMany(fromL3.slice(i, i + 1000))
    await l2.putBatch([...items.values()])
  }
  for (let i = 0; i < difference.remoteOnly.length; i += 1000) {
    await l2.deleteBatch(difference.remoteOnly.slice(i, i + 1000))
  }
  const ids = [...fromL3, ...difference.remoteOnly]
  for (let i = 0; i < ids.length; i += 1000) await mirrorPaths(l3.merkle, l2.merkle, ids.slice(i, i + 1000))
  return difference
}

/**
 * Brings the given ids of L2 up to date after writes that missed it (L2 was away): each id is
 * rewritten from L3, else from `cached` (items that live in L1 and L2 only), else removed from L2.
 * `ids` maps each id to the TTL (seconds) of the last write that missed L2. Resolves with how many ids
 * were rewritten or removed.
 */
export async function repairL2Ids(
  l2: L2Store,
  ids: ReadonlyMap<string, number | undefined>,
  l3: L3Store | undefined,
  cached: (id: string) => ItemRecord | undefined,
): Promise<number> {
  const all = [...ids.keys()]
  for (let i = 0; i < all.length; i += 1000) {
    const chunk = all.slice(i, i + 1000)
    const stored = l3 ? (await l3.getMany(chunk)).items : new Map<string, ItemRecord>()
    await rewriteL2(l2, new Map(chunk.map((id) => [id, ids.get(id)])), stored, cached)
  }
  return all.length
}

/**
 * Writes each id of `ids` (id → TTL in seconds) to L2 as `stored` holds it, else as `cached` does,
 * else removes it from L2.
 */
export async function rewriteL2(
  l2: L2Store,
  ids: ReadonlyMap<string, number | undefined>,
  stored: ReadonlyMap<string, ItemRecord>,
  cached: (id: string) => ItemRecord | undefined,
): Promise<void> {
  const byTtl = new Map<number | undefined, ItemRecord[]>()
  const gone: string[] = []
  for (const [id, ttl] of ids) {
    const item = stored.get(id) ?? cached(id)
    if (!item) {
      gone.push(id)
      continue
    }
    const group = byTtl.get(ttl)
    if (group) group.push(item)
    else byTtl.set(ttl, [item])
  }
  for (const [ttl, items] of byTtl) await l2.putBatch(items, ttl === undefined ? {} : { ttlSeconds: ttl })
  if (gone.length) await l2.deleteBatch(gone)
}
