import { jsonItem, testSeed, uniquePrefix } from '@sync-engine/testkit'
import fc from 'fast-check'
import type { Cluster } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keySlot, RedisChangeFeed, RedisChangePublisher, RedisL2Store } from '../src/index.js'
import { deletePrefix, describeConformance, LocalCluster } from './helpers.js'

// A 3-master cluster on free loopback ports, started for this file and stopped after it.
const cluster = new LocalCluster()
let admin: Cluster
beforeAll(async () => {
  await cluster.start()
  admin = await cluster.client()
}, 60_000)
afterAll(async () => {
  admin?.disconnect()
  await cluster.stop()
})

async function openClusterStore(label: string, shared = false): Promise<RedisL2Store> {
  const prefix = uniquePrefix(label)
  const store = shared
    ? new RedisL2Store({ client: admin, prefix })
    : new RedisL2Store({ url: cluster.url, cluster: true, prefix })
  await store.connect()
  return store
}

// The mirror's suite runs on a store over the caller's Cluster client, the L2 suite on one from a URL.
describeConformance(
  'redis cluster',
  (label) => openClusterStore(`cluster-${label}`, label === 'merkle'),
  () => admin,
)

describe('redis cluster specifics', () => {
  it('computes the same hash slot as the server, hash tags included', async () => {
    const seed = testSeed()
    console.log(`keySlot property seed: ${seed}`)
    const keys = fc.sample(
      fc
        .oneof(
          fc.string({ unit: 'grapheme', maxLength: 30 }),
          fc.constantFrom('{', '}', '{}', 'a{b}c', '{{a}}', 'x{}{y}'),
        )
        .chain((a) => fc.tuple(fc.constant(a), fc.string({ maxLength: 10 })).map(([x, y]) => x + y)),
      { seed, numRuns: 200 },
    )
    keys.push('foo', '{user1000}.following', '123456789', '', '😀{é}')
    const node = admin.nodes('master')[0]!
    for (const key of keys) expect(keySlot(key), key).toBe(await node.cluster('KEYSLOT', key))
  })

  it('spreads one putBatch over every node without CROSSSLOT, state sets included', async () => {
    const store = await openClusterStore('cluster-spread')
    try {
      const items = Array.from({ length: 600 }, (_, i) =>
        jsonItem(`spread.${i}`, { i }, { state: i % 2 ? 'odd' : 'even' }),
      )
      const outcomes = await store.putBatch(items)
      expect(outcomes.every((o) => o.status === 'written')).toBe(true)
      const slots = new Set(items.map((item) => keySlot(store.keys.item(item.id))))
      expect(slots.size).toBeGreaterThan(100)
      const { items: found, errors } = await store.getMany(items.map((item) => item.id))
      expect(found.size).toBe(600)
      expect(errors.size).toBe(0)
      expect(await store.byState('odd')).toHaveLength(300)
      await store.putBatch(items.slice(0, 10).map((item) => item.with({ state: 'odd', version: 2 })))
      expect(await store.byState('even')).toHaveLength(295)
      expect((await store.deleteBatch(items.map((item) => item.id))).length).toBe(600)
      expect(await store.byState('odd')).toEqual([])
    } finally {
      await store.close()
      await deletePrefix(admin, store.keys.prefix)
    }
  })

  it('refuses only the older items of a batch spanning slots and nodes, state sets included', async () => {
    const store = await openClusterStore('cluster-mixed')
    try {
      const ids = Array.from({ length: 400 }, (_, i) => `mixed.${i}`)
      await store.putBatch(ids.map((id) => jsonItem(id, { v: 'stored' }, { version: 5, state: 'old' })))
      // Even ids come with an older version (refused), odd ids with a newer one (written).
      const batch = ids.map((id, i) => jsonItem(id, { i }, { version: i % 2 ? 6 : 4, state: 'new' }))
      const outcomes = await store.putBatch(batch)
      expect(outcomes.map((o) => o.status)).toEqual(ids.map((_, i) => (i % 2 ? 'written' : 'stale')))
      expect(new Set(ids.map((id) => keySlot(store.keys.item(id)))).size).toBeGreaterThan(100)
      const { items } = await store.getMany(ids)
      ids.forEach((id, i) => {
        expect(items.get(id)?.version).toBe(i % 2 ? 6 : 5)
      })
      expect((await store.byState('new')).length).toBe(200)
      expect((await store.byState('old')).every((id) => Number(id.split('.')[1]) % 2 === 0)).toBe(true)
      expect(await admin.zcard(store.keys.state('old'))).toBe(200)
    } finally {
      await store.close()
      await deletePrefix(admin, store.keys.prefix)
    }
  })

  it('publishes and reads the change stream through a cluster', async () => {
    const prefix = uniquePrefix('cluster-cdc')
    const publisher = new RedisChangePublisher({ client: admin, prefix })
    const feed = new RedisChangeFeed({ client: admin, prefix, start: 'earliest' })
    try {
      await publisher.publish([
        {
          op: 'PUT',
          key: 'a.b',
          hash: 'h',
          data: new Uint8Array([0, 1, 255]),
          meta: { contentType: 'binary', version: 1, updatedAt: 5, state: 'default', origin: 'p1' },
        },
        {
          op: 'DEL',
          key: 'a.c',
          hash: '',
          meta: { contentType: undefined, version: undefined, updatedAt: 6, state: undefined, origin: 'p1' },
        },
      ])
      const batch = await feed.read({ count: 10 })
      expect(batch.changes.map((c) => [c.op, c.key])).toEqual([
        ['PUT', 'a.b'],
        ['DEL', 'a.c'],
      ])
      expect([...batch.changes[0]!.data!]).toEqual([0, 1, 255])
    } finally {
      await feed.close()
      await deletePrefix(admin, prefix)
    }
  })
})
