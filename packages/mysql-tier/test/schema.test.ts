import { SchemaMismatchError } from '@sync-engine/core'
import { jsonItem, requireMysql } from '@sync-engine/testkit'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { SCHEMA_VERSION } from '../src/schema.js'
import { closeAdmin, freshDatabase, openStore, sql, type TestDatabase } from './helpers.js'

let db: TestDatabase
beforeAll(() => requireMysql())
beforeEach(async () => {
  db = await freshDatabase('l3_schema')
})
afterEach(() => db.drop())
afterAll(() => closeAdmin())

const tables = async () =>
  (
    await sql<{ name: string }[]>(
      'SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME',
      [db.name],
    )
  ).map((r) => r.name)
const versionRow = () => sql(`SELECT store, version FROM \`${db.name}\`.sync_engine_schema`)

describe('migrations', () => {
  it('create every table on a fresh database and record the version', async () => {
    const store = await openStore(db)
    await store.close()
    expect(await tables()).toEqual([
      'merkle_nodes',
      'sync_engine_partitions',
      'sync_engine_schema',
      'sync_items',
    ])
    expect(await versionRow()).toEqual([{ store: 'sync_items', version: SCHEMA_VERSION }])
    const [key] = await sql<{ collation: string }[]>(
      `SELECT COLLATION_NAME AS collation FROM information_schema.COLUMNS
       WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'sync_items' AND COLUMN_NAME = 'id'`,
      [db.name],
    )
    expect(key?.collation).toMatch(/^utf8mb4_(nopad_bin|0900_bin)$/)
  })

  it('are idempotent: connecting again (or concurrently) changes nothing and keeps the data', async () => {
    const first = await openStore(db)
    await first.putBatch([jsonItem('keep.me', { n: 1 })])
    const root = await first.merkleRoot()
    await first.close()
    const again = await Promise.all([openStore(db), openStore(db), openStore(db)])
    for (const store of again) {
      expect((await store.get('keep.me'))?.json()).toEqual({ n: 1 })
      expect(await store.merkleRoot()).toBe(root)
      await store.close()
    }
    expect(await versionRow()).toEqual([{ store: 'sync_items', version: SCHEMA_VERSION }])
  })

  it('run the missing steps in order from an older version', async () => {
    await (await openStore(db)).close()
    await sql(`DROP TABLE \`${db.name}\`.sync_engine_partitions`)
    await sql(`UPDATE \`${db.name}\`.sync_engine_schema SET version = 1`)
    const store = await openStore(db)
    await store.registerPartition('p.', 'p_items')
    await store.close()
    expect(await tables()).toContain('sync_engine_partitions')
    expect(await versionRow()).toEqual([{ store: 'sync_items', version: SCHEMA_VERSION }])
  })

  it('refuse a schema newer than the code with SchemaMismatchError, touching nothing', async () => {
    await (await openStore(db)).close()
    await sql(`UPDATE \`${db.name}\`.sync_engine_schema SET version = ?`, [SCHEMA_VERSION + 1])
    const error = await openStore(db).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SchemaMismatchError)
    expect(error).toMatchObject({ found: SCHEMA_VERSION + 1, supported: SCHEMA_VERSION })
    expect((error as Error).message).toContain(`${db.name}.sync_engine_schema`)
    expect(await versionRow()).toEqual([{ store: 'sync_items', version: SCHEMA_VERSION + 1 }])
  })

  it('keep stores with other tables in one database apart', async () => {
    const a = await openStore(db)
    const b = await openStore(db, { table: 'other_items', merkleTable: 'other_nodes' })
    await a.putBatch([jsonItem('only.in.a', [1])])
    expect(await b.count()).toBe(0)
    expect(await b.merkleRoot()).toBeNull()
    await Promise.all([a.close(), b.close()])
    expect(await sql(`SELECT store FROM \`${db.name}\`.sync_engine_schema ORDER BY store`)).toEqual([
      { store: 'other_items' },
      { store: 'sync_items' },
    ])
  })
})
