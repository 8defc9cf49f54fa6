import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SyncItem, utf8Decode } from '@sync-engine/core'
import { SqliteL3Store } from '@sync-engine/sqlite-tier'
import Database from 'better-sqlite3'
import type { BenchGroup } from '../harness.js'

/** Rows per statement of the raw baseline (SQLite allows 32 766 parameters: 3 276 rows of 10). */
const RAW_ROWS_PER_STATEMENT = 1000
const COLUMNS =
  'id, version, timestamp, payload_hash, payload, payload_blob, audit, state, access_count, last_accessed'

/** ~200 bytes of JSON per row; `gen` changes the content (and so every Merkle leaf) between calls. */
function generation(n: number, gen: number): SyncItem[] {
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
    if (!s) statements.set(rows, (s = db.prepare(sql(rows))))
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

export default function sqliteTierSuite({ quick }: { quick: boolean }): BenchGroup[] {
  const n = quick ? 2_000 : 100_000
  let dir = ''
  let gens: SyncItem[][] = []
  // The baseline binds what a caller of raw better-sqlite3 has at hand: JSON text and its hash.
  let rawGens: { params: unknown[] }[][] = []
  let raw: ReturnType<typeof rawWriter> | undefined
  let plain: SqliteL3Store | undefined
  let merkle: SqliteL3Store | undefined
  const calls = { raw: 0, plain: 0, merkle: 0 }
  const next = (key: keyof typeof calls) => calls[key]++ % 2

  return [
    {
      name: `sqlite-tier: putBatch of ${n / 1000}k rows (~200 B JSON)`,
      setup: async () => {
        dir = mkdtempSync(join(tmpdir(), 'bench-sqlite-tier-'))
        gens = [generation(n, 0), generation(n, 1)]
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
        plain = new SqliteL3Store({ path: join(dir, 'plain.db'), merkle: false })
        merkle = new SqliteL3Store({ path: join(dir, 'merkle.db') })
        await plain.connect()
        await merkle.connect()
      },
      teardown: async () => {
        raw?.close()
        await plain?.close()
        await merkle?.close()
        rmSync(dir, { recursive: true, force: true })
      },
      baseline: {
        name: 'raw better-sqlite3 multi-row upsert, one transaction',
        fn: () => raw!.write(rawGens[next('raw')]!),
        opsPerCall: n,
      },
      cases: [
        {
          name: 'SqliteL3Store.putBatch, merkle: false',
          fn: () => plain!.putBatch(gens[next('plain')]!),
          opsPerCall: n,
        },
        {
          name: 'SqliteL3Store.putBatch + Merkle tree',
          fn: () => merkle!.putBatch(gens[next('merkle')]!),
          opsPerCall: n,
        },
      ],
      targets: {
        'SqliteL3Store.putBatch, merkle: false': 0.7,
        'SqliteL3Store.putBatch + Merkle tree': 0.5,
      },
    },
  ]
}
