import { L3_ITEM_COLUMNS } from '@sync-engine/core'
import { bySize, bySizeAndFlag, LIKE_ESCAPE, placeholders, quote, valuesList } from './sql.js'

/** Which rows a scan, count or bulk delete selects: all, one state, or one id prefix (a LIKE pattern). */
export type Filter = 'all' | 'state' | 'prefix'

const WHERE: Record<Filter, string> = {
  all: '1 = 1',
  state: 'state = ?',
  prefix: `id LIKE ? ESCAPE '${LIKE_ESCAPE}'`,
}

/**
 * The version guard (SPEC §5.2): the incoming row wins when its `(version, timestamp)` is not older
 * than the stored one. MariaDB has no `VALUES … AS new` alias, so it is spelled with `VALUES(col)`.
 */
const NEWER =
  '(VALUES(version) > version OR (VALUES(version) = version AND VALUES(`timestamp`) >= `timestamp`))'

/**
 * `ON DUPLICATE KEY UPDATE` assigns left to right and later conditions see earlier assignments, so
 * every payload column is assigned first, then `timestamp`, then `version` last. Each is guarded by
 * `NEWER`; after `timestamp` changed, `NEWER` still holds for `version` exactly when it held at
 * the start (version greater: unaffected; version equal: the new timestamp equals `VALUES(timestamp)`).
 * Assigning `version` before `timestamp` would be wrong: a greater version would make the timestamp
 * test compare against the new version.
 */
function guardedUpdate(value: (column: string) => string): string {
  return [
    ...L3_ITEM_COLUMNS.filter((c) => c !== 'id' && c !== 'version' && c !== 'timestamp'),
    'timestamp',
    'version',
  ]
    .map((c) => `${quote(c)} = IF(${NEWER}, ${value(c)}, ${quote(c)})`)
    .join(', ')
}

const GUARDED_UPDATE = guardedUpdate((c) => `VALUES(${quote(c)})`)

/**
 * The columns a lean upsert binds: those of a row with JSON content, no audit and no access counts
 * (what a flush writes). The others take their defaults: `NULL` / `0`, the values the full upsert
 * would bind for such a row.
 */
export const LEAN_COLUMNS = ['id', 'version', 'timestamp', 'payload_hash', 'payload', 'state'] as const
const LEAN_DEFAULTS: Readonly<Record<string, string>> = {
  payload_blob: 'NULL',
  audit: 'NULL',
  access_count: '0',
  last_accessed: '0',
}
const GUARDED_LEAN_UPDATE = guardedUpdate((c) => LEAN_DEFAULTS[c] ?? `VALUES(${quote(c)})`)

/** The statements of one items table, built once per table and statement size. */
export class ItemSql {
  readonly table: string
  /**
   * Guarded multi-row upsert of `size` rows; with `returning` (MariaDB ≥ 10.5), it returns each row's
   * stored `(version, timestamp)` afterwards, in the order of the rows.
   */
  readonly upsert: (size: number, returning?: boolean) => string
  /** The same for `size` lean rows (`LEAN_COLUMNS`): 6 values a row instead of 10. */
  readonly upsertLean: (size: number, returning?: boolean) => string
  /** Full rows of `size` ids. */
  readonly rows: (size: number) => string
  /** Stored `(version, timestamp)` of `size` ids, locked for the transaction when `lock`. */
  readonly versions: (size: number, lock: boolean) => string
  /** Which of `size` ids exist, locked. */
  readonly idsForUpdate: (size: number) => string
  /** Which of `size` ids have a state other than `?`, locked. */
  readonly otherStateForUpdate: (size: number) => string
  readonly remove: (size: number) => string
  readonly setState: (size: number) => string
  /** Copies `size` rows from `source` into this table (partition moves). */
  readonly copyFrom: (source: string, size: number) => string
  readonly exists: string
  readonly count: (filter: Filter) => string
  /** Ids matching the filter after `?`, in byte order; with `LIMIT ?` when `limited`. */
  readonly page: (filter: Filter, limited: boolean) => string
  /** Ids matching the filter, locked. */
  readonly matchingForUpdate: (filter: Filter) => string
  readonly leaves: string

  constructor(table: string) {
    this.table = table
    const t = quote(table)
    const cols = L3_ITEM_COLUMNS.map(quote).join(', ')
    const inList = (n: number) => `id IN (${placeholders(n)})`
    const upsert = (columns: readonly string[], update: string) => {
      const list = columns.map(quote).join(', ')
      const build = bySizeAndFlag(
        (n, returning) =>
          `INSERT INTO ${t} (${list}) VALUES ${valuesList(n, columns.length)} ON DUPLICATE KEY UPDATE ${update}` +
          (returning ? ' RETURNING version, `timestamp`' : ''),
      )
      return (n: number, returning = false) => build(n, returning)
    }
    this.upsert = upsert(L3_ITEM_COLUMNS, GUARDED_UPDATE)
    this.upsertLean = upsert(LEAN_COLUMNS, GUARDED_LEAN_UPDATE)
    this.rows = bySize((n) => `SELECT ${cols} FROM ${t} WHERE ${inList(n)}`)
    this.versions = bySizeAndFlag(
      (n, lock) =>
        `SELECT id, version, \`timestamp\` FROM ${t} WHERE ${inList(n)}${lock ? ' FOR UPDATE' : ''}`,
    )
    this.idsForUpdate = bySize((n) => `SELECT id FROM ${t} WHERE ${inList(n)} FOR UPDATE`)
    this.otherStateForUpdate = bySize(
      (n) => `SELECT id FROM ${t} WHERE state <> ? AND ${inList(n)} FOR UPDATE`,
    )
    this.remove = bySize((n) => `DELETE FROM ${t} WHERE ${inList(n)}`)
    this.setState = bySize((n) => `UPDATE ${t} SET state = ? WHERE ${inList(n)}`)
    const copies = new Map<string, (n: number) => string>()
    this.copyFrom = (source, n) => {
      let build = copies.get(source)
      if (!build) {
        build = bySize(
          (k) => `INSERT INTO ${t} (${cols}) SELECT ${cols} FROM ${quote(source)} WHERE ${inList(k)}`,
        )
        copies.set(source, build)
      }
      return build(n)
    }
    this.exists = `SELECT 1 AS found FROM ${t} WHERE id = ? LIMIT 1`
    this.count = (f) => `SELECT COUNT(*) AS n FROM ${t} WHERE ${WHERE[f]}`
    this.page = (f, limited) =>
      `SELECT id FROM ${t} WHERE ${WHERE[f]} AND id > ? ORDER BY id${limited ? ' LIMIT ?' : ''}`
    this.matchingForUpdate = (f) => `SELECT id FROM ${t} WHERE ${WHERE[f]} FOR UPDATE`
    this.leaves = `SELECT id, version, payload_hash FROM ${t} WHERE id > ? ORDER BY id LIMIT ?`
  }
}
