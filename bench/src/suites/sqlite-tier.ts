import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type SyncItem, utf8Decode } from '@sync-engine/core'
import { SqliteL3Store } from '@sync-engine/sqlite-tier'
import Database from 'better-sqlite3'
import type { BenchGroup } from '../harness.js'
import { tierGeneration } from '../raw.js'

/** Rows per statement of the raw baseline (SQLite allows 32 766 parameters: 3 276 rows of 10). */
const RAW_ROWS_PER_STATEMENT = 1000
const COLUMNS =
  'id, version, timestamp, payload_hash, payload, payload_blob, audit, state, access_count, last_accessed'

/**
 * The hand-written way to do the same write with better-sqlite3: one transaction of prepared
 * multi-row upserts with the same version guard, on a file with the same schema and pragmas, binding
 * the JSON text directly. No validation, no per-row outcomes, no Merkle tree.
 */
function rawWriter(path: string) {
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  const sql = (rows: number) =>
    `INSERT INTO sync_items (${COLUMNS}) VALUES ${Array.from({ length: rows }, () => '(?, ?, ?, ?, ?, NULL, NULL, ?, 0, 0)').join(', ')}
     ON CONFLICT(id) DO UPDATE SET version = excluded.version, timestamp = excluded.timestamp,
       payload_hash = excluded.payload_hash, payload = excluded.payload, payload_blob = excluded.payload_blob,
       audit = excluded.audit, state = excluded.state
     WHERE excluded.version > sync_items.version
       OR (excluded.version = sync_items.version AND excluded.timestamp >= sync_items.timestamp)`
  const statements = new Map<number, Database.Statement>()
  const statement = (rows: number) => {
    let s = statements.get(rows)
    if (!s) {
      s = db.prepare(sql(rows))
      statements.set(rows, s)
    }
    return s
  }
  const write = db.transaction((rows: readonly { params: unknown[] }[]) => {
    for (let at = 0; at < rows.length; at += RAW_ROWS_PER_STATEMENT) {
      const chunk = rows.slice(at, at + RAW_ROWS_PER_STATEMENT)
      statement(chunk.length).run(chunk.flatMap((r) => r.params))
    }
  })
  return { write, close: () => db.close() }
}

interface Variant {
  label: string
  merkle: boolean
  target: number
}

/**
 * One group per store configuration, each with its own baseline and files, set up and torn down on
 * its own, so one case's I/O and garbage never land in another's measurement.
 */
function group(n: number, { label, merkle, target }: Variant): BenchGroup {
  const caseName = `SqliteL3Store.putBatch${label}`
  let dir = ''
  let gens: SyncItem[][] = []
  // The baseline binds what a caller of raw better-sqlite3 has at hand: JSON text and its hash.
  let rawGens: { params: unknown[] }[][] = []
  let raw: ReturnType<typeof rawWriter> | undefined
  let store: SqliteL3Store | undefined
  let rawCalls = 0
  let storeCalls = 0
  return {
    name: `sqlite-tier: putBatch of ${n / 1000}k rows (~200 B JSON)${label}`,
    rounds: 5,
    minCalls: 3,
    warmupCalls: 1,
    note:
      'Every call rewrites all rows with new content (two generations alternate), so every row is ' +
      'updated and, with the tree, every leaf changes. The store validates each row, reports exact ' +
      'per-row outcomes and, with the tree, updates merkle_nodes in the same transaction; the baseline ' +
      'does none of that. Same schema, WAL journal, synchronous=FULL.',
    setup: async () => {
      dir = mkdtempSync(join(tmpdir(), 'bench-sqlite-tier-'))
      gens = [tierGeneration(n, 0), tierGeneration(n, 1)]
      rawGens = gens.map((items) =>
        items.map((item) => ({
          params: [
            item.id,
            item.version,
            item.updatedAt,
            item.contentHash,
            utf8Decode(item.content),
            item.state,
          ],
        })),
      )
      // The baseline file gets its schema from the store, so both write the same tables.
      const schema = new SqliteL3Store({ path: join(dir, 'raw.db') })
      await schema.connect()
      await schema.close()
      raw = rawWriter(join(dir, 'raw.db'))
      store = new SqliteL3Store({ path: join(dir, 'store.db'), merkle })
      await store.connect()
    },
    teardown: async () => {
      raw?.close()
      await store?.close()
      rmSync(dir, { recursive: true, force: true })
      gens = []
      rawGens = []
    },
    baseline: {
      name: 'raw better-sqlite3 multi-row upsert, one transaction',
      fn: () => raw!.write(rawGens[rawCalls++ % 2]!),
      opsPerCall: n,
    },
    cases: [{ name: caseName, fn: () => store!.putBatch(gens[storeCalls++ % 2]!), opsPerCall: n }],
    targets: { [caseName]: target },
  }
}

export default function sqliteTierSuite({ quick }: { quick: boolean }): BenchGroup[] {
  const n = quick ? 2_000 : 100_000
  return [
    group(n, { label: ', merkle: false', merkle: false, target: 0.7 }),
    group(n, { label: ' + Merkle tree', merkle: true, target: 0.5 }),
  ]
}
