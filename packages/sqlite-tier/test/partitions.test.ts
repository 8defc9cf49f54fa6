import { InvalidArgumentError } from '@sync-engine/core'
import { merkleRootOf } from '@sync-engine/merkle'
import { jsonItem } from '@sync-engine/testkit'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import type { SqliteL3Store } from '../src/index.js'
import { leavesOf, openStore, tempFiles } from './helpers.js'

const files = tempFiles('partitions')
let open: SqliteL3Store[] = []
afterEach(async () => {
  for (const store of open) await store.close()
  open = []
})
async function store(path = files.file()): Promise<SqliteL3Store> {
  const s = await openStore(path)
  open.push(s)
  return s
}

/** Ids per table, read straight from the file. */
function tablesOf(path: string, tables: string[]): Record<string, string[]> {
  const db = new Database(path, { readonly: true })
  try {
    return Object.fromEntries(
      tables.map((t) => [t, db.prepare(`SELECT id FROM "${t}" ORDER BY id`).pluck().all() as string[]]),
    )
  } finally {
    db.close()
  }
}

describe('prefix → table partitions', () => {
  it('routes every query to the table of the longest matching prefix', async () => {
    const s = await store()
    await s.registerPartition('tenant.a.', 'tenant_a')
    await s.registerPartition('tenant.a.vip.', 'tenant_a_vip')
    const ids = ['tenant.a.1', 'tenant.a.vip.1', 'tenant.b.1', 'other', 'tenant.a.vip.2']
    const outcomes = await s.putBatch(ids.map((id) => jsonItem(id, { id }, { state: 'hot' })))
    expect(outcomes.every((o) => o.status === 'written' && o.created)).toBe(true)
    expect(tablesOf(s.path, ['sync_items', 'tenant_a', 'tenant_a_vip'])).toEqual({
      sync_items: ['other', 'tenant.b.1'],
      tenant_a: ['tenant.a.1'],
      tenant_a_vip: ['tenant.a.vip.1', 'tenant.a.vip.2'],
    })
    for (const id of ids) expect((await s.get(id))?.json()).toEqual({ id })
    expect(await s.exists('tenant.a.vip.2')).toBe(true)
    expect((await s.getMany(ids)).items.size).toBe(5)
    expect(await s.count()).toBe(5)
    expect(await s.scanIds(undefined, 10)).toEqual([...ids].sort())
    expect(await s.scanIds('tenant.a.1', 2)).toEqual(['tenant.a.vip.1', 'tenant.a.vip.2'])
    expect(await s.scanPrefix('tenant.a')).toEqual(['tenant.a.1', 'tenant.a.vip.1', 'tenant.a.vip.2'])
    expect(await s.countPrefix('tenant.')).toBe(4)
    expect(await s.countPrefix('tenant.a.vip.1')).toBe(1)
    expect((await s.byState('hot', { limit: 3 })).length).toBe(3)
    expect(await s.byState('hot', { afterId: 'tenant.a.1' })).toEqual([
      'tenant.a.vip.1',
      'tenant.a.vip.2',
      'tenant.b.1',
    ])
    expect(await s.setState(['tenant.a.vip.1', 'other'], 'cold')).toEqual(['tenant.a.vip.1', 'other'])
    expect(await s.countByState('cold')).toBe(2)
    expect((await s.deleteByState('cold')).sort()).toEqual(['other', 'tenant.a.vip.1'])
    expect((await s.deletePrefix('tenant.a')).sort()).toEqual(['tenant.a.1', 'tenant.a.vip.2'])
    expect(await s.deleteBatch(['tenant.b.1'])).toEqual(['tenant.b.1'])
    expect(await s.count()).toBe(0)
    expect(await s.merkleRoot()).toBeNull()
  })

  it('keeps one Merkle tree over every table', async () => {
    const s = await store()
    await s.registerPartition('x.', 'part_x')
    await s.putBatch(['x.1', 'x.2', 'y.1', 'x'].map((id) => jsonItem(id, [id])))
    const root = await s.merkleRoot()
    expect(root).toBe(merkleRootOf(await leavesOf(s)))
    const flat = await store()
    await flat.putBatch(['x.1', 'x.2', 'y.1', 'x'].map((id) => jsonItem(id, [id])))
    expect(await flat.merkleRoot()).toBe(root)
  })

  it('survives a reopen: the registry is persisted and loaded at connect', async () => {
    const path = files.file()
    const first = await openStore(path)
    await first.registerPartition('p.', 'part_p')
    await first.putBatch([jsonItem('p.1', 1), jsonItem('q.1', 2)])
    await first.close()
    const again = await store(path)
    expect(again.partitions).toEqual([{ prefix: 'p.', table: 'part_p' }])
    expect((await again.get('p.1'))?.json()).toBe(1)
    await again.putBatch([jsonItem('p.2', 3)])
    expect(tablesOf(path, ['part_p', 'sync_items'])).toEqual({ part_p: ['p.1', 'p.2'], sync_items: ['q.1'] })
  })

  it('moves rows that already match a new prefix into its table', async () => {
    const s = await store()
    await s.registerPartition('m.', 'part_m')
    await s.putBatch(['m.1', 'm.deep.1', 'm.deep.2', 'n.1'].map((id) => jsonItem(id, id)))
    const root = await s.merkleRoot()
    await s.registerPartition('m.deep.', 'part_deep')
    expect(tablesOf(s.path, ['sync_items', 'part_m', 'part_deep'])).toEqual({
      sync_items: ['n.1'],
      part_m: ['m.1'],
      part_deep: ['m.deep.1', 'm.deep.2'],
    })
    expect((await s.get('m.deep.2'))?.json()).toBe('m.deep.2')
    expect(await s.merkleRoot()).toBe(root)
  })

  it('is seen by another connection to the same file at its next call', async () => {
    const path = files.file()
    const a = await store(path)
    const b = await store(path)
    await a.registerPartition('shared.', 'part_shared')
    await b.putBatch([jsonItem('shared.1', 1)])
    expect(tablesOf(path, ['part_shared', 'sync_items'])).toEqual({
      part_shared: ['shared.1'],
      sync_items: [],
    })
    expect((await a.get('shared.1'))?.json()).toBe(1)
    expect(b.partitions).toEqual(a.partitions)
  })

  it('validates prefixes and table names; same pair again is a no-op, another table is refused', async () => {
    const s = await store()
    for (const table of [
      '1abc',
      'a-b',
      'a b',
      'x'.repeat(65),
      '',
      'merkle_nodes',
      'SYNC_ENGINE_SCHEMA',
      'sqlite_x',
      "t'; --",
    ]) {
      await expect(s.registerPartition('ok.', table)).rejects.toThrow(InvalidArgumentError)
    }
    for (const prefix of ['', 'ctl\u0000', 'é'.repeat(200), 5 as never]) {
      await expect(s.registerPartition(prefix, 'fine')).rejects.toThrow(/prefix/)
    }
    await s.registerPartition('r.', 'Part_R')
    await s.registerPartition('r.', 'part_r')
    expect(s.partitions).toEqual([{ prefix: 'r.', table: 'part_r' }])
    await expect(s.registerPartition('r.', 'part_other')).rejects.toThrow(/already routed/)
  })

  it('refuses an existing table that is not an item table', async () => {
    const s = await store()
    const db = new Database(s.path)
    db.exec('CREATE TABLE users (name TEXT)')
    db.close()
    await expect(s.registerPartition('u.', 'users')).rejects.toThrow(/not an item table/)
    expect(s.partitions).toEqual([])
  })
})
