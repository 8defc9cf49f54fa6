import { SyncItem, silentLogger } from '@sync-engine/core'
import { MysqlL3Store } from '@sync-engine/mysql-tier'
import mysql, { type Pool } from 'mysql2/promise'
import type { BenchGroup } from '../harness.js'

/** Rows per statement of the raw baseline: the fixed chunk size a careful mysql2 user picks. */
const RAW_ROWS_PER_STATEMENT = 2000
const COLUMNS =
  'id, version, `timestamp`, payload_hash, payload, payload_blob, audit, state, access_count, last_accessed'
const NEWER =
  '(VALUES(version) > version OR (VALUES(version) = version AND VALUES(`timestamp`) >= `timestamp`))'
const GUARDED = ['payload_hash', 'payload', 'payload_blob', 'audit', 'state', '`timestamp`', 'version']
  .map((c) => `${c} = IF(${NEWER}, VALUES(${c}), ${c})`)
  .join(', ')

/** ~200 bytes of JSON per row; `gen` changes the content (and so every Merkle leaf) between calls. */
function generation(n: number, gen: number): SyncItem[] {
  return Array.from({ length: n }, (_, i) =>
    SyncItem.fromJson(
      `user.${Math.floor(i / 1000)}.${i}`,
      {
        name: `User number ${i}`,
        email: `user${i}@example.com`,
        role: i % 3 ? 'member' : 'admin',
        gen,
        tags: ['alpha', 'beta', 'gamma'],
        bio: 'x'.repeat(60),
      },
      { updatedAt: 1_700_000_000_000 },
    ),
  )
}

/**
 * The hand-written way to do the same write with mysql2: one transaction of prepared multi-row
 * upserts (2000 rows a statement) with the same version guard, into a table with the same schema,
 * binding the JSON text and hash directly. No validation, no per-row outcomes, no lock, no Merkle tree.
 */
function rawWriter(pool: Pool) {
  const sql = (rows: number) =>
    `INSERT INTO sync_items (${COLUMNS}) VALUES ${Array.from({ length: rows }, () => '(?, ?, ?, ?, ?, NULL, NULL, ?, 0, 0)').join(', ')} ON DUPLICATE KEY UPDATE ${GUARDED}`
  return async (rows: readonly unknown[][]) => {
    const conn = await pool.getConnection()
    try {
      await conn.query('START TRANSACTION')
      for (let at = 0; at < rows.length; at += RAW_ROWS_PER_STATEMENT) {
        const chunk = rows.slice(at, at + RAW_ROWS_PER_STATEMENT)
        await conn.execute(sql(chunk.length), chunk.flat() as never)
      }
      await conn.query('COMMIT')
    } finally {
      conn.release()
    }
  }
}

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
        gens = [generation(n, 0), generation(n, 1)]
        rawGens = gens.map((items) =>
          items.map((item) => [
            item.id,
            item.version,
            item.updatedAt,
            item.contentHash,
            item.text(),
            item.state,
          ]),
        )
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
        'every leaf changes. The store validates each row, locks the store (GET_LOCK), reads the stored versions ' +
        '(SELECT … FOR UPDATE) for per-row outcomes, and with the tree also reads and writes ~100k merkle_nodes rows.',
    },
  ]
}
