import { fileURLToPath } from 'node:url'
import { METRIC, type SyncItem } from '@sync-engine/core'
import { MysqlL3Store } from '@sync-engine/mysql-tier'
import { EngineCluster, EngineProcess, ensureBuilt, type ItemView, testSeed } from '@sync-engine/testkit'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { eventually, sleep } from './fixtures/faults.js'
import { quiet } from './helpers.js'
import { servicesForFile } from './services.js'

// Many processes, one truth (SPEC §10): engines in child processes (testkit's EngineProcess) on one
// Redis and one MariaDB. The children run the built dist (rebuilt here when older than src).

const SEED = testSeed()
const MAX_STALENESS_MS = 1000
const LOAD_MS = 20_000
const packageDir = fileURLToPath(new URL('..', import.meta.url))
const engineModule = new URL('../dist/index.js', import.meta.url)
const file = servicesForFile('multiproc')
let l3: MysqlL3Store
let cluster: EngineCluster | undefined

beforeAll(async () => {
  ensureBuilt(packageDir)
  l3 = new MysqlL3Store({ url: file.services.mysqlUrl, logger: quiet })
  await l3.connect()
}, 300_000)
afterEach(async () => {
  await cluster?.close()
  cluster = undefined
})
afterAll(async () => {
  await EngineProcess.closeAll()
  await l3?.close()
})

/** `n` engine processes on the shared services; `label` gives the test its own Redis prefix (and stream). */
async function start(n: number, label: string, config: Record<string, unknown> = {}): Promise<EngineCluster> {
  cluster = await EngineCluster.start(n, (i) => ({
    engineModule,
    config: {
      instanceId: `${label}-${i}`,
      sql: file.services.mysqlUrl,
      redis: { url: file.services.redisUrl, prefix: `${file.services.prefix}${label}:` },
      wal: { path: `${file.temp.path}/${label}-${i}.wal.db` },
      cdc: { enabled: true, maxStalenessMs: MAX_STALENESS_MS },
      batch: { maxAgeMs: 20 },
      ...config,
    },
    startTimeoutMs: 60_000,
    callTimeoutMs: 60_000,
  }))
  return cluster
}

/** What L3 holds for `ids`, read from MariaDB directly. */
async function inL3(ids: readonly string[]): Promise<Map<string, SyncItem>> {
  const out = new Map<string, SyncItem>()
  for (let i = 0; i < ids.length; i += 1000) {
    const { items } = await l3.getMany(ids.slice(i, i + 1000))
    for (const [id, item] of items) out.set(id, item)
  }
  return out
}

const describeItem = (v: { version: number; contentHash: string } | null | undefined) =>
  v ? `v${v.version} ${v.contentHash.slice(0, 8)}` : 'absent'

/** Ids whose value a process returned differs from L3's, described. */
function mismatches(
  who: string,
  ids: readonly string[],
  seen: (ItemView | null)[],
  truth: Map<string, SyncItem>,
) {
  const out: string[] = []
  ids.forEach((id, i) => {
    const got = seen[i]
    const want = truth.get(id)
    if (got?.version !== want?.version || got?.contentHash !== want?.contentHash)
      out.push(`${who} ${id}: got ${describeItem(got)}, L3 has ${describeItem(want)}`)
  })
  return out
}

const counter = (p: EngineProcess, status: string, operation = 'get', tier = 'L1') =>
  p.counter(METRIC.operations, { tier, operation, status })

describe(`engines in separate processes on one Redis and MariaDB (seed ${SEED})`, () => {
  it(
    "3 processes write (5 % deletes) 5 000 overlapping ids each for 20 s while reading each other's: maxStalenessMs after the load, every get returns L3's value",
    async () => {
      const c = await start(3, 'load')
      const all = Array.from({ length: 10_000 }, (_, i) => `load.k${String(i).padStart(5, '0')}`)
      // Process i writes ids [2500 i, 2500 i + 5000): each overlaps both others; it reads the rest.
      const mine = (i: number) => all.slice(i * 2500, i * 2500 + 5000)
      const reports = await c.all((p, i) => {
        const own = new Set(mine(i))
        return p.load({
          writeIds: mine(i),
          readIds: all.filter((id) => !own.has(id)),
          durationMs: LOAD_MS,
          batch: 50,
          deleteRatio: 0.05,
          seed: SEED + i,
          versionTag: i,
        })
      })
      for (const r of reports) {
        expect(r.errors, r.firstError).toBe(0)
        expect(r.submitted).toBeGreaterThan(5000)
        expect(r.deleted).toBeGreaterThan(0)
      }
      await sleep(MAX_STALENESS_MS)
      const truth = await inL3(all)
      expect(truth.size).toBeGreaterThan(all.length * 0.8) // ids never written (or deleted last) compare as absent
      const stale: string[] = []
      for (const [i, p] of c.processes.entries())
        stale.push(...mismatches(`process ${i}`, all, await p.getEach(all), truth))
      expect(stale.slice(0, 20), `${stale.length} stale reads`).toEqual([])
      // The scenario was real: L1 served hits, and other processes' writes invalidated entries.
      for (const p of c.processes) {
        expect(await counter(p, 'hit')).toBeGreaterThan(0)
        expect(await counter(p, 'remote', 'invalidate')).toBeGreaterThan(0)
      }
    },
    LOAD_MS + 90_000,
  )

  it('a process whose reader was paused past the trim point detects the gap, clears L1 and then reads what L3 holds', async () => {
    // maxLen 50: the stream keeps about a hundred entries, so 2 000 writes trim far past a paused cursor.
    const [a, b] = (
      await start(2, 'gap', { cdc: { enabled: true, maxLen: 50, maxStalenessMs: MAX_STALENESS_MS } })
    ).processes as [EngineProcess, EngineProcess]
    const ids = Array.from({ length: 200 }, (_, i) => `gap.k${i}`)
    const gaps = () =>
      b.events.filter((e) => e.$engineEvent === 'trust' && /gap/.test(String(e.args[1]))).length
    await a.submitMany(ids.map((id) => ({ id, value: { round: 1 } })))
    await a.flush()
    // That burst alone may trim past b's cursor (a gap b handles at once); let b settle on the new tail.
    await sleep(MAX_STALENESS_MS)
    expect((await b.getEach(ids)).every((v) => v?.version === 1)).toBe(true) // now in b's L1
    expect(await b.verifyFilter()).toBe(true)
    const gapsBefore = gaps()
    const invalidatedBefore = await counter(b, 'gap', 'invalidate')
    await b.pauseCoherence()
    await sleep(MAX_STALENESS_MS / 2 + 200) // a read in progress ends within maxStalenessMs / 2
    for (let round = 2; round <= 11; round++) {
      await a.submitMany(ids.map((id) => ({ id, value: { round }, version: round })))
      await a.flush()
    }
    // Held, b still serves its cached copies: the scenario is what it claims.
    expect((await b.getEach(ids)).filter((v) => v?.version === 1)).toHaveLength(ids.length)
    expect(gaps()).toBe(gapsBefore)
    await b.resumeCoherence()
    // The gap is seen: the filter's trust dropped for it, and L1 (200 entries) cleared.
    await eventually(() => gaps() > gapsBefore, 5000)
    expect((await counter(b, 'gap', 'invalidate')) - invalidatedBefore).toBeGreaterThanOrEqual(ids.length)
    const truth = await inL3(ids)
    expect(mismatches('b', ids, await b.getEach(ids), truth)).toEqual([])
    expect([...truth.values()].every((item) => item.version === 11)).toBe(true)
  })

  it('a trusted filter in process A never calls an id process B wrote definitely missing (10 000 ids)', async () => {
    const [a, b] = (await start(2, 'filter')).processes as [EngineProcess, EngineProcess]
    expect(await a.verifyFilter()).toBe(true)
    const ids = Array.from({ length: 10_000 }, (_, i) => `filter.b${String(i).padStart(5, '0')}`)
    const flushedAt: number[] = []
    const falseNegatives: string[] = []
    // B writes in 10 batches; while it does, A is asked about every batch flushed maxStalenessMs ago.
    for (let batch = 0; batch < 10; batch++) {
      await b.submitMany(ids.slice(batch * 1000, (batch + 1) * 1000).map((id) => ({ id, value: { batch } })))
      await b.flush()
      flushedAt.push(Date.now())
      const settled = flushedAt.filter((t) => t <= Date.now() - MAX_STALENESS_MS).length
      falseNegatives.push(...(await a.definitelyMissing(ids.slice(0, settled * 1000))))
    }
    await sleep(MAX_STALENESS_MS)
    falseNegatives.push(...(await a.definitelyMissing(ids)))
    expect(falseNegatives.slice(0, 20), `${falseNegatives.length} false negatives`).toEqual([])
    // The answers came from a trusted filter that does rule ids out.
    expect((await a.stats()).filter.trust).toBe('Trusted')
    const never = ids.map((id) => id.replace('filter.b', 'filter.never'))
    expect((await a.definitelyMissing(never)).length).toBeGreaterThan(never.length * 0.99)
  })
})
