import { InvalidArgumentError, SchemaMismatchError } from '@sync-engine/core'
import type { Db } from './connection.js'

/** The table every id goes to unless a partition routes it elsewhere. */
export const DEFAULT_TABLE = 'sync_items'
export const SCHEMA_TABLE = 'sync_engine_schema'
export const PARTITIONS_TABLE = 'sync_engine_partitions'
export const MERKLE_TABLE = 'merkle_nodes'

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/
const RESERVED = new Set([SCHEMA_TABLE, PARTITIONS_TABLE, MERKLE_TABLE])

/**
 * Checks a table name for an item table: an identifier (`^[A-Za-z_][A-Za-z0-9_]{0,63}$`), not one of
 * the engine's own tables nor SQLite's (`sqlite_…`). Returns it, quoted for SQL.
 */
export function checkTableName(table: unknown): string {
  if (typeof table !== 'string' || !IDENTIFIER.test(table)) {
    throw new InvalidArgumentError(
      'table',
      `table name ${JSON.stringify(table)} is not an identifier (letters, digits and _, not starting with a digit, at most 64)`,
    )
  }
  const lower = table.toLowerCase()
  if (RESERVED.has(lower) || lower.startsWith('sqlite_')) {
    throw new InvalidArgumentError('table', `table name '${table}' is reserved`)
  }
  return table
}

/**
 * An item table (SPEC §5.2) with the reference engine's names and MySQL-like declared types (SQLite
 * reads them as affinities: VARCHAR/LONGTEXT → TEXT, BIGINT → INTEGER, LONGBLOB → BLOB). `id` compares
 * with BINARY collation, i.e. in UTF-8 byte order. JSON content is text in `payload`, binary content
 * sits in `payload_blob`; exactly one of them is set. The `(state, id)` index serves state lookups
 * and their keyset pages.
 */
export function itemTableDdl(table: string): string {
  return `
CREATE TABLE IF NOT EXISTS "${table}" (
  id VARCHAR(255) NOT NULL PRIMARY KEY COLLATE BINARY,
  version BIGINT NOT NULL,
  timestamp BIGINT NOT NULL,
  payload_hash VARCHAR(64) NOT NULL,
  payload LONGTEXT,
  payload_blob LONGBLOB,
  audit TEXT,
  state VARCHAR(32) NOT NULL DEFAULT 'default',
  access_count BIGINT NOT NULL DEFAULT 0,
  last_accessed BIGINT NOT NULL DEFAULT 0,
  CHECK ((payload IS NULL) <> (payload_blob IS NULL))
);
CREATE INDEX IF NOT EXISTS "${table}_state" ON "${table}" (state, id);
CREATE INDEX IF NOT EXISTS "${table}_timestamp" ON "${table}" (timestamp);
`
}

/**
 * The ordered migrations; migration `i` (1-based) brings the schema from version `i - 1` to `i`.
 * Each runs inside the connect transaction, and `IF NOT EXISTS` makes a half-known state harmless.
 * A later migration that alters item tables must alter every registered partition table too.
 */
export const MIGRATIONS: readonly ((db: Db) => void)[] = [
  // 1: the default item table and the Merkle tree (a WITHOUT ROWID table: small rows, found by path).
  (db) => {
    db.exec(itemTableDdl(DEFAULT_TABLE))
    db.exec(`
CREATE TABLE IF NOT EXISTS ${MERKLE_TABLE} (
  path VARCHAR(256) NOT NULL PRIMARY KEY COLLATE BINARY,
  parent_path VARCHAR(256) COLLATE BINARY,
  merkle_hash CHAR(64) NOT NULL,
  object_count BIGINT NOT NULL,
  is_leaf INTEGER NOT NULL,
  updated_at BIGINT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ${MERKLE_TABLE}_parent ON ${MERKLE_TABLE} (parent_path);
`)
  },
  // 2: the prefix → table registry of partitions.
  (db) => {
    db.exec(`
CREATE TABLE IF NOT EXISTS ${PARTITIONS_TABLE} (
  prefix VARCHAR(255) NOT NULL PRIMARY KEY COLLATE BINARY,
  table_name VARCHAR(64) NOT NULL,
  created_at BIGINT NOT NULL
);
`)
  },
]

/** The schema version this code writes and reads. */
export const SCHEMA_VERSION = MIGRATIONS.length

/** The one-row table holding the schema version and whether the Merkle tree lags the rows. */
const SCHEMA_TABLE_DDL = `
CREATE TABLE IF NOT EXISTS ${SCHEMA_TABLE} (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version INTEGER NOT NULL,
  merkle_stale INTEGER NOT NULL DEFAULT 0,
  updated_at BIGINT NOT NULL
);
`

export interface SchemaState {
  readonly version: number
  /** Set by a store with `merkle: false` that changed rows: the tree must be rebuilt before use. */
  readonly merkleStale: boolean
}

/** The stored schema version and Merkle flag (version 0 when the schema table is missing). */
export function readSchema(db: Db): SchemaState {
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(SCHEMA_TABLE)
  if (exists === undefined) return { version: 0, merkleStale: false }
  const row = db.prepare(`SELECT version, merkle_stale AS stale FROM ${SCHEMA_TABLE} WHERE id = 1`).get() as
    | { version: number; stale: number }
    | undefined
  return { version: row?.version ?? 0, merkleStale: row?.stale === 1 }
}

/** Refuses a schema newer than this code knows. */
export function checkSchemaVersion(found: number, where: string): void {
  if (found > SCHEMA_VERSION) throw new SchemaMismatchError(found, SCHEMA_VERSION, where)
}

/**
 * Brings the schema to `target` (default: the current version), applying the missing migrations in
 * order. Call inside a write transaction. Idempotent; a newer stored schema is a `SchemaMismatchError`.
 */
export function migrate(db: Db, where: string, target = SCHEMA_VERSION): number {
  db.exec(SCHEMA_TABLE_DDL)
  const { version } = readSchema(db)
  checkSchemaVersion(version, where)
  for (let next = version + 1; next <= target; next++) MIGRATIONS[next - 1]!(db)
  if (target > version) {
    // Rows that were there before the engine's schema (data of the reference engine) have no tree yet.
    const adopted = version === 0 && db.prepare(`SELECT 1 FROM ${DEFAULT_TABLE} LIMIT 1`).get() !== undefined
    db.prepare(
      `INSERT INTO ${SCHEMA_TABLE} (id, version, merkle_stale, updated_at) VALUES (1, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`,
    ).run(target, adopted ? 1 : 0, Date.now())
  }
  return Math.max(version, target)
}
