import { L1MemoryCache } from '@sync-engine/l1-cache'
import { LRUCache } from 'lru-cache'
import { SyncItem } from 'sync-engine'
import { BENCH_TIME, benchIds, benchValues } from '../data.js'
import { engineFixture, type MeasureGroup, type Measurement } from '../harness.js'

/** Heap in use, JS objects and the off-heap bytes of ArrayBuffers (item contents) alike. */
function heapBytes(): number {
  const gc = globalThis.gc
  if (!gc) throw new Error('bench: run with --expose-gc (pnpm bench does)')
  gc()
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.external
}

/**
 * Heap bytes per item that `hold` keeps: items (their ids, bytes and hashes) are made after the first
 * reading from values made before it, and only what `hold` retains is left at the second. `hold`
 * returns a release function (kept alive until the reading) so the structure is not collected early.
 */
async function perItem(
  values: readonly unknown[],
  seed: number,
  hold: (items: SyncItem[]) => Promise<() => unknown>,
) {
  const n = values.length
  const before = heapBytes()
  let items: SyncItem[] | undefined = benchIds(n, seed).map((id, i) => {
    const item = SyncItem.fromJson(id, values[i], { updatedAt: BENCH_TIME })
    void item.contentHash
    return item
  })
  const release = await hold(items)
  items = undefined
  const after = heapBytes()
  await release()
  return (after - before) / n
}

/**
 * Memory of L1 at 100k items (quick: 10k) of 100 B–2 KB JSON (median ≈ 450 B): heap bytes per item
 * measured with `global.gc` and `process.memoryUsage()` (heapUsed + external), against the engine's own
 * accounting (L1 bytes ÷ items, which its memory budget and backpressure use), for L1 alone, for a
 * whole engine (L1 + its pipeline bookkeeping after a flush), and for lru-cache and a plain Map
 * holding the same items.
 */
export default function memorySuite({ quick }: { quick: boolean }): MeasureGroup[] {
  const n = quick ? 10_000 : 100_000
  const budget = 1024 * 1024 * 1024
  const seed = 30
  let values: unknown[] = []
  return [
    {
      kind: 'measure',
      name: `memory: heap per L1 item at ${n / 1000}k items (100 B–2 KB JSON)`,
      baseline: "the engine's estimate (L1 bytes ÷ items)",
      rounds: 3,
      setup: () => {
        values = benchValues(n, seed)
      },
      teardown: () => {
        values = []
      },
      measure: async (): Promise<Measurement[]> => {
        let estimate = 0
        let contentBytes = 0
        const l1 = await perItem(values, seed, async (items) => {
          const cache = new L1MemoryCache({ maxBytes: budget })
          for (const item of items) cache.set(item)
          estimate = cache.bytes / cache.size
          contentBytes = items.reduce((sum, item) => sum + item.size, 0) / n
          return () => cache.clear()
        })
        const engine = await perItem(values, seed, async (items) => {
          const fx = await engineFixture('memory', {
            redis: false,
            sql: false,
            config: { l1: { maxBytes: budget } },
          })
          // In slices, flushed as they go: one 100k submitMany would pass the pipeline's byte limit.
          for (let at = 0; at < items.length; at += 10_000) {
            await fx.engine.submitMany(items.slice(at, at + 10_000))
            await fx.engine.flush()
          }
          const health = await fx.engine.health()
          if (health.l1.items !== n) throw new Error(`bench: engine L1 holds ${health.l1.items} of ${n}`)
          return () => fx.close()
        })
        const lru = await perItem(values, seed, async (items) => {
          const cache = new LRUCache<string, SyncItem>({ max: n * 2 })
          for (const item of items) cache.set(item.id, item)
          return () => cache.clear()
        })
        const map = await perItem(values, seed, async (items) => {
          const cache = new Map(items.map((item) => [item.id, item]))
          return () => cache.clear()
        })
        return [
          { name: "the engine's estimate (L1 bytes ÷ items)", value: estimate, unit: 'B' },
          { name: 'L1MemoryCache: measured heap per item', value: l1, unit: 'B' },
          { name: 'SyncEngine (L1 only, after flush): measured heap per item', value: engine, unit: 'B' },
          { name: 'lru-cache<id, SyncItem>: measured heap per item', value: lru, unit: 'B' },
          { name: 'Map<id, SyncItem>: measured heap per item (the items alone)', value: map, unit: 'B' },
          { name: 'content bytes per item (the JSON alone)', value: contentBytes, unit: 'B' },
        ]
      },
      note: 'Ratios are measured ÷ estimated: above 1× the engine under-counts (its budget lets L1 grow past maxBytes by that factor), below 1× it over-counts. The engine row runs `sql: false` (no L3, no L2) so only L1 and the pipeline’s bookkeeping remain after the flush.',
    },
  ]
}
