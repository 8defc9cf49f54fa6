import { SyncItem } from '@sync-engine/core'
import { merkleRootOf } from '@sync-engine/merkle'
import { MysqlL3Store } from '@sync-engine/mysql-tier'
import { RedisL2Store } from '@sync-engine/redis-tier'
import { makeTempDir, RedisProcess, testSeed } from '@sync-engine/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually, sleep } from './fixtures/faults.js'
import { engineFactory, quiet } from './helpers.js'
import { servicesFor } from './services.js'

// SPEC §8, §9: L2 down → reads fall through to L3 within the command timeout, writes keep landing in
// L3, the L2 writes that were missed are repaired (Merkle-guided) when Redis returns; an engine
// started without Redis attaches it when it comes up. Redis is a private server this test kills.

const SEED = testSeed()
const COMMAND_TIMEOUT_MS = 1000
let services: Awaited<ReturnType<typeof servicesFor>>
let redis: RedisProcess
const temp = makeTempDir('failure-l2')
beforeAll(async () => {
  services = await servicesFor('failure_l2')
  redis = await RedisProcess.start()
})
afterAll(async () => {
  await redis?.close()
  await services?.drop()
  temp.remove()
})

const engine = engineFactory(temp.path, () => ({
  sql: services.mysqlUrl,
  redis: { url: redis.url, prefix: services.prefix, commandTimeoutMs: COMMAND_TIMEOUT_MS },
}))

const item = (id: string, i: number) => SyncItem.fromJson(id, { i, name: `user ${i}`, tags: ['a', i % 7] })

/** L2 and L3 hold every id with the same version and bytes (asked of each directly). */
async function expectL2MatchesL3(ids: string[]): Promise<void> {
  const l2 = new RedisL2Store({ url: redis.url, prefix: services.prefix, logger: quiet })
  const l3 = new MysqlL3Store({ url: services.mysqlUrl, logger: quiet })
  await Promise.all([l2.connect(), l3.connect()])
  try {
    const [inL2, inL3] = await Promise.all([l2.getMany(ids), l3.getMany(ids)])
    expect(inL3.items.size).toBe(ids.length)
    expect(inL2.errors.size).toBe(0)
    const differing = ids.filter((id) => {
      const a = inL2.items.get(id)
      const b = inL3.items.get(id)
      return !a || !b || a.version !== b.version || !Buffer.from(a.content).equals(Buffer.from(b.content))
    })
    expect(differing).toEqual([])
  } finally {
    await Promise.all([l2.close(), l3.close()])
  }
}

describe(`Redis killed and restarted (seed ${SEED})`, () => {
  it('killed for 5 s under 20 000 submits: every get returns within its bound; after restart L2 holds every id with L3’s bytes and the roots match', async () => {
    // Ids another engine wrote: reading them misses this engine's L1, so each read asks L2 (or L3).
    const seeded = Array.from({ length: 2000 }, (_, i) => item(`l2.seed.${String(i).padStart(4, '0')}`, i))
    const seeder = engine()
    await seeder.start()
    await seeder.submitMany(seeded)
    await seeder.shutdown()

    const e = engine()
    expect((await e.start()).l2).toBe('connected')
    const load = Array.from({ length: 20_000 }, (_, i) =>
      item(`l2.load.t${i % 20}.${String(i).padStart(5, '0')}`, i),
    )
    const readMs: number[] = []
    const wrong: string[] = []
    let reading = true
    const reads = (async () => {
      for (let k = 0; reading && k < seeded.length; k++) {
        const t = performance.now()
        const got = await e.get(seeded[k]!.id)
        readMs.push(performance.now() - t)
        if (got?.version !== 1 || (got.json() as { i: number }).i !== k) wrong.push(seeded[k]!.id)
        await sleep(5)
      }
    })()

    const startedAt = Date.now()
    const outage = (async () => {
      await sleep(2000)
      await redis.kill()
      await sleep(5000)
      await redis.restart()
    })()
    for (let round = 0; round < 40; round++) {
      await e.submitMany(load.slice(round * 500, (round + 1) * 500))
      await sleep(Math.max(0, startedAt + (round + 1) * 250 - Date.now()))
    }
    await outage
    await e.flush()
    await eventually(async () => {
      const h = await e.health()
      return h.l2.attached === true && h.l2.pendingRepairs === 0
    }, 20_000)
    reading = false
    await reads

    expect(wrong).toEqual([])
    expect(readMs.length).toBeGreaterThan(500)
    // A correctness bound (not a benchmark): no read waits on a dead Redis past its command timeout.
    expect(Math.max(...readMs)).toBeLessThanOrEqual(3 * COMMAND_TIMEOUT_MS)
    const all = [...seeded, ...load]
    await expectL2MatchesL3(all.map((i) => i.id))
    const expected = merkleRootOf(
      all.map((i) => ({ id: i.id, version: i.version, contentHash: i.contentHash })),
    )
    expect(await e.merkleRoots()).toEqual({ l2: expected, l3: expected })
  })

  it('Redis frozen (SIGSTOP) for 2 s: reads wait at most about the command timeout, then L2 is repaired after SIGCONT', async () => {
    const e = engine({ redis: { url: redis.url, prefix: services.prefix, commandTimeoutMs: 500 } })
    await e.start()
    const before = Array.from({ length: 200 }, (_, i) => item(`l2.frozen.a.${i}`, i))
    await e.submitMany(before)
    await e.flush()
    const reader = engine({ redis: { url: redis.url, prefix: services.prefix, commandTimeoutMs: 500 } })
    await reader.start()

    await redis.stop()
    const during = Array.from({ length: 200 }, (_, i) => item(`l2.frozen.b.${i}`, i))
    await e.submitMany(during)
    const flushed = e.flush()
    const readMs: number[] = []
    for (const it of before.slice(0, 20)) {
      const t = performance.now()
      expect((await reader.get(it.id))?.version).toBe(1)
      readMs.push(performance.now() - t)
    }
    await flushed
    expect((await reader.health()).l2.attached).toBe(false)
    await sleep(Math.max(0, 2000 - readMs.reduce((a, b) => a + b, 0)))
    await redis.cont()

    await eventually(async () => (await e.health()).l2.attached === true, 15_000)
    // The first read waited for the frozen Redis at most its timeout; the next ones skipped it.
    expect(Math.max(...readMs)).toBeLessThanOrEqual(3 * 500)
    await expectL2MatchesL3([...before, ...during].map((i) => i.id))
    const roots = await e.merkleRoots()
    expect(roots.l2).toBe(roots.l3)
  })

  it('an engine started while Redis is down runs without L2 and attaches it (repaired) when Redis comes up', async () => {
    await redis.kill()
    const e = engine()
    const report = await e.start()
    expect(report.l2).toBe('unavailable')
    const items = Array.from({ length: 300 }, (_, i) => item(`l2.late.${i}`, i))
    await e.submitMany(items)
    await e.flush()
    expect((await e.health()).l2).toMatchObject({ attached: false, ok: false })
    expect((await e.get('l2.late.5'))?.json()).toMatchObject({ i: 5 })

    await redis.restart()
    await eventually(async () => (await e.health()).l2.attached === true, 15_000)
    await e.submit(item('l2.late.after', 1))
    await e.flush()
    await expectL2MatchesL3([...items.map((i) => i.id), 'l2.late.after'])
    const roots = await e.merkleRoots()
    expect(roots.l2).toBe(roots.l3)
    expect(roots.l2).not.toBeNull()
  })
})
