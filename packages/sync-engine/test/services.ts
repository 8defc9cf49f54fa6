import { requireMysql, requireRedis, serviceUrls, uniqueName, uniquePrefix } from '@sync-engine/testkit'
import { Redis } from 'ioredis'
import { createConnection } from 'mysql2/promise'

/** A database of its own on this machine's MariaDB, and a Redis prefix of its own; both removed by `drop`. */
export async function servicesFor(
  label: string,
): Promise<{ mysqlUrl: string; redisUrl: string; prefix: string; drop(): Promise<void> }> {
  const { mysqlUrl, redisUrl } = serviceUrls()
  await requireRedis(redisUrl)
  await requireMysql(mysqlUrl)
  const database = uniqueName(`test_${label}`)
  const admin = await createConnection(mysqlUrl)
  await admin.query(`CREATE DATABASE \`${database}\``)
  const url = new URL(mysqlUrl)
  url.pathname = `/${database}`
  const prefix = uniquePrefix(label)
  return {
    mysqlUrl: url.toString(),
    redisUrl,
    prefix,
    async drop() {
      await admin.query(`DROP DATABASE IF EXISTS \`${database}\``)
      await admin.end()
      const redis = new Redis(redisUrl)
      let cursor = '0'
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
        if (keys.length) await redis.unlink(...keys)
        cursor = next
      } while (cursor !== '0')
      await redis.quit()
    },
  }
}
