import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { silentLogger } from '@sync-engine/core'
import { SqliteWal } from '@sync-engine/wal'
import { LRUCache } from 'lru-cache'
import { SubmitOptions, SyncEngine, SyncItem } from 'sync-engine'
import type { BenchGroup } from '../harness.js'

/**
 * The engine's hot path through its public async API: an L1 hit vs lru-cache behind an `await`,
 * `submit` with durability `memory` (embedded engine: SQLite L3 in a temp dir, flushing behind), and
 * what durability `local` (group-committed into the WAL, fsync per commit) costs against `memory`.
 */
export default function engineSuite({ quick }: { quick: boolean }): BenchGroup[] {
  const n = quick ? 1000 : 10_000
  const ids = Array.from({ length: n }, (_, i) => `tenant${i % 50}.user.${i}`)
  const items = ids.map((id, i) =>
    SyncItem.fromJson(id, { name: `User ${i}`, role: i % 3 ? 'user' : 'admin', n: i }),
  )
  const order = ids.map((_, i) => (i * 7919) % n)
  const lru = new LRUCache<string, SyncItem>({ max: n * 2 })
  let dir = ''
  let engine: SyncEngine | undefined
  let version = 1
  let versions: SyncItem[] = items
  let wal: SqliteWal | undefined
  return [
    {
      name: 'engine: L1 get hit (async API) vs lru-cache get behind await',
      setup: async () => {
        await startEngine()
        for (const item of items) {
          lru.set(item.id, item)
          await engine!.submit(item)
        }
        await engine!.flush()
        for (const id of ids) await engine!.get(id)
      },
      teardown: stopEngine,
      baseline: {
        name: 'await lru.get',
        opsPerCall: n,
        fn: async () => {
          for (const i of order) await lru.get(ids[i]!)
        },
      },
      cases: [
        {
          name: 'await engine.get (L1 hit)',
          opsPerCall: n,
          fn: async () => {
            for (const i of order) await engine!.get(ids[i]!)
          },
        },
      ],
      targets: { 'await engine.get (L1 hit)': 0.5 },
    },
    {
      name: 'engine: submit (durability memory) vs lru-cache set behind await',
      setup: startEngine,
      teardown: stopEngine,
      baseline: {
        name: 'await lru.set',
        opsPerCall: n,
        fn: async () => {
          for (const i of order) await lru.set(ids[i]!, items[i]!)
        },
      },
      cases: [
        {
          name: 'await engine.submit',
          opsPerCall: n,
          // Each round writes new versions (made outside the timing) and starts with an empty pipeline.
          beforeRound: async () => {
            await engine!.flush()
            version++
            versions = items.map((item) => item.with({ version }))
          },
          fn: async () => {
            for (const i of order) await engine!.submit(versions[i]!)
          },
        },
      ],
    },
    {
      name: 'engine: submit durability local vs memory (a burst of submits, awaited together)',
      note:
        'Each call writes a new version of n items in one turn (`item.with({ version })`, content hash ' +
        'reused) and awaits them all, as concurrent callers do: `local` group-commits the burst into the ' +
        'WAL (synchronous=FULL, one fsync per commit) before resolving. Each round starts with a flush ' +
        'and one untimed burst, so every timed call finds the previous versions queued (steady traffic); ' +
        'flushes to SQLite run outside the timing. The last row appends the same rows straight to a ' +
        'SqliteWal (and acknowledges them): the floor under `local`.',
      setup: startEngine,
      teardown: stopEngine,
      baseline: burst('submit (memory)', { durability: 'memory' }),
      cases: [
        burst('submit (local)', SubmitOptions.local()),
        {
          name: 'SqliteWal.append of the same rows (no engine)',
          opsPerCall: n,
          fn: async () => {
            const v = ++version
            const entries = order.map((i) => ({
              id: items[i]!.id,
              op: 'put' as const,
              row: items[i]!.with({ version: v }),
            }))
            const records = await wal!.append(entries)
            await wal!.ack(records[records.length - 1]!.seq)
          },
        },
      ],
      targets: { 'submit (local)': 0.3 },
    },
    {
      name: 'engine: sustained writes durability local vs memory (a burst, then its flush to L3)',
      note:
        'Each call writes a new version of n items in one turn, awaits them, then awaits the flush that ' +
        'writes them to SQLite (L3 with its Merkle tree): the whole cost of a write, with `local` adding ' +
        'its WAL commit and the acknowledgement after the flush.',
      setup: startEngine,
      teardown: stopEngine,
      baseline: burst('submit + flush (memory)', { durability: 'memory' }, true),
      cases: [burst('submit + flush (local)', SubmitOptions.local(), true)],
      targets: { 'submit + flush (local)': 0.3 },
    },
  ]

  async function startEngine() {
    // Content hashes once, up front: every version made with `with()` reuses its item's hash.
    for (const item of items) void item.contentHash
    dir = mkdtempSync(join(tmpdir(), 'bench-engine-'))
    engine = new SyncEngine({
      sql: `sqlite:${dir}/l3.db`,
      wal: { path: `${dir}/wal.db` },
      logger: silentLogger,
    })
    await engine.start()
    wal = new SqliteWal({ path: `${dir}/bare-wal.db` })
  }

  async function stopEngine() {
    await engine?.shutdown()
    await wal?.close()
    rmSync(dir, { recursive: true, force: true })
  }

  /**
   * A case that submits every item once per call, concurrently, and awaits them together (then the
   * flush). Each round starts with an empty pipeline; without the flush, one untimed call then queues
   * a version of every item, so every timed call finds the previous one queued, as steady traffic
   * does. (The harness times a call slower than 100 ms once per round, with no warm-up: without that
   * call `local` was timed on the first burst after the flush, inserting every id into an empty
   * queue, while `memory`'s figure came from its warmed-up calls.)
   */
  function burst(name: string, options: Parameters<SyncEngine['submit']>[1], flushed = false) {
    const fn = async () => {
      const v = ++version
      const waits: Promise<void>[] = new Array(n)
      for (let k = 0; k < n; k++) waits[k] = engine!.submit(items[order[k]!]!.with({ version: v }), options)
      await Promise.all(waits)
      if (flushed) await engine!.flush()
    }
    return {
      name,
      opsPerCall: n,
      beforeRound: async () => {
        await engine!.flush()
        if (!flushed) await fn()
      },
      fn,
    }
  }
}
