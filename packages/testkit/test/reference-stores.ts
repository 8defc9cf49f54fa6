import {
  checkId,
  checkPrefix,
  checkState,
  type GetManyResult,
  type HealthProbe,
  type ItemRecord,
  type L2PutOptions,
  type L2Store,
  type L3Store,
  type LeafRecord,
  type MerkleNode,
  type MerkleNodeChanges,
  type MerkleNodeStore,
  type PageOptions,
  type PutOutcome,
  SyncItem,
} from '@sync-engine/core'

/** Plain in-memory stores that follow the contracts literally; they prove the conformance frames. */

class MapNodeStore implements MerkleNodeStore {
  readonly nodes = new Map<string, MerkleNode>()
  async getNodes(paths: readonly string[]) {
    return new Map(paths.flatMap((p) => (this.nodes.has(p) ? [[p, this.nodes.get(p)!] as const] : [])))
  }
  async getChildren(parents: readonly string[]) {
    const out = new Map<string, Map<string, string>>(parents.map((p) => [p, new Map()]))
    for (const node of this.nodes.values()) {
      if (node.path === '') continue
      const dot = node.path.lastIndexOf('.')
      const parent = dot < 0 ? '' : node.path.slice(0, dot)
      out.get(parent)?.set(node.path.slice(dot + 1), node.hash)
    }
    return out
  }
  async writeNodes(changes: MerkleNodeChanges) {
    for (const p of changes.delete) this.nodes.delete(p)
    for (const n of changes.upsert) this.nodes.set(n.path, n)
  }
}

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))
const health = async (): Promise<HealthProbe> => ({ ok: true, latencyMs: 0 })

function isNewer(incoming: ItemRecord, stored: ItemRecord | undefined): boolean {
  return (
    !stored ||
    incoming.version > stored.version ||
    (incoming.version === stored.version && incoming.updatedAt >= stored.updatedAt)
  )
}

function put(rows: Map<string, SyncItem>, list: readonly ItemRecord[]): PutOutcome[] {
  return list.map((row) => {
    const problem = checkId(row.id) ?? checkState(row.state)
    if (problem) return { id: row.id, status: 'rejected', reason: problem.message }
    const stored = rows.get(row.id)
    if (!isNewer(row, stored)) return { id: row.id, status: 'stale' }
    rows.set(row.id, SyncItem.fromRecord(row))
    return { id: row.id, status: 'written', created: stored === undefined }
  })
}

function page(ids: string[], options: PageOptions = {}): string[] {
  const sorted = ids
    .sort(byBytes)
    .filter((id) => options.afterId === undefined || byBytes(id, options.afterId) > 0)
  return sorted.slice(0, options.limit ?? sorted.length)
}

function getMany(rows: Map<string, SyncItem>, ids: readonly string[]): GetManyResult {
  return {
    items: new Map(ids.flatMap((id) => (rows.has(id) ? [[id, rows.get(id)!] as const] : []))),
    errors: new Map(),
  }
}

function deleteIds(rows: Map<string, SyncItem>, ids: readonly string[]): string[] {
  return ids.filter((id) => rows.delete(id))
}

export class ReferenceL3Store implements L3Store {
  readonly name = 'reference-l3'
  readonly merkle = new MapNodeStore()
  readonly rows = new Map<string, SyncItem>()
  async connect() {}
  async close() {}
  health = health
  /** The reference keeps no tree: the frames check roots only when the harness gives `expectedRoot`. */
  async merkleRoot() {
    return (await this.merkle.getNodes([''])).get('')?.hash ?? null
  }
  async putBatch(list: readonly ItemRecord[]) {
    return put(this.rows, list)
  }
  async get(id: string) {
    return this.rows.get(id)
  }
  async getMany(ids: readonly string[]) {
    return getMany(this.rows, ids)
  }
  async exists(id: string) {
    return this.rows.has(id)
  }
  async deleteBatch(ids: readonly string[]) {
    return deleteIds(this.rows, ids)
  }
  async count() {
    return this.rows.size
  }
  async scanIds(afterId: string | undefined, limit: number) {
    return page([...this.rows.keys()], { ...(afterId === undefined ? {} : { afterId }), limit })
  }
  async scanLeaves(afterId: string | undefined, limit: number): Promise<LeafRecord[]> {
    return (await this.scanIds(afterId, limit)).map((id) => {
      const row = this.rows.get(id)!
      return { id, version: row.version, contentHash: row.contentHash }
    })
  }
  #withState(state: string) {
    return [...this.rows.values()].filter((r) => r.state === state).map((r) => r.id)
  }
  async byState(state: string, options?: PageOptions) {
    return page(this.#withState(state), options)
  }
  async countByState(state: string) {
    return this.#withState(state).length
  }
  async setState(ids: readonly string[], state: string) {
    return ids.filter((id) => {
      const row = this.rows.get(id)
      if (!row || row.state === state) return false
      this.rows.set(id, row.with({ state }))
      return true
    })
  }
  async deleteByState(state: string) {
    return deleteIds(this.rows, this.#withState(state))
  }
  #withPrefix(prefix: string) {
    checkPrefix(prefix)
    return [...this.rows.keys()].filter((id) => id.startsWith(prefix))
  }
  async scanPrefix(prefix: string, options?: PageOptions) {
    return page(this.#withPrefix(prefix), options)
  }
  async countPrefix(prefix: string) {
    return this.#withPrefix(prefix).length
  }
  async deletePrefix(prefix: string) {
    return deleteIds(this.rows, this.#withPrefix(prefix))
  }
}

export class ReferenceL2Store implements L2Store {
  readonly name = 'reference-l2'
  readonly merkle = new MapNodeStore()
  readonly rows = new Map<string, SyncItem>()
  readonly expiresAt = new Map<string, number>()
  async connect() {}
  async close() {}
  health = health
  #live(id: string) {
    const at = this.expiresAt.get(id)
    if (at !== undefined && at <= Date.now()) {
      this.rows.delete(id)
      this.expiresAt.delete(id)
    }
    return this.rows.get(id)
  }
  async putBatch(list: readonly ItemRecord[], options: L2PutOptions = {}) {
    for (const row of list) this.#live(row.id)
    const outcomes = put(this.rows, list)
    for (const o of outcomes) {
      if (o.status !== 'written') continue
      if (options.ttlSeconds) this.expiresAt.set(o.id, Date.now() + options.ttlSeconds * 1000)
      else this.expiresAt.delete(o.id)
    }
    return outcomes
  }
  async get(id: string) {
    return this.#live(id)
  }
  async getMany(ids: readonly string[]) {
    for (const id of ids) this.#live(id)
    return getMany(this.rows, ids)
  }
  async exists(id: string) {
    return this.#live(id) !== undefined
  }
  async deleteBatch(ids: readonly string[]) {
    for (const id of ids) this.#live(id)
    return deleteIds(this.rows, ids)
  }
  async byState(state: string, options?: PageOptions) {
    const ids = [...this.rows.keys()].filter((id) => this.#live(id)?.state === state)
    return page(ids, options)
  }
}
