import { SyncItem } from '@sync-engine/core'
import type { Pool } from 'mysql2/promise'

/**
 * What the SQL-tier suites share: the rows they write, and the hand-written mysql2 baseline a careful
 * user would write instead of a store — one transaction of prepared multi-row upserts of a fixed
 * chunk size, with the engine's version guard in the statement.
 */

/** ~200 bytes of JSON per row; `gen` changes the content (and so every Merkle leaf) between calls. */
export function tierGeneration(n: number, gen: number): SyncItem[] {
  return Array.from({ length: n }, (_, i) =>
    SyncItem.fromJson(
      `user.${Math.floor(i / 1000)}.${i}`,
      {
        name: `User number ${i}`,
        email: `user${i}@example.com`,
        role: i % 3 ? 'member' : 'admin',
        gen,
        tags: ['alpha', 'beta', 'gamma'],
        bio: 'x'.repeat(60),
      },
      { updatedAt: 1_700_000_000_000 },
    ),
  )
}

/** The parameters a raw upsert binds for an item: id, version, timestamp, hash, JSON text, state. */
export function rawRow(item: SyncItem): unknown[] {
  return [item.id, item.version, item.updatedAt, item.contentHash, item.text(), item.state]
}

const NEWER =
  '(VALUES(version) > version OR (VALUES(version) = version AND VALUES(`timestamp`) >= `timestamp`))'

/** MariaDB's `ON DUPLICATE KEY UPDATE` list that writes `columns` only when the row is not older (version last). */
export function guardedUpdates(columns: readonly string[]): string {
  return columns.map((c) => `${c} = IF(${NEWER}, VALUES(${c}), ${c})`).join(', ')
}

export interface RawUpsertShape {
  /** Column list of the INSERT. */
  readonly columns: string
  /** One row's VALUES tuple, e.g. `(?, ?, ?, NULL)`. */
  readonly row: string
  /** The guarded update list (`guardedUpdates`). */
  readonly updates: string
  readonly rowsPerStatement: number
}

/** The raw mysql2 writer: `rows` (flat parameter arrays) in one transaction of prepared statements. */
export function mariadbRawUpsert(pool: Pool, shape: RawUpsertShape) {
  const sql = (rows: number) =>
    `INSERT INTO sync_items (${shape.columns}) VALUES ${Array.from({ length: rows }, () => shape.row).join(', ')} ON DUPLICATE KEY UPDATE ${shape.updates}`
  return async (rows: readonly unknown[][]) => {
    const conn = await pool.getConnection()
    try {
      await conn.query('START TRANSACTION')
      for (let at = 0; at < rows.length; at += shape.rowsPerStatement) {
        const chunk = rows.slice(at, at + shape.rowsPerStatement)
        await conn.execute(sql(chunk.length), chunk.flat() as never)
      }
      await conn.query('COMMIT')
    } finally {
      conn.release()
    }
  }
}
