import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  BackendUnavailableError,
  CorruptDataError,
  InvalidArgumentError,
  InvalidIdError,
  InvalidStateError,
  type ItemRecord,
  type Logger,
  SyncItem,
  sha256Hex,
  utf8Encode,
} from '@sync-engine/core'
import { merkleRootOf } from '@sync-engine/merkle'
import { binaryItem, jsonItem, rawRecord, sameItem } from '@sync-engine/testkit'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { SqliteL3Store } from '../src/index.js'
import { leavesOf, openStore, tempFiles } from './helpers.js'

const files = tempFiles('store')
let open: SqliteL3Store[] = []
afterEach(async () => {
  for (const store of open) await store.close()
  open = []
})
async function fresh(options: Parameters<typeof openStore>[1] = {}): Promise<SqliteL3Store> {
  const store = await openStore(files.file(), options)
  open.push(store)
  return store
}

describe('options and lifecycle', () => {
  it('takes a path or a sqlite: url, not both, and refuses unknown or bad options', () => {
    expect(new SqliteL3Store({ url: 'sqlite:./x/y.db' }).path).toMatch(/\/x\/y\.db$/)
    expect(new SqliteL3Store({ url: 'sqlite:///tmp/abs.db' }).path).toBe('/tmp/abs.db')
    expect(new SqliteL3Store({ url: 'sqlite::memory:' }).path).toBe(':memory:')
    const bad = (options: object) => () => new SqliteL3Store(options as never)
    expect(bad({})).toThrow(InvalidArgumentError)
    expect(bad({ path: 'a.db', url: 'sqlite:b.db' })).toThrow(/exclude/)
    expect(bad({ url: 'mysql://h/db' })).toThrow(/sqlite:/)
    expect(bad({ path: 'a.db', sync: 'fast' })).toThrow(/options\.sync/)
    expect(bad({ path: 'a.db', busyTimeoutMs: -1 })).toThrow(/busyTimeoutMs/)
    expect(bad({ path: 'a.db', merkle: 'yes' })).toThrow(/options\.merkle/)
    expect(bad({ path: 'a.db', pth: 'typo.db' })).toThrow(/options\.pth is not an option/)
  })

  it('creates missing parent folders, and connect/close are idempotent', async () => {
    const path = join(files.dir, 'deep', 'er', 'store.db')
    const store = new SqliteL3Store({ path })
    await store.connect()
    await store.connect()
    expect(existsSync(path)).toBe(true)
    await store.putBatch([jsonItem('a', 1)])
    await store.close()
    await store.close()
    expect(store.connected).toBe(false)
  })

  it('refuses calls before connect and after close with BackendUnavailableError', async () => {
    const store = new SqliteL3Store({ path: files.file() })
    await expect(store.get('a')).rejects.toThrow(BackendUnavailableError)
    await store.connect()
    await store.close()
    await expect(store.putBatch([jsonItem('a', 1)])).rejects.toThrow(/not connected/)
    await expect(store.merkle.getNodes([''])).rejects.toThrow(BackendUnavailableError)
  })

  it('runs in memory with sqlite::memory:', async () => {
    const store = new SqliteL3Store({ url: 'sqlite::memory:' })
    await store.connect()
    await store.putBatch([jsonItem('m.1', { x: 1 })])
    expect((await store.get('m.1'))?.json()).toEqual({ x: 1 })
    await store.close()
  })

  it('logs the connection url through the injected logger', async () => {
    const lines: { obj: Record<string, unknown>; msg: string | undefined }[] = []
    const log = (obj: Record<string, unknown> | string, msg?: string) =>
      lines.push(typeof obj === 'string' ? { obj: {}, msg: obj } : { obj, msg })
    const logger: Logger = { debug: log, info: log, warn: log, error: log }
    const path = files.file()
    const store = await openStore(path, { logger })
    open.push(store)
    expect(lines).toContainEqual({
      obj: expect.objectContaining({ url: `sqlite:${path}` }),
      msg: 'sqlite L3 connected',
    })
  })

  it('reports health with details, and not-ok once closed', async () => {
    const store = await fresh()
    const health = await store.health(1000)
    expect(health).toMatchObject({
      ok: true,
      details: { path: store.path, journalMode: 'wal', merkle: true },
    })
    expect(health.details?.sqliteVersion).toMatch(/^3\./)
    await store.close()
    expect(await store.health()).toMatchObject({ ok: false, error: 'not connected' })
  })
})

describe('per-row outcomes', () => {
  it('reports created: true for an insert and false for an update, rejected rows alone', async () => {
    const store = await fresh()
    const first = await store.putBatch([jsonItem('c.1', 1), jsonItem('c.2', 2)])
    expect(first).toEqual([
      { id: 'c.1', status: 'written', created: true },
      { id: 'c.2', status: 'written', created: true },
    ])
    const second = await store.putBatch([
      jsonItem('c.1', 'one', { version: 2 }),
      jsonItem('c.3', 3),
      jsonItem('c.2', 'old', { updatedAt: 1 }),
    ])
    expect(second).toEqual([
      { id: 'c.1', status: 'written', created: false },
      { id: 'c.3', status: 'written', created: true },
      { id: 'c.2', status: 'stale', reason: expect.stringMatching(/newer/) },
    ])
  })

  it('writes the greatest (version, updatedAt) of an id repeated in one batch; the others are stale', async () => {
    const store = await fresh()
    const outcomes = await store.putBatch([
      jsonItem('dup', 'v2', { version: 2 }),
      jsonItem('dup', 'v3', { version: 3, updatedAt: 5 }),
      jsonItem('dup', 'v1', { version: 1 }),
      jsonItem('dup', 'v3-later', { version: 3, updatedAt: 5 }),
      jsonItem('other', 0),
    ])
    expect(outcomes.map((o) => o.status)).toEqual(['stale', 'stale', 'stale', 'written', 'written'])
    expect(outcomes[0]?.reason).toMatch(/same id/)
    expect((await store.get('dup'))?.json()).toBe('v3-later')
    expect(await store.merkleRoot()).toBe(merkleRootOf(await leavesOf(store)))
  })

  it('rejects each kind of bad row alone, with the reason', async () => {
    const store = await fresh()
    const content = utf8Encode('{"a":1}')
    const bad: [ItemRecord, RegExp][] = [
      [rawRecord('é'.repeat(150)), /300 UTF-8 bytes.*255/],
      [rawRecord('a..b'), /empty segment/],
      [rawRecord('ctl\u0001'), /control character/],
      [rawRecord('s.bad', { state: '' }), /state/],
      [rawRecord('v.zero', { version: 0 }), /version/],
      [rawRecord('v.frac', { version: 1.5 }), /version/],
      [rawRecord('t.neg', { updatedAt: -1 }), /updatedAt/],
      [rawRecord('h.upper', { contentHash: sha256Hex(content).toUpperCase(), content }), /lower-case hex/],
      [rawRecord('h.wrong', { contentHash: sha256Hex('other') }), /does not match/],
      [
        rawRecord('j.bin', {
          content: new Uint8Array([0xff, 0xfe]),
          contentHash: sha256Hex(new Uint8Array([0xff, 0xfe])),
        }),
        /not a UTF-8 JSON/,
      ],
      [rawRecord('type.x', { contentType: 'xml' as never }), /contentType/],
      [rawRecord('content.str', { content: 'text' as never }), /Uint8Array/],
      [rawRecord('acc.neg', { accessCount: -3 }), /accessCount/],
    ]
    const good = jsonItem('fine', { ok: true })
    const outcomes = await store.putBatch([good, ...bad.map(([row]) => row)])
    expect(outcomes[0]).toEqual({ id: 'fine', status: 'written', created: true })
    bad.forEach(([row, reason], i) => {
      expect(outcomes[i + 1]).toMatchObject({ id: row.id, status: 'rejected' })
      expect(outcomes[i + 1]?.reason).toMatch(reason)
    })
    expect(await store.count()).toBe(1)
    expect((await store.putBatch([null as never]))[0]).toMatchObject({ status: 'rejected' })
  })

  it('keeps plain ItemRecords and their audit fields', async () => {
    const store = await fresh()
    const item = SyncItem.fromJson(
      'audit.1',
      { a: 1 },
      {
        batchId: 'batch-7',
        homeInstanceId: 'node-a',
        traceParent: '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01',
        state: 'hot',
      },
    )
    const plain: ItemRecord = {
      id: item.id,
      version: item.version,
      updatedAt: item.updatedAt,
      contentType: item.contentType,
      content: item.content,
      contentHash: item.contentHash,
      state: item.state,
      traceParent: item.traceParent,
      homeInstanceId: item.homeInstanceId,
      batchId: item.batchId,
      accessCount: 4,
      lastAccessed: 99,
    }
    await store.putBatch([plain])
    const back = await store.get('audit.1')
    expect(back).toMatchObject({
      batchId: 'batch-7',
      homeInstanceId: 'node-a',
      traceParent: item.traceParent,
      state: 'hot',
      accessCount: 4,
      lastAccessed: 99,
    })
    expect(sameItem(back, item)).toBe(true)
  })
})

describe('hostile input is data, never SQL', () => {
  const ids = [
    "quote's",
    'dq"uote',
    '100%',
    'under_score',
    'back\\slash',
    "x'); DROP TABLE sync_items; --",
    'Ünïcödé.名前.😀',
    'e\u0301', // decomposed é: a different id from the composed one
    'é',
    'User.1',
  ]

  it('round-trips ids with quotes, %, _, \\ and unicode exactly', async () => {
    const store = await fresh()
    const items = ids.map((id, i) => (i % 2 ? binaryItem(id) : jsonItem(id, { id })))
    await store.putBatch(items)
    for (const item of items) expect(sameItem(await store.get(item.id), item)).toBe(true)
    expect((await store.getMany(ids)).items.size).toBe(ids.length)
    expect(await store.count()).toBe(ids.length)
    const scanned = await store.scanIds(undefined, 100)
    expect(scanned).toEqual([...ids].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))))
  })

  it('ignores injection in ids, states and prefixes', async () => {
    const store = await fresh()
    await store.putBatch(ids.map((id) => jsonItem(id, 1, { state: 'keep' })))
    const injections = ["' OR '1'='1", "keep' OR 1=1 --", '%', '_', "'; DELETE FROM sync_items; --"]
    for (const s of injections) {
      expect(await store.byState(s)).toEqual([])
      expect(await store.countByState(s)).toBe(0)
      expect(await store.deleteByState(s)).toEqual([])
      expect(await store.setState(ids, s)).toHaveLength(ids.length)
      expect(await store.setState(ids, 'keep')).toHaveLength(ids.length)
      expect(await store.deletePrefix(`${s}x`)).toEqual([])
      expect(await store.get(`${s}x`)).toBeUndefined()
      expect(await store.deleteBatch([`${s}x`])).toEqual([])
    }
    expect(await store.countPrefix('%')).toBe(0)
    expect(await store.countPrefix('100%')).toBe(1)
    expect(await store.countPrefix('_')).toBe(0)
    expect(await store.countPrefix('under_')).toBe(1)
    expect(await store.count()).toBe(ids.length)
    await expect(store.registerPartition('x', 'bad; DROP TABLE sync_items')).rejects.toThrow(
      InvalidArgumentError,
    )
    expect(await store.count()).toBe(ids.length)
  })

  it('matches prefixes case-sensitively and byte-exactly', async () => {
    const store = await fresh()
    await store.putBatch(['user.1', 'User.2', 'USER.3', 'user', 'users.4'].map((id) => jsonItem(id, 1)))
    expect(await store.scanPrefix('user')).toEqual(['user', 'user.1', 'users.4'])
    expect(await store.scanPrefix('user.')).toEqual(['user.1'])
    expect(await store.countPrefix('U')).toBe(2)
    expect(await store.scanPrefix('user', { afterId: 'user', limit: 1 })).toEqual(['user.1'])
  })

  it('refuses invalid ids, states and arguments in queries with typed errors', async () => {
    const store = await fresh()
    await expect(store.get('')).rejects.toThrow(InvalidIdError)
    await expect(store.exists('a..b')).rejects.toThrow(InvalidIdError)
    await expect(store.getMany(['ok', 'x'.repeat(300)])).rejects.toThrow(InvalidIdError)
    await expect(store.deleteBatch('a' as never)).rejects.toThrow(InvalidArgumentError)
    await expect(store.byState('s'.repeat(40))).rejects.toThrow(InvalidStateError)
    await expect(store.setState(['a'], '')).rejects.toThrow(InvalidStateError)
    await expect(store.scanIds(undefined, -1)).rejects.toThrow(/limit/)
    await expect(store.scanIds(5 as never, 1)).rejects.toThrow(/afterId/)
    await expect(store.scanPrefix(undefined as never)).rejects.toThrow(/prefix/)
    await expect(store.putBatch('rows' as never)).rejects.toThrow(InvalidArgumentError)
  })
})

describe('damaged data', () => {
  it('reports a row that does not decode as CorruptDataError for that id; getMany answers the rest', async () => {
    const store = await fresh()
    await store.putBatch([
      jsonItem('ok.1', 1),
      jsonItem('bad.hash', 2),
      jsonItem('bad.audit', 3),
      jsonItem('ok.2', 4),
    ])
    const db = new Database(store.path)
    db.prepare("UPDATE sync_items SET payload_hash = ? WHERE id = 'bad.hash'").run('0'.repeat(64))
    db.prepare("UPDATE sync_items SET audit = '{not json' WHERE id = 'bad.audit'").run()
    db.close()
    const error = await store.get('bad.hash').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(CorruptDataError)
    expect((error as CorruptDataError).location).toContain(store.path)
    expect((error as Error).message).toMatch(/bad\.hash.*does not match/)
    const { items, errors } = await store.getMany(['ok.1', 'bad.hash', 'bad.audit', 'ok.2', 'missing'])
    expect([...items.keys()].sort()).toEqual(['ok.1', 'ok.2'])
    expect([...errors.keys()].sort()).toEqual(['bad.audit', 'bad.hash'])
    expect(errors.get('bad.audit')).toBeInstanceOf(CorruptDataError)
  })

  it('refuses a file that is not a database with CorruptDataError naming it, and leaves it as it was', async () => {
    const path = files.file('garbage')
    const bytes = Buffer.from('this is not a SQLite database, just some bytes '.repeat(200))
    writeFileSync(path, bytes)
    const store = new SqliteL3Store({ path })
    const error = await store.connect().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(CorruptDataError)
    expect((error as CorruptDataError).location).toBe(path)
    expect(readFileSync(path).equals(bytes)).toBe(true)
    expect(store.connected).toBe(false)
  })

  it('refuses a truncated database with CorruptDataError, never emptying it', async () => {
    const path = files.file('truncated')
    const store = await openStore(path)
    await store.putBatch(
      Array.from({ length: 2000 }, (_, i) => jsonItem(`t.${i}`, { i, pad: 'p'.repeat(200) })),
    )
    await store.close()
    const whole = readFileSync(path)
    const half = whole.subarray(0, Math.floor(whole.length / 2 / 4096) * 4096)
    writeFileSync(path, half)
    const reopened = new SqliteL3Store({ path })
    await expect(reopened.connect()).rejects.toThrow(CorruptDataError)
    expect(statSync(path).size).toBe(half.length)
    expect(readFileSync(path).equals(half)).toBe(true)
  })
})

describe('merkle: false', () => {
  it('marks the tree stale; a store keeping the tree rebuilds it from the rows', async () => {
    const path = files.file()
    const keeper = await openStore(path)
    await keeper.putBatch([jsonItem('k.1', 1), jsonItem('k.2', 2)])
    await keeper.close()
    const writer = await openStore(path, { merkle: false })
    expect(writer.merkleEnabled).toBe(false)
    await writer.putBatch([jsonItem('k.3', 3), jsonItem('k.1', 'new', { version: 2 })])
    await writer.deleteBatch(['k.2'])
    const expected = merkleRootOf(await leavesOf(writer))
    expect(await writer.merkleRoot()).toBe(expected)
    await writer.close()
    const again = await openStore(path)
    open.push(again)
    // The first write after the rows moved rebuilds the tree, then applies its own change.
    await again.putBatch([jsonItem('k.4', 4)])
    expect(await again.merkleRoot()).toBe(merkleRootOf(await leavesOf(again)))
    expect(await again.rebuildMerkle()).toBe(await again.merkleRoot())
  })

  it('a reader sees the rebuilt root without writing first', async () => {
    const path = files.file()
    const keeper = await openStore(path)
    open.push(keeper)
    await keeper.putBatch([jsonItem('r.1', 1)])
    const writer = await openStore(path, { merkle: false })
    open.push(writer)
    await writer.putBatch([jsonItem('r.2', 2)])
    expect(await keeper.merkleRoot()).toBe(merkleRootOf(await leavesOf(keeper)))
    expect((await keeper.merkle.getNodes(['r.2'])).size).toBe(1)
  })
})

describe('failed transactions', () => {
  it('roll back rows and tree together, and the store keeps working', async () => {
    const store = await fresh()
    await store.putBatch([jsonItem('f.1', 1), jsonItem('f.2', 2)])
    const root = await store.merkleRoot()
    // A node write that fails inside the transaction, after the rows were upserted.
    const original = store.merkle.writeNodesSync.bind(store.merkle)
    store.merkle.writeNodesSync = () => {
      throw new Error('injected failure')
    }
    await expect(
      store.putBatch([jsonItem('f.3', 3), jsonItem('f.1', 'new', { version: 2 })]),
    ).rejects.toThrow('injected failure')
    await expect(store.deleteBatch(['f.2'])).rejects.toThrow('injected failure')
    store.merkle.writeNodesSync = original
    expect(await store.count()).toBe(2)
    expect((await store.get('f.1'))?.json()).toBe(1)
    expect(await store.merkleRoot()).toBe(root)
    await store.putBatch([jsonItem('f.3', 3)])
    expect(await store.merkleRoot()).toBe(merkleRootOf(await leavesOf(store)))
  })

  it('a failed rebuild of a stale tree is redone by the next write', async () => {
    const path = files.file()
    const writer = await openStore(path, { merkle: false })
    open.push(writer)
    await writer.putBatch([jsonItem('g.1', 1)])
    const keeper = await openStore(path)
    open.push(keeper)
    const original = keeper.merkle.writeNodesSync.bind(keeper.merkle)
    keeper.merkle.writeNodesSync = () => {
      throw new Error('injected failure')
    }
    await expect(keeper.putBatch([jsonItem('g.2', 2)])).rejects.toThrow('injected failure')
    keeper.merkle.writeNodesSync = original
    await keeper.putBatch([jsonItem('g.3', 3)])
    expect(await keeper.merkleRoot()).toBe(merkleRootOf(await leavesOf(keeper)))
  })
})
