import {
  makeTempDir,
  requireMysql,
  requireRedis,
  serviceUrls,
  uniqueName,
  uniquePrefix,
} from '@sync-engine/testkit'
import { Redis } from 'ioredis'
import { createConnection } from 'mysql2/promise'
import { afterAll, beforeAll } from 'vitest'

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

export type Services = Awaited<ReturnType<typeof servicesFor>>

/**
 * A test file's services and temp dir: `servicesFor(label)` in a `beforeAll` (registered here, so it
 * runs before the file's own), dropped with the temp dir in an `afterAll` (which runs after the file's
 * own). `services` throws if read before that `beforeAll` ran.
 */
export function servicesForFile(label: string): {
  readonly services: Services
  readonly temp: { readonly path: string; remove(): void }
} {
  let services: Services | undefined
  const temp = makeTempDir(label)
  beforeAll(async () => {
    services = await servicesFor(label)
  })
  afterAll(async () => {
    await services?.drop()
    temp.remove()
  })
  return {
    get services(): Services {
      if (!services) throw new Error(`the services of '${label}' are set up in beforeAll`)
      return services
    },
    temp,
  }
}
