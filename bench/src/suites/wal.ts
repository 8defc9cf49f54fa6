import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SyncItem, type WalEntry } from '@sync-engine/core'
import { SqliteWal } from '@sync-engine/wal'
import Database from 'better-sqlite3'
import type { BenchGroup } from '../harness.js'

const GROUP = 1000
const PAYLOAD = 200

/** Deterministic ~200 B binary payloads (xorshift), so every run writes the same bytes. */
function payloads(count: number): Uint8Array[] {
  let x = 2463534242
  return Array.from({ length: count }, () =>
    Uint8Array.from({ length: PAYLOAD }, () => {
      x ^= x << 13
      x ^= x >>> 17
      x ^= x << 5
      return x & 0xff
    }),
  )
}

/**
 * The baseline: the same queue table in a raw better-sqlite3 file with the same pragmas, written with
 * a prepared INSERT inside `db.transaction` (the best a caller can do by hand), and drained with a
 * plain SELECT … LIMIT + DELETE.
 */
function rawQueue(path: string) {
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  db.pragma('journal_size_limit = 67108864')
  db.pragma('locking_mode = EXCLUSIVE')
  db.exec(`CREATE TABLE wal_queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, op TEXT NOT NULL,
    row BLOB, bytes INTEGER NOT NULL, enqueued_at INTEGER NOT NULL)`)
  const insert = db.prepare('INSERT INTO wal_queue (id, op, row, bytes, enqueued_at) VALUES (?, ?, ?, ?, ?)')
  const select = db.prepare('SELECT seq, id, op, row, enqueued_at FROM wal_queue ORDER BY seq LIMIT ?')
  const remove = db.prepare('DELETE FROM wal_queue WHERE seq <= ?')
  let rows = 0
  const append = db.transaction((entries: readonly WalEntry[]) => {
    const now = Date.now()
    for (const e of entries) insert.run(e.id, e.op, e.row!.content, e.row!.content.byteLength, now)
    rows += entries.length
  })
  return {
    append,
    drain(limit: number) {
      const got = select.all(limit) as { seq: number }[]
      if (got.length > 0) remove.run(got.at(-1)!.seq)
      rows -= got.length
      return got.length
    },
    get rows() {
      return rows
    },
    clear() {
      db.exec('DELETE FROM wal_queue')
      rows = 0
    },
    close: () => db.close(),
  }
}

/**
 * WAL append (group commit of 1000 rows of ~200 B, synchronous=FULL) against a raw prepared INSERT
 * in one transaction, and the drain loop (peek 1000 + ack) against a raw SELECT + DELETE.
 */
export default function walSuite({ quick }: { quick: boolean }): BenchGroup[] {
  const entries: WalEntry[] = payloads(GROUP).map((bytes, i) => {
    const row = SyncItem.fromBytes(`bench.wal.${i}`, bytes, { updatedAt: 1_700_000_000_000 })
    void row.contentHash // computed once, as the engine's items carry it
    return { id: row.id, op: 'put', row }
  })
  const prefill = quick ? 20_000 : 250_000
  let dir = ''
  let wal: SqliteWal
  let raw: ReturnType<typeof rawQueue>

  const setup = () => {
    dir = mkdtempSync(join(tmpdir(), 'bench-wal-'))
    wal = new SqliteWal({ path: join(dir, 'wal.db'), maxRows: 10_000_000, maxBytes: 2 ** 31 })
    raw = rawQueue(join(dir, 'raw.db'))
  }
  const teardown = () => {
    wal.closeSync()
    raw.close()
    rmSync(dir, { recursive: true, force: true })
  }
  const emptyWal = () => {
    const newest = wal.statsSync().newestSeq
    if (newest !== undefined) wal.ackSync(newest)
  }
  const fillWal = (rows: number) => {
    while (wal.statsSync().rows < rows) wal.appendSync(entries)
  }
  const fillRaw = (rows: number) => {
    while (raw.rows < rows) raw.append(entries)
  }

  return [
    {
      name: 'wal: append 1000-row groups (~200 B, synchronous=FULL)',
      setup,
      teardown,
      baseline: {
        name: 'raw better-sqlite3 INSERT in db.transaction',
        fn: () => raw.append(entries),
        opsPerCall: GROUP,
        beforeRound: () => raw.clear(),
      },
      cases: [
        {
          name: 'SqliteWal.appendSync',
          fn: () => wal.appendSync(entries),
          opsPerCall: GROUP,
          beforeRound: emptyWal,
        },
        {
          name: 'SqliteWal.append (async)',
          fn: () => wal.append(entries),
          opsPerCall: GROUP,
          beforeRound: emptyWal,
        },
      ],
      targets: { 'SqliteWal.appendSync': 0.5, 'SqliteWal.append (async)': 0.5 },
    },
    {
      name: 'wal: drain (peek 1000 + ack)',
      setup,
      teardown,
      baseline: {
        name: 'raw SELECT … LIMIT 1000 + DELETE',
        fn: () => {
          if (raw.rows < GROUP) fillRaw(prefill)
          raw.drain(GROUP)
        },
        opsPerCall: GROUP,
        beforeRound: () => fillRaw(prefill),
      },
      cases: [
        {
          name: 'SqliteWal.peekSync + ackSync',
          fn: () => {
            if (wal.statsSync().rows < GROUP) fillWal(prefill)
            const records = wal.peekSync(GROUP)
            wal.ackSync(records.at(-1)!.seq)
          },
          opsPerCall: GROUP,
          beforeRound: () => fillWal(prefill),
        },
      ],
    },
  ]
}
