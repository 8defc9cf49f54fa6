import { SyncItem } from '@sync-engine/core'
import { makeTempDir } from '@sync-engine/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually } from './fixtures/faults.js'
import { engineFactory } from './helpers.js'
import { servicesFor } from './services.js'

let services: Awaited<ReturnType<typeof servicesFor>>
const temp = makeTempDir('coherence')
beforeAll(async () => {
  services = await servicesFor('coherence')
})
afterAll(async () => {
  await services?.drop()
  temp.remove()
})

const engines = engineFactory(temp.path, () => ({
  sql: services.mysqlUrl,
  redis: { url: services.redisUrl, prefix: services.prefix },
  cdc: { enabled: true, maxStalenessMs: 500 },
  batch: { maxAgeMs: 10 },
}))
const engine = (instanceId: string) => engines({ instanceId })

describe('coherence over the change stream', () => {
  it('an engine drops from L1 what another engine changed, and its filter learns the new ids', async () => {
    const a = engine('engine-a')
    const b = engine('engine-b')
    await a.start()
    await b.start()
    await a.submit(SyncItem.fromJson('co.doc', { v: 1 }))
    await a.flush()
    expect((await b.get('co.doc'))?.json()).toEqual({ v: 1 })
    await b.verifyFilter()
    await a.submit(SyncItem.fromJson('co.doc', { v: 2 }, { version: 2 }))
    await a.submit(SyncItem.fromJson('co.new', { fresh: true }))
    await a.flush()
    await eventually(async () => (await b.get('co.doc'))?.version === 2, 2000)
    // b's trusted filter must never call an id a wrote "definitely missing".
    await eventually(async () => b.mightExist('co.new'), 2000)
    expect((await b.get('co.new'))?.json()).toEqual({ fresh: true })
  })

  it('applyRemote writes through every tier without echoing to the stream', async () => {
    const a = engine('engine-c')
    await a.start()
    const feed = await a.changes()
    await feed.read({ count: 1, blockMs: 1 }) // 'latest': the cursor starts here
    const item = SyncItem.fromJson('co.remote', { from: 'elsewhere' }, { version: 3 })
    await a.applyRemote({
      op: 'PUT',
      key: item.id,
      hash: item.contentHash,
      data: item.content,
      meta: {
        contentType: 'json',
        version: 3,
        updatedAt: item.updatedAt,
        state: 'default',
        origin: 'region-2',
      },
    })
    await a.flush()
    expect((await a.status(item.id)).status).toBe('Synced')
    const batch = await feed.read({ count: 10, blockMs: 50 })
    expect(batch.changes.filter((c) => c.key === item.id)).toEqual([])
    await feed.close()
  })
})
