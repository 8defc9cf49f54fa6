import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type { ChangePublisher, L1Cache, L2Store, L3Store, Logger, WriteAheadLog } from '@sync-engine/core'
import { L1MemoryCache } from '@sync-engine/l1-cache'
import { SqliteWal } from '@sync-engine/wal'
import { isL1, isL2, isL3, isWal, type ResolvedConfig } from './config.js'

/** The change-stream publisher and its own connection. */
export interface CdcPublisher extends ChangePublisher {
  connect?(): Promise<void>
  close?(): Promise<void>
}

export interface Backends {
  l1: L1Cache
  l2: L2Store | undefined
  l3: L3Store | undefined
  /** Opened on start (it touches the disk). */
  openWal(): WriteAheadLog
  /** The change-stream publisher, when CDC is enabled and L2 is Redis. */
  cdc: CdcPublisher | undefined
  /** Names reported in health and metrics (`redis`, `mysql`, `sqlite`, or the custom store's `name`). */
  l2Name: string | undefined
  l3Name: string | undefined
}

/** Builds the tiers the configuration names; the only place that knows concrete tier classes. */
export async function createBackends(config: ResolvedConfig, logger: Logger): Promise<Backends> {
  const l1: L1Cache = isL1(config.l1)
    ? config.l1
    : new L1MemoryCache({ maxBytes: config.l1.maxBytes, thresholds: config.backpressure })

  let l3: L3Store | undefined
  let l3Name: string | undefined
  if (isL3(config.sql)) {
    l3 = config.sql
    l3Name = l3.name
  } else if (config.sql !== false) {
    const url = config.sql.url
    if (url.startsWith('sqlite:')) {
      const { SqliteL3Store } = await import('@sync-engine/sqlite-tier')
      l3 = new SqliteL3Store({ url, merkle: config.merkle.enabled, logger })
      l3Name = 'sqlite'
    } else {
      const { MysqlL3Store } = await import('@sync-engine/mysql-tier')
      // mysql2 speaks the same protocol to MariaDB; it only knows the mysql:// scheme.
      l3 = new MysqlL3Store({
        url: url.replace(/^mariadb:/, 'mysql:'),
        merkle: config.merkle.enabled,
        logger,
      })
      l3Name = 'mysql'
    }
  }

  let l2: L2Store | undefined
  let l2Name: string | undefined
  let cdc: CdcPublisher | undefined
  if (isL2(config.redis)) {
    l2 = config.redis
    l2Name = l2.name
  } else if (config.redis !== undefined) {
    const redisTier = await import('@sync-engine/redis-tier')
    const { url, cluster, prefix, commandTimeoutMs } = config.redis
    const connection = { url, cluster, prefix, commandTimeoutMs, logger }
    l2 = new redisTier.RedisL2Store(connection)
    l2Name = 'redis'
    if (config.cdc.enabled)
      cdc = new redisTier.RedisChangePublisher({ ...connection, maxLen: config.cdc.maxLen })
  }

  const wal = config.wal
  const openWal = (): WriteAheadLog => {
    if (isWal(wal)) return wal
    mkdirSync(dirname(wal.path), { recursive: true })
    return new SqliteWal(wal)
  }
  return { l1, l2, l3, openWal, cdc, l2Name, l3Name }
}
