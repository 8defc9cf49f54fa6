import { BackendUnavailableError, CorruptDataError, SyncEngineError } from '@sync-engine/core'
import type Database from 'better-sqlite3'

export type Db = Database.Database
export type Statement = Database.Statement<unknown[], unknown>

/** The backend name in errors and logs. */
export const BACKEND = 'sqlite'

/** SQLite's bound-parameter limit (SQLITE_MAX_VARIABLE_NUMBER since 3.32). */
export const MAX_PARAMS = 32766

function sqliteCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined
}

/**
 * Maps a better-sqlite3 error to core's hierarchy: a damaged file is `CorruptDataError` at `path`,
 * everything else SQLite reports is `BackendUnavailableError`; other errors pass through.
 */
export function translate(error: unknown, path: string): unknown {
  if (error instanceof SyncEngineError) return error
  const code = sqliteCode(error)
  if (code === undefined) return error
  const options = { cause: error }
  const message = (error as Error).message
  if (code === 'SQLITE_NOTADB')
    return new CorruptDataError(path, 'not a SQLite database (damaged header or a foreign file)', options)
  if (code.startsWith('SQLITE_CORRUPT')) return new CorruptDataError(path, message, options)
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new BackendUnavailableError(
      BACKEND,
      `${path} is locked by another connection past the busy timeout (${message})`,
      options,
    )
  }
  return new BackendUnavailableError(BACKEND, `${path}: ${message} (${code})`, options)
}

/**
 * Row counts a multi-row statement is prepared for: `full` rows per statement, and the powers of two
 * below it for the tail, so a table never needs more than ~log2(full) cached statements.
 */
export function chunkSizes(rows: number, full: number): number[] {
  const sizes: number[] = []
  let left = rows
  for (; left >= full; left -= full) sizes.push(full)
  for (let size = 1 << Math.floor(Math.log2(Math.max(left, 1))); left > 0; size >>= 1) {
    if (left >= size) {
      sizes.push(size)
      left -= size
    }
  }
  return sizes
}

/** `(?, ?, ?), (?, ?, ?)`: `rows` copies of `group` joined by commas. */
export function valuesList(group: string, rows: number): string {
  return Array.from({ length: rows }, () => group).join(', ')
}

/** How a statement returns rows: objects, the first column only, or arrays of columns. */
export type RowMode = 'rows' | 'pluck' | 'raw'

/** One open database: cached statements, error translation, and write transactions. */
export class Connection {
  readonly db: Db
  readonly path: string
  readonly #statements = new Map<string, Statement>()
  readonly #begin: Statement
  readonly #commit: Statement
  readonly #rollback: Statement

  constructor(db: Db, path: string) {
    this.db = db
    this.path = path
    this.#begin = db.prepare('BEGIN IMMEDIATE')
    this.#commit = db.prepare('COMMIT')
    this.#rollback = db.prepare('ROLLBACK')
  }

  /** The prepared statement of `sql` returning rows as `mode` says, prepared once. */
  statement(sql: string, mode: RowMode = 'rows'): Statement {
    return this.#cached(`${mode}:${sql}`, () => sql, mode)
  }

  #cached(key: string, sql: () => string, mode: RowMode): Statement {
    let statement = this.#statements.get(key)
    if (statement === undefined) {
      statement = this.db.prepare(sql())
      if (mode === 'pluck') statement.pluck()
      else if (mode === 'raw' && statement.reader) statement.raw()
      this.#statements.set(key, statement)
    }
    return statement
  }

  /** Runs `fn`, mapping SQLite errors to core's. */
  read<T>(fn: () => T): T {
    try {
      return fn()
    } catch (error) {
      throw translate(error, this.path)
    }
  }

  /**
   * Runs `fn` inside `BEGIN IMMEDIATE … COMMIT` (the file's write lock, so writers in other processes
   * are serialized), rolling back on any error. `fn` is synchronous: nothing else of this process
   * can run between BEGIN and COMMIT. Inside a transaction already, `fn` simply joins it.
   */
  write<T>(fn: () => T): T {
    if (this.db.inTransaction) return this.read(fn)
    try {
      this.#begin.run()
      const result = fn()
      this.#commit.run()
      return result
    } catch (error) {
      if (this.db.inTransaction) this.#rollback.run()
      throw translate(error, this.path)
    }
  }

  /**
   * Runs a multi-row statement over `items`, `width` parameters each, at most `maxRows` items a
   * statement (and never past SQLite's parameter limit); `sqlFor(n)` is the SQL for `n` items, its
   * statement cached under `key` and `n`; `bind(item, params, at)` writes an item's parameters at `at`.
   * Returns the rows the statements changed (SQLite's `changes()`, summed).
   */
  chunked<T>(
    key: string,
    items: readonly T[],
    width: number,
    maxRows: number,
    sqlFor: (n: number) => string,
    bind: (item: T, params: unknown[], at: number) => void,
  ): number {
    const full = Math.max(1, Math.min(maxRows, Math.floor(MAX_PARAMS / width)))
    let next = 0
    let changes = 0
    for (const size of chunkSizes(items.length, full)) {
      const params = new Array<unknown>(size * width)
      for (let i = 0; i < size; i++) bind(items[next++]!, params, i * width)
      changes += this.#cached(`multi:${key}:${size}`, () => sqlFor(size), 'rows').run(params).changes
    }
    return changes
  }

  close(): void {
    this.#statements.clear()
    this.db.close()
  }
}
