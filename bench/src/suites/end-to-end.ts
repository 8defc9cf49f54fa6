import { silentLogger } from '@sync-engine/core'
import { MysqlL3Store } from '@sync-engine/mysql-tier'
import mysql, { type Pool } from 'mysql2/promise'
import type { SyncEngineConfig, SyncItem } from 'sync-engine'
import { benchIds, benchItems } from '../data.js'
import {
  type BenchCase,
  type BenchGroup,
  type EngineFixture,
  engineFixture,
  privateDatabase,
} from '../harness.js'
import { guardedUpdates, mariadbRawUpsert, rawRow } from '../raw.js'

/** Rows per statement of the raw baseline: the fixed chunk a careful mysql2 user picks. */
const RAW_ROWS_PER_STATEMENT = 2000
const COLUMNS = 'id, version, `timestamp`, payload_hash, payload, state'
const UPDATES = guardedUpdates(['payload_hash', 'payload', 'state', '`timestamp`', 'version'])

/**
 * The hand-written write (same version guard, the table the engine's store creates). No L2, no Merkle
 * tree, no WAL, no validation.
 */
const rawUpsert = (pool: Pool) =>
  mariadbRawUpsert(pool, {
    columns: COLUMNS,
    row: '(?, ?, ?, ?, ?, ?)',
    updates: UPDATES,
    rowsPerStatement: RAW_ROWS_PER_STATEMENT,
  })

/**
 * Sustained writes through the whole engine — `submitMany` then `flush`: MariaDB (version-guarded
 * upsert, Merkle tree under the same store lock), Redis (documents + Merkle mirror), the change stream
 * — against a raw mysql2 prepared upsert of the same rows, and the cost of Merkle and of CDC each.
 * Calls alternate between two generations of the same ids, so every call rewrites every row.
 */
export default function endToEndSuite({ quick }: { quick: boolean }): BenchGroup[] {
  const n = quick ? 2_000 : 10_000
  const ids = benchIds(n, 11)
  let gens: SyncItem[][] = []
  let rawGens: unknown[][][] = []
  const fixtures: EngineFixture[] = []
  let rawDb: Awaited<ReturnType<typeof privateDatabase>> | undefined
  let rawPool: Pool | undefined
  let raw: ReturnType<typeof rawUpsert> | undefined

  const alternate = <T>(pool: () => readonly T[]) => {
    let k = 0
    return () => pool()[k++ % 2]!
  }
  const nextRaw = alternate(() => rawGens)
  const engines: { name: string; config: SyncEngineConfig; redis?: false }[] = [
    { name: 'engine: Redis + MariaDB, Merkle on, CDC on', config: { cdc: { enabled: true } } },
    {
      name: 'engine: Redis + MariaDB, Merkle off, CDC on',
      config: { cdc: { enabled: true }, merkle: { enabled: false } },
    },
    { name: 'engine: Redis + MariaDB, Merkle on, CDC off', config: {} },
    { name: 'engine: MariaDB only (no Redis, no CDC), Merkle on', config: {}, redis: false },
  ]
  const cases: BenchCase[] = engines.map(({ name }, i) => {
    const next = alternate(() => gens)
    return {
      name,
      opsPerCall: n,
      fn: async () => {
        const engine = fixtures[i]!.engine
        await engine.submitMany(next())
        await engine.flush()
      },
    }
  })

  return [
    {
      name: `end-to-end: sustained writes of ${n / 1000}k items (~500 B JSON)`,
      setup: async () => {
        gens = [benchItems(ids, 11, 0), benchItems(ids, 11, 1)]
        rawGens = gens.map((items) => items.map(rawRow))
        rawDb = await privateDatabase('e2e_raw')
        // The baseline's table comes from the store, so every writer writes the same schema.
        const schema = new MysqlL3Store({ url: rawDb.url, logger: silentLogger })
        await schema.connect()
        await schema.close()
        rawPool = mysql.createPool({ uri: rawDb.url, connectionLimit: 1, charset: 'UTF8MB4_BIN' })
        raw = rawUpsert(rawPool)
        for (const { config, redis } of engines)
          fixtures.push(await engineFixture('e2e', { config, ...(redis === false ? { redis } : {}) }))
      },
      teardown: async () => {
        for (const fx of fixtures.splice(0)) await fx.close()
        await rawPool?.end()
        await rawDb?.drop()
      },
      baseline: {
        name: 'raw mysql2 prepared multi-row upsert, one transaction',
        opsPerCall: n,
        fn: () => raw!(nextRaw()),
      },
      cases,
      targets: { [engines[0]!.name]: 0.3 },
      rounds: 3,
      // Each call is ~1 s of three processes on two cores: one call a round swung the ratio ±0.03.
      slowCalls: 3,
      note: 'Each engine call is `submitMany` (durability memory) of every item, then `flush()`: the rows in MariaDB (version guard, Merkle tree under the same store lock unless off), the documents and the Merkle mirror in Redis, the change stream entries when CDC is on. The baseline only writes the MariaDB rows; the MariaDB-only row shows what Redis (documents + Merkle mirror) adds. Default batch limits (1000 items / 1 MiB per flush batch).',
    },
  ]
}
