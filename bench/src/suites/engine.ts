import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { silentLogger } from '@sync-engine/core'
import { LRUCache } from 'lru-cache'
import { SyncEngine, SyncItem } from 'sync-engine'
import type { BenchGroup } from '../harness.js'

/**
 * The engine's hot path through its public async API: an L1 hit vs lru-cache behind an `await`, and
 * `submit` with durability `memory` (embedded engine: SQLite L3 in a temp dir, flushing behind).
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
  return [
    {
      name: 'engine: L1 get hit (async API) vs lru-cache get behind await',
      setup: async () => {
        dir = mkdtempSync(join(tmpdir(), 'bench-engine-'))
        engine = new SyncEngine({
          sql: `sqlite:${dir}/l3.db`,
          wal: { path: `${dir}/wal.db` },
          logger: silentLogger,
        })
        await engine.start()
        for (const item of items) {
          lru.set(item.id, item)
          await engine.submit(item)
        }
        await engine.flush()
        for (const id of ids) await engine.get(id)
      },
      teardown: async () => {
        await engine?.shutdown()
        rmSync(dir, { recursive: true, force: true })
      },
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
      setup: async () => {
        dir = mkdtempSync(join(tmpdir(), 'bench-engine-'))
        engine = new SyncEngine({
          sql: `sqlite:${dir}/l3.db`,
          wal: { path: `${dir}/wal.db` },
          logger: silentLogger,
        })
        await engine.start()
      },
      teardown: async () => {
        await engine?.shutdown()
        rmSync(dir, { recursive: true, force: true })
      },
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
  ]
}
