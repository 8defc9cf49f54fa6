import { type SyncItem, silentLogger } from '@sync-engine/core'
import { MysqlL3Store } from '@sync-engine/mysql-tier'
import mysql, { type Pool } from 'mysql2/promise'
import type { BenchGroup } from '../harness.js'
import { guardedUpdates, mariadbRawUpsert, rawRow, tierGeneration } from '../raw.js'

/** Rows per statement of the raw baseline: the fixed chunk size a careful mysql2 user picks. */
const RAW_ROWS_PER_STATEMENT = 2000
const COLUMNS =
  'id, version, `timestamp`, payload_hash, payload, payload_blob, audit, state, access_count, last_accessed'
const GUARDED = guardedUpdates([
  'payload_hash',
  'payload',
  'payload_blob',
  'audit',
  'state',
  '`timestamp`',
  'version',
])

/**
 * The hand-written way to do the same write with mysql2 (2000 rows a statement, same version guard,
 * same schema, JSON text and hash bound directly). No validation, no per-row outcomes, no lock, no Merkle tree.
 */
const rawWriter = (pool: Pool) =>
  mariadbRawUpsert(pool, {
    columns: COLUMNS,
    row: '(?, ?, ?, ?, ?, NULL, NULL, ?, 0, 0)',
    updates: GUARDED,
    rowsPerStatement: RAW_ROWS_PER_STATEMENT,
  })

export default function mysqlTierSuite({ quick }: { quick: boolean }): BenchGroup[] {
  const n = quick ? 2_000 : 100_000
  const server = process.env.MYSQL_URL || 'mysql://root@127.0.0.1:3306/test'
  const databases = ['raw', 'plain', 'merkle'].map((kind) => `se_bench_${kind}_${process.pid}`)
  const urlOf = (database: string) => {
    const url = new URL(server)
    url.pathname = `/${database}`
    return url.toString()
  }
  let admin: Pool | undefined
  let rawPool: Pool | undefined
  let raw: ReturnType<typeof rawWriter> | undefined
  let plain: MysqlL3Store | undefined
  let merkle: MysqlL3Store | undefined
  let gens: SyncItem[][] = []
  // The baseline binds what a caller of raw mysql2 has at hand: JSON text and its hash.
  let rawGens: unknown[][][] = []
  const calls = { raw: 0, plain: 0, merkle: 0 }
  const next = (key: keyof typeof calls) => calls[key]++ % 2

  return [
    {
      name: `mysql-tier: putBatch of ${n / 1000}k rows (~200 B JSON) into MariaDB`,
      setup: async () => {
        admin = mysql.createPool({ uri: server, connectionLimit: 1 })
        for (const db of databases) await admin.query(`CREATE DATABASE \`${db}\` CHARACTER SET utf8mb4`)
        gens = [tierGeneration(n, 0), tierGeneration(n, 1)]
        rawGens = gens.map((items) => items.map(rawRow))
        // The baseline database gets its schema from the store, so all three write the same tables.
        const schema = new MysqlL3Store({ url: urlOf(databases[0]!), logger: silentLogger })
        await schema.connect()
        await schema.close()
        rawPool = mysql.createPool({ uri: urlOf(databases[0]!), connectionLimit: 1, charset: 'UTF8MB4_BIN' })
        raw = rawWriter(rawPool)
        plain = new MysqlL3Store({ url: urlOf(databases[1]!), merkle: false, logger: silentLogger })
        merkle = new MysqlL3Store({ url: urlOf(databases[2]!), logger: silentLogger })
        await plain.connect()
        await merkle.connect()
      },
      teardown: async () => {
        await plain?.close()
        await merkle?.close()
        await rawPool?.end()
        for (const db of databases) await admin?.query(`DROP DATABASE IF EXISTS \`${db}\``)
        await admin?.end()
      },
      baseline: {
        name: 'raw mysql2 prepared multi-row upsert, one transaction',
        fn: () => raw!(rawGens[next('raw')]!),
        opsPerCall: n,
      },
      cases: [
        {
          name: 'MysqlL3Store.putBatch, merkle: false',
          fn: () => plain!.putBatch(gens[next('plain')]!),
          opsPerCall: n,
        },
        {
          name: 'MysqlL3Store.putBatch + Merkle tree',
          fn: () => merkle!.putBatch(gens[next('merkle')]!),
          opsPerCall: n,
        },
      ],
      targets: {
        'MysqlL3Store.putBatch, merkle: false': 0.7,
        'MysqlL3Store.putBatch + Merkle tree': 0.5,
      },
      // Each call takes seconds and is timed once per round: more rounds steady the medians.
      rounds: quick ? 1 : 9,
      note:
        'Every call rewrites all rows with new content (two generations alternate), so every row is written and ' +
        'every leaf changes. The store validates each row, locks the store (GET_LOCK), reads the stored versions on a ' +
        'side connection while it writes every row with RETURNING (each row checked against that read, for exact ' +
        'per-row outcomes) and, with the tree, reads and writes ~100k merkle_nodes rows on two side connections, ' +
        'committed under the same lock as the rows (a stale mark covers the gap between the commits).',
    },
  ]
}
