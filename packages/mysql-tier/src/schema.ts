import { SchemaMismatchError } from '@sync-engine/core'
import type { Session } from './db.js'
import { quote } from './sql.js'

/** The newest schema this code knows. */
export const SCHEMA_VERSION = 2
/**
 * One row per store (keyed by its items table): the schema version, and `merkle_stale`, set by a
 * store with `merkle: false` that changed rows (the tree must be rebuilt before it is used again).
 */
export const SCHEMA_TABLE = 'sync_engine_schema'
/** Prefix → table registry, per store. */
export const PARTITIONS_TABLE = 'sync_engine_partitions'

export interface SchemaNames {
  /** The store's default items table. */
  readonly items: string
  readonly merkle: string
  /** A no-pad binary collation of utf8mb4 (byte order, trailing spaces significant). */
  readonly collation: string
}

/**
 * An items table (SPEC §5.2). Ids and states compare byte for byte (`collation`), so keyset scans
 * run in UTF-8 byte order and `a` and `a ` are two ids.
 */
export function itemsTableDdl(table: string, collation: string): string {
  return `CREATE TABLE IF NOT EXISTS ${quote(table)} (
  id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE ${collation} NOT NULL,
  version BIGINT NOT NULL,
  \`timestamp\` BIGINT NOT NULL,
  payload_hash VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  payload LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  payload_blob LONGBLOB NULL,
  audit TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  state VARCHAR(32) CHARACTER SET utf8mb4 COLLATE ${collation} NOT NULL,
  access_count BIGINT NOT NULL DEFAULT 0,
  last_accessed BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (id),
  KEY idx_state (state),
  KEY idx_timestamp (\`timestamp\`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${collation}`
}

interface Migration {
  readonly version: number
  readonly description: string
  /** Idempotent statements (DDL commits on its own in MySQL, so a crash mid-way must be re-runnable). */
  readonly statements: (names: SchemaNames) => string[]
}

/** Ordered; each runs once per store, then its version is recorded. */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'items table and Merkle node table',
    statements: ({ items, merkle, collation }) => [
      itemsTableDdl(items, collation),
      `CREATE TABLE IF NOT EXISTS ${quote(merkle)} (
  path VARCHAR(256) CHARACTER SET utf8mb4 COLLATE ${collation} NOT NULL,
  parent_path VARCHAR(256) CHARACTER SET utf8mb4 COLLATE ${collation} NULL,
  merkle_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  object_count BIGINT NOT NULL,
  is_leaf TINYINT(1) NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (path),
  KEY idx_parent_path (parent_path)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${collation}`,
    ],
  },
  {
    version: 2,
    description: 'prefix → table partition registry',
    statements: ({ collation }) => [
      `CREATE TABLE IF NOT EXISTS ${quote(PARTITIONS_TABLE)} (
  store VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  prefix VARCHAR(255) CHARACTER SET utf8mb4 COLLATE ${collation} NOT NULL,
  table_name VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (store, prefix)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${collation}`,
    ],
  },
]

export interface MigrationReport {
  readonly from: number
  readonly to: number
}

/**
 * Brings the store's schema to `SCHEMA_VERSION`: creates the version table, reads the store's row,
 * refuses a newer schema (`SchemaMismatchError`), then runs the missing migrations in order, recording
 * each. The caller holds the store's schema lock, so two processes never migrate at once.
 */
export async function migrate(
  session: Session,
  names: SchemaNames,
  database: string,
): Promise<MigrationReport> {
  await session.query(`CREATE TABLE IF NOT EXISTS ${quote(SCHEMA_TABLE)} (
  store VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  version INT NOT NULL,
  merkle_stale TINYINT(1) NOT NULL DEFAULT 0,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (store)
) ENGINE=InnoDB`)
  const rows = await session.execute<{ version: number }[]>(
    `SELECT version FROM ${quote(SCHEMA_TABLE)} WHERE store = ?`,
    [names.items],
  )
  const from = rows[0]?.version ?? 0
  if (from > SCHEMA_VERSION) {
    throw new SchemaMismatchError(
      from,
      SCHEMA_VERSION,
      `${database}.${SCHEMA_TABLE} (store '${names.items}')`,
    )
  }
  for (const migration of MIGRATIONS) {
    if (migration.version <= from) continue
    for (const statement of migration.statements(names)) await session.query(statement)
    await session.execute(
      `INSERT INTO ${quote(SCHEMA_TABLE)} (store, version, updated_at) VALUES (?, ?, ?) ` +
        'ON DUPLICATE KEY UPDATE version = VALUES(version), updated_at = VALUES(updated_at)',
      [names.items, migration.version, Date.now()],
    )
  }
  return { from, to: Math.max(from, SCHEMA_VERSION) }
}
