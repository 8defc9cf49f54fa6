import { SyncItem } from '@sync-engine/core'
import { merkleRootOf } from '@sync-engine/merkle'
import { MysqlL3Store } from '@sync-engine/mysql-tier'
import { makeTempDir } from '@sync-engine/testkit'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { engineFactory, quiet } from './helpers.js'
import { servicesFor } from './services.js'

let services: Awaited<ReturnType<typeof servicesFor>>
const temp = makeTempDir('engine-services')
beforeAll(async () => {
  services = await servicesFor('engine')
})
afterAll(async () => {
  await services?.drop()
  temp.remove()
})

const engine = engineFactory(temp.path, () => ({
  sql: services.mysqlUrl,
  redis: { url: services.redisUrl, prefix: services.prefix },
}))

const user = (i: number, extra: Record<string, unknown> = {}, version = 1) =>
  SyncItem.fromJson(
    `svc.user.${String(i).padStart(6, '0')}`,
    { name: `User ${i}`, n: i, ...extra },
    { version },
  )

describe('engine on Redis + MariaDB', () => {
  it('flushes 20 000 items: L2 and L3 roots equal the in-memory root; every id readable from L3 alone', async () => {
    const e = engine({ cdc: { enabled: true } })
    await e.start()
    const items = Array.from({ length: 20_000 }, (_, i) => user(i, { tags: ['x', i % 5] }))
    await e.submitMany(items)
    await e.flush()
    const expected = merkleRootOf(
      items.map((i) => ({ id: i.id, version: i.version, contentHash: i.contentHash })),
    )
    expect(await e.merkleRoots()).toEqual({ l2: expected, l3: expected })
    expect((await e.verifyMerkle()).ok).toBe(true)
    const redis = new Redis(services.redisUrl)
    expect(await redis.xlen(`${services.prefix}__se:cdc`)).toBe(20_000)
    await redis.quit()
    await e.shutdown()

    // A fresh engine with an empty L1 and no L2 reads every id from L3, byte for byte.
    const reader = engine({ redis: undefined })
    await reader.start()
    const found = await reader.getMany(items.map((i) => i.id))
    expect(found.size).toBe(20_000)
    for (const item of items)
      expect(Buffer.from(found.get(item.id)!.content).equals(Buffer.from(item.content))).toBe(true)
  })

  it('deletes never resurrect, stale versions never win, and L2 follows L3', async () => {
    const e = engine()
    await e.start()
    await e.submit(user(1, { v: 'old' }))
    const deleted = e.delete(user(1).id)
    await e.submit(user(2, { v: 'new' }, 7))
    await e.flush()
    expect(await deleted).toBe(true)
    await e.submit(user(2, { v: 'older' }, 6))
    await e.flush()
    const roots = await e.merkleRoots()
    expect(roots.l2).toBe(roots.l3)
    await e.shutdown()
    const again = engine()
    await again.start()
    expect(await again.get(user(1).id)).toBeNull()
    expect((await again.get(user(2).id))?.json()).toMatchObject({ v: 'new' })
    expect((await again.status(user(2).id)).inL2).toBe(true)
  })

  it('shutdown right after 5 000 submits: a new engine finds all of them in L3', async () => {
    const e = engine()
    await e.start()
    for (let i = 0; i < 5000; i++) void e.submit(user(100_000 + i))
    await e.shutdown()
    const store = new MysqlL3Store({ url: services.mysqlUrl, logger: quiet })
    await store.connect()
    try {
      expect(await store.countPrefix('svc.user.1')).toBe(5000)
    } finally {
      await store.close()
    }
  })

  it('repairs L2 at start where the Merkle trees differ (writes it missed)', async () => {
    const e = engine()
    await e.start()
    await e.submitMany([user(500), user(501), user(502)])
    await e.flush()
    await e.shutdown()
    // Writes that reach L3 but not L2 (as while Redis was away): a new row, an overwrite, a delete.
    const store = new MysqlL3Store({ url: services.mysqlUrl, logger: quiet })
    await store.connect()
    await store.putBatch([user(503), user(501, { changed: true }, 2)])
    await store.deleteBatch([user(502).id])
    await store.close()
    const again = engine()
    const report = await again.start()
    expect(report.l2).toBe('connected')
    expect(report.l2Repaired).toBe(3)
    const roots = await again.merkleRoots()
    expect(roots.l2).toBe(roots.l3)
    const redis = new Redis(services.redisUrl)
    try {
      expect(await redis.exists(`${services.prefix}${user(503).id}`)).toBe(1)
      expect(await redis.exists(`${services.prefix}${user(502).id}`)).toBe(0)
    } finally {
      await redis.quit()
    }
    expect((await again.get(user(501).id))?.version).toBe(2)
  })
})
