import { randomBytes } from 'node:crypto'
import { type ChangeEntry, SyncItem } from '@sync-engine/core'
import { RedisChangePublisher, RedisL2Store } from '@sync-engine/redis-tier'
import { Redis } from 'ioredis'
import type { BenchCase, BenchGroup } from '../harness.js'

const url = process.env.REDIS_URL || 'redis://127.0.0.1:6379'
/** Commands per raw pipeline: the size the store uses too. */
const PIPELINE = 1000
/** Sequential gets per measured call (one get is ~50 µs, near the timer's noise). */
const GETS = 20
/** Ids the get benchmark cycles through. */
const HOT = 1000

/**
 * The L2 tier against raw ioredis on the same server, keys and bytes:
 * - putBatch (guarded Lua script, state sets, validation, encoding) vs a raw pipeline of plain SETs
 *   of the very document bytes the store writes;
 * - get of a hit (GET + header parse + hash check + SyncItem) vs a raw GET of the same key;
 * - CDC publish (validation, meta JSON) vs raw pipelined XADDs of the same entries (the raw side
 *   serializes each entry's meta and wraps its bytes too, with no validation).
 */
export default function redisTierSuite({ quick }: { quick: boolean }): BenchGroup[] {
  const docs = quick ? 2_000 : 100_000
  const prefix = `bench:redis-tier:${randomBytes(4).toString('hex')}:`
  const raw = new Redis(url, { lazyConnect: true })
  const store = new RedisL2Store({ url, prefix: `${prefix}store:` })
  const publisher = new RedisChangePublisher({ url, prefix: `${prefix}cdc:` })
  const items = Array.from({ length: docs }, (_, i) =>
    SyncItem.fromJson(
      `user.profile.${i}`,
      { name: `user ${i}`, role: i % 3 ? 'user' : 'admin', n: i, tags: ['a', 'b'] },
      { updatedAt: 1_700_000_000_000 },
    ),
  )
  for (const item of items) void item.contentHash
  // The bytes the store writes for each item: the raw baseline SETs exactly these.
  let rawDocs: { key: string; value: Buffer }[] = []

  /** Deletes the keys under `pattern` (this run's, or those a crashed run left). */
  const sweep = async (pattern: string) => {
    let cursor = '0'
    do {
      const [next, keys] = await raw.scan(cursor, 'MATCH', pattern, 'COUNT', 5000)
      cursor = next
      if (keys.length > 0) await raw.unlink(...keys)
    } while (cursor !== '0')
  }
  /** Each group connects, writes the first `count` items through the store, and cleans up after itself. */
  const setupWith = (count: number) => async () => {
    await Promise.all([raw.connect(), store.connect(), publisher.connect()])
    await sweep('bench:redis-tier:*')
    await store.putBatch(items.slice(0, count))
  }
  const teardown = async () => {
    await sweep(`${prefix}*`)
    const ended = new Promise((resolve) => raw.once('end', resolve))
    raw.disconnect()
    await Promise.all([store.close(), publisher.close(), ended])
  }
  const setupPut = async () => {
    await setupWith(items.length)()
    // The bytes the store wrote for each item: the raw baseline SETs exactly these.
    rawDocs = []
    for (let at = 0; at < items.length; at += PIPELINE) {
      const keys = items.slice(at, at + PIPELINE).map((i) => `${prefix}store:${i.id}`)
      const chunk = await raw.mgetBuffer(...keys)
      keys.forEach((key, k) => {
        rawDocs.push({ key: `${prefix}raw:${key}`, value: chunk[k]! })
      })
    }
  }

  const rawSets: BenchCase = {
    name: `raw ioredis pipeline SET ×${docs}`,
    opsPerCall: docs,
    fn: async () => {
      const pipelines: Promise<unknown>[] = []
      for (let at = 0; at < rawDocs.length; at += PIPELINE) {
        const pipeline = raw.pipeline()
        for (let i = at; i < Math.min(at + PIPELINE, rawDocs.length); i++)
          pipeline.set(rawDocs[i]!.key, rawDocs[i]!.value)
        pipelines.push(pipeline.exec())
      }
      await Promise.all(pipelines)
    },
  }
  // Cases are async functions, as the baselines: tinybench calls a plain function once, untimed, to see
  // whether it returns a promise, and does not await it — that call would run during the timed one.
  const putBatch: BenchCase = {
    name: `RedisL2Store.putBatch ×${docs}`,
    opsPerCall: docs,
    fn: async () => {
      await store.putBatch(items)
    },
  }

  let next = 0
  const hot = () => {
    next = (next + 1) % Math.min(HOT, items.length)
    return items[next]!
  }
  const rawGet: BenchCase = {
    name: 'raw ioredis GET',
    opsPerCall: GETS,
    fn: async () => {
      for (let i = 0; i < GETS; i++) await raw.getBuffer(`${prefix}store:${hot().id}`)
    },
  }
  const storeGet: BenchCase = {
    name: 'RedisL2Store.get',
    opsPerCall: GETS,
    fn: async () => {
      for (let i = 0; i < GETS; i++) await store.get(hot().id)
    },
  }

  const changes = quick ? 500 : 2000
  const entries: ChangeEntry[] = items.slice(0, changes).map((item) => ({
    op: 'PUT',
    key: item.id,
    hash: item.contentHash,
    data: item.content,
    meta: {
      contentType: item.contentType,
      version: item.version,
      updatedAt: item.updatedAt,
      state: item.state,
      origin: 'bench',
    },
  }))
  const streamKey = `${prefix}raw-cdc`
  // What any publisher of these entries must do per entry: the meta JSON and a Buffer of the bytes.
  const fieldsOf = (e: ChangeEntry) => [
    'op',
    e.op,
    'key',
    e.key,
    'hash',
    e.hash,
    'data',
    Buffer.from(e.data!.buffer, e.data!.byteOffset, e.data!.byteLength),
    'meta',
    JSON.stringify({
      content_type: e.meta.contentType,
      version: e.meta.version,
      updated_at: e.meta.updatedAt,
      state: e.meta.state,
      origin: e.meta.origin,
    }),
  ]
  const rawXadd: BenchCase = {
    name: `raw ioredis pipeline XADD ×${changes}`,
    opsPerCall: changes,
    fn: async () => {
      const pipelines: Promise<unknown>[] = []
      for (let at = 0; at < entries.length; at += PIPELINE) {
        const pipeline = raw.pipeline()
        for (let i = at; i < Math.min(at + PIPELINE, entries.length); i++) {
          pipeline.xadd(streamKey, 'MAXLEN', '~', 100_000, '*', ...fieldsOf(entries[i]!))
        }
        pipelines.push(pipeline.exec())
      }
      await Promise.all(pipelines)
    },
  }
  const publish: BenchCase = {
    name: `RedisChangePublisher.publish ×${changes}`,
    opsPerCall: changes,
    fn: async () => {
      await publisher.publish(entries)
    },
  }

  return [
    {
      name: `redis-tier: putBatch of ${docs} JSON documents`,
      baseline: rawSets,
      cases: [putBatch],
      targets: { [putBatch.name]: 0.8 },
      setup: setupPut,
      teardown: async () => {
        rawDocs = []
        await teardown()
      },
    },
    {
      name: 'redis-tier: get of a hit',
      baseline: rawGet,
      cases: [storeGet],
      targets: { [storeGet.name]: 0.83 },
      setup: setupWith(HOT),
      teardown,
    },
    {
      name: `redis-tier: CDC publish of ${changes} changes`,
      baseline: rawXadd,
      cases: [publish],
      targets: { [publish.name]: 0.8 },
      setup: setupWith(0),
      teardown,
    },
  ]
}
