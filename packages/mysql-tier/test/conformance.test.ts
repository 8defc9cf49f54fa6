import type { L3Store } from '@sync-engine/core'
import { merkleRootOf } from '@sync-engine/merkle'
import { describeL3Store, describeMerkleNodeStore, requireMysql } from '@sync-engine/testkit'
import mysql, { type Pool } from 'mysql2/promise'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MysqlMerkleNodeStore, NodeSql } from '../src/node-store.js'
import { closeAdmin, freshDatabase, openStore, poolExecutor, sql, type TestDatabase } from './helpers.js'

beforeAll(() => requireMysql())

// Each conformance test gets a database of its own, dropped after it. The suite's batches are small:
// run it as they run (on one connection), and with every batch overlapped (side connections).
const databases = new Map<L3Store, TestDatabase>()
for (const [title, overlapMinRows] of [
  ['MysqlL3Store on MariaDB', undefined],
  ['MysqlL3Store on MariaDB, every batch overlapped', 1],
] as const) {
  describeL3Store(title, {
    async create() {
      const db = await freshDatabase('l3_conf')
      const store = await openStore(db, overlapMinRows === undefined ? {} : { overlapMinRows })
      databases.set(store, db)
      return store
    },
    async destroy(store) {
      await databases.get(store)?.drop()
      databases.delete(store)
    },
    expectedRoot: (leaves) => merkleRootOf(leaves),
  })
}

// The node store alone, over the `merkle_nodes` table the store's migrations create.
let nodesDb: TestDatabase
let nodesPool: Pool
beforeAll(async () => {
  nodesDb = await freshDatabase('l3_nodes')
  await (await openStore(nodesDb)).close()
  nodesPool = mysql.createPool({
    uri: nodesDb.url,
    connectionLimit: 2,
    charset: 'UTF8MB4_BIN',
    supportBigNumbers: true,
  })
})
afterAll(async () => {
  await nodesPool?.end()
  await nodesDb?.drop()
  await closeAdmin()
})
describeMerkleNodeStore(
  'MysqlMerkleNodeStore',
  () => new MysqlMerkleNodeStore(poolExecutor(nodesPool), new NodeSql('merkle_nodes'), 4 * 1024 * 1024),
  { teardown: () => sql(`DELETE FROM \`${nodesDb.name}\`.merkle_nodes`) },
)

describe('MysqlMerkleNodeStore.getNodes', () => {
  it('finds the leaf slot `x.` asked together with an interior `x`, and alone', async () => {
    const store = new MysqlMerkleNodeStore(
      poolExecutor(nodesPool),
      new NodeSql('merkle_nodes'),
      4 * 1024 * 1024,
    )
    const h = (n: number) => String(n).padStart(64, '0')
    await store.writeNodes({
      upsert: [
        { path: '', hash: h(1), leaf: false, count: 3 },
        { path: 'uk', hash: h(2), leaf: false, count: 2 },
        { path: 'uk.', hash: h(3), leaf: true, count: 1 },
        { path: 'uk.x', hash: h(4), leaf: true, count: 1 },
        { path: 'fr', hash: h(5), leaf: true, count: 1 },
      ],
      delete: [],
    })
    const got = await store.getNodes(['', 'uk', 'uk.', 'uk.x', 'uk.x.', 'fr', 'fr.', 'no', 'no.'])
    expect([...got.keys()].sort()).toEqual(['', 'fr', 'uk', 'uk.', 'uk.x'])
    expect(got.get('uk.')).toEqual({ path: 'uk.', hash: h(3), leaf: true, count: 1 })
    expect([...(await store.getNodes(['uk.'])).keys()]).toEqual(['uk.'])
    await sql(`DELETE FROM \`${nodesDb.name}\`.merkle_nodes`)
  })
})
