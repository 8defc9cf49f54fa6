import { BackendUnavailableError, type Logger, TimeoutError } from '@sync-engine/core'
import type { Pool, PoolConnection } from 'mysql2/promise'

/** Runs statements; the node store and the row code are written against it. */
export interface Executor {
  /** One prepared statement (cached per connection by its text); resolves with its rows or result header. */
  execute<T>(sql: string, params: readonly unknown[]): Promise<T>
}

export interface DatabaseOptions {
  /** Per statement; 0 disables. */
  readonly queryTimeoutMs: number
  readonly lockTimeoutSeconds: number
  /** Extra attempts after a transient failure. */
  readonly retries: number
  readonly logger: Logger
  /** The redacted URL, for error messages. */
  readonly where: string
}

// Deadlock, lock wait timeout, too many connections, server shutdown, connection killed, gone away, lost.
const TRANSIENT_ERRNO = new Set([1213, 1205, 1040, 1053, 1927, 2006, 2013])
const CONNECTION_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
])
const QUERY_TIMEOUT = 'PROTOCOL_SEQUENCE_TIMEOUT'

/** Bound values as the driver types them (the tier binds strings, numbers, Buffers and nulls). */
type Values = Parameters<PoolConnection['execute']>[1]
type QueryValues = Parameters<PoolConnection['query']>[1]

/**
 * Run once on every new connection: read committed (locking reads see the latest commit, no gap
 * locks) and strict mode (a value that does not fit is an error, never silently truncated).
 */
const SESSION_SETUP = [
  'SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED',
  "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'",
  // Time functions (the Merkle table's `updated_at`) in UTC, without a daylight-saving hour.
  "SET SESSION time_zone = '+00:00'",
]

interface DriverError {
  code?: string
  errno?: number
  fatal?: boolean
  message?: string
}

function driverError(error: unknown): DriverError {
  return typeof error === 'object' && error !== null ? (error as DriverError) : {}
}

/** The connection is gone (or in doubt): it must be destroyed, never returned to the pool. */
function isConnectionError(error: unknown): boolean {
  const e = driverError(error)
  return e.fatal === true || CONNECTION_CODES.has(e.code ?? '') || e.errno === 2006 || e.errno === 2013
}

/** Worth another attempt: deadlock, lock wait, lost or refused connection. Timeouts are not retried. */
export function isTransient(error: unknown): boolean {
  if (error instanceof TimeoutError) return false
  const e = driverError(error)
  return TRANSIENT_ERRNO.has(e.errno ?? 0) || isConnectionError(error)
}

/** One connection with the tier's statement timeout; marks itself broken when it can no longer be trusted. */
export class Session implements Executor {
  broken = false
  readonly #conn: PoolConnection
  readonly #timeoutMs: number

  constructor(conn: PoolConnection, timeoutMs: number) {
    this.#conn = conn
    this.#timeoutMs = timeoutMs
  }

  async execute<T>(sql: string, params: readonly unknown[], timeoutMs = this.#timeoutMs): Promise<T> {
    try {
      const options = timeoutMs > 0 ? { sql, timeout: timeoutMs } : { sql }
      const [result] = await this.#conn.execute(options, params as Values)
      return result as T
    } catch (error) {
      throw this.#fail(error, timeoutMs)
    }
  }

  /** A statement through the text protocol (DDL and transaction control, which are not prepared). */
  async query<T>(sql: string, params: readonly unknown[] = []): Promise<T> {
    try {
      const options = this.#timeoutMs > 0 ? { sql, timeout: this.#timeoutMs } : { sql }
      const [result] = await this.#conn.query(options, params as QueryValues)
      return result as T
    } catch (error) {
      throw this.#fail(error, this.#timeoutMs)
    }
  }

  /** `GET_LOCK(name, seconds)`; `TimeoutError` when another session held it for `seconds`. */
  async lock(name: string, seconds: number): Promise<void> {
    const rows = await this.execute<{ got: number | null }[]>(
      'SELECT GET_LOCK(?, ?) AS got',
      [name, seconds],
      this.#timeoutMs > 0 ? this.#timeoutMs + seconds * 1000 : 0,
    )
    if (rows[0]?.got !== 1) throw new TimeoutError(`waiting for the lock '${name}'`, seconds * 1000)
  }

  /** Runs a clean-up statement; false (and broken) when it fails. */
  async quietly(sql: string, params: readonly unknown[] = []): Promise<boolean> {
    try {
      await this.query(sql, params)
      return true
    } catch {
      this.broken = true
      return false
    }
  }

  #fail(error: unknown, timeoutMs: number): unknown {
    if (driverError(error).code === QUERY_TIMEOUT) {
      this.broken = true
      return new TimeoutError('mysql statement', timeoutMs)
    }
    if (isConnectionError(error)) this.broken = true
    return error
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The pool, used one way everywhere: a unit of work gets its own connection (optionally a named
 * lock and a transaction), and is retried as a whole, with backoff, when it fails transiently.
 */
export class Database implements Executor {
  readonly pool: Pool
  readonly #options: DatabaseOptions
  /** Physical connections that ran `SESSION_SETUP`. */
  readonly #setUp = new WeakSet<object>()
  readonly #openSide: (() => Pool) | undefined
  #side: Pool | undefined

  /**
   * `side` opens the pool (two connections) for work that runs beside a transaction (see
   * `sideTransaction`); without it that work uses the main pool, which must then have room for it.
   */
  constructor(pool: Pool, options: DatabaseOptions, side?: () => Pool) {
    this.pool = pool
    this.#options = options
    this.#openSide = side
  }

  /**
   * `work` in a transaction of its own on a side connection, not retried (the caller's unit of work
   * is, as a whole): used by the holder of a store lock to write what only lock holders write while
   * its own transaction runs other statements. With the side pool it never waits on the main pool, so
   * it cannot deadlock with the transaction that is waiting for it.
   */
  sideTransaction<T>(work: (s: Session) => Promise<T>): Promise<T> {
    this.#side ??= this.#openSide?.()
    return this.#once(work, true, undefined, this.#side ?? this.pool)
  }

  /** Closes the pools. */
  async end(): Promise<void> {
    const side = this.#side
    this.#side = undefined
    await Promise.all([this.pool.end(), side?.end()])
  }

  /** One statement on a pooled connection. */
  execute<T>(sql: string, params: readonly unknown[]): Promise<T> {
    return this.session((s) => s.execute<T>(sql, params))
  }

  /** `work` on one connection, no transaction (reads, DDL); `lock` serializes it across processes. */
  session<T>(work: (s: Session) => Promise<T>, lock?: string): Promise<T> {
    return this.#retry(() => this.#once(work, false, lock))
  }

  /**
   * `work` in one transaction, under the named `lock` when given (taken before the transaction,
   * released after COMMIT or ROLLBACK). Retried from the start on a transient failure.
   */
  transaction<T>(work: (s: Session) => Promise<T>, lock?: string): Promise<T> {
    return this.#retry(() => this.#once(work, true, lock))
  }

  async #retry<T>(attempt: () => Promise<T>): Promise<T> {
    for (let n = 0; ; n++) {
      try {
        return await attempt()
      } catch (error) {
        if (n < this.#options.retries && isTransient(error)) {
          const delay = Math.round(25 * 2 ** n * (0.5 + Math.random()))
          this.#options.logger.warn(
            { err: driverError(error).message, attempt: n + 1, delayMs: delay },
            'mysql-tier: transient failure, retrying',
          )
          await sleep(delay)
          continue
        }
        throw this.#map(error)
      }
    }
  }

  async #once<T>(
    work: (s: Session) => Promise<T>,
    transaction: boolean,
    lock: string | undefined,
    pool = this.pool,
  ) {
    const conn = await pool.getConnection()
    const session = new Session(conn, this.#options.queryTimeoutMs)
    let locked = false
    let open = false
    try {
      if (!this.#setUp.has(conn.connection)) {
        for (const statement of SESSION_SETUP) await session.query(statement)
        this.#setUp.add(conn.connection)
      }
      if (lock !== undefined) {
        await session.lock(lock, this.#options.lockTimeoutSeconds)
        locked = true
      }
      if (transaction) {
        await session.query('START TRANSACTION')
        open = true
      }
      const result = await work(session)
      if (open) {
        await session.query('COMMIT')
        open = false
      }
      return result
    } finally {
      // Undo what did not commit and free the lock; a connection in doubt is destroyed (which also
      // frees its lock on the server), never handed back to the pool.
      if (!session.broken && open) await session.quietly('ROLLBACK')
      if (!session.broken && locked) await session.quietly('DO RELEASE_LOCK(?)', [lock])
      if (session.broken) conn.destroy()
      else conn.release()
    }
  }

  #map(error: unknown): unknown {
    if (isConnectionError(error)) {
      const e = driverError(error)
      return new BackendUnavailableError('mysql', `${e.message ?? e.code} (${this.#options.where})`, {
        cause: error,
      })
    }
    return error
  }
}
