import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import {
  BackendUnavailableError,
  CorruptDataError,
  checkPrefix,
  type GetManyResult,
  type HealthProbe,
  InvalidArgumentError,
  type ItemRecord,
  L3_ITEM_COLUMNS,
  type L3PutOptions,
  type L3Store,
  type LeafRecord,
  type Logger,
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
  applyMerkleBatchSync,
  compareSegments,
  type MerkleOp,
  merkleNodesOf,
  merkleRootOf,
  NO_TREE_WRITES,
  treeWritesOf,
} from '@sync-engine/merkle'
import Database from 'better-sqlite3'
import { BACKEND, Connection, translate, valuesList } from './connection.js'
import { SqliteMerkleNodeStore } from './merkle-nodes.js'
import { MEMORY_PATH, type ResolvedOptions, resolveOptions, type SqliteL3StoreOptions } from './options.js'
import {
  bindRow,
  decodeRow,
  ROW_PLACEHOLDERS,
  ROW_WIDTH,
  rowProblem,
  SELECT_COLUMNS,
  type StoredRow,
  supersedes,
} from './rows.js'
import {
  checkSchemaVersion,
  checkTableName,
  DEFAULT_TABLE,
  itemTableDdl,
  MERKLE_TABLE,
  migrate,
  PARTITIONS_TABLE,
  SCHEMA_TABLE,
} from './schema.js'

/** Rows per multi-row upsert statement (10 parameters each, so 20 000 bound values). */
const ROWS_PER_STATEMENT = 2000
/** WAL sidecar files are truncated to this after a checkpoint. */
const JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024

const COLUMN_LIST = L3_ITEM_COLUMNS.join(', ')
const UPDATE_SET = L3_ITEM_COLUMNS.filter((c) => c !== 'id')
  .map((c) => `${c} = excluded.${c}`)
  .join(', ')

/** The version guard of every upsert: the stored row changes only when the incoming one is not older. */
const upsertTail = (table: string) =>
  `ON CONFLICT(id) DO UPDATE SET ${UPDATE_SET}
  WHERE excluded.version > "${table}".version
    OR (excluded.version = "${table}".version AND excluded.timestamp >= "${table}".timestamp)`

const upsertSql = (table: string, rows: number) =>
  `INSERT INTO "${table}" (${COLUMN_LIST}) VALUES ${valuesList(ROW_PLACEHOLDERS, rows)}
  ${upsertTail(table)}`

/**
 * After an upsert, the ids of a JSON list of `[id, version, updatedAt]` whose stored row is not that
 * one: the rows the guard refused (a written row holds exactly the incoming version and timestamp; a
 * refused one holds a newer pair).
 */
const staleSql = (table: string) =>
  `SELECT r.id FROM json_each(?) AS j JOIN "${table}" AS r ON r.id = j.value ->> 0
  WHERE r.version <> j.value ->> 1 OR r.timestamp <> j.value ->> 2`

const IN_LIST = 'id IN (SELECT value FROM json_each(?))'
const LIKE = "id LIKE ? ESCAPE '\\'"

/** A LIKE pattern matching ids that start with `prefix`, its `%`, `_` and `\` taken literally. */
export function likePrefix(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}

/** A condition on one table: `WHERE` text and its parameters. */
interface Where {
  readonly table: string
  readonly where: string
  readonly params: readonly unknown[]
}

const STALE_REASON = 'L3 holds a newer (version, updatedAt) for this id'
const SUPERSEDED_REASON =
  'a later row of this batch with a newer or equal (version, updatedAt) has the same id'

function checkLimit(limit: unknown, argument = 'limit'): number {
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 0) {
    throw new InvalidArgumentError(argument, `${argument} must be an integer ≥ 0, got ${String(limit)}`)
  }
  return limit
}

function checkAfter(afterId: unknown): string {
  if (afterId === undefined) return ''
  if (typeof afterId !== 'string') throw new InvalidArgumentError('afterId', 'afterId must be a string')
  return afterId
}

function checkIds(ids: unknown, argument = 'ids'): string[] {
  if (!Array.isArray(ids)) throw new InvalidArgumentError(argument, `${argument} must be an array of ids`)
  return [...new Set(ids.map((id) => validateId(id)))]
}

const PAUSE = new Int32Array(new SharedArrayBuffer(4))

/**
 * `PRAGMA journal_mode = WAL`, retried for up to `busyTimeoutMs` while another connection holds the
 * lock the switch needs: there SQLite answers `SQLITE_BUSY` at once instead of calling the busy
 * handler (waiting could deadlock), e.g. when two processes open a new file together.
 */
function enterWal(db: Database.Database, busyTimeoutMs: number): unknown {
  const deadline = Date.now() + busyTimeoutMs
  for (;;) {
    try {
      return db.pragma('journal_mode = WAL', { simple: true })
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'SQLITE_BUSY' || Date.now() >= deadline) throw error
      Atomics.wait(PAUSE, 0, 0, 5 + Math.random() * 20)
    }
  }
}

/** Opens (creating it and its directory) and checks the file, sets the pragmas, migrates the schema. */
function open(o: ResolvedOptions): Connection {
  if (o.path !== MEMORY_PATH) {
    try {
      mkdirSync(dirname(o.path), { recursive: true })
    } catch (error) {
      throw new BackendUnavailableError(BACKEND, `cannot create the directory of ${o.path}: ${error}`, {
        cause: error,
      })
    }
  }
  let db: Database.Database
  try {
    db = new Database(o.path, { timeout: o.busyTimeoutMs })
  } catch (error) {
    throw translate(error, o.path)
  }
  try {
    // The first statements read the header and the pages: a foreign or damaged file fails here,
    // before anything is written to it.
    if (o.checkOnConnect) {
      const problems = (db.pragma('quick_check(5)') as { quick_check: string }[]).map((r) => r.quick_check)
      if (problems.length !== 1 || problems[0] !== 'ok') {
        throw new CorruptDataError(o.path, `integrity check failed: ${problems.join('; ')}`)
      }
    } else db.prepare('SELECT count(*) FROM sqlite_master').get()
    const mode = enterWal(db, o.busyTimeoutMs)
    if (mode !== 'wal' && o.path !== MEMORY_PATH) {
      throw new BackendUnavailableError(BACKEND, `${o.path} cannot use journal_mode=WAL (${String(mode)})`)
    }
    db.pragma(`busy_timeout = ${o.busyTimeoutMs}`)
    db.pragma(`synchronous = ${o.sync === 'full' ? 'FULL' : 'NORMAL'}`)
    db.pragma('foreign_keys = ON')
    db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT}`)
    // Prefix scans are LIKE over the BINARY primary key: case-sensitive LIKE keeps them exact and lets
    // SQLite turn them into index range scans.
    db.pragma('case_sensitive_like = ON')
    if (db.prepare("SELECT 'a' LIKE 'A'").pluck().get() !== 0) {
      throw new BackendUnavailableError(BACKEND, 'this SQLite build ignores PRAGMA case_sensitive_like')
    }
    const connection = new Connection(db, o.path)
    connection.write(() => migrate(db, o.path))
    return connection
  } catch (error) {
    db.close()
    throw translate(error, o.path)
  }
}

/**
 * The L3 ground truth in one SQLite file (SPEC §5.2): the embedded default of sync-engine.
 *
 * - Rows live in `sync_items` (or the partition table of their id's longest registered prefix),
 *   upserts are version-guarded in the statement and report per row what happened.
 * - Every mutation that changes leaves updates the Merkle tree in `merkle_nodes` inside the same
 *   `BEGIN IMMEDIATE … COMMIT` as the rows: SQLite's write lock serializes writers across processes,
 *   and the whole transaction is one synchronous call (better-sqlite3), so no other call of this
 *   process can interleave between BEGIN and COMMIT.
 * - Several processes may share the file (WAL journal): each re-reads the partition registry and the
 *   schema state whenever another connection has committed (`PRAGMA data_version`).
 */
export class SqliteL3Store implements L3Store {
  readonly name = 'sqlite'
  /** The absolute path of the database file (or `:memory:`). */
  readonly path: string
  /** The Merkle node store over `merkle_nodes`: read it; the store writes it with the rows. */
  readonly merkle: SqliteMerkleNodeStore
  readonly #options: ResolvedOptions
  readonly #logger: Logger
  #connection: Connection | undefined
  #routes = new PartitionRoutes(DEFAULT_TABLE)
  /** `PRAGMA data_version` when routes and schema state were last read (-1: never). */
  #dataVersion = -1
  /** The tree lags the rows (a `merkle: false` store changed rows): rebuild before using it. */
  #merkleStale = false

  constructor(options: SqliteL3StoreOptions) {
    this.#options = resolveOptions(options)
    this.path = this.#options.path
    this.#logger = this.#options.logger
    this.merkle = new SqliteMerkleNodeStore(() => this.#open('use the Merkle tree'))
  }

  /** Whether this store keeps the Merkle tree (`merkle` option). */
  get merkleEnabled(): boolean {
    return this.#options.merkle
  }

  get connected(): boolean {
    return this.#connection !== undefined
  }

  /** The registered partitions, longest prefix first. */
  get partitions(): readonly Partition[] {
    return this.#routes.partitions
  }

  /** Opens or creates the file, checks it, migrates the schema and loads the partitions. Idempotent. */
  async connect(): Promise<void> {
    if (this.#connection) return
    const connection = open(this.#options)
    this.#connection = connection
    try {
      connection.read(() => this.#refresh(connection))
    } catch (error) {
      this.#connection = undefined
      connection.close()
      throw error
    }
    this.#logger.info(
      { url: redactUrl(`sqlite:${this.path}`), partitions: this.#routes.partitions.length },
      'sqlite L3 connected',
    )
  }

  /** Closes the file. Idempotent; nothing of the store keeps the process alive afterwards. */
  async close(): Promise<void> {
    const connection = this.#connection
    if (!connection) return
    this.#connection = undefined
    this.#dataVersion = -1
    connection.close()
  }

  async health(timeoutMs = 1000): Promise<HealthProbe> {
    const started = performance.now()
    const latency = () => performance.now() - started
    const connection = this.#connection
    if (!connection) return { ok: false, latencyMs: 0, error: 'not connected' }
    try {
      const details = connection.read(() => {
        this.#refresh(connection)
        const pragma = (name: string) => connection.db.pragma(name, { simple: true })
        return {
          path: this.path,
          sqliteVersion: connection.statement('SELECT sqlite_version()', 'pluck').get(),
          journalMode: pragma('journal_mode'),
          merkle: this.#options.merkle,
          partitions: this.#routes.partitions.length,
        }
      })
      const latencyMs = latency()
      if (latencyMs > timeoutMs) {
        return {
          ok: false,
          latencyMs,
          error: `probe took ${latencyMs.toFixed(1)} ms, over ${timeoutMs} ms`,
          details,
        }
      }
      return { ok: true, latencyMs, details }
    } catch (error) {
      return { ok: false, latencyMs: latency(), error: (error as Error).message }
    }
  }

  /**
   * Version-guarded upsert, one outcome per input row in input order: `written`, `stale` (L3 holds a
   * newer `(version, updatedAt)`) or `rejected` (the row is invalid; `reason` says why; the rest of the
   * batch still lands). When an id appears more than once, the row with the greatest
   * `(version, updatedAt)` is the one written (the later one on a tie); the others are `stale`.
   */
  async putBatch(rows: readonly ItemRecord[], options: L3PutOptions = {}): Promise<PutOutcome[]> {
    if (!Array.isArray(rows)) throw new InvalidArgumentError('rows', 'rows must be an array of ItemRecord')
    const outcomes = new Array<PutOutcome>(rows.length)
    // id → index of the row of that id to write (the newest of the batch).
    const winners = new Map<string, number>()
    for (let index = 0; index < rows.length; index++) {
      const row = rows[index]!
      const problem = rowProblem(row)
      if (problem) {
        outcomes[index] = { id: String(row?.id), status: 'rejected', reason: problem }
        continue
      }
      const current = winners.get(row.id)
      if (current === undefined) winners.set(row.id, index)
      else if (supersedes(row, rows[current]!)) {
        outcomes[current] = { id: row.id, status: 'stale', reason: SUPERSEDED_REASON }
        winners.set(row.id, index)
      } else outcomes[index] = { id: row.id, status: 'stale', reason: SUPERSEDED_REASON }
    }
    if (winners.size === 0) return outcomes
    const keepTree = this.#options.merkle
    let tree: MerkleTreeWrites | null = null
    this.#write('write rows', (connection) => {
      const ops: MerkleOp[] = []
      let written = 0
      for (const [table, indexes] of this.#routes.group(winners.values(), (i) => rows[i]!.id)) {
        const { stale, created } = this.#upsert(connection, table, rows, indexes)
        for (const index of indexes) {
          const row = rows[index]!
          if (stale.has(row.id)) continue
          outcomes[index] = { id: row.id, status: 'written', created: created.has(row.id) }
          written++
          if (keepTree)
            ops.push({ op: 'upsert', id: row.id, version: row.version, contentHash: row.contentHash })
        }
      }
      tree = this.#applyMerkle(connection, ops, written > 0)
    })
    for (const [id, index] of winners) outcomes[index] ??= { id, status: 'stale', reason: STALE_REASON }
    options.onMerkleChanges?.(tree)
    return outcomes
  }

  async get(id: string): Promise<SyncItem | undefined> {
    validateId(id)
    return this.#read('read a row', (connection) => {
      const table = this.#routes.route(id)
      const row = connection.statement(`SELECT ${SELECT_COLUMNS} FROM "${table}" WHERE id = ?`).get(id)
      return row === undefined ? undefined : decodeRow(row as StoredRow, this.#location(table))
    })
  }

  /** The items of `ids` found, one query per table; a row that does not decode is in `errors`. */
  async getMany(ids: readonly string[]): Promise<GetManyResult> {
    const unique = checkIds(ids)
    const items = new Map<string, SyncItem>()
    const errors = new Map<string, Error>()
    if (unique.length === 0) return { items, errors }
    this.#read('read rows', (connection) => {
      for (const [table, group] of this.#routes.group(unique, (id) => id)) {
        const sql = `SELECT ${SELECT_COLUMNS} FROM "${table}" WHERE ${IN_LIST}`
        for (const row of connection.statement(sql).all(JSON.stringify(group)) as StoredRow[]) {
          try {
            items.set(row.id, decodeRow(row, this.#location(table)))
          } catch (error) {
            errors.set(row.id, error as Error)
          }
        }
      }
    })
    return { items, errors }
  }

  async exists(id: string): Promise<boolean> {
    validateId(id)
    return this.#read('check a row', (connection) => {
      const table = this.#routes.route(id)
      return connection.statement(`SELECT 1 FROM "${table}" WHERE id = ?`, 'pluck').get(id) !== undefined
    })
  }

  /** Deletes `ids`; resolves with those that existed (in input order). */
  async deleteBatch(ids: readonly string[]): Promise<string[]> {
    const unique = checkIds(ids)
    if (unique.length === 0) return []
    const deleted = new Set(
      this.#deleteWhere('delete rows', (routes) =>
        [...routes.group(unique, (id) => id)].map(([table, group]) => ({
          table,
          where: IN_LIST,
          params: [JSON.stringify(group)],
        })),
      ),
    )
    return unique.filter((id) => deleted.has(id))
  }

  async count(): Promise<number> {
    return this.#count('count rows', (routes) => this.#everyTable(routes, '1', []))
  }

  async scanIds(afterId: string | undefined, limit: number): Promise<string[]> {
    return this.#page('scan ids', 'id', checkAfter(afterId), checkLimit(limit), (routes) =>
      this.#everyTable(routes, '1', []),
    )
  }

  async scanLeaves(afterId: string | undefined, limit: number): Promise<LeafRecord[]> {
    return this.#page<LeafRecord>(
      'scan leaves',
      'id, version, payload_hash AS contentHash',
      checkAfter(afterId),
      checkLimit(limit),
      (routes) => this.#everyTable(routes, '1', []),
    )
  }

  async byState(state: string, page: PageOptions = {}): Promise<string[]> {
    validateState(state)
    return this.#page('list a state', 'id', checkAfter(page.afterId), this.#pageLimit(page), (routes) =>
      this.#everyTable(routes, 'state = ?', [state]),
    )
  }

  async countByState(state: string): Promise<number> {
    validateState(state)
    return this.#count('count a state', (routes) => this.#everyTable(routes, 'state = ?', [state]))
  }

  /** Sets the state of the existing ids among `ids`; resolves with those whose state changed. */
  async setState(ids: readonly string[], state: string): Promise<string[]> {
    const unique = checkIds(ids)
    validateState(state)
    if (unique.length === 0) return []
    const changed = this.#write('set states', (connection) => {
      const out = new Set<string>()
      for (const [table, group] of this.#routes.group(unique, (id) => id)) {
        const sql = `UPDATE "${table}" SET state = ? WHERE ${IN_LIST} AND state <> ? RETURNING id`
        for (const id of connection.statement(sql, 'pluck').all(state, JSON.stringify(group), state)) {
          out.add(id as string)
        }
      }
      return out
    })
    return unique.filter((id) => changed.has(id))
  }

  async deleteByState(state: string): Promise<string[]> {
    validateState(state)
    return this.#deleteWhere('delete a state', (routes) => this.#everyTable(routes, 'state = ?', [state]))
  }

  async scanPrefix(prefix: string, page: PageOptions = {}): Promise<string[]> {
    checkPrefix(prefix)
    return this.#page('scan a prefix', 'id', checkAfter(page.afterId), this.#pageLimit(page), (routes) =>
      this.#prefixTables(routes, prefix),
    )
  }

  async countPrefix(prefix: string): Promise<number> {
    checkPrefix(prefix)
    return this.#count('count a prefix', (routes) => this.#prefixTables(routes, prefix))
  }

  async deletePrefix(prefix: string): Promise<string[]> {
    checkPrefix(prefix)
    return this.#deleteWhere('delete a prefix', (routes) => this.#prefixTables(routes, prefix))
  }

  /**
   * The root of the tree over every row (`null` when there are none). With `merkle: false` the tree
   * is not kept, and the root is computed from all rows (a full scan).
   */
  async merkleRoot(): Promise<string | null> {
    if (!this.#options.merkle) {
      return this.#read('compute the Merkle root', (connection) =>
        this.#fromLeaves(connection, (leaves) => merkleRootOf(leaves)),
      )
    }
    if (this.#read('read the Merkle root', () => this.#merkleStale)) await this.rebuildMerkle()
    return this.#read('read the Merkle root', (connection) => {
      const sql = `SELECT merkle_hash FROM ${MERKLE_TABLE} WHERE path = ''`
      return (connection.statement(sql, 'pluck').get() as string | undefined) ?? null
    })
  }

  /**
   * Recomputes the whole tree from the rows and replaces `merkle_nodes` with it, in one write
   * transaction; resolves with the root. Repairs a tree that lags the rows (e.g. after a store with
   * `merkle: false` wrote to the file, which `merkleRoot()` and the next write do by themselves).
   */
  async rebuildMerkle(): Promise<string | null> {
    return this.#write('rebuild the Merkle tree', (connection) => this.#rebuildMerkle(connection))
  }

  /**
   * Routes ids starting with `prefix` to `table` (created like `sync_items` when missing), persisted
   * in `sync_engine_partitions`. Rows already stored that now route to `table` move there in the same
   * transaction. Table names are case-insensitive in SQLite and kept lower-case. Registering the same
   * pair again does nothing; routing a registered prefix to another table is refused.
   */
  async registerPartition(prefix: string, table: string): Promise<void> {
    checkPrefix(prefix)
    const name = checkTableName(table).toLowerCase()
    this.#routes = this.#write('register a partition', (connection) => {
      const routes = this.#routes
      const existing = routes.partitions.find((p) => p.prefix === prefix)
      if (existing?.table === name) return routes
      if (existing) {
        throw new InvalidArgumentError(
          'prefix',
          `prefix ${JSON.stringify(prefix)} is already routed to table '${existing.table}'`,
        )
      }
      this.#checkItemTable(connection, name)
      connection.db.exec(itemTableDdl(name))
      connection
        .statement(`INSERT INTO ${PARTITIONS_TABLE} (prefix, table_name, created_at) VALUES (?, ?, ?)`)
        .run(prefix, name, Date.now())
      const next = routes.with({ prefix, table: name })
      for (const from of routes.tables) {
        if (from === name) continue
        const candidates = connection
          .statement(`SELECT id FROM "${from}" WHERE ${LIKE}`, 'pluck')
          .all(likePrefix(prefix))
        const moving = (candidates as string[]).filter((id) => next.route(id) === name)
        if (moving.length === 0) continue
        const list = JSON.stringify(moving)
        connection
          .statement(
            `INSERT INTO "${name}" (${COLUMN_LIST}) SELECT ${COLUMN_LIST} FROM "${from}" WHERE ${IN_LIST} ${upsertTail(name)}`,
          )
          .run(list)
        connection.statement(`DELETE FROM "${from}" WHERE ${IN_LIST}`).run(list)
      }
      return next
    })
  }

  // ── internals ───────────────────────────────────────────────────────────────────────────────────

  #open(operation: string): Connection {
    const connection = this.#connection
    if (!connection)
      throw new BackendUnavailableError(BACKEND, `cannot ${operation}: the store is not connected`)
    return connection
  }

  #location(table: string): string {
    return `${this.path} (${table})`
  }

  /**
   * Re-reads the partition registry and the schema row when another connection committed since the
   * last read (`PRAGMA data_version` moved). Our own commits update both directly.
   */
  #refresh(connection: Connection): void {
    const version = connection.statement('PRAGMA data_version', 'pluck').get() as number
    if (version === this.#dataVersion) return
    const schema = connection
      .statement(`SELECT version, merkle_stale AS stale FROM ${SCHEMA_TABLE} WHERE id = 1`)
      .get() as { version: number; stale: number } | undefined
    checkSchemaVersion(schema?.version ?? 0, this.path)
    this.#merkleStale = schema?.stale === 1
    const partitions = connection
      .statement(`SELECT prefix, table_name AS "table" FROM ${PARTITIONS_TABLE}`)
      .all() as Partition[]
    this.#routes = new PartitionRoutes(DEFAULT_TABLE, partitions)
    this.#dataVersion = version
  }

  #read<T>(operation: string, fn: (connection: Connection) => T): T {
    const connection = this.#open(operation)
    return connection.read(() => {
      this.#refresh(connection)
      return fn(connection)
    })
  }

  #write<T>(operation: string, fn: (connection: Connection) => T): T {
    const connection = this.#open(operation)
    try {
      return connection.write(() => {
        this.#refresh(connection)
        return fn(connection)
      })
    } catch (error) {
      // Rolled back: what this call noted in memory (the Merkle flag) is re-read at the next call.
      this.#dataVersion = -1
      throw error
    }
  }

  #pageLimit(page: PageOptions): number {
    return page.limit === undefined ? -1 : checkLimit(page.limit, 'page.limit')
  }

  #everyTable(routes: PartitionRoutes, where: string, params: readonly unknown[]): Where[] {
    return routes.tables.map((table) => ({ table, where, params }))
  }

  #prefixTables(routes: PartitionRoutes, prefix: string): Where[] {
    return routes.tablesFor(prefix).map((table) => ({ table, where: LIKE, params: [likePrefix(prefix)] }))
  }

  /**
   * One keyset page over several tables: each answers its first `limit` rows after `afterId` in id
   * order, and the pages merge in UTF-8 byte order (SQLite's BINARY order).
   */
  #page<T>(
    operation: string,
    columns: string,
    afterId: string,
    limit: number,
    where: (routes: PartitionRoutes) => Where[],
  ): T[] {
    return this.#read(operation, (connection) => {
      const parts = where(this.#routes)
      const pluck = columns === 'id'
      const rows: T[] = []
      for (const { table, where: condition, params } of parts) {
        const sql = `SELECT ${columns} FROM "${table}" WHERE ${condition} AND id > ? ORDER BY id LIMIT ?`
        for (const row of connection.statement(sql, pluck ? 'pluck' : 'rows').all(...params, afterId, limit))
          rows.push(row as T)
      }
      if (parts.length < 2) return rows
      const idOf = pluck ? (r: T) => r as string : (r: T) => (r as { id: string }).id
      rows.sort((a, b) => compareSegments(idOf(a), idOf(b)))
      return limit < 0 ? rows : rows.slice(0, limit)
    })
  }

  #count(operation: string, where: (routes: PartitionRoutes) => Where[]): number {
    return this.#read(operation, (connection) => {
      let total = 0
      for (const { table, where: condition, params } of where(this.#routes)) {
        total += connection
          .statement(`SELECT count(*) FROM "${table}" WHERE ${condition}`, 'pluck')
          .get(...params) as number
      }
      return total
    })
  }

  /** Deletes the rows matching each condition and their leaves, in one transaction; returns their ids. */
  #deleteWhere(operation: string, where: (routes: PartitionRoutes) => Where[]): string[] {
    return this.#write(operation, (connection) => {
      const deleted: string[] = []
      for (const { table, where: condition, params } of where(this.#routes)) {
        const sql = `DELETE FROM "${table}" WHERE ${condition} RETURNING id`
        for (const id of connection.statement(sql, 'pluck').all(...params)) deleted.push(id as string)
      }
      this.#applyMerkle(
        connection,
        deleted.map((id) => ({ op: 'delete', id })),
      )
      return deleted
    })
  }

  /**
   * Upserts `rows[i]` for each of `indexes` (one row per id) into `table`, in multi-row statements;
   * returns the ids the version guard refused and the ids inserted (not updated).
   */
  #upsert(
    connection: Connection,
    table: string,
    rows: readonly ItemRecord[],
    indexes: readonly number[],
  ): { stale: ReadonlySet<string>; created: ReadonlySet<string> } {
    // Rows inserted now get rowids above the table's greatest one before (SQLite allocates max + 1,
    // and we hold the write lock); updated rows keep theirs.
    const before = connection.statement(`SELECT coalesce(max(rowid), 0) FROM "${table}"`, 'pluck').get()
    const sql = (n: number) => upsertSql(table, n)
    const bind = (i: number, params: unknown[], at: number) => bindRow(rows[i]!, params, at)
    const changed = connection.chunked(`upsert:${table}`, indexes, ROW_WIDTH, ROWS_PER_STATEMENT, sql, bind)
    // Each row either changed or was refused: look for refused ones only when the count says some were.
    // (Cheaper than RETURNING, which costs SQLite a temporary table of every written row.)
    let stale: ReadonlySet<string> = new Set()
    if (changed < indexes.length) {
      const list = JSON.stringify(indexes.map((i) => [rows[i]!.id, rows[i]!.version, rows[i]!.updatedAt]))
      stale = new Set(connection.statement(staleSql(table), 'pluck').all(list) as string[])
    }
    const inserted = connection.statement(`SELECT id FROM "${table}" WHERE rowid > ?`, 'pluck').all(before)
    return { stale, created: new Set(inserted as string[]) }
  }

  /**
   * Updates the tree with what the rows of this transaction became (or, when the tree is not kept
   * and `changed`, marks it stale).
   */
  #applyMerkle(connection: Connection, ops: MerkleOp[], changed = ops.length > 0): MerkleTreeWrites | null {
    if (!changed) return NO_TREE_WRITES
    if (!this.#options.merkle) {
      if (!this.#merkleStale) {
        connection.statement(`UPDATE ${SCHEMA_TABLE} SET merkle_stale = 1 WHERE id = 1`).run()
        this.#merkleStale = true
      }
      return null
    }
    // A stale tree is rebuilt from the rows, which already include this transaction's changes.
    if (!this.#merkleStale) return treeWritesOf(applyMerkleBatchSync(this.merkle, ops))
    this.#rebuildMerkle(connection)
    return null
  }

  /** `fn` over the leaves of every row; a row that is no valid leaf makes it a `CorruptDataError`. */
  #fromLeaves<T>(connection: Connection, fn: (leaves: LeafRecord[]) => T): T {
    const leaves: LeafRecord[] = []
    for (const table of this.#routes.tables) {
      const sql = `SELECT id, version, payload_hash AS contentHash FROM "${table}"`
      for (const leaf of connection.statement(sql).iterate()) leaves.push(leaf as LeafRecord)
    }
    try {
      return fn(leaves)
    } catch (error) {
      throw new CorruptDataError(this.path, `a row is not a valid Merkle leaf: ${(error as Error).message}`, {
        cause: error,
      })
    }
  }

  #rebuildMerkle(connection: Connection): string | null {
    const nodes = this.#fromLeaves(connection, (leaves) => merkleNodesOf(leaves))
    this.merkle.clearSync()
    this.merkle.writeNodesSync({ upsert: [...nodes.values()], delete: [] })
    connection.statement(`UPDATE ${SCHEMA_TABLE} SET merkle_stale = 0 WHERE id = 1`).run()
    this.#merkleStale = false
    this.#logger.info({ path: this.path, nodes: nodes.size }, 'sqlite L3 Merkle tree rebuilt from the rows')
    return nodes.get('')?.hash ?? null
  }

  /** An existing table may become a partition only when it has the item columns. */
  #checkItemTable(connection: Connection, table: string): void {
    const columns = connection.db.pragma(`table_info("${table}")`) as { name: string }[]
    if (columns.length === 0) return
    const missing = L3_ITEM_COLUMNS.filter((c) => !columns.some((col) => col.name === c))
    if (missing.length > 0) {
      throw new InvalidArgumentError(
        'table',
        `table '${table}' exists and is not an item table (missing ${missing.join(', ')})`,
      )
    }
  }
}
