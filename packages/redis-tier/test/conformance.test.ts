import { describeL2Store, describeMerkleNodeStore, requireRedis } from '@sync-engine/testkit'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll } from 'vitest'
import type { RedisL2Store, RedisMerkleNodeStore } from '../src/index.js'
import { deletePrefix, openStore, rawClient, redisUrl } from './helpers.js'

let admin: Redis
beforeAll(async () => {
  await requireRedis(redisUrl)
  admin = await rawClient()
})
afterAll(() => admin.disconnect())

describeL2Store('redis', {
  create: () => openStore('l2'),
  destroy: (store) => deletePrefix(admin, (store as RedisL2Store).keys.prefix),
})

const mirrors = new Map<RedisMerkleNodeStore, RedisL2Store>()
describeMerkleNodeStore(
  'redis mirror',
  async () => {
    const store = await openStore('merkle')
    mirrors.set(store.merkle, store)
    return store.merkle
  },
  {
    teardown: async (mirror) => {
      const store = mirrors.get(mirror as RedisMerkleNodeStore)!
      mirrors.delete(mirror as RedisMerkleNodeStore)
      await store.close()
      await deletePrefix(admin, store.keys.prefix)
    },
  },
)
