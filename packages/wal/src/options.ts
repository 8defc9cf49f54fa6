import { resolve } from 'node:path'
import { type Clock, InvalidArgumentError, systemClock } from '@sync-engine/core'

/** `full`: every commit is fsynced (survives power loss). `normal`: survives a process crash only. */
export type WalSyncMode = 'full' | 'normal'

export interface SqliteWalOptions {
  /** The SQLite file; parent directories are created. Default `./sync_engine_wal.db`. */
  readonly path?: string | undefined
  /** Most rows the queue may hold (default 1 000 000). */
  readonly maxRows?: number | undefined
  /** Most bytes the queue may hold, as counted by `stats().bytes` (default 100 MiB). */
  readonly maxBytes?: number | undefined
  /** SQLite `synchronous` setting (default `'full'`). */
  readonly sync?: WalSyncMode | undefined
  /** How long opening waits for a file another connection holds before failing (default 1000 ms). */
  readonly busyTimeoutMs?: number | undefined
  /** Source of `enqueuedAt` and `savedAt` (default: the system clock). */
  readonly clock?: Clock | undefined
}

export const WAL_DEFAULTS = Object.freeze({
  path: './sync_engine_wal.db',
  maxRows: 1_000_000,
  maxBytes: 100 * 1024 * 1024,
  sync: 'full' as WalSyncMode,
  busyTimeoutMs: 1000,
})

export interface ResolvedWalOptions {
  readonly path: string
  readonly maxRows: number
  readonly maxBytes: number
  readonly sync: WalSyncMode
  readonly busyTimeoutMs: number
  readonly clock: Clock
}

const KNOWN = ['path', 'maxRows', 'maxBytes', 'sync', 'busyTimeoutMs', 'clock']

function bad(name: string, message: string): never {
  throw new InvalidArgumentError(`options.${name}`, `options.${name} ${message}`)
}

function integer(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    bad(name, `must be an integer ≥ ${min}, got ${String(value)}`)
  }
  return value
}

/** Validates the options (unknown keys are an error: a typo must not fall back to a default). */
export function resolveWalOptions(options: SqliteWalOptions = {}): ResolvedWalOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError('options', 'options must be an object')
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.includes(key)) bad(key, `is not an option (known: ${KNOWN.join(', ')})`)
  }
  const { path = WAL_DEFAULTS.path, sync = WAL_DEFAULTS.sync, clock = systemClock } = options
  if (typeof path !== 'string' || path.trim() === '' || path.includes('\0')) {
    bad('path', `must be a non-empty file path, got ${JSON.stringify(path)}`)
  }
  if (path === ':memory:' || path.startsWith('file:')) {
    bad('path', `must be a plain file path (the log must survive the process), got '${path}'`)
  }
  if (sync !== 'full' && sync !== 'normal') bad('sync', `must be 'full' or 'normal', got '${String(sync)}'`)
  if (typeof clock !== 'object' || clock === null || typeof clock.now !== 'function') {
    bad('clock', 'must be a Clock (an object with now())')
  }
  return {
    path: resolve(path),
    maxRows: integer('maxRows', options.maxRows, WAL_DEFAULTS.maxRows, 1),
    maxBytes: integer('maxBytes', options.maxBytes, WAL_DEFAULTS.maxBytes, 1),
    sync,
    busyTimeoutMs: integer('busyTimeoutMs', options.busyTimeoutMs, WAL_DEFAULTS.busyTimeoutMs, 0),
    clock,
  }
}
