import { SyncItem } from '@sync-engine/core'
import { FaultProxy, makeTempDir, testSeed } from '@sync-engine/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SyncEngine } from '../src/index.js'
import { quiet, track } from './helpers.js'
import { servicesFor } from './services.js'

// SPEC §1, §9: L1 serves from process memory whatever L2 does; a slow Redis slows only what needs it.

const SEED = testSeed()
let services: Awaited<ReturnType<typeof servicesFor>>
let proxy: FaultProxy
const temp = makeTempDir('failure-latency')
beforeAll(async () => {
  services = await servicesFor('failure_latency')
  const target = new URL(services.redisUrl)
  proxy = await FaultProxy.start({
    target: { host: target.hostname, port: Number(target.port || 6379) },
    seed: SEED,
  })
})
afterAll(async () => {
  await proxy?.close()
  await services?.drop()
  temp.remove()
})

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

describe(`200 ms of latency on L2 (seed ${SEED})`, () => {
  it('L1 hits stay under 1 ms at p99 while L1 misses and flushes wait on the slow Redis', async () => {
    const e = track(
      new SyncEngine({
        sql: `sqlite:${temp.path}/l3.db`,
        wal: { path: `${temp.path}/wal.db` },
        redis: { url: proxy.url(services.redisUrl), prefix: services.prefix, commandTimeoutMs: 3000 },
        logger: quiet,
      }),
    )
    await e.start()
    const hot = Array.from({ length: 2000 }, (_, i) => SyncItem.fromJson(`lat.hot.${i}`, { i }))
    await e.submitMany(hot)
    await e.flush()
    proxy.latency(200, 20)

    // Meanwhile: reads that miss L1 (they ask L2 first) and writes whose flush goes through L2.
    const missStarted = performance.now()
    const misses = Promise.all(Array.from({ length: 20 }, (_, i) => e.get(`lat.cold.${i}`)))
    void e.submitMany(Array.from({ length: 500 }, (_, i) => SyncItem.fromJson(`lat.new.${i}`, { i })))
    const flushing = e.flush()

    const samples: number[] = []
    for (let round = 0; round < 20_000; round++) {
      const id = hot[(round * 7919) % hot.length]!.id
      const t = performance.now()
      const got = await e.get(id)
      samples.push(performance.now() - t)
      if (got?.id !== id) throw new Error(`L1 answered ${got?.id} for ${id}`)
      // Let the event loop run (the slow L2 replies, the flush) between batches of reads.
      if (round % 200 === 0) await new Promise((resolve) => setImmediate(resolve))
    }
    expect(percentile(samples, 99)).toBeLessThan(1)

    expect(await misses).toEqual(Array.from({ length: 20 }, () => null))
    // The misses really waited on L2 (the proxy adds at least 200 ms each way).
    expect(performance.now() - missStarted).toBeGreaterThanOrEqual(200)
    expect((await flushing).l2Written).toBe(500)
    proxy.pass()
  })
})
