import { readFileSync } from 'node:fs'
import { SchemaMismatchError } from '@sync-engine/core'
import { merkleRootOf } from '@sync-engine/merkle'
import { jsonItem } from '@sync-engine/testkit'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { SCHEMA_VERSION, SqliteL3Store } from '../src/index.js'
import { migrate } from '../src/schema.js'
import { leavesOf, openStore, tempFiles } from './helpers.js'

const files = tempFiles('schema')

function inspect(path: string) {
  const db = new Database(path, { readonly: true })
  try {
    const objects = db
      .prepare("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
      .all() as { type: string; name: string }[]
    const version = (db.prepare('SELECT version FROM sync_engine_schema').pluck().get() as number) ?? 0
    const names = (table: string) =>
      (db.pragma(`table_info(${table})`) as { name: string }[]).map((c) => c.name)
    const tables = { sync_items: names('sync_items'), merkle_nodes: names('merkle_nodes') }
    return { objects, version, columns: (table: keyof typeof tables) => tables[table] }
  } finally {
    db.close()
  }
}

describe('schema migrations', () => {
  it('creates the SPEC §5.2 schema on a fresh file', async () => {
    const path = files.file()
    const store = await openStore(path)
    await store.close()
    const { objects, version, columns } = inspect(path)
    expect(version).toBe(SCHEMA_VERSION)
    expect(objects.map((o) => `${o.type} ${o.name}`)).toEqual([
      'table merkle_nodes',
      'index merkle_nodes_parent',
      'table sync_engine_partitions',
      'table sync_engine_schema',
      'table sync_items',
      'index sync_items_state',
      'index sync_items_timestamp',
    ])
    expect(columns('sync_items')).toEqual([
      'id',
      'version',
      'timestamp',
      'payload_hash',
      'payload',
      'payload_blob',
      'audit',
      'state',
      'access_count',
      'last_accessed',
    ])
    expect(columns('merkle_nodes')).toEqual([
      'path',
      'parent_path',
      'merkle_hash',
      'object_count',
      'is_leaf',
      'updated_at',
    ])
  })

  it('re-running on an up-to-date file changes nothing and keeps the data', async () => {
    const path = files.file()
    const first = await openStore(path)
    await first.putBatch([jsonItem('keep.1', { a: 1 }), jsonItem('keep.2', { b: 2 })])
    const root = await first.merkleRoot()
    await first.close()
    const before = inspect(path)
    for (let i = 0; i < 2; i++) {
      const again = await openStore(path)
      expect(await again.count()).toBe(2)
      expect(await again.merkleRoot()).toBe(root)
      await again.close()
    }
    const after = inspect(path)
    expect(after.objects).toEqual(before.objects)
    expect(after.version).toBe(before.version)
  })

  it('applies only the missing migrations, in order', async () => {
    const path = files.file()
    const db = new Database(path)
    db.transaction(() => migrate(db, path, 1))()
    db.prepare(
      "INSERT INTO sync_items (id, version, timestamp, payload_hash, payload, state) VALUES ('old.1', 1, 1, ?, '[1]', 'default')",
    ).run(jsonItem('old.1', [1]).contentHash)
    db.close()
    expect(inspect(path).version).toBe(1)
    expect(inspect(path).objects.some((o) => o.name === 'sync_engine_partitions')).toBe(false)
    const store = await openStore(path)
    expect(inspect(path).version).toBe(SCHEMA_VERSION)
    expect(inspect(path).objects.some((o) => o.name === 'sync_engine_partitions')).toBe(true)
    expect((await store.get('old.1'))?.json()).toEqual([1])
    await store.close()
  })

  it('refuses a schema newer than the code with SchemaMismatchError, leaving the file alone', async () => {
    const path = files.file()
    const store = await openStore(path)
    await store.close()
    const db = new Database(path)
    db.prepare('UPDATE sync_engine_schema SET version = ?').run(SCHEMA_VERSION + 1)
    db.pragma('wal_checkpoint(TRUNCATE)')
    db.close()
    const bytes = readFileSync(path)
    const newer = new SqliteL3Store({ path })
    const error = await newer.connect().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SchemaMismatchError)
    expect(error).toMatchObject({ found: SCHEMA_VERSION + 1, supported: SCHEMA_VERSION })
    expect(readFileSync(path).equals(bytes)).toBe(true)
  })

  it('notices when another process upgrades the schema under an open store', async () => {
    const path = files.file()
    const store = await openStore(path)
    await store.putBatch([jsonItem('a', 1)])
    const db = new Database(path)
    db.prepare('UPDATE sync_engine_schema SET version = ?').run(SCHEMA_VERSION + 1)
    db.close()
    await expect(store.get('a')).rejects.toThrow(SchemaMismatchError)
    await store.close()
  })

  it('adopts a sync_items table that existed without a schema row (reference-engine data)', async () => {
    const path = files.file()
    const db = new Database(path)
    db.exec(`CREATE TABLE sync_items (id VARCHAR(255) PRIMARY KEY, version BIGINT, timestamp BIGINT,
      payload_hash VARCHAR(64), payload LONGTEXT, payload_blob LONGBLOB, audit TEXT, state VARCHAR(32),
      access_count BIGINT, last_accessed BIGINT)`)
    db.prepare(
      "INSERT INTO sync_items VALUES ('legacy.1', 3, 10, ?, '{\"x\":1}', NULL, NULL, 'default', 0, 0)",
    ).run(jsonItem('legacy.1', { x: 1 }).contentHash)
    db.close()
    const store = await openStore(path)
    expect((await store.get('legacy.1'))?.version).toBe(3)
    // The tree is built from the adopted rows on first use.
    expect(await store.merkleRoot()).toBe(merkleRootOf(await leavesOf(store)))
    expect(await store.merkleRoot()).not.toBeNull()
    await store.close()
  })
})
