import { BackendUnavailableError, SubmitOptions, SyncItem } from '@sync-engine/core'
import { merkleRootOf } from '@sync-engine/merkle'
import { MysqlL3Store } from '@sync-engine/mysql-tier'
import { FaultProxy, makeTempDir, testSeed } from '@sync-engine/testkit'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { eventually, sleep } from './fixtures/faults.js'
import { engineFactory, quiet } from './helpers.js'
import { servicesFor } from './services.js'

// SPEC §9: L3 down → flushes go to the WAL; the WAL drains in large batches, in order, as soon as L3
// answers; nothing acknowledged is lost. MariaDB sits behind the testkit's fault proxy.

const SEED = testSeed()
let services: Awaited<ReturnType<typeof servicesFor>>
let proxy: FaultProxy
const temp = makeTempDir('failure-l3')
beforeAll(async () => {
  services = await servicesFor('failure_l3')
  const target = new URL(services.mysqlUrl)
  proxy = await FaultProxy.start({
    target: { host: target.hostname, port: Number(target.port || 3306) },
    seed: SEED,
  })
})
afterEach(() => proxy.heal())
afterAll(async () => {
  await proxy?.close()
  await services?.drop()
  temp.remove()
})

const engine = engineFactory(temp.path, () => ({
  sql: proxy.url(services.mysqlUrl),
  redis: { url: services.redisUrl, prefix: services.prefix },
}))

/** Rows of `prefix` in L3, asked of MariaDB directly (not through the proxy). */
async function countInL3(prefix: string): Promise<number> {
  const store = new MysqlL3Store({ url: services.mysqlUrl, logger: quiet })
  await store.connect()
  try {
    return await store.countPrefix(prefix)
  } finally {
    await store.close()
  }
}

const rootOf = (items: SyncItem[]) =>
  merkleRootOf(items.map((i) => ({ id: i.id, version: i.version, contentHash: i.contentHash })))

describe(`MariaDB cut by the fault proxy (seed ${SEED})`, () => {
  it('20 000 submits during a 10 s cut: none throws; after healing every one is in L3 and the L2/L3 roots match within 30 s', async () => {
    const e = engine()
    await e.start()
    const items = Array.from({ length: 20_000 }, (_, i) =>
      SyncItem.fromJson(`cut.t${i % 20}.u${String(i).padStart(5, '0')}`, { i, name: `user ${i}` }),
    )
    proxy.cut()
    const cutAt = Date.now()
    const refused: unknown[] = []
    // 40 rounds of 500 submits, one round every 250 ms: the load spans the cut.
    for (let round = 0; round < 40; round++) {
      for (const item of items.slice(round * 500, (round + 1) * 500)) {
        try {
          await e.submit(item)
        } catch (error) {
          refused.push(error)
        }
      }
      await sleep(Math.max(0, cutAt + (round + 1) * 250 - Date.now()))
    }
    expect(refused).toEqual([])
    await e.flush()
    const during = await e.health()
    expect(during.wal.backlog).toBe(true)
    expect(during.wal.rows).toBeGreaterThan(0)
    // Refusing calls: open, or half-open while one probe tries L3 (the drain timer probes every ≤ 2 s).
    expect(['open', 'half-open']).toContain(during.l3.circuit)
    expect(during.acceptingWrites).toBe(true)
    await sleep(Math.max(0, cutAt + 10_000 - Date.now()))

    proxy.heal()
    const backlog: number[] = []
    await eventually(async () => {
      const h = await e.health()
      backlog.push(h.wal.rows)
      return h.wal.rows === 0 && !h.wal.backlog
    }, 30_000)
    // health() showed the backlog shrinking, never growing, down to nothing.
    expect(backlog[0]).toBeGreaterThan(0)
    expect(backlog).toEqual([...backlog].sort((a, b) => b - a))
    expect(await countInL3('cut.')).toBe(20_000)
    const expected = rootOf(items)
    expect(await e.merkleRoots()).toEqual({ l2: expected, l3: expected })
    expect((await e.verifyMerkle()).ok).toBe(true)
    // The filter caught up too: every id is "maybe", none "definitely missing".
    await e.verifyFilter()
    expect(items.filter((i) => e.definitelyMissing(i.id))).toEqual([])
  })

  it('MariaDB stalled (bytes held, never answered): flushes time out into the WAL; after healing the late statements and the drain agree', async () => {
    const e = engine({ resilience: { l3TimeoutMs: 1000, retries: 0 } })
    await e.start()
    await e.submitMany(Array.from({ length: 100 }, (_, i) => SyncItem.fromJson(`stall.k${i}`, { v: 1 })))
    await e.flush()
    proxy.stall()
    // Newer versions of the same ids while MariaDB hangs: the flush gives up after l3TimeoutMs.
    const newer = Array.from({ length: 100 }, (_, i) =>
      SyncItem.fromJson(`stall.k${i}`, { v: 2 }, { version: 2 }),
    )
    await e.submitMany(newer)
    const report = await e.flush()
    expect(report.walFallback).toBe(100)
    await e.delete('stall.k7')
    proxy.heal() // the held statements reach MariaDB late; the WAL replays after them, version-guarded
    await eventually(async () => (await e.health()).wal.rows === 0, 20_000)
    expect(await countInL3('stall.k')).toBe(99)
    const stored = await e.getMany(newer.map((i) => i.id))
    expect(stored.size).toBe(99)
    expect([...stored.values()].every((i) => i.version === 2)).toBe(true)
    const roots = await e.merkleRoots()
    expect(roots.l2).toBe(roots.l3)
  })

  it('start() with L3 unreachable fails clearly; with allowDegradedStart it runs on the WAL and catches up when L3 answers', async () => {
    proxy.cut()
    const strict = engine()
    const error = await strict.start().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BackendUnavailableError)
    expect((error as Error).message).toMatch(/allowDegradedStart/)
    expect(strict.state).toBe('Stopped')

    const degraded = engine({ allowDegradedStart: true })
    const report = await degraded.start()
    expect(degraded.state).toBe('Ready')
    expect(report.l2).toBe('connected')
    const items = Array.from({ length: 500 }, (_, i) => SyncItem.fromJson(`deg.proxy.${i}`, { i }))
    // ground-truth while L3 is down: resolved once the WAL holds it.
    await degraded.submitMany(items, SubmitOptions.groundTruth())
    expect((await degraded.health()).wal).toMatchObject({ rows: 500, backlog: true })
    expect((await degraded.get('deg.proxy.7'))?.json()).toEqual({ i: 7 })

    proxy.heal()
    await eventually(async () => (await degraded.health()).wal.rows === 0, 20_000)
    expect(await countInL3('deg.proxy.')).toBe(500)
    await eventually(async () => {
      const roots = await degraded.merkleRoots()
      return roots.l2 === roots.l3
    }, 10_000)
    expect((await degraded.health()).l3).toMatchObject({ ok: true, circuit: 'closed' })
  })
})
