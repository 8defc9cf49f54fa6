import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { canonicalJson, sha256Hex, silentLogger } from '@sync-engine/core'
import { SqliteL3Store } from '@sync-engine/sqlite-tier'
import Database from 'better-sqlite3'
import { SyncEngine } from 'sync-engine'
import { BENCH_TIME, benchIds, benchValues } from '../data.js'
import type { AnyGroup, BenchCase, Measurement } from '../harness.js'

/** The engine's warm-up page size (ids per keyset query). */
const PAGE = 10_000
/** Distinct payloads of the fixture: rows cycle through them (warm-up reads ids only). */
const PAYLOADS = 4096

/**
 * The fixture: an embedded SQLite L3 holding `rows` rows with its Merkle tree, as the engine keeps
 * it. Rows go in through raw better-sqlite3 inserts into the store's own schema (in id order,
 * unsynced: it is a fixture), then the store builds the tree once (`rebuildMerkle`); that takes about
 * half a minute for 1M rows here, where the store's putBatch would take minutes. Built once per
 * process, removed at exit.
 */
const fixtures = new Map<number, Promise<{ dir: string; path: string }>>()
function fixture(rows: number) {
  let made = fixtures.get(rows)
  if (!made) {
    made = buildFixture(rows)
    fixtures.set(rows, made)
  }
  return made
}

async function buildFixture(rows: number) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-startup-'))
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'l3.db')
  const schema = new SqliteL3Store({ path })
  await schema.connect()
  await schema.close()

  const ids = benchIds(rows, 21).sort()
  const texts = benchValues(PAYLOADS, 21).map((v) => canonicalJson(v))
  const hashes = texts.map((t) => sha256Hex(t))
  const db = new Database(path)
  db.pragma('synchronous = OFF')
  db.pragma('cache_size = -262144')
  const insert = db.prepare(
    `INSERT INTO sync_items (id, version, timestamp, payload_hash, payload, payload_blob, audit, state, access_count, last_accessed)
     VALUES (?, 1, ?, ?, ?, NULL, NULL, 'default', 0, 0)`,
  )
  const fill = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++)
      insert.run(ids[i]!, BENCH_TIME, hashes[i % PAYLOADS]!, texts[i % PAYLOADS]!)
  })
  for (let at = 0; at < rows; at += 100_000) fill(at, Math.min(rows, at + 100_000))
  db.close()

  const store = new SqliteL3Store({ path })
  await store.connect()
  await store.rebuildMerkle()
  await store.close()
  return { dir, path }
}

/** An embedded engine on the fixture (SQLite L3 with its Merkle tree, no L2), its WAL at `walPath`. */
function engineOn(path: string, walPath: string) {
  return new SyncEngine({
    sql: `sqlite:${path}`,
    wal: { path: walPath },
    logger: silentLogger,
  })
}

const removeWal = (walPath: string) => {
  for (const suffix of ['', '-wal', '-shm']) rmSync(walPath + suffix, { force: true })
}

/**
 * Startup with a large L3 (1M rows; quick: 20k):
 * - filter warm-up ids/s (`warmUp()`: count, keyset scan through the store, cuckoo filter inserts) vs
 *   a raw better-sqlite3 keyset scan of the same ids;
 * - `start()` to a trusted filter restoring the 1M-entry snapshot vs a cold `start()` + warm-up;
 * - the phases of the restoring start (the snapshot restore itself: `cf_restore`).
 */
export default function startupSuite({ quick }: { quick: boolean }): AnyGroup[] {
  const rows = quick ? 20_000 : 1_000_000
  const label = quick ? `${rows / 1000}k` : `${rows / 1e6}M`
  let warm: SyncEngine | undefined
  let dir = ''
  let path = ''
  let restoreWal = ''
  let colds = 0

  /** A timed start: the sample is `start()` until the filter is trusted, not the shutdown after it. */
  const timedStart = (name: string, walPath: () => string, expect: 'restored' | 'none'): BenchCase => ({
    name,
    fn: async () => {
      const wal = walPath()
      const engine = engineOn(path, wal)
      const t0 = performance.now()
      const report = await engine.start()
      if (expect === 'none') await engine.warmUp()
      const overriddenDuration = performance.now() - t0
      const ok = report.filter === expect && engine.filterStats().trust === 'Trusted'
      await engine.shutdown()
      if (expect === 'none') removeWal(wal)
      if (!ok) throw new Error(`bench: start expected filter '${expect}', got '${report.filter}'`)
      return { overriddenDuration }
    },
  })

  const prepare = async () => {
    ;({ dir, path } = await fixture(rows))
    restoreWal = join(dir, 'wal-restore.db')
    // A clean shutdown saves the trusted filter's snapshot with the L3 root it matches.
    const first = engineOn(path, restoreWal)
    await first.start()
    await first.warmUp()
    await first.shutdown()
  }

  return [
    {
      name: `startup: filter warm-up from ${label} rows (SQLite L3)`,
      setup: async () => {
        ;({ dir, path } = await fixture(rows))
        warm = engineOn(path, join(dir, 'wal-warm.db'))
        await warm.start()
        await warm.warmUp()
      },
      teardown: async () => {
        await warm?.shutdown()
        if (dir) removeWal(join(dir, 'wal-warm.db'))
      },
      baseline: {
        name: `raw better-sqlite3 keyset scan of the ids (pages of ${PAGE / 1000}k)`,
        opsPerCall: rows,
        fn: () => {
          const db = new Database(path, { readonly: true })
          const first = db.prepare('SELECT id FROM sync_items ORDER BY id LIMIT ?').pluck()
          const next = db.prepare('SELECT id FROM sync_items WHERE id > ? ORDER BY id LIMIT ?').pluck()
          let seen = 0
          let page = first.all(PAGE) as string[]
          while (page.length > 0) {
            seen += page.length
            page = next.all(page.at(-1), PAGE) as string[]
          }
          db.close()
          if (seen !== rows) throw new Error(`bench: scanned ${seen} of ${rows} ids`)
        },
      },
      cases: [
        {
          name: 'engine.warmUp() (scan through the store + cuckoo filter)',
          opsPerCall: rows,
          fn: async () => {
            const report = await warm!.warmUp()
            if (report.entries !== rows) throw new Error(`bench: warm-up saw ${report.entries} of ${rows}`)
          },
        },
      ],
      rounds: 3,
      minCalls: 1,
      warmupCalls: 0,
      note: `ops/s here are ids per second. The ${label}-row fixture is an embedded SQLite L3 (rows by raw inserts, then the store's own Merkle rebuild), not MariaDB: filling MariaDB with 1M rows through the store takes several minutes on this machine, past the run's budget. Warm-up reads ids only (keyset pages of 10k), so the payloads (100 B–2 KB) matter little.`,
    },
    {
      name: `startup: start() to a trusted filter, ${label} rows`,
      setup: prepare,
      baseline: timedStart(
        'cold start: no snapshot, start() + warmUp()',
        () => join(dir, `wal-cold-${colds++}.db`),
        'none',
      ),
      cases: [
        timedStart(`start() restoring the ${label}-entry filter snapshot`, () => restoreWal, 'restored'),
      ],
      rounds: 3,
      minCalls: 1,
      warmupCalls: 0,
      note: 'ops/s here are starts per second; p50 is the time from `new SyncEngine(…).start()` until the filter is trusted (the shutdown after each start is not timed). The snapshot is what a clean shutdown saves; it is used only when its Merkle root equals L3’s.',
    },
    {
      kind: 'measure',
      name: `startup: phases of a start restoring the ${label}-entry snapshot`,
      setup: prepare,
      baseline: 'start() total',
      measure: async (): Promise<Measurement[]> => {
        const engine = engineOn(path, restoreWal)
        const report = await engine.start()
        await engine.shutdown()
        if (report.filter !== 'restored') throw new Error(`bench: filter ${report.filter}, not restored`)
        const ms = (seconds: number | undefined) => (seconds ?? 0) * 1000
        return [
          { name: 'start() total', value: report.durationMs, unit: 'ms' },
          {
            name: 'cf_restore: read + import the filter snapshot',
            value: ms(report.phases.cf_restore),
            unit: 'ms',
          },
          {
            name: 'sql_connect: open SQLite, check, read the root',
            value: ms(report.phases.sql_connect),
            unit: 'ms',
          },
          { name: 'wal_init: open the WAL', value: ms(report.phases.wal_init), unit: 'ms' },
        ]
      },
      rounds: 3,
      note: 'The same start as above, split into the phases the engine reports (StartReport.phases).',
    },
  ]
}
