import { requireRedis } from '@sync-engine/testkit'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll } from 'vitest'
import { describeConformance, openStore, rawClient, redisUrl } from './helpers.js'

let admin: Redis
beforeAll(async () => {
  await requireRedis(redisUrl)
  admin = await rawClient()
})
afterAll(() => admin.disconnect())

describeConformance(
  'redis',
  (label) => openStore(label),
  () => admin,
)
