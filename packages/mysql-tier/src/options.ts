import { createConsoleLogger, InvalidArgumentError, type Logger } from '@sync-engine/core'
import type { PoolOptions } from 'mysql2/promise'
import { checkIdentifier } from './sql.js'

export interface MysqlL3StoreOptions {
  /** `mysql://user:password@host:3306/database` (give this or `pool`). */
  url?: string
  /** mysql2 pool options (`host`, `user`, `password`, `database`, `ssl`, …), instead of `url`. */
  pool?: PoolOptions
  /** The items table (default `sync_items`). */
  table?: string
  /** The Merkle node table (default `merkle_nodes`). Two stores in one database need distinct tables. */
  merkleTable?: string
  /** Keep the Merkle tree (default true). Off: no tree writes, `merkleRoot()` is null. */
  merkle?: boolean
  /** pino-compatible logger (default: console, warnings and errors only). */
  logger?: Logger
  /** Pool size (default 10); the store opens 2 more for batches it overlaps (`overlapMinRows`). */
  connectionLimit?: number
  /**
   * Batches of at least this many rows (default 512) write their tree, and read their stored versions,
   * on two side connections while the rows are written; smaller ones run on one connection, one step
   * after the other (fewer round trips and commits: faster below a few hundred rows).
   */
  overlapMinRows?: number
  /** Timeout of each statement, in ms (default 30 000; 0 disables). */
  queryTimeoutMs?: number
  /** How long a write waits for the store's lock (another process writing), in seconds (default 30). */
  lockTimeoutSeconds?: number
  /** Extra attempts after a transient failure: deadlock, lock wait, lost connection (default 3). */
  retries?: number
  /** The store's name in health reports and logs (default `mysql`). */
  name?: string
}

export interface ResolvedOptions {
  readonly url: string | undefined
  readonly pool: PoolOptions | undefined
  readonly table: string
  readonly merkleTable: string
  readonly merkle: boolean
  readonly logger: Logger
  readonly connectionLimit: number
  readonly overlapMinRows: number
  readonly queryTimeoutMs: number
  readonly lockTimeoutSeconds: number
  readonly retries: number
  readonly name: string
}

const KEYS = new Set([
  'url',
  'pool',
  'table',
  'merkleTable',
  'merkle',
  'logger',
  'connectionLimit',
  'overlapMinRows',
  'queryTimeoutMs',
  'lockTimeoutSeconds',
  'retries',
  'name',
])

function integer(value: unknown, name: string, min: number, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidArgumentError(name, `${name} must be an integer ≥ ${min}, got ${String(value)}`)
  }
  return value
}

/** Applies defaults; unknown keys and wrong values are `InvalidArgumentError`s naming the option. */
export function resolveOptions(options: MysqlL3StoreOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError('options', 'MysqlL3Store options must be an object')
  }
  for (const key of Object.keys(options)) {
    if (!KEYS.has(key)) throw new InvalidArgumentError(key, `unknown MysqlL3Store option '${key}'`)
  }
  const { url, pool } = options
  if ((url === undefined) === (pool === undefined)) {
    throw new InvalidArgumentError('url', 'give exactly one of `url` and `pool`')
  }
  if (url !== undefined && (typeof url !== 'string' || !/^mysql:\/\//i.test(url))) {
    throw new InvalidArgumentError('url', 'url must be a mysql://user:password@host:port/database URL')
  }
  if (pool !== undefined && (pool === null || typeof pool !== 'object')) {
    throw new InvalidArgumentError('pool', 'pool must be mysql2 pool options')
  }
  if (options.merkle !== undefined && typeof options.merkle !== 'boolean') {
    throw new InvalidArgumentError('merkle', 'merkle must be a boolean')
  }
  const table = checkIdentifier(options.table ?? 'sync_items', 'table')
  const merkleTable = checkIdentifier(options.merkleTable ?? 'merkle_nodes', 'merkleTable')
  if (table === merkleTable)
    throw new InvalidArgumentError('merkleTable', 'merkleTable must differ from table')
  return {
    url,
    pool,
    table,
    merkleTable,
    merkle: options.merkle ?? true,
    logger: options.logger ?? createConsoleLogger(),
    connectionLimit: integer(options.connectionLimit, 'connectionLimit', 1, 10),
    overlapMinRows: integer(options.overlapMinRows, 'overlapMinRows', 1, 512),
    queryTimeoutMs: integer(options.queryTimeoutMs, 'queryTimeoutMs', 0, 30_000),
    lockTimeoutSeconds: integer(options.lockTimeoutSeconds, 'lockTimeoutSeconds', 1, 30),
    retries: integer(options.retries, 'retries', 0, 3),
    name: options.name ?? 'mysql',
  }
}
