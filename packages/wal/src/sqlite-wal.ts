import { existsSync, mkdirSync, rmSync } from 'node:fs'
import { dirname } from 'node:path'
import {
  BackendUnavailableError,
  type Clock,
  CorruptDataError,
  type FilterSnapshot,
  InvalidArgumentError,
  SchemaMismatchError,
  SyncEngineError,
  SyncItem,
  validateId,
  type WalEntry,
  WalFullError,
  type WalOp,
  type WalRecord,
  type WalStats,
  type WriteAheadLog,
} from '@sync-engine/core'
import Database from 'better-sqlite3'
import { decodeRow, rowLength, writeRow } from './codec.js'
import {
  type ResolvedWalOptions,
  resolveWalOptions,
  type SqliteWalOptions,
  type WalSyncMode,
} from './options.js'

/**
 * `PRAGMA user_version` of the files this code writes; a newer file is refused. Version 2 writes
 * rows without the content hash (row format 2); a version-1 file is upgraded in place at open (its
 * tables are the same and its format-1 rows still decode), so an older library refuses it afterwards
 * instead of reading rows it cannot decode.
 */
export const WAL_SCHEMA_VERSION = 2

const OWN_TABLES = new Set(['wal_queue', 'filter_snapshots', 'sqlite_sequence'])

const SCHEMA = `
CREATE TABLE wal_queue (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL,
  op TEXT NOT NULL CHECK (op IN ('put', 'delete')),
  row BLOB CHECK ((op = 'put') = (row IS NOT NULL)),
  bytes INTEGER NOT NULL,
  enqueued_at INTEGER NOT NULL
);
CREATE TABLE filter_snapshots (
  filter_id TEXT PRIMARY KEY,
  bytes BLOB NOT NULL,
  merkle_root TEXT,
  entry_count INTEGER NOT NULL,
  saved_at INTEGER NOT NULL
);
PRAGMA user_version = ${WAL_SCHEMA_VERSION};
`

/** WAL sidecar files never grow past this after a checkpoint. */
const JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024

type Db = Database.Database

const SYNCHRONOUS_NAMES = ['off', 'normal', 'full', 'extra']

export interface WalDiagnostics {
  readonly path: string
  /** Always `'wal'`. */
  readonly journalMode: string
  /** `'full'` or `'normal'`, as the connection really runs. */
  readonly synchronous: string
  /** Always `'exclusive'` (one process owns the file). */
  readonly lockingMode: string
  readonly schemaVersion: number
  /** Size of the database pages (without the `-wal` sidecar). */
  readonly fileBytes: number
  /** Bytes of free pages, reused by later appends (the file does not shrink by itself). */
  readonly freeBytes: number
}

/** A group of entries validated and measured: where each row goes in the group's buffer, and its bytes. */
interface MeasuredGroup {
  readonly entries: readonly WalEntry[]
  /** Where entry i's row ends in the buffer (it starts where the previous entry's ends; deletes have none). */
  readonly ends: Float64Array
  /** The `bytes` of entry i: its id's UTF-8 bytes plus its row. */
  readonly sizes: Float64Array
  /** Sum of `sizes`. */
  readonly bytes: number
}

interface Totals {
  rows: number
  bytes: number
}

interface QueueRow {
  seq: number
  id: string
  op: string
  row: Buffer | null
  enqueuedAt: number
}

const LEFT_AS_IS =
  '; the file was left as it is: restore it from a backup, or move it away to start an empty log'

function sqliteCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined
}

/**
 * Maps a better-sqlite3 error to core's hierarchy: damaged files are `CorruptDataError` at
 * `location`, everything else SQLite reports is `BackendUnavailableError`; other errors pass through.
 */
function translate(error: unknown, path: string, location = path): unknown {
  if (error instanceof SyncEngineError) return error
  const code = sqliteCode(error)
  if (code === undefined) return error
  const options = { cause: error }
  if (code === 'SQLITE_NOTADB') {
    return new CorruptDataError(
      location,
      `not a SQLite database (damaged header or a foreign file)${LEFT_AS_IS}`,
      options,
    )
  }
  if (code.startsWith('SQLITE_CORRUPT')) {
    return new CorruptDataError(location, `${(error as Error).message}${LEFT_AS_IS}`, options)
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new BackendUnavailableError(
      'wal',
      `${path} is held by another connection (a WAL file belongs to one process at a time)`,
      options,
    )
  }
  return new BackendUnavailableError('wal', `${path}: ${(error as Error).message} (${code})`, options)
}

/**
 * Checks an existing file through a read-only connection before anything writes to it: integrity
 * (`PRAGMA quick_check`), schema version and ownership. A file that fails is left exactly as it was
 * (the sidecars this check created are removed again).
 */
function inspectExisting(path: string, timeout: number): void {
  if (!existsSync(path)) return
  const created = ['-wal', '-shm'].map((suffix) => path + suffix).filter((p) => !existsSync(p))
  let db: Db | undefined
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout })
    const problems = (db.pragma('quick_check(5)') as { quick_check: string }[]).map((r) => r.quick_check)
    if (problems.length !== 1 || problems[0] !== 'ok') {
      throw new CorruptDataError(path, `integrity check failed: ${problems.join('; ')}${LEFT_AS_IS}`)
    }
    const version = db.pragma('user_version', { simple: true }) as number
    if (version > WAL_SCHEMA_VERSION) throw new SchemaMismatchError(version, WAL_SCHEMA_VERSION, path)
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]
    const foreign = tables.filter((t) => !OWN_TABLES.has(t))
    if (version === 0 && foreign.length > 0) {
      throw new InvalidArgumentError(
        'path',
        `${path} is a SQLite database of another application (tables ${foreign.join(', ')}), not a sync-engine WAL`,
      )
    }
  } catch (error) {
    throw translate(error, path)
  } finally {
    db?.close()
    for (const sidecar of created) rmSync(sidecar, { force: true })
  }
}

/** Opens the file for writing: WAL journal, the sync mode, the schema, and an exclusive lock held until close. */
function openWritable(o: ResolvedWalOptions): Db {
  let db: Db | undefined
  try {
    db = new Database(o.path, { timeout: o.busyTimeoutMs })
    const mode = db.pragma('journal_mode = WAL', { simple: true })
    if (mode !== 'wal')
      throw new BackendUnavailableError('wal', `${o.path} cannot use journal_mode=WAL (${mode})`)
    db.pragma(`synchronous = ${o.sync === 'full' ? 'FULL' : 'NORMAL'}`)
    db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT}`)
    // Held from the first write transaction below until close: a second process fails at open.
    db.pragma('locking_mode = EXCLUSIVE')
    const schema = db.transaction((conn: Db) => {
      const version = conn.pragma('user_version', { simple: true }) as number
      if (version > WAL_SCHEMA_VERSION) throw new SchemaMismatchError(version, WAL_SCHEMA_VERSION, o.path)
      if (version === 0) conn.exec(SCHEMA)
      else if (version < WAL_SCHEMA_VERSION) conn.pragma(`user_version = ${WAL_SCHEMA_VERSION}`)
    })
    schema.immediate(db)
    return db
  } catch (error) {
    db?.close()
    throw translate(error, o.path)
  }
}

/** Most rows per multi-row INSERT: one statement step per chunk instead of per row. */
const INSERT_CHUNK = 64

/**
 * The INSERT of `count` entries of one op: `(id, row, bytes)` per put, `(id, bytes)` per delete,
 * and `@at` (enqueued_at) bound once for all of them.
 */
function insertSql(op: WalOp, count: number): string {
  const values = op === 'put' ? "(?, 'put', ?, ?, @at)" : "(?, 'delete', NULL, ?, @at)"
  return `INSERT INTO wal_queue (id, op, row, bytes, enqueued_at) VALUES ${Array(count).fill(values).join(', ')}`
}

function prepare(db: Db) {
  // Statements for runs of 64, 32, …, 1 entries of one op, prepared when first needed: a group is
  // inserted as runs of one op, each split into the largest of these that fit.
  const inserts = new Map<string, Database.Statement>()
  const insert = (op: WalOp, count: number) => {
    const key = `${op}${count}`
    let statement = inserts.get(key)
    if (statement === undefined) {
      statement = db.prepare(insertSql(op, count))
      inserts.set(key, statement)
    }
    return statement
  }
  const totalsUpTo = db.prepare<[number], Totals>(
    'SELECT count(*) AS rows, coalesce(sum(bytes), 0) AS bytes FROM wal_queue WHERE seq <= ?',
  )
  const deleteUpTo = db.prepare<[number]>('DELETE FROM wal_queue WHERE seq <= ?')
  // Without a WHERE clause SQLite drops the table's pages at once instead of deleting row by row.
  const deleteAll = db.prepare('DELETE FROM wal_queue')
  const params: unknown[] = []
  return {
    /**
     * One transaction for the whole group; returns the seq of its last row. The file has one
     * writer (the exclusive lock), so AUTOINCREMENT gives the group consecutive seqs.
     */
    insertAll: db.transaction((group: MeasuredGroup, rows: Buffer, enqueuedAt: number): number => {
      const { entries, ends, sizes } = group
      const at = { at: enqueuedAt }
      let lastSeq = 0
      let start = 0
      let rowStart = 0
      while (start < entries.length) {
        const op = entries[start]!.op
        let run = 1
        while (run < INSERT_CHUNK && start + run < entries.length && entries[start + run]!.op === op) run++
        let count = INSERT_CHUNK
        while (count > run) count >>= 1
        params.length = 0
        for (let i = start; i < start + count; i++) {
          if (op === 'put') {
            params.push(entries[i]!.id, rows.subarray(rowStart, ends[i]!), sizes[i]!)
            rowStart = ends[i]!
          } else params.push(entries[i]!.id, sizes[i]!)
        }
        lastSeq = Number(insert(op, count).run(params, at).lastInsertRowid)
        start += count
      }
      return lastSeq
    }),
    /** Deletes rows up to a seq and reports what they counted, in one transaction. */
    removeUpTo: db.transaction((uptoSeq: number): Totals => {
      const removed = totalsUpTo.get(uptoSeq)!
      if (removed.rows > 0) deleteUpTo.run(uptoSeq)
      return removed
    }),
    /** Deletes every row (the caller knows what they counted). */
    removeAll: () => void deleteAll.run(),
    totals: db.prepare<[], Totals>(
      'SELECT count(*) AS rows, coalesce(sum(bytes), 0) AS bytes FROM wal_queue',
    ),
    peek: db.prepare<[number], QueueRow>(
      'SELECT seq, id, op, row, enqueued_at AS enqueuedAt FROM wal_queue ORDER BY seq LIMIT ?',
    ),
    oldest: db.prepare<[], { seq: number; enqueuedAt: number }>(
      'SELECT seq, enqueued_at AS enqueuedAt FROM wal_queue ORDER BY seq LIMIT 1',
    ),
    newest: db.prepare<[], { seq: number }>('SELECT seq FROM wal_queue ORDER BY seq DESC LIMIT 1'),
    saveSnapshot: db.prepare<[string, Uint8Array, string | null, number, number]>(
      'INSERT OR REPLACE INTO filter_snapshots (filter_id, bytes, merkle_root, entry_count, saved_at) VALUES (?, ?, ?, ?, ?)',
    ),
    loadSnapshot: db.prepare<
      [string],
      { bytes: Buffer; merkleRoot: string | null; entryCount: number; savedAt: number }
    >(
      'SELECT bytes, merkle_root AS merkleRoot, entry_count AS entryCount, saved_at AS savedAt FROM filter_snapshots WHERE filter_id = ?',
    ),
  }
}

/** Validates entry `index` and returns the length of its row (0 for a delete). */
function measureEntry(entry: WalEntry, index: number): number {
  const where = `entries[${index}]`
  if (typeof entry !== 'object' || entry === null) {
    throw new InvalidArgumentError(where, `${where} must be a WalEntry object`)
  }
  const { id, op, row } = entry
  if (op === 'put') {
    if (row === undefined || row === null) {
      throw new InvalidArgumentError(`${where}.row`, `${where} is a put without a row`)
    }
    if (row.id !== id) {
      throw new InvalidArgumentError(
        `${where}.row.id`,
        `${where}.row.id ${JSON.stringify(row.id)} differs from the entry id ${JSON.stringify(id)}`,
      )
    }
    if (!(row instanceof SyncItem)) validateId(id) // a SyncItem's id was validated when it was made
    return rowLength(row, `${where}.row`)
  }
  if (op === 'delete') {
    if (row !== undefined) {
      throw new InvalidArgumentError(`${where}.row`, `${where} is a delete and must not carry a row`)
    }
    validateId(id)
    return 0
  }
  throw new InvalidArgumentError(`${where}.op`, `${where}.op must be 'put' or 'delete', got '${String(op)}'`)
}

/** Validates every entry (the first invalid one throws) and measures the group. */
function measureGroup(entries: readonly WalEntry[]): MeasuredGroup {
  const ends = new Float64Array(entries.length)
  const sizes = new Float64Array(entries.length)
  let end = 0
  let bytes = 0
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!
    const length = measureEntry(entry, i)
    end += length
    ends[i] = end
    sizes[i] = Buffer.byteLength(entry.id) + length
    bytes += sizes[i]!
  }
  return { entries, ends, sizes, bytes }
}

/** The rows of a group's puts back to back in one buffer (one allocation per group, not per row). */
function writeGroup({ entries, ends }: MeasuredGroup): Buffer {
  const rows = Buffer.allocUnsafe(ends[entries.length - 1] ?? 0)
  let at = 0
  for (let i = 0; i < entries.length; i++) {
    const { row } = entries[i]!
    if (row === undefined) continue
    at = writeRow(row, rows, at)
    if (at !== ends[i]) {
      throw new InvalidArgumentError(`entries[${i}].row`, `entries[${i}].row changed while it was appended`)
    }
  }
  return rows
}

function checkCount(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(name, `${name} must be an integer ≥ 0, got ${String(value)}`)
  }
  return value
}

/** A plain `Uint8Array` over a Buffer's bytes (no copy). */
function bytesOf(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
}

/**
 * The local write-ahead log (SPEC §5.3) in one SQLite file: a queue of puts and deletes drained in
 * seq order, plus the filter snapshot store. Every method has a synchronous form (`appendSync`, …)
 * and the `WriteAheadLog` async form, which runs the same code and settles at once.
 *
 * One process owns a file while it is open (SQLite exclusive locking); a second opener fails with
 * `BackendUnavailableError`. `stats()` counts rows and bytes really present: recomputed from the
 * table at open and changed only after the transaction that changed the table commits.
 */
export class SqliteWal implements WriteAheadLog {
  /** The absolute path of the file. */
  readonly path: string
  readonly maxRows: number
  readonly maxBytes: number
  readonly sync: WalSyncMode
  readonly #clock: Clock
  readonly #sql: ReturnType<typeof prepare>
  #db: Db | undefined
  #rows: number
  #bytes: number
  /** The seq of the newest row while any is present (only this connection writes the file). */
  #newestSeq: number

  constructor(options: SqliteWalOptions = {}) {
    const o = resolveWalOptions(options)
    this.path = o.path
    this.maxRows = o.maxRows
    this.maxBytes = o.maxBytes
    this.sync = o.sync
    this.#clock = o.clock
    try {
      mkdirSync(dirname(o.path), { recursive: true })
    } catch (error) {
      throw new BackendUnavailableError('wal', `cannot create the directory of ${o.path}: ${error}`, {
        cause: error,
      })
    }
    inspectExisting(o.path, o.busyTimeoutMs)
    const db = openWritable(o)
    try {
      this.#sql = prepare(db)
      const totals = this.#sql.totals.get()!
      this.#rows = totals.rows
      this.#bytes = totals.bytes
      this.#newestSeq = this.#sql.newest.get()?.seq ?? 0
    } catch (error) {
      db.close()
      throw translate(error, o.path)
    }
    this.#db = db
  }

  get closed(): boolean {
    return this.#db === undefined
  }

  /** Runs `fn` against the open database, mapping SQLite errors to core's. */
  #use<T>(operation: string, fn: (db: Db) => T): T {
    const db = this.#db
    if (db === undefined)
      throw new BackendUnavailableError('wal', `cannot ${operation}: ${this.path} is closed`)
    try {
      return fn(db)
    } catch (error) {
      throw translate(error, this.path)
    }
  }

  /**
   * Appends every entry in one transaction (group commit: batch them in the caller) and returns them
   * with their seq, in order. Nothing is written when any entry is invalid or the result would pass
   * `maxRows` / `maxBytes` (`WalFullError`).
   */
  appendSync(entries: readonly WalEntry[]): WalRecord[] {
    if (!Array.isArray(entries)) throw new InvalidArgumentError('entries', 'entries must be an array')
    return this.#use('append', () => {
      if (entries.length === 0) return []
      const group = measureGroup(entries)
      const bytes = this.#bytes + group.bytes
      const rows = this.#rows + entries.length
      if (rows > this.maxRows || bytes > this.maxBytes) {
        throw new WalFullError(rows, bytes, this.maxRows, this.maxBytes)
      }
      const encoded = writeGroup(group)
      const enqueuedAt = this.#clock.now()
      this.#newestSeq = this.#sql.insertAll(group, encoded, enqueuedAt)
      const firstSeq = this.#newestSeq - entries.length + 1
      this.#rows = rows
      this.#bytes = bytes
      return entries.map((entry, i): WalRecord => {
        const seq = firstSeq + i
        const { id, op, row } = entry
        return row === undefined ? { seq, id, op, enqueuedAt } : { seq, id, op, row, enqueuedAt }
      })
    })
  }

  /**
   * The oldest `limit` records in seq order (they stay until acknowledged). An undecodable record
   * ends the batch before it; once it is the oldest, `peek` throws `CorruptDataError` naming its seq
   * (`<path> (seq N)`, also `stats().oldestSeq`), so a drain reports it and acks it to skip it
   * instead of being blocked by one bad row (SPEC §9).
   */
  peekSync(limit: number): WalRecord[] {
    checkCount('limit', limit)
    return this.#use('peek', () => {
      const records: WalRecord[] = []
      for (const { seq, id, op, row, enqueuedAt } of this.#sql.peek.all(limit)) {
        try {
          records.push(this.#record(seq, id, op, row, enqueuedAt))
        } catch (error) {
          if (records.length === 0) throw error
          break
        }
      }
      return records
    })
  }

  #record(seq: number, id: string, op: string, row: Buffer | null, enqueuedAt: number): WalRecord {
    const location = `${this.path} (seq ${seq})`
    if (op === 'put' && row !== null) return { seq, id, op, row: decodeRow(row, id, location), enqueuedAt }
    if (op === 'delete' && row === null) return { seq, id, op, enqueuedAt }
    throw new CorruptDataError(location, `op '${op}' with ${row === null ? 'no' : 'a'} row`)
  }

  /** Deletes every record with seq ≤ `uptoSeq`; returns how many went. */
  ackSync(uptoSeq: number): number {
    checkCount('uptoSeq', uptoSeq)
    return this.#use('ack', () => {
      if (this.#rows === 0) return 0
      if (uptoSeq >= this.#newestSeq) {
        // Every row goes: no need to count them (the totals are exact) nor to delete one by one.
        const removed = this.#rows
        this.#sql.removeAll()
        this.#rows = 0
        this.#bytes = 0
        return removed
      }
      const removed = this.#sql.removeUpTo(uptoSeq)
      this.#rows -= removed.rows
      this.#bytes -= removed.bytes
      return removed.rows
    })
  }

  statsSync(): WalStats {
    return this.#use('read stats', () => {
      const oldest = this.#rows > 0 ? this.#sql.oldest.get() : undefined
      return {
        rows: this.#rows,
        bytes: this.#bytes,
        maxRows: this.maxRows,
        maxBytes: this.maxBytes,
        oldestSeq: oldest?.seq,
        newestSeq: oldest === undefined ? undefined : this.#newestSeq,
        oldestEnqueuedAt: oldest?.enqueuedAt,
      }
    })
  }

  /** max(rows / maxRows, bytes / maxBytes); the last known value once closed. */
  pressure(): number {
    return Math.max(this.#rows / this.maxRows, this.#bytes / this.maxBytes)
  }

  /** What SQLite reports about the open file (for health details and support). */
  diagnostics(): WalDiagnostics {
    return this.#use('read diagnostics', (db) => {
      const pragma = (name: string) => db.pragma(name, { simple: true })
      return {
        path: this.path,
        journalMode: String(pragma('journal_mode')),
        synchronous: SYNCHRONOUS_NAMES[pragma('synchronous') as number] ?? 'unknown',
        lockingMode: String(pragma('locking_mode')),
        schemaVersion: pragma('user_version') as number,
        fileBytes: (pragma('page_count') as number) * (pragma('page_size') as number),
        freeBytes: (pragma('freelist_count') as number) * (pragma('page_size') as number),
      }
    })
  }

  /** Stores (replaces) the snapshot of one filter. Snapshots do not count towards the queue limits. */
  saveSnapshotSync(filterId: string, bytes: Uint8Array, merkleRoot: string | null, entryCount: number): void {
    if (typeof filterId !== 'string' || filterId === '') {
      throw new InvalidArgumentError('filterId', 'filterId must be a non-empty string')
    }
    if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError('bytes', 'bytes must be a Uint8Array')
    if (merkleRoot !== null && typeof merkleRoot !== 'string') {
      throw new InvalidArgumentError('merkleRoot', 'merkleRoot must be a string or null')
    }
    checkCount('entryCount', entryCount)
    this.#use('save a snapshot', () => {
      this.#sql.saveSnapshot.run(filterId, bytes, merkleRoot, entryCount, this.#clock.now())
    })
  }

  loadSnapshotSync(filterId: string): FilterSnapshot | undefined {
    if (typeof filterId !== 'string') throw new InvalidArgumentError('filterId', 'filterId must be a string')
    return this.#use('load a snapshot', () => {
      const row = this.#sql.loadSnapshot.get(filterId)
      return row && { filterId, ...row, bytes: bytesOf(row.bytes) }
    })
  }

  /** Checkpoints and releases the file (and its lock). Idempotent. */
  closeSync(): void {
    const db = this.#db
    if (db === undefined) return
    this.#db = undefined
    try {
      db.close()
    } catch (error) {
      throw translate(error, this.path)
    }
  }

  async append(entries: readonly WalEntry[]): Promise<WalRecord[]> {
    return this.appendSync(entries)
  }
  async peek(limit: number): Promise<WalRecord[]> {
    return this.peekSync(limit)
  }
  async ack(uptoSeq: number): Promise<number> {
    return this.ackSync(uptoSeq)
  }
  async stats(): Promise<WalStats> {
    return this.statsSync()
  }
  async saveSnapshot(
    filterId: string,
    bytes: Uint8Array,
    merkleRoot: string | null,
    entryCount: number,
  ): Promise<void> {
    this.saveSnapshotSync(filterId, bytes, merkleRoot, entryCount)
  }
  async loadSnapshot(filterId: string): Promise<FilterSnapshot | undefined> {
    return this.loadSnapshotSync(filterId)
  }
  async close(): Promise<void> {
    this.closeSync()
  }
}
