import { merkleRootOf } from '@sync-engine/merkle'
import { jsonItem, requireMysql } from '@sync-engine/testkit'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { MysqlL3Store } from '../src/store.js'
import { closeAdmin, freshDatabase, openStore, sql, type TestDatabase } from './helpers.js'

let db: TestDatabase
let store: MysqlL3Store
beforeAll(() => requireMysql())
beforeEach(async () => {
  db = await freshDatabase('l3_parts')
  store = await openStore(db)
})
afterEach(async () => {
  await store.close()
  await db.drop()
})
afterAll(() => closeAdmin())

/** Ids physically in `table`. */
const idsIn = async (table: string) =>
  (await sql<{ id: string }[]>(`SELECT id FROM \`${db.name}\`.\`${table}\` ORDER BY id`)).map((r) => r.id)
const byteOrder = (ids: string[]) => [...ids].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
const rootMatchesRows = async (s: MysqlL3Store) =>
  expect(await s.merkleRoot()).toBe(merkleRootOf(await s.scanLeaves(undefined, 10_000)))

describe('partitions', () => {
  it('route every operation to the table of the longest matching prefix', async () => {
    await store.registerPartition('hot.', 'hot_items')
    await store.registerPartition('hot.x.', 'hotx_items')
    const ids = ['cold.1', 'hot.1', 'hot.2', 'hot.x.1', 'hot.xy', 'a', 'zz']
    await store.putBatch(ids.map((id, i) => jsonItem(id, { i }, { state: i % 2 ? 'odd' : 'even' })))
    expect(await idsIn('sync_items')).toEqual(['a', 'cold.1', 'zz'])
    expect(await idsIn('hot_items')).toEqual(['hot.1', 'hot.2', 'hot.xy'])
    expect(await idsIn('hotx_items')).toEqual(['hot.x.1'])

    // Reads, scans and counts merge the tables, in byte order.
    expect(await store.count()).toBe(ids.length)
    expect((await store.get('hot.x.1'))?.json()).toEqual({ i: 3 })
    expect(await store.exists('hot.2')).toBe(true)
    expect([...(await store.getMany(ids)).items.keys()].sort()).toEqual([...ids].sort())
    expect(await store.scanIds(undefined, 100)).toEqual(byteOrder(ids))
    expect(await store.scanIds('b', 3)).toEqual(['cold.1', 'hot.1', 'hot.2'])
    expect((await store.scanLeaves('hot.2', 2)).map((l) => l.id)).toEqual(['hot.x.1', 'hot.xy'])
    expect(await store.scanPrefix('hot')).toEqual(['hot.1', 'hot.2', 'hot.x.1', 'hot.xy'])
    expect(await store.scanPrefix('hot.', { afterId: 'hot.1', limit: 2 })).toEqual(['hot.2', 'hot.x.1'])
    expect(await store.countPrefix('hot.x')).toBe(2)
    expect(await store.byState('odd')).toEqual(byteOrder(ids.filter((_, i) => i % 2)))
    expect(await store.countByState('even')).toBe(4)
    await rootMatchesRows(store)

    // Writes and deletes too.
    expect(await store.setState(['hot.x.1', 'cold.1'], 'moved')).toEqual(['hot.x.1', 'cold.1'])
    expect(await store.deleteByState('moved')).toEqual(['cold.1', 'hot.x.1'])
    expect(await store.deletePrefix('hot')).toEqual(['hot.1', 'hot.2', 'hot.xy'])
    expect(await store.deleteBatch(['a', 'hot.1'])).toEqual(['a'])
    expect(await store.scanIds(undefined, 100)).toEqual(['zz'])
    await rootMatchesRows(store)
  })

  it('survive a reopen: the registry is loaded at connect', async () => {
    await store.registerPartition('user.', 'user_items')
    await store.putBatch([jsonItem('user.1', [1]), jsonItem('other', [2])])
    const reopened = await openStore(db)
    try {
      expect(reopened.partitions).toEqual([{ prefix: 'user.', table: 'user_items' }])
      expect((await reopened.get('user.1'))?.json()).toEqual([1])
      await reopened.putBatch([jsonItem('user.2', [3])])
      expect(await idsIn('user_items')).toEqual(['user.1', 'user.2'])
      await rootMatchesRows(reopened)
    } finally {
      await reopened.close()
    }
  })

  it('move rows already stored under a new prefix, leaving the Merkle root unchanged', async () => {
    const ids = ['doc.1', 'doc.2', 'doc.deep.1', 'docx', 'misc']
    await store.putBatch(ids.map((id) => jsonItem(id, [id])))
    const root = await store.merkleRoot()
    await store.registerPartition('doc.', 'doc_items')
    expect(await idsIn('doc_items')).toEqual(['doc.1', 'doc.2', 'doc.deep.1'])
    expect(await idsIn('sync_items')).toEqual(['docx', 'misc'])
    await store.registerPartition('doc.deep.', 'deep_items')
    expect(await idsIn('deep_items')).toEqual(['doc.deep.1'])
    expect(await idsIn('doc_items')).toEqual(['doc.1', 'doc.2'])
    expect(await store.merkleRoot()).toBe(root)
    expect(await store.scanIds(undefined, 10)).toEqual(byteOrder(ids))
    await rootMatchesRows(store)
  })

  it('are seen by another process after reloadPartitions()', async () => {
    const other = await openStore(db)
    try {
      await store.registerPartition('late.', 'late_items')
      expect(other.partitions).toEqual([])
      await other.reloadPartitions()
      await other.putBatch([jsonItem('late.1', [1])])
      expect(await idsIn('late_items')).toEqual(['late.1'])
    } finally {
      await other.close()
    }
  })
})
