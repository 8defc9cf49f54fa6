import { resolve } from 'node:path'
import { InvalidArgumentError, type Logger, silentLogger } from '@sync-engine/core'

/** `full`: every commit is fsynced (survives power loss). `normal`: survives a process crash only. */
export type SqliteSyncMode = 'full' | 'normal'

export interface SqliteL3StoreOptions {
  /** The database file; parent directories are created. Give `path` or `url`, not both. */
  readonly path?: string | undefined
  /** `sqlite:<path>` (also `sqlite://<path>`, `sqlite:///<absolute path>`), as in the engine's `sql.url`. */
  readonly url?: string | undefined
  /** Keep the Merkle tree in `merkle_nodes` in the same transaction as the rows (default `true`). */
  readonly merkle?: boolean | undefined
  /** Where the store logs (pino-compatible); default: silent. */
  readonly logger?: Logger | undefined
  /** How long a statement waits for another process's write lock before failing (default 5000 ms). */
  readonly busyTimeoutMs?: number | undefined
  /** SQLite `synchronous` setting (default `'full'`). */
  readonly sync?: SqliteSyncMode | undefined
  /** Run `PRAGMA quick_check` at `connect()` and refuse a damaged file (default `true`). */
  readonly checkOnConnect?: boolean | undefined
}

export interface ResolvedOptions {
  /** Absolute path, or `:memory:`. */
  readonly path: string
  readonly merkle: boolean
  readonly logger: Logger
  readonly busyTimeoutMs: number
  readonly sync: SqliteSyncMode
  readonly checkOnConnect: boolean
}

export const DEFAULTS = Object.freeze({
  merkle: true,
  busyTimeoutMs: 5000,
  sync: 'full' as SqliteSyncMode,
  checkOnConnect: true,
})

const KNOWN = ['path', 'url', 'merkle', 'logger', 'busyTimeoutMs', 'sync', 'checkOnConnect']
export const MEMORY_PATH = ':memory:'

function bad(name: string, message: string): never {
  throw new InvalidArgumentError(`options.${name}`, `options.${name} ${message}`)
}

function boolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') bad(name, `must be a boolean, got ${String(value)}`)
  return value
}

/** The file path of a `sqlite:` URL. */
export function pathOfUrl(url: string): string {
  if (!url.startsWith('sqlite:')) bad('url', `must start with 'sqlite:', got '${url}'`)
  const rest = url.slice('sqlite:'.length)
  return rest.startsWith('//') ? rest.slice(2) : rest
}

/** Validates the options (unknown keys are an error: a typo must not fall back to a default). */
export function resolveOptions(options: SqliteL3StoreOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError('options', 'options must be an object')
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.includes(key)) bad(key, `is not an option (known: ${KNOWN.join(', ')})`)
  }
  if (options.path !== undefined && options.url !== undefined)
    bad('url', 'and options.path exclude each other')
  if (options.url !== undefined && typeof options.url !== 'string') bad('url', 'must be a string')
  const path = options.url === undefined ? options.path : pathOfUrl(options.url)
  if (typeof path !== 'string' || path.trim() === '' || path.includes('\0')) {
    bad(options.url === undefined ? 'path' : 'url', `must name a database file, got ${JSON.stringify(path)}`)
  }
  const { busyTimeoutMs = DEFAULTS.busyTimeoutMs, sync = DEFAULTS.sync, logger = silentLogger } = options
  if (typeof busyTimeoutMs !== 'number' || !Number.isSafeInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
    bad('busyTimeoutMs', `must be an integer ≥ 0, got ${String(busyTimeoutMs)}`)
  }
  if (sync !== 'full' && sync !== 'normal') bad('sync', `must be 'full' or 'normal', got '${String(sync)}'`)
  if (typeof logger !== 'object' || logger === null || typeof logger.info !== 'function') {
    bad('logger', 'must be a Logger (an object with debug/info/warn/error)')
  }
  return {
    path: path === MEMORY_PATH ? path : resolve(path),
    merkle: boolean('merkle', options.merkle, DEFAULTS.merkle),
    logger,
    busyTimeoutMs,
    sync,
    checkOnConnect: boolean('checkOnConnect', options.checkOnConnect, DEFAULTS.checkOnConnect),
  }
}
