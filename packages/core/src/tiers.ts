import type { ContentType } from './content.js'
import type { PressureLevel } from './errors.js'
import type { ItemRecord, SyncItem } from './item.js'
import type { MerkleNodeStore, MerkleTreeWrites } from './merkle-store.js'

/**
 * The columns of an L3 items table (SPEC §5.2, the reference engine's names), in the order the SQL
 * tiers create, bind and select them.
 */
export const L3_ITEM_COLUMNS = [
  'id',
  'version',
  'timestamp',
  'payload_hash',
  'payload',
  'payload_blob',
  'audit',
  'state',
  'access_count',
  'last_accessed',
] as const

/** Result of a health probe of one backend, taken under a timeout. */
export interface HealthProbe {
  readonly ok: boolean
  readonly latencyMs: number
  readonly error?: string
  /** Backend-specific facts (server version, JSON module present, …). */
  readonly details?: Readonly<Record<string, unknown>>
}

/** Per-row result of a batched write. */
export type PutStatus = 'written' | 'stale' | 'rejected'
export interface PutOutcome {
  readonly id: string
  readonly status: PutStatus
  /** Why a row was rejected (or why it was stale). */
  readonly reason?: string
  /**
   * For a `written` row: true when the id did not exist before (an insert), false for an update.
   * L3 stores report it so the engine's existence filter holds exactly one fingerprint per stored id.
   */
  readonly created?: boolean
}

/** A batched read: the items found, plus ids whose stored value was unreadable. */
export interface GetManyResult {
  readonly items: Map<string, SyncItem>
  /** Ids whose stored value is corrupt, each with its error; the other ids still answer. */
  readonly errors: Map<string, Error>
}

export interface PageOptions {
  /** Exclusive lower bound (keyset pagination, ids ascending by byte order). */
  readonly afterId?: string
  readonly limit?: number
}

// ── L1 ────────────────────────────────────────────────────────────────────────────────────────────

/**
 * Why an entry left L1 on its own: evicted under pressure, past its TTL, or dropped by `clear()`.
 * A direct `delete` or a `set` that replaces an entry is the caller's own act and is not reported.
 */
export type L1RemovalReason = 'evicted' | 'expired' | 'cleared'

export interface L1SetOptions {
  /** Time to live in ms; the entry is a miss once it passes. */
  readonly ttlMs?: number
  /** Pinned entries are never evicted (the only copy of a write not yet flushed). */
  readonly pinned?: boolean
}

export interface L1Stats {
  readonly items: number
  readonly bytes: number
  readonly maxBytes: number
  readonly pinnedItems: number
  readonly pinnedBytes: number
  readonly hits: number
  readonly misses: number
  readonly evictions: number
  readonly expirations: number
}

/** The in-process tier (SPEC §9). Synchronous: it is the microsecond path. */
export interface L1Cache {
  /** The item, counting an access; `undefined` on a miss or an expired entry. */
  get(id: string): SyncItem | undefined
  /** The item without touching any statistic or recency. */
  peek(id: string): SyncItem | undefined
  has(id: string): boolean
  set(item: SyncItem, options?: L1SetOptions): void
  delete(id: string): boolean
  /** Pins or unpins an entry; false when the id is not cached. */
  pin(id: string): boolean
  unpin(id: string): boolean
  clear(): void
  /** Bytes this item would account for (id + content + fixed overhead). */
  estimateSize(item: SyncItem): number
  readonly size: number
  readonly bytes: number
  readonly maxBytes: number
  /** bytes / maxBytes. */
  pressure(): number
  pressureLevel(): PressureLevel
  stats(): L1Stats
  /** Called for every entry that leaves for a reason other than a direct `delete`/`set`; returns an unsubscribe. */
  onRemove(listener: (item: SyncItem, reason: L1RemovalReason) => void): () => void
}

// ── L2 ────────────────────────────────────────────────────────────────────────────────────────────

export interface L2PutOptions {
  /** TTL in whole seconds for every item of the call. */
  readonly ttlSeconds?: number
}

/** The shared cache tier (Redis, SPEC §5.1). */
export interface L2Store {
  readonly name: string
  connect(): Promise<void>
  close(): Promise<void>
  health(timeoutMs?: number): Promise<HealthProbe>
  putBatch(items: readonly ItemRecord[], options?: L2PutOptions): Promise<PutOutcome[]>
  get(id: string): Promise<SyncItem | undefined>
  getMany(ids: readonly string[]): Promise<GetManyResult>
  exists(id: string): Promise<boolean>
  /** Deletes ids; resolves with the ids that existed. */
  deleteBatch(ids: readonly string[]): Promise<string[]>
  /** Ids tagged with `state` (lazily cleaned of expired items). */
  byState(state: string, page?: PageOptions): Promise<string[]>
  /** The Merkle mirror of the L3 tree. */
  readonly merkle: MerkleNodeStore
}

// ── L3 ────────────────────────────────────────────────────────────────────────────────────────────

/** What a Merkle leaf needs of a stored row. */
export interface LeafRecord {
  readonly id: string
  readonly version: number
  readonly contentHash: string
}

/** Options of `L3Store.putBatch`. */
export interface L3PutOptions {
  /**
   * Called once the call's transaction has committed, before it resolves, with the Merkle node writes
   * it made and the root before and after them — what a mirror of the tree copies to stay equal to it
   * — or `null` when the store cannot tell (it keeps no tree, or rebuilt it from the rows). Not called
   * for a call that rejects. A store may ignore the option; a caller that got no call mirrors by
   * reading the tree instead.
   */
  readonly onMerkleChanges?: (writes: MerkleTreeWrites | null) => void
}

/**
 * The durable ground truth (SQL, SPEC §5.2).
 *
 * Merkle: every mutation that changes the set of `(id, version, contentHash)` — `putBatch`,
 * `deleteBatch`, `deleteByState`, `deletePrefix` — updates the tree in `merkle` in the SAME transaction
 * as the rows, serialized across processes (a database lock), with leaves taken from what the rows
 * really hold after the write. So concurrent writers end with the root a single writer would compute,
 * and a crash never leaves rows and tree apart. `setState` changes no leaf (the state is not hashed).
 */
export interface L3Store {
  readonly name: string
  connect(): Promise<void>
  close(): Promise<void>
  health(timeoutMs?: number): Promise<HealthProbe>
  /** Version-guarded upsert; one outcome per row, in input order. */
  putBatch(rows: readonly ItemRecord[], options?: L3PutOptions): Promise<PutOutcome[]>
  get(id: string): Promise<SyncItem | undefined>
  getMany(ids: readonly string[]): Promise<GetManyResult>
  exists(id: string): Promise<boolean>
  /** Deletes ids; resolves with the ids that existed. */
  deleteBatch(ids: readonly string[]): Promise<string[]>
  count(): Promise<number>
  /** Keyset-paginated ids, ascending. */
  scanIds(afterId: string | undefined, limit: number): Promise<string[]>
  /** Keyset-paginated `(id, version, contentHash)`, ascending: Merkle rebuilds and filter warm-up. */
  scanLeaves(afterId: string | undefined, limit: number): Promise<LeafRecord[]>
  byState(state: string, page?: PageOptions): Promise<string[]>
  countByState(state: string): Promise<number>
  /** Sets the state of existing ids; resolves with the ids that changed. */
  setState(ids: readonly string[], state: string): Promise<string[]>
  deleteByState(state: string): Promise<string[]>
  scanPrefix(prefix: string, page?: PageOptions): Promise<string[]>
  countPrefix(prefix: string): Promise<number>
  deletePrefix(prefix: string): Promise<string[]>
  /** The Merkle node store kept beside the rows (read it; the store itself writes it). */
  readonly merkle: MerkleNodeStore
  /** Root hash of the tree over every row (`null` when empty). */
  merkleRoot(): Promise<string | null>
}

// ── WAL ───────────────────────────────────────────────────────────────────────────────────────────

export type WalOp = 'put' | 'delete'

export interface WalEntry {
  readonly id: string
  readonly op: WalOp
  /** The full row for a put; absent for a delete. */
  readonly row?: ItemRecord
}

export interface WalRecord extends WalEntry {
  readonly seq: number
  readonly enqueuedAt: number
}

export interface WalStats {
  /** Rows really present in the log. */
  readonly rows: number
  /** Bytes of those rows (payload + metadata as stored). */
  readonly bytes: number
  readonly maxRows: number
  readonly maxBytes: number
  readonly oldestSeq: number | undefined
  readonly newestSeq: number | undefined
  readonly oldestEnqueuedAt: number | undefined
}

export interface FilterSnapshot {
  readonly filterId: string
  readonly bytes: Uint8Array
  readonly merkleRoot: string | null
  readonly entryCount: number
  readonly savedAt: number
}

/** The local write-ahead log (SPEC §5.3). */
export interface WriteAheadLog {
  /** Appends all entries in one transaction (group commit) or none; throws `WalFullError` past a limit. */
  append(entries: readonly WalEntry[]): Promise<WalRecord[]>
  /** The oldest `limit` records, in seq order. */
  peek(limit: number): Promise<WalRecord[]>
  /** Deletes every record with seq ≤ `uptoSeq`. Resolves with how many were removed. */
  ack(uptoSeq: number): Promise<number>
  stats(): Promise<WalStats>
  /** max(rows / maxRows, bytes / maxBytes). */
  pressure(): number
  saveSnapshot(
    filterId: string,
    bytes: Uint8Array,
    merkleRoot: string | null,
    entryCount: number,
  ): Promise<void>
  loadSnapshot(filterId: string): Promise<FilterSnapshot | undefined>
  close(): Promise<void>
}

// ── Existence filter ──────────────────────────────────────────────────────────────────────────────

export interface ExistenceFilterStats {
  readonly entries: number
  readonly capacity: number
  readonly loadFactor: number
  readonly fingerprintBits: number
  readonly bytes: number
  readonly expansions: number
}

/** "Is this id certainly absent?" (SPEC §7). No false negatives for inserted ids. */
export interface ExistenceFilter {
  add(id: string): void
  /** Removes one fingerprint of `id`; only call it for ids that were added. */
  remove(id: string): boolean
  mightContain(id: string): boolean
  export(): Uint8Array
  stats(): ExistenceFilterStats
}

// ── Change stream ─────────────────────────────────────────────────────────────────────────────────

export type ChangeOp = 'PUT' | 'DEL'

export interface ChangeMeta {
  readonly contentType: ContentType | undefined
  readonly version: number | undefined
  readonly updatedAt: number
  readonly state: string | undefined
  /** Instance that made the change (peers skip their own). */
  readonly origin: string
}

/** One CDC entry (SPEC §10). */
export interface ChangeEntry {
  readonly op: ChangeOp
  readonly key: string
  /** Content hash (PUT) or empty (DEL). */
  readonly hash: string
  /** Content bytes, PUT only. */
  readonly data?: Uint8Array
  readonly meta: ChangeMeta
}

export interface ReceivedChange extends ChangeEntry {
  /** Stream entry id (cursor position). */
  readonly streamId: string
}

export interface ChangeBatch {
  readonly changes: readonly ReceivedChange[]
  /** True when the cursor fell out of the trimmed stream: changes were missed, resync. */
  readonly gap: boolean
  readonly cursor: string
}

/**
 * Stream ids of entries one publish appended back to back: its first and last entry, with nothing
 * else in between.
 */
export type AppendedRun = readonly [first: string, last: string]

export interface ChangePublisher {
  /**
   * Appends `entries` in order. May answer the runs they landed in (oldest first), so a feed of the
   * same process can pass over them (`ChangeFeed.passOver`) instead of reading its own entries back.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: publishers written as `Promise<void>` stay valid
  publish(entries: readonly ChangeEntry[]): Promise<void | readonly AppendedRun[]>
}

/** A consumer of the change stream with its own cursor. */
export interface ChangeFeed {
  readonly cursor: string
  /** Waits up to `blockMs` for changes after the cursor and advances it. */
  read(options?: { count?: number; blockMs?: number }): Promise<ChangeBatch>
  /**
   * Optional: entries in these runs are never returned; the cursor moves past a run without reading
   * it (a process's own entries, which its coherence reader would only skip). Given a publish still
   * in flight, the feed waits for it before its next read, so it never reads that publish back.
   */
  passOver?(runs: readonly AppendedRun[] | PromiseLike<unknown>): void
  close(): Promise<void>
}
