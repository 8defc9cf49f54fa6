import { InvalidArgumentError, sha256Hex } from '@sync-engine/core'

/** A table name the tier accepts: a plain SQL identifier (SPEC §5.2: identifiers are validated). */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/

/** Returns `name` when it is a valid table identifier; `InvalidArgumentError` naming `argument` otherwise. */
export function checkIdentifier(name: unknown, argument: string): string {
  if (typeof name !== 'string' || !IDENTIFIER.test(name)) {
    throw new InvalidArgumentError(
      argument,
      `${argument} must match ${IDENTIFIER} (letters, digits, '_'; at most 64), got ${JSON.stringify(name)}`,
    )
  }
  return name
}

/** A validated identifier in backquotes (validation makes the quoting a formality). */
export function quote(name: string): string {
  return `\`${name}\``
}

/** The escape character of every LIKE pattern the tier builds (`ESCAPE '!'` works in every sql_mode). */
export const LIKE_ESCAPE = '!'

/** `prefix%` with `!`, `%` and `_` taken literally: use with `LIKE ? ESCAPE '!'`. Backslash is literal too. */
export function likePrefix(prefix: string): string {
  return `${prefix.replace(/[!%_]/g, (c) => `${LIKE_ESCAPE}${c}`)}%`
}

/**
 * A `GET_LOCK` name for `parts` joined by `.`; MySQL refuses names over 64 characters, so a longer
 * name is replaced by a digest of it (stable across processes).
 */
export function lockName(...parts: string[]): string {
  const name = parts.join('.')
  return name.length <= 64 ? name : `sync-engine:${sha256Hex(name).slice(0, 48)}`
}

/** `(?,?,…)` with `columns` placeholders. */
function tuple(columns: number): string {
  return `(${Array.from({ length: columns }, () => '?').join(',')})`
}

/** `?,?,…` with `count` placeholders. */
export function placeholders(count: number): string {
  return Array.from({ length: count }, () => '?').join(',')
}

/** `VALUES (…),(…)` with `rows` tuples of `columns` placeholders (or `rows` copies of a tuple given as text). */
export function valuesList(rows: number, columns: number | string): string {
  const one = typeof columns === 'string' ? columns : tuple(columns)
  return Array.from({ length: rows }, () => one).join(',')
}

/**
 * Memoizes SQL text by statement size: the tier only runs statements of the sizes in
 * `STATEMENT_SIZES` (chunks.ts), so each builder makes at most 12 strings.
 */
export function bySize(build: (size: number) => string): (size: number) => string {
  const cache = new Map<number, string>()
  return (size) => {
    let sql = cache.get(size)
    if (sql === undefined) {
      sql = build(size)
      cache.set(size, sql)
    }
    return sql
  }
}

/** `bySize` in two variants chosen by a flag (`RETURNING` or not, `FOR UPDATE` or not, …). */
export function bySizeAndFlag(
  build: (size: number, flag: boolean) => string,
): (size: number, flag: boolean) => string {
  const off = bySize((n) => build(n, false))
  const on = bySize((n) => build(n, true))
  return (size, flag) => (flag ? on : off)(size)
}
