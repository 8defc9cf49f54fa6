import {
  BackendUnavailableError,
  CorruptDataError,
  checkPrefix,
  type GetManyResult,
  type HealthProbe,
  InvalidArgumentError,
  type ItemRecord,
  type L3PutOptions,
  type L3Store,
  type LeafRecord,
  type Logger,
  MAX_PAYLOAD_BYTES,
  type MerkleNode,
  type MerkleNodeStore,
  type MerkleTreeWrites,
  type PageOptions,
  type Partition,
  PartitionRoutes,
  type PutOutcome,
  redactUrl,
  type SyncItem,
  validateId,
  validateState,
} from '@sync-engine/core'
import {
  applyMerkleBatch,
  compareSegments,
  type MerkleOp,
  merkleNodesOf,
  NO_TREE_WRITES,
  treeWritesOf,
} from '@sync-engine/merkle'
import mysql, { type PoolOptions } from 'mysql2/promise'
import { inPieces, rowPieces } from './chunks.js'
import { Database, type Executor, type Session } from './db.js'
import { type Filter, ItemSql } from './item-sql.js'
import { type Helper, type KnownNodes, MysqlMerkleNodeStore, NodeSql } from './node-store.js'
import { type MysqlL3StoreOptions, type ResolvedOptions, resolveOptions } from './options.js'
import {
  decodeLeaf,
  decodeRow,
  type EncodedRow,
  encodeRow,
  isLean,
  payloadLimit,
  rowParams,
  type StoredRow,
} from './rows.js'
import { itemsTableDdl, migrate, PARTITIONS_TABLE, SCHEMA_TABLE, SCHEMA_VERSION } from './schema.js'
import { checkIdentifier, likePrefix, lockName, quote } from './sql.js'

/** Room left in a packet for the statement header and parameter types. */
const PACKET_MARGIN_BYTES = 256 * 1024
/** No-pad binary collations, preferred in this order (MariaDB, MySQL 8); `utf8mb4_bin` pads spaces. */
const COLLATIONS = ['utf8mb4_nopad_bin', 'utf8mb4_0900_bin']

/** MariaDB ≥ 10.5 (`VERSION()` like `10.11.19-MariaDB-…`) has `INSERT … RETURNING`; MySQL has not. */
function supportsReturning(server: string): boolean {
  const [major = 0, minor = 0] = server.split('.', 2).map(Number)
  return /mariadb/i.test(server) && (major > 10 || (major === 10 && minor >= 5))
}

/** What `connect()` learned about the server. */
interface Connected {
  readonly db: Database
  readonly database: string
  readonly server: string
  readonly collation: string
  readonly maxAllowedPacket: number
  /** Byte budget of one statement's parameters. */
  readonly statementBytes: number
  /** `INSERT … RETURNING` works (MariaDB ≥ 10.5): putBatch writes optimistically (see `#put`). */
  readonly returning: boolean
  /** Largest payload a row may carry here. */
  readonly payloadBytes: number
  /** `GET_LOCK` name serializing the store's leaf-changing writes (and the Merkle tree) across processes. */
  readonly lock: string
  readonly schemaLock: string
}

interface Stored {
  readonly version: number
  readonly updatedAt: number
}

/** A row of `versions`. */
interface VersionRow {
  id: string
  version: number
  timestamp: number
}

/** Rows to upsert, per items table. */
type Writes = readonly (readonly [ItemSql, readonly EncodedRow[]])[]

/** What a putBatch writes: the rows per table, and all of them (the tree's leaves). */
interface Decided {
  readonly writes: Writes
  readonly leaves: EncodedRow[]
}

/** How a putBatch attempt decides and writes (see `#put`). */
type WriteWay = 'inline' | 'locking' | 'optimistic'

/** What the side transactions of a putBatch did to the tree (see `#beside`). */
type BesideOutcome = 'applied' | 'unchanged' | 'left'

/** A putBatch's valid rows: one candidate per id, grouped by table, and the outcomes to fill. */
interface Batch {
  readonly groups: ReadonlyMap<string, EncodedRow[]>
  readonly candidates: ReadonlyMap<string, EncodedRow>
  readonly outcomes: PutOutcome[]
  /** The tree writes of the attempt (`null`: the tree was not kept, or rebuilt); set by `#put`. */
  tree?: MerkleTreeWrites | null | undefined
}

/** An optimistic putBatch found a row written around the store lock (see `#put`); never escapes. */
const LOST_RACE = new Error('a row changed outside the store lock')

interface Deferred<T> {
  readonly promise: Promise<T>
  readonly resolve: (value: T) => void
  readonly reject: (error: unknown) => void
}

/** A promise settled from outside; a rejection nobody awaits yet is not reported as unhandled. */
function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  promise.catch(() => {})
  return { promise, resolve, reject }
}

const SUPERSEDED = 'superseded by a newer row with the same id in this batch'

function checkLimit(limit: unknown, argument = 'limit'): number {
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1) {
    throw new InvalidArgumentError(argument, `${argument} must be an integer ≥ 1, got ${String(limit)}`)
  }
  return limit
}

function checkAfter(afterId: unknown): string {
  if (afterId === undefined) return ''
  if (typeof afterId !== 'string') {
    throw new InvalidArgumentError('afterId', `afterId must be a string, got ${typeof afterId}`)
  }
  return afterId
}

function checkPage(page: PageOptions | undefined): { after: string; limit: number | undefined } {
  if (page === undefined) return { after: '', limit: undefined }
  if (page === null || typeof page !== 'object') {
    throw new InvalidArgumentError('page', 'page must be an object { afterId?, limit? }')
  }
  return {
    after: checkAfter(page.afterId),
    limit: page.limit === undefined ? undefined : checkLimit(page.limit),
  }
}

/** Valid, distinct ids in input order. */
function distinctIds(ids: readonly string[]): string[] {
  if (!Array.isArray(ids)) throw new InvalidArgumentError('ids', 'ids must be an array of ids')
  const seen = new Set<string>()
  for (const id of ids) seen.add(validateId(id))
  return [...seen]
}

/** Sorted lists merged into one in UTF-8 byte order, cut at `limit`. */
function mergeSorted(lists: string[][], limit: number | undefined): string[] {
  if (lists.length === 1) return lists[0]!
  const all = lists.flat().sort(compareSegments)
  return limit === undefined ? all : all.slice(0, limit)
}

/** Waits for every promise; then throws the first failure, if any (nothing is left running). */
async function settled(...work: Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(work)).find((r) => r.status === 'rejected')
  if (failed) throw (failed as PromiseRejectedResult).reason
}

function isNewer(row: Stored, than: Stored | undefined): boolean {
  return (
    than === undefined ||
    row.version > than.version ||
    (row.version === than.version && row.updatedAt >= than.updatedAt)
  )
}

/**
 * The L3 ground truth on MySQL/MariaDB (SPEC §5.2): version-guarded chunked upserts with per-row
 * outcomes, keyset scans, state and prefix operations, prefix → table partitions, and the Merkle
 * tree (SPEC §6) kept in `merkle_nodes` in the same transaction as the rows.
 *
 * Every mutation that changes leaves (`putBatch`, `deleteBatch`, `deleteByState`, `deletePrefix`)
 * runs in one transaction under the store's named lock (`GET_LOCK('<db>.<table>.merkle')`), so writers
 * in several processes are serialized: each reads the stored versions (`SELECT … FOR UPDATE`), decides
 * every row's outcome, writes the rows that win and applies exactly those leaves to the tree, then
 * commits and releases the lock. The root is therefore the one a single writer would compute.
 */
export class MysqlL3Store implements L3Store {
  readonly name: string
  /** The Merkle nodes, for reading (`getNodes`, `getChildren`); the store writes them itself. */
  readonly merkle: MerkleNodeStore
  readonly #options: ResolvedOptions
  readonly #logger: Logger
  #partitions: PartitionRoutes
  readonly #itemSql = new Map<string, ItemSql>()
  readonly #nodeSql: NodeSql
  #connected: Connected | undefined
  #connecting: Promise<void> | undefined

  constructor(options: MysqlL3StoreOptions) {
    this.#options = resolveOptions(options)
    this.name = this.#options.name
    this.#logger = this.#options.logger
    this.#partitions = new PartitionRoutes(this.#options.table)
    this.#nodeSql = new NodeSql(this.#options.merkleTable)
    const reader = (): MysqlMerkleNodeStore => this.#nodes(this.#state().db)
    this.merkle = {
      getNodes: async (paths) => reader().getNodes(paths),
      getChildren: async (parents) => reader().getChildren(parents),
      writeNodes: async () => {
        throw new InvalidArgumentError(
          'merkle',
          'the Merkle tree of an L3 store is written by the store itself, with its rows',
        )
      },
    }
  }

  get connected(): boolean {
    return this.#connected !== undefined
  }

  /** Whether this store keeps the Merkle tree (`merkle` option). */
  get merkleEnabled(): boolean {
    return this.#options.merkle
  }

  /** Where the store connects, password redacted. */
  get where(): string {
    const { url, pool } = this.#options
    if (url !== undefined) return redactUrl(url)
    return `mysql://${pool?.user ?? ''}@${pool?.host ?? 'localhost'}:${pool?.port ?? 3306}/${pool?.database ?? ''}`
  }

  /** Opens the pool, checks the server, runs migrations and loads the partition registry. Idempotent. */
  async connect(): Promise<void> {
    if (this.#connected) return
    // Concurrent calls share one attempt (one pool).
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = undefined
    })
    return this.#connecting
  }

  async #open(): Promise<void> {
    const o = this.#options
    const poolOptions: PoolOptions = {
      ...(o.url === undefined ? o.pool : { uri: o.url }),
      connectionLimit: o.connectionLimit,
      charset: 'UTF8MB4_BIN',
      supportBigNumbers: true,
      bigNumberStrings: false,
      maxPreparedStatements: 512,
      multipleStatements: false,
      namedPlaceholders: false,
      enableKeepAlive: true,
      // mysql2 records the caller's stack for every statement, for its error messages; ours name the
      // statement and the store instead (~10 ms of CPU per 10k-item flush, ~250 statements).
      trace: false,
    }
    const pool = mysql.createPool(poolOptions)
    const side = () => mysql.createPool({ ...poolOptions, connectionLimit: 2 })
    const db = new Database(
      pool,
      {
        queryTimeoutMs: o.queryTimeoutMs,
        lockTimeoutSeconds: o.lockTimeoutSeconds,
        retries: o.retries,
        logger: this.#logger,
        where: this.where,
      },
      side,
    )
    try {
      const connected = await this.#probe(db)
      const report = await db.session(async (s) => {
        const names = { items: o.table, merkle: o.merkleTable, collation: connected.collation }
        const migrated = await migrate(s, names, connected.database)
        await this.#loadPartitions(s)
        return migrated
      }, connected.schemaLock)
      this.#connected = connected
      this.#logger.info(
        {
          url: this.where,
          server: connected.server,
          database: connected.database,
          table: o.table,
          schema: report,
          partitions: this.#partitions.partitions.length,
          merkle: o.merkle,
        },
        'mysql-tier connected',
      )
    } catch (error) {
      await db.end().catch(() => {})
      throw error
    }
  }

  async #probe(db: Database): Promise<Connected> {
    return db.session(async (s) => {
      const [info] = await s.query<{ server: string; database: string | null; packet: number }[]>(
        'SELECT VERSION() AS server, DATABASE() AS `database`, @@max_allowed_packet AS packet',
      )
      if (!info?.database) {
        throw new InvalidArgumentError('url', `no database selected: name one in the URL (${this.where})`)
      }
      const found = await s.execute<{ name: string }[]>(
        `SELECT COLLATION_NAME AS name FROM information_schema.COLLATIONS WHERE COLLATION_NAME IN (${COLLATIONS.map(() => '?').join(',')})`,
        COLLATIONS,
      )
      const names = new Set(found.map((r) => r.name))
      const collation = COLLATIONS.find((c) => names.has(c))
      if (collation === undefined) {
        this.#logger.warn(
          { server: info.server },
          'mysql-tier: no no-pad binary utf8mb4 collation; ids differing only by trailing spaces collide',
        )
      }
      const maxAllowedPacket = Number(info.packet)
      const statementBytes = Math.max(64 * 1024, maxAllowedPacket - PACKET_MARGIN_BYTES)
      const { table } = this.#options
      return {
        db,
        database: info.database,
        server: info.server,
        collation: collation ?? 'utf8mb4_bin',
        maxAllowedPacket,
        statementBytes,
        returning: supportsReturning(info.server),
        payloadBytes: payloadLimit(statementBytes, MAX_PAYLOAD_BYTES),
        lock: lockName(info.database, table, 'merkle'),
        schemaLock: lockName(info.database, table, 'schema'),
      }
    })
  }

  /** Closes the pool. Idempotent; the store can `connect()` again. */
  async close(): Promise<void> {
    const connected = this.#connected
    this.#connected = undefined
    if (connected) await connected.db.end()
  }

  async health(timeoutMs = 2000): Promise<HealthProbe> {
    const started = performance.now()
    const latencyMs = () => Math.round((performance.now() - started) * 100) / 100
    const connected = this.#connected
    if (!connected) return { ok: false, latencyMs: 0, error: 'not connected' }
    let timer: NodeJS.Timeout | undefined
    try {
      const probe = connected.db.pool.query({ sql: 'SELECT 1 AS ok', timeout: timeoutMs })
      probe.catch(() => {}) // answered (or not) after the timer: nothing left to report
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
      })
      await Promise.race([probe, late])
      return {
        ok: true,
        latencyMs: latencyMs(),
        details: {
          server: connected.server,
          database: connected.database,
          table: this.#options.table,
          schemaVersion: SCHEMA_VERSION,
          collation: connected.collation,
          maxAllowedPacket: connected.maxAllowedPacket,
          merkle: this.#options.merkle,
          partitions: this.#partitions.partitions.length,
        },
      }
    } catch (error) {
      return {
        ok: false,
        latencyMs: latencyMs(),
        error: error instanceof Error ? error.message : String(error),
      }
    } finally {
      clearTimeout(timer)
    }
  }

  // ── writes ─────────────────────────────────────────────────────────────────────────────────────

  /**
   * Version-guarded upsert with one outcome per row, in input order: `rejected` (invalid; `reason`
   * says why; the rest of the batch still lands), `stale` (the stored `(version, updatedAt)` is newer)
   * or `written` (`created` when the id was new). When an id appears more than once, the row with the
   * greatest `(version, updatedAt)` (the later one on a tie) is the one written; the others are `stale`.
   */
  async putBatch(rows: readonly ItemRecord[], options: L3PutOptions = {}): Promise<PutOutcome[]> {
    const state = this.#state()
    if (!Array.isArray(rows)) throw new InvalidArgumentError('rows', 'rows must be an array of item records')
    const outcomes = new Array<PutOutcome>(rows.length)
    const candidates = new Map<string, EncodedRow>()
    rows.forEach((row, index) => {
      const encoded = encodeRow(row, index, state.payloadBytes)
      if (typeof encoded === 'string') {
        outcomes[index] = {
          id: String((row as Partial<ItemRecord> | null)?.id),
          status: 'rejected',
          reason: encoded,
        }
        return
      }
      const current = candidates.get(encoded.id)
      const loser = current === undefined || isNewer(encoded, current) ? current : encoded
      if (loser !== encoded) candidates.set(encoded.id, encoded)
      if (loser) outcomes[loser.index] = { id: loser.id, status: 'stale', reason: SUPERSEDED }
    })
    if (candidates.size === 0) return outcomes
    const groups = this.#partitions.group([...candidates.values()], (r) => r.id)
    const batch: Batch = { groups, candidates, outcomes }
    // Outcomes of the candidates are (re)decided inside the transaction: a retried attempt overwrites them.
    const attempt = (way: WriteWay) => state.db.transaction((tx) => this.#put(tx, batch, way), state.lock)
    if (candidates.size < this.#options.overlapMinRows) await attempt('inline')
    else {
      try {
        await attempt(state.returning ? 'optimistic' : 'locking')
      } catch (error) {
        if (error !== LOST_RACE) throw error
        this.#logger.warn(
          { store: this.#options.table },
          'mysql-tier: rows changed by a writer outside the store lock; putBatch retried with locking reads',
        )
        await attempt('locking')
      }
    }
    options.onMerkleChanges?.(batch.tree ?? null)
    return outcomes
  }

  /**
   * One attempt of a `putBatch` in `tx`, the store lock held. `inline` (fewer rows than
   * `overlapMinRows`; measured here with the tree, per batch: 1 row 3.0 ms inline vs 4.4 ms
   * overlapped, 200 rows 12.2 vs 14.3 ms, 500 rows 21.7 vs 20.6 ms, 1000 rows 34–36 vs 27–31 ms): the stored
   * versions are read (`FOR UPDATE`), the rows found newer written, then the tree brought up to date,
   * one after the other in `tx` (the fewest round trips and commits). A large batch writes its tree
   * beside the rows (`#beside`), after deciding which candidates are newer than the stored rows one of
   * two ways:
   * - locking (any server): the stored versions are read here (`FOR UPDATE`), then the rows found
   *   newer are written;
   * - optimistic (`RETURNING`, MariaDB ≥ 10.5): the versions are read beside, on a side connection,
   *   while every candidate is written at once — the statement's version guard keeps newer rows, and
   *   reports each row's stored version. Every store writer holds the store lock, so the two agree;
   *   when a row disagrees (written around the store), the attempt rolls back with `LOST_RACE` and is
   *   retried the locking way.
   */
  async #put(tx: Session, batch: Batch, way: WriteWay): Promise<void> {
    batch.tree = undefined
    if (way === 'inline') {
      const { writes, leaves } = await this.#decide(tx, batch, true)
      await this.#upsertRows(tx, writes)
      batch.tree = await this.#applyLeaves(tx, leaves)
      return
    }
    const optimistic = way === 'optimistic'
    const decision = deferred<Decided>()
    let rows: Promise<void>
    if (optimistic) {
      rows = (async () => {
        const landed = new Uint8Array(batch.outcomes.length)
        const all = [...batch.groups].map(([table, group]): Writes[number] => [this.#items(table), group])
        await this.#upsertRows(tx, all, landed)
        const { outcomes, candidates } = batch
        await decision.promise
        for (const row of candidates.values()) {
          if ((outcomes[row.index]?.status === 'written') !== (landed[row.index] === 1)) throw LOST_RACE
        }
      })()
    } else {
      this.#decide(tx, batch, true).then(decision.resolve, decision.reject)
      rows = decision.promise.then(({ writes }) => this.#upsertRows(tx, writes))
    }
    const beside =
      optimistic || this.#options.merkle
        ? this.#beside(
            batch,
            optimistic ? (side) => this.#decide(side, batch, false) : undefined,
            decision,
            rows,
          )
        : undefined
    await settled(rows, beside ?? rows)
    const done = await beside
    if (done === 'applied') await this.#setMerkleStale(tx, false)
    else if (done === 'unchanged') batch.tree = NO_TREE_WRITES
    // No tree kept (marks it stale), or a stale one (rebuilt from the rows, these included).
    else batch.tree = await this.#applyLeaves(tx, (await decision.promise).leaves)
  }

  /**
   * Reads the stored versions of the candidates (with `lock`, locked until the transaction ends) and
   * decides each one's outcome: the rows to write, per table.
   */
  async #decide(exec: Executor, batch: Batch, lock: boolean): Promise<Decided> {
    const { groups, candidates, outcomes } = batch
    const writes: [ItemSql, EncodedRow[]][] = []
    const stored = new Uint8Array(outcomes.length)
    for (const [table, group] of groups) {
      const sql = this.#items(table)
      const written: EncodedRow[] = []
      // Ids are distinct here (one candidate per id).
      for (const piece of inPieces(group.map((r) => r.id))) {
        const found = await exec.execute<VersionRow[]>(sql.versions(piece.length, lock), piece)
        for (const { id, version, timestamp } of found) {
          const row = candidates.get(id)
          if (row === undefined) continue
          stored[row.index] = 1
          const current = { version: Number(version), updatedAt: Number(timestamp) }
          if (isNewer(row, current)) {
            written.push(row)
            outcomes[row.index] = { id, status: 'written', created: false }
          } else {
            const reason = `stored (version ${current.version}, updatedAt ${current.updatedAt}) is newer`
            outcomes[row.index] = { id, status: 'stale', reason }
          }
        }
      }
      for (const row of group) {
        if (stored[row.index] === 1) continue
        written.push(row)
        outcomes[row.index] = { id: row.id, status: 'written', created: true }
      }
      writes.push([sql, written])
    }
    return { writes, leaves: writes.flatMap(([, written]) => written) }
  }

  /**
   * Upserts the rows of each table of `writes` (version-guarded). Most rows bind 6 values instead of
   * 10 (`isLean`): ~20 % less work per row for MariaDB. With `landed`, each statement returns the
   * stored `(version, timestamp)` of its rows, in order, and `landed[row.index]` is set to 1 for each
   * row that is now stored.
   */
  async #upsertRows(tx: Session, writes: Writes, landed?: Uint8Array): Promise<void> {
    const statementBytes = this.#state().statementBytes
    const returning = landed !== undefined
    for (const [sql, rows] of writes) {
      for (const lean of [true, false]) {
        const group = rows.filter((r) => isLean(r) === lean)
        for (const piece of rowPieces(group, statementBytes, (r) => r.bytes)) {
          const result = await tx.execute<VersionRow[]>(
            lean ? sql.upsertLean(piece.length, returning) : sql.upsert(piece.length, returning),
            rowParams(piece, lean),
          )
          if (!landed) continue
          piece.forEach((row, i) => {
            const stored = result[i]
            if (
              stored &&
              Number(stored.version) === row.version &&
              Number(stored.timestamp) === row.updatedAt
            )
              landed[row.index] = 1
          })
        }
      }
    }
  }

  /**
   * The tree's half of a `putBatch`, beside the rows: two transactions of their own on the side
   * connections (only holders of the store lock write `merkle_nodes`, and the caller holds it).
   * The first makes the `decision` when given `decide` (optimistic writes, see `#put`), then applies
   * the leaves the decision writes; the second reads the candidates' nodes meanwhile, and takes half
   * of the node upserts. Each commits only once the `rows` are written, marking the tree stale in that
   * commit (the second first: they mark the same row); the rows' transaction clears the mark in its
   * own (`applied`). A crash between the commits leaves the mark, and the next holder of the lock
   * rebuilds the tree from the rows. A failure of any of them rolls back what is not committed.
   * `unchanged`: no leaf was written; `left`: no tree kept, or a stale one — the caller brings it up
   * to date with its rows.
   */
  async #beside(
    batch: Batch,
    decide: ((side: Session) => Promise<Decided>) | undefined,
    decision: Deferred<Decided>,
    rows: Promise<void>,
  ): Promise<BesideOutcome> {
    const state = this.#state()
    const nodesOf = deferred<Map<string, MerkleNode>>()
    const share = deferred<((exec: Executor) => Promise<void>) | null>()
    const second = this.#options.merkle
      ? state.db.sideTransaction(async (side) => {
          await this.#nodes(side)
            .getNodes([...batch.candidates.keys()])
            .then(nodesOf.resolve, nodesOf.reject)
          const work = await share.promise
          if (work === null) return
          await work(side)
          await rows
          await this.#setMerkleStale(side, true)
        })
      : undefined
    second?.catch(nodesOf.reject)
    const first = state.db.sideTransaction(async (side): Promise<BesideOutcome> => {
      const tree = this.#options.merkle && !(await this.#merkleStale(side))
      if (decide) await decide(side).then(decision.resolve, decision.reject)
      const { leaves } = await decision.promise
      if (leaves.length === 0) return 'unchanged'
      if (!tree) return 'left'
      const found = await nodesOf.promise
      const known: KnownNodes = (path) => found.get(path) ?? (batch.candidates.has(path) ? null : undefined)
      const helper: Helper = (work) => {
        share.resolve(work)
        return second!
      }
      batch.tree = treeWritesOf(
        await applyMerkleBatch(
          new MysqlMerkleNodeStore(side, this.#nodeSql, state.statementBytes, known, helper),
          leaves,
        ),
      )
      share.resolve(null)
      await second
      await rows
      await this.#setMerkleStale(side, true)
      return 'applied'
    })
    // A first half that failed before deciding must not leave the rows waiting for the decision, nor
    // the second waiting for its share.
    first.catch(decision.reject)
    const release = () => share.resolve(null)
    first.then(release, release)
    await settled(first, second ?? first)
    return first
  }

  /** Deletes ids; resolves with those that existed (input order). */
  async deleteBatch(ids: readonly string[]): Promise<string[]> {
    const state = this.#state()
    const unique = distinctIds(ids)
    if (unique.length === 0) return []
    const existed = await state.db.transaction(async (tx) => {
      const found = new Set<string>()
      for (const [table, group] of this.#partitions.group(unique, (id) => id)) {
        const sql = this.#items(table)
        const present = await this.#selectIds(tx, sql.idsForUpdate, group)
        await this.#removeIds(tx, sql, present)
        for (const id of present) found.add(id)
      }
      await this.#removeLeaves(tx, found)
      return found
    }, state.lock)
    return unique.filter((id) => existed.has(id))
  }

  /** Sets the state of existing ids; resolves with the ids whose state changed. The tree is untouched. */
  async setState(ids: readonly string[], newState: string): Promise<string[]> {
    const state = this.#state()
    validateState(newState)
    const unique = distinctIds(ids)
    if (unique.length === 0) return []
    const changed = await state.db.transaction(async (tx) => {
      const found = new Set<string>()
      for (const [table, group] of this.#partitions.group(unique, (id) => id)) {
        const sql = this.#items(table)
        const differ = await this.#selectIds(tx, sql.otherStateForUpdate, group, [newState])
        for (const piece of inPieces(differ))
          await tx.execute(sql.setState(piece.length), [newState, ...piece])
        for (const id of differ) found.add(id)
      }
      return found
    })
    return unique.filter((id) => changed.has(id))
  }

  async deleteByState(state: string): Promise<string[]> {
    validateState(state)
    return this.#deleteMatching('state', [state], this.#partitions.tables)
  }

  async deletePrefix(prefix: string): Promise<string[]> {
    checkPrefix(prefix)
    return this.#deleteMatching('prefix', [likePrefix(prefix)], this.#partitions.tablesFor(prefix))
  }

  /** Deletes every row matching the filter in `tables` (by id, as locked), with their leaves. */
  async #deleteMatching(
    filter: Filter,
    params: readonly unknown[],
    tables: readonly string[],
  ): Promise<string[]> {
    const state = this.#state()
    return state.db.transaction(async (tx) => {
      const deleted: string[][] = []
      for (const table of tables) {
        const sql = this.#items(table)
        const ids = (await tx.execute<{ id: string }[]>(sql.matchingForUpdate(filter), params)).map(
          (r) => r.id,
        )
        await this.#removeIds(tx, sql, ids)
        deleted.push(ids)
      }
      const all = mergeSorted(deleted, undefined)
      await this.#removeLeaves(tx, all)
      return all
    }, state.lock)
  }

  // ── reads ──────────────────────────────────────────────────────────────────────────────────────

  async get(id: string): Promise<SyncItem | undefined> {
    const { items, errors } = await this.getMany([id])
    const error = errors.get(id)
    if (error) throw error
    return items.get(id)
  }

  /** The items found, one statement per table and 2048 ids; corrupt rows are in `errors`, the rest answer. */
  async getMany(ids: readonly string[]): Promise<GetManyResult> {
    const state = this.#state()
    const unique = distinctIds(ids)
    const items = new Map<string, SyncItem>()
    const errors = new Map<string, Error>()
    if (unique.length === 0) return { items, errors }
    await state.db.session(async (s) => {
      for (const [table, group] of this.#partitions.group(unique, (id) => id)) {
        const sql = this.#items(table)
        for (const piece of inPieces(group)) {
          for (const row of await s.execute<StoredRow[]>(sql.rows(piece.length), piece)) {
            const id = row.id as string
            try {
              items.set(id, decodeRow(row, this.#location(table, id)))
            } catch (error) {
              errors.set(id, error as Error)
            }
          }
        }
      }
    })
    return { items, errors }
  }

  async exists(id: string): Promise<boolean> {
    const state = this.#state()
    validateId(id)
    const rows = await state.db.execute<unknown[]>(this.#items(this.#partitions.route(id)).exists, [id])
    return rows.length > 0
  }

  async count(): Promise<number> {
    return this.#count('all', [], this.#partitions.tables)
  }

  async countByState(state: string): Promise<number> {
    validateState(state)
    return this.#count('state', [state], this.#partitions.tables)
  }

  async countPrefix(prefix: string): Promise<number> {
    checkPrefix(prefix)
    return this.#count('prefix', [likePrefix(prefix)], this.#partitions.tablesFor(prefix))
  }

  async scanIds(afterId: string | undefined, limit: number): Promise<string[]> {
    return this.#page('all', [], this.#partitions.tables, {
      after: checkAfter(afterId),
      limit: checkLimit(limit),
    })
  }

  async byState(state: string, page?: PageOptions): Promise<string[]> {
    validateState(state)
    return this.#page('state', [state], this.#partitions.tables, checkPage(page))
  }

  async scanPrefix(prefix: string, page?: PageOptions): Promise<string[]> {
    checkPrefix(prefix)
    return this.#page('prefix', [likePrefix(prefix)], this.#partitions.tablesFor(prefix), checkPage(page))
  }

  /** Keyset-paginated `(id, version, contentHash)` over every table, ascending in byte order. */
  async scanLeaves(afterId: string | undefined, limit: number): Promise<LeafRecord[]> {
    const state = this.#state()
    const after = checkAfter(afterId)
    checkLimit(limit)
    return state.db.session((s) => this.#leaves(s, after, limit))
  }

  async #leaves(s: Executor, after: string, limit: number): Promise<LeafRecord[]> {
    const lists: LeafRecord[][] = []
    for (const table of this.#partitions.tables) {
      const rows = await s.execute<{ id: string; version: unknown; payload_hash: unknown }[]>(
        this.#items(table).leaves,
        [after, limit],
      )
      lists.push(
        rows.map((r) => {
          try {
            return decodeLeaf(r)
          } catch (error) {
            throw new CorruptDataError(this.#location(table, r.id), (error as Error).message, {
              cause: error,
            })
          }
        }),
      )
    }
    if (lists.length === 1) return lists[0]!
    return lists
      .flat()
      .sort((a, b) => compareSegments(a.id, b.id))
      .slice(0, limit)
  }

  /**
   * Root hash of the tree over every row (`null` when empty). A tree marked stale by a `merkle: false`
   * store is rebuilt first. A store opened with `merkle: false` keeps no tree and answers `null`.
   */
  async merkleRoot(): Promise<string | null> {
    const state = this.#state()
    if (!this.#options.merkle) return null
    const root = async (exec: Executor) => (await this.#nodes(exec).getNodes([''])).get('')?.hash ?? null
    if (!(await this.#merkleStale(state.db))) return root(state.db)
    // Marked stale: by a writer still committing (gone once we hold the lock), or for good.
    return state.db.transaction(
      async (tx) => ((await this.#merkleStale(tx)) ? this.#rebuild(tx) : root(tx)),
      state.lock,
    )
  }

  /**
   * Recomputes the whole tree from the rows (under the lock, in one transaction) and returns the
   * root: after writes by a `merkle: false` store, or as a repair. Holds every leaf in memory.
   */
  async rebuildMerkle(): Promise<string | null> {
    const state = this.#state()
    if (!this.#options.merkle)
      throw new InvalidArgumentError('merkle', 'this store was opened with merkle: false')
    return state.db.transaction((tx) => this.#rebuild(tx), state.lock)
  }

  // ── partitions ─────────────────────────────────────────────────────────────────────────────────

  /**
   * Routes ids starting with `prefix` to `table` (created like the items table): every operation on
   * such an id uses that table, the longest registered prefix winning. Persisted in
   * `sync_engine_partitions` and loaded by `connect()`. Rows already stored under the prefix move to
   * the new table in the same transaction; the Merkle tree (one per store) does not change. Other
   * processes pick the route up when they connect (or call `reloadPartitions()`): register
   * partitions before writing.
   */
  async registerPartition(prefix: string, table: string): Promise<void> {
    const state = this.#state()
    checkPrefix(prefix)
    checkIdentifier(table, 'table')
    const { merkleTable } = this.#options
    if (table === merkleTable || table === SCHEMA_TABLE || table === PARTITIONS_TABLE) {
      throw new InvalidArgumentError('table', `table '${table}' is one of the store's own tables`)
    }
    if (this.#partitions.partitions.some((p) => p.prefix === prefix && p.table === table)) return
    // DDL commits on its own: create the table first, then move rows and register in one transaction.
    await state.db.session((s) => s.query(itemsTableDdl(table, state.collation)), state.lock)
    const next = this.#partitions.with({ prefix, table })
    await state.db.transaction(async (tx) => {
      for (const source of this.#partitions.tablesFor(prefix)) {
        if (source === table) continue
        const sql = this.#items(source)
        const rows = await tx.execute<{ id: string }[]>(sql.matchingForUpdate('prefix'), [likePrefix(prefix)])
        const moving = rows.map((r) => r.id).filter((id) => next.route(id) === table)
        for (const piece of inPieces(moving)) {
          await tx.execute(this.#items(table).copyFrom(source, piece.length), piece)
        }
        await this.#removeIds(tx, sql, moving)
      }
      await tx.execute(
        `INSERT INTO ${quote(PARTITIONS_TABLE)} (store, prefix, table_name, created_at) VALUES (?, ?, ?, ?) ` +
          'ON DUPLICATE KEY UPDATE table_name = VALUES(table_name)',
        [this.#options.table, prefix, table, Date.now()],
      )
    }, state.lock)
    this.#partitions = next
  }

  /** The registered partitions, longest prefix first. */
  get partitions(): readonly Partition[] {
    return this.#partitions.partitions
  }

  /** Reloads the routes from the registry (after another process registered one). */
  async reloadPartitions(): Promise<void> {
    await this.#state().db.session((s) => this.#loadPartitions(s))
  }

  async #loadPartitions(s: Session): Promise<void> {
    const rows = await s.execute<{ prefix: string; table_name: string }[]>(
      `SELECT prefix, table_name FROM ${quote(PARTITIONS_TABLE)} WHERE store = ?`,
      [this.#options.table],
    )
    const partitions = rows.map(({ prefix, table_name }) => {
      try {
        return { prefix: checkPrefix(prefix), table: checkIdentifier(table_name, 'table') }
      } catch (error) {
        throw new CorruptDataError(
          `${PARTITIONS_TABLE} prefix ${JSON.stringify(prefix)}`,
          (error as Error).message,
        )
      }
    })
    this.#partitions = new PartitionRoutes(this.#options.table, partitions)
  }

  // ── helpers ────────────────────────────────────────────────────────────────────────────────────

  #state(): Connected {
    if (!this.#connected) {
      throw new BackendUnavailableError('mysql', `not connected (${this.where}): call connect() first`)
    }
    return this.#connected
  }

  #items(table: string): ItemSql {
    let sql = this.#itemSql.get(table)
    if (!sql) {
      sql = new ItemSql(table)
      this.#itemSql.set(table, sql)
    }
    return sql
  }

  #nodes(exec: Executor): MysqlMerkleNodeStore {
    return new MysqlMerkleNodeStore(exec, this.#nodeSql, this.#state().statementBytes)
  }

  #location(table: string, id: string): string {
    return `${this.#connected?.database}.${table} id ${JSON.stringify(id)}`
  }

  /** The ids of `ids` that `statement` returns (run per `IN` piece, `before` bound first). */
  async #selectIds(
    tx: Executor,
    statement: (size: number) => string,
    ids: readonly string[],
    before: readonly unknown[] = [],
  ): Promise<string[]> {
    const out: string[] = []
    for (const piece of inPieces(ids)) {
      for (const r of await tx.execute<{ id: string }[]>(statement(piece.length), [...before, ...piece])) {
        out.push(r.id)
      }
    }
    return out
  }

  async #removeIds(tx: Executor, sql: ItemSql, ids: readonly string[]): Promise<void> {
    for (const piece of inPieces(ids)) await tx.execute(sql.remove(piece.length), piece)
  }

  async #removeLeaves(tx: Executor, ids: Iterable<string>): Promise<void> {
    const ops: MerkleOp[] = []
    for (const id of ids) ops.push({ op: 'delete', id })
    await this.#applyLeaves(tx, ops)
  }

  /**
   * Brings the tree up to date with the rows this transaction changed (`ops`, the leaves really
   * written or deleted), in the same transaction. A store without the tree marks it stale instead; a
   * store with the tree that finds it stale rebuilds it from the rows (which include this
   * transaction's changes). Resolves with the tree writes made, or `null` when the tree is not kept
   * or was rebuilt.
   */
  async #applyLeaves(tx: Executor, ops: readonly MerkleOp[]): Promise<MerkleTreeWrites | null> {
    if (ops.length === 0) return NO_TREE_WRITES
    if (!this.#options.merkle) await this.#setMerkleStale(tx, true)
    else if (await this.#merkleStale(tx)) await this.#rebuild(tx)
    else return treeWritesOf(await applyMerkleBatch(this.#nodes(tx), ops))
    return null
  }

  async #setMerkleStale(exec: Executor, stale: boolean): Promise<void> {
    await exec.execute(
      `UPDATE ${quote(SCHEMA_TABLE)} SET merkle_stale = ? WHERE store = ? AND merkle_stale <> ?`,
      [stale ? 1 : 0, this.#options.table, stale ? 1 : 0],
    )
  }

  async #merkleStale(exec: Executor): Promise<boolean> {
    const rows = await exec.execute<{ stale: number }[]>(
      `SELECT merkle_stale AS stale FROM ${quote(SCHEMA_TABLE)} WHERE store = ?`,
      [this.#options.table],
    )
    return rows[0]?.stale === 1
  }

  /** Rewrites the whole tree from the rows and clears the stale mark; returns the root. */
  async #rebuild(tx: Executor): Promise<string | null> {
    const leaves: LeafRecord[] = []
    for (;;) {
      const page = await this.#leaves(tx, leaves[leaves.length - 1]?.id ?? '', 10_000)
      if (page.length === 0) break
      leaves.push(...page)
    }
    await tx.execute(`DELETE FROM ${quote(this.#options.merkleTable)}`, [])
    const nodes = merkleNodesOf(leaves)
    await this.#nodes(tx).writeNodes({ upsert: [...nodes.values()], delete: [] })
    await this.#setMerkleStale(tx, false)
    return nodes.get('')?.hash ?? null
  }

  async #count(filter: Filter, params: readonly unknown[], tables: readonly string[]): Promise<number> {
    const state = this.#state()
    return state.db.session(async (s) => {
      let total = 0
      for (const table of tables) {
        const [row] = await s.execute<{ n: number }[]>(this.#items(table).count(filter), params)
        total += Number(row?.n ?? 0)
      }
      return total
    })
  }

  async #page(
    filter: Filter,
    params: readonly unknown[],
    tables: readonly string[],
    { after, limit }: { after: string; limit: number | undefined },
  ): Promise<string[]> {
    const state = this.#state()
    return state.db.session(async (s) => {
      const lists: string[][] = []
      for (const table of tables) {
        const sql = this.#items(table).page(filter, limit !== undefined)
        const rows = await s.execute<{ id: string }[]>(
          sql,
          limit === undefined ? [...params, after] : [...params, after, limit],
        )
        lists.push(rows.map((r) => r.id))
      }
      return mergeSorted(lists, limit)
    })
  }
}
