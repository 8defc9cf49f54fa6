import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import {
  BackendUnavailableError,
  CorruptDataError,
  InvalidArgumentError,
  InvalidIdError,
  type ItemRecord,
  ManualClock,
  SchemaMismatchError,
  SyncItem,
  sha256Hex,
  type WalEntry,
  WalFullError,
  type WalRecord,
} from '@sync-engine/core'
import Database from 'better-sqlite3'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  resolveWalOptions,
  SqliteWal,
  type SqliteWalOptions,
  WAL_DEFAULTS,
  WAL_SCHEMA_VERSION,
} from '../src/index.js'
import { prng } from './fixtures/records.mjs'
import { thrown } from './helpers.js'

/** A row of format 1 (version 7, updatedAt 1.7e12, state 'draft', batchId 'b-1', JSON content). */
const FORMAT_1_ROW =
  '01090000000000001c4000008056febc784234a611bfa47bfa6c1e187e106f03ef74269d04885af573092024a3b09be8966c' +
  '050064726166740300622d31160000007b226e223a312c226e616d65223a22c39c6ec3af227d7adae930'

const root = mkdtempSync(join(tmpdir(), 'wal-test-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

let dir: string
let opened: SqliteWal[] = []
beforeEach(() => {
  dir = mkdtempSync(join(root, 'case-'))
})
afterEach(() => {
  for (const wal of opened) wal.closeSync()
  opened = []
})

const walAt = (path: string, options: SqliteWalOptions = {}) => {
  const wal = new SqliteWal({ path, ...options })
  opened.push(wal)
  return wal
}
const put = (id: string, value: unknown = { id }): WalEntry => {
  const row = SyncItem.fromJson(id, value, { updatedAt: 1_000 })
  return { id, op: 'put', row }
}
const puts = (n: number, prefix = 'item') => Array.from({ length: n }, (_, i) => put(`${prefix}.${i}`, { i }))

/** Rows and bytes as the table holds them, read through a separate connection (the log must be closed). */
function tableTotals(path: string) {
  const db = new Database(path, { readonly: true })
  try {
    return db
      .prepare(
        'SELECT count(*) AS rows, coalesce(sum(length(CAST(id AS BLOB)) + coalesce(length(row), 0)), 0) AS bytes FROM wal_queue',
      )
      .get()
  } finally {
    db.close()
  }
}

/** Opening `path` fails with `type`; the file's bytes are untouched and no sidecar file is left. */
function expectRefused(path: string, type: new (...args: never[]) => Error) {
  const before = readFileSync(path)
  const siblings = readdirSync(dir).sort()
  const error = thrown(() => walAt(path))
  expect(error).toBeInstanceOf(type)
  expect(readFileSync(path).equals(before)).toBe(true)
  expect(readdirSync(dir).sort()).toEqual(siblings)
  return error as Error
}

describe('options', () => {
  it('has the documented defaults', () => {
    const o = resolveWalOptions()
    expect(o).toMatchObject({
      path: resolve('./sync_engine_wal.db'),
      maxRows: 1_000_000,
      maxBytes: 100 * 1024 * 1024,
    })
    expect(o.sync).toBe('full')
    expect(WAL_DEFAULTS.path).toBe('./sync_engine_wal.db')
  })

  it('refuses invalid options with InvalidArgumentError naming the option', () => {
    const cases: [unknown, string][] = [
      [{ path: '' }, 'options.path'],
      [{ path: 42 }, 'options.path'],
      [{ path: ':memory:' }, 'options.path'],
      [{ maxRows: 0 }, 'options.maxRows'],
      [{ maxRows: 1.5 }, 'options.maxRows'],
      [{ maxRows: '10' }, 'options.maxRows'],
      [{ maxBytes: -1 }, 'options.maxBytes'],
      [{ maxBytes: Number.POSITIVE_INFINITY }, 'options.maxBytes'],
      [{ sync: 'fast' }, 'options.sync'],
      [{ busyTimeoutMs: -5 }, 'options.busyTimeoutMs'],
      [{ clock: {} }, 'options.clock'],
      [{ maxrows: 10 }, 'options.maxrows'],
      [null, 'options'],
      [[], 'options'],
    ]
    for (const [options, argument] of cases) {
      const error = thrown(() => new SqliteWal(options as SqliteWalOptions))
      expect(error, JSON.stringify(options)).toBeInstanceOf(InvalidArgumentError)
      expect((error as InvalidArgumentError).argument).toBe(argument)
    }
    expect(readdirSync(dir)).toEqual([])
  })

  it('creates parent directories and runs WAL journal, FULL sync and an exclusive lock by default', () => {
    const path = join(dir, 'a', 'b', 'c', 'wal.db')
    const wal = walAt(path)
    expect(wal.path).toBe(path)
    expect(existsSync(path)).toBe(true)
    expect(wal.diagnostics()).toMatchObject({
      path,
      journalMode: 'wal',
      synchronous: 'full',
      lockingMode: 'exclusive',
      schemaVersion: WAL_SCHEMA_VERSION,
    })
    expect(walAt(join(dir, 'normal.db'), { sync: 'normal' }).diagnostics().synchronous).toBe('normal')
  })

  it('reports a path it cannot open as BackendUnavailableError naming the path', () => {
    const error = thrown(() => walAt(dir))
    expect(error).toBeInstanceOf(BackendUnavailableError)
    expect((error as Error).message).toContain(dir)
  })

  it('takes enqueuedAt and savedAt from the injected clock', async () => {
    const clock = new ManualClock(5_000)
    const wal = walAt(join(dir, 'clock.db'), { clock })
    const [first] = await wal.append([put('a')])
    clock.advance(250)
    const [second] = await wal.append([put('b')])
    await wal.saveSnapshot('f', new Uint8Array([1]), null, 1)
    expect([first!.enqueuedAt, second!.enqueuedAt]).toEqual([5_000, 5_250])
    expect((await wal.peek(2)).map((r) => r.enqueuedAt)).toEqual([5_000, 5_250])
    expect((await wal.stats()).oldestEnqueuedAt).toBe(5_000)
    expect((await wal.loadSnapshot('f'))!.savedAt).toBe(5_250)
  })
})

describe('persistence', () => {
  it('keeps records, counters, seqs and snapshots across close and reopen', async () => {
    const path = join(dir, 'persist.db')
    const rand = prng(99)
    const first = walAt(path)
    const entries: WalEntry[] = []
    for (let i = 0; i < 300; i++) {
      const bytes = Uint8Array.from({ length: Math.floor(rand() * 2_000) }, () => Math.floor(rand() * 256))
      const row = SyncItem.fromBytes(`p.${i}`, bytes, { version: i + 1, batchId: `b${i % 7}` })
      entries.push(i % 10 === 9 ? { id: row.id, op: 'delete' } : { id: row.id, op: 'put', row })
    }
    const records = [
      ...(await first.append(entries.slice(0, 150))),
      ...(await first.append(entries.slice(150))),
    ]
    await first.ack(records[49]!.seq)
    await first.saveSnapshot('ids', new Uint8Array([4, 5, 6]), 'f'.repeat(64), 3)
    const before = await first.stats()
    const peeked = await first.peek(1_000)
    await first.close()
    expect(first.closed).toBe(true)
    expect(tableTotals(path)).toEqual({ rows: before.rows, bytes: before.bytes })

    const second = walAt(path)
    expect(await second.stats()).toEqual(before)
    expect(await second.peek(1_000)).toEqual(peeked)
    expect(await second.loadSnapshot('ids')).toMatchObject({ merkleRoot: 'f'.repeat(64), entryCount: 3 })
    await second.ack(before.newestSeq!)
    await second.close()

    const third = walAt(path)
    expect(await third.stats()).toMatchObject({ rows: 0, bytes: 0 })
    const [next] = await third.append([put('after.reopen')])
    expect(next!.seq).toBe(before.newestSeq! + 1)
  })

  it('treats an existing empty file as a new log', async () => {
    const path = join(dir, 'empty.db')
    writeFileSync(path, '')
    const wal = walAt(path)
    await wal.append([put('x')])
    expect((await wal.stats()).rows).toBe(1)
  })
})

describe('damaged files', () => {
  /** A closed log with enough rows to span many pages. */
  async function filledLog(name: string) {
    const path = join(dir, name)
    const wal = new SqliteWal({ path })
    await wal.append(puts(3_000))
    await wal.close()
    return path
  }

  it('refuses a file that is not SQLite with CorruptDataError naming the path, and leaves it untouched', () => {
    const path = join(dir, 'garbage.db')
    const rand = prng(3)
    writeFileSync(
      path,
      Uint8Array.from({ length: 16_384 }, () => Math.floor(rand() * 256)),
    )
    const error = expectRefused(path, CorruptDataError) as CorruptDataError
    expect(error.location).toBe(path)
    expect(error.message).toContain(path)
  })

  it('refuses a file whose header was wiped', async () => {
    const path = await filledLog('wiped.db')
    const bytes = readFileSync(path)
    bytes.fill(0, 0, 100)
    writeFileSync(path, bytes)
    expect((expectRefused(path, CorruptDataError) as CorruptDataError).location).toBe(path)
  })

  it('refuses truncated files and leaves them untouched', async () => {
    const path = await filledLog('truncated.db')
    const size = readFileSync(path).length
    for (const keep of [Math.floor(size / 2), Math.floor(size / 2) + 1234, size - 4096, 4096 + 10]) {
      const copy = join(dir, `truncated-${keep}.db`)
      writeFileSync(copy, readFileSync(path))
      truncateSync(copy, keep)
      expect((expectRefused(copy, CorruptDataError) as CorruptDataError).location, `kept ${keep}`).toBe(copy)
    }
  })

  it('refuses a file with a damaged page', async () => {
    const path = await filledLog('page.db')
    const bytes = readFileSync(path)
    const pageSize = bytes.readUInt16BE(16)
    bytes.fill(0xff, pageSize * 3, pageSize * 3 + 64)
    writeFileSync(path, bytes)
    expectRefused(path, CorruptDataError)
  })

  it('stops a batch before an undecodable row, then reports it as CorruptDataError naming its seq', async () => {
    const path = join(dir, 'row.db')
    const wal = new SqliteWal({ path })
    const [first, bad, last] = await wal.append(puts(3))
    await wal.close()
    const db = new Database(path)
    const row = db.prepare('SELECT row FROM wal_queue WHERE seq = ?').pluck().get(bad!.seq) as Buffer
    row[row.length - 10]! ^= 1
    db.prepare('UPDATE wal_queue SET row = ? WHERE seq = ?').run(row, bad!.seq)
    db.close()

    const reopened = walAt(path)
    expect((await reopened.peek(10)).map((r) => r.seq)).toEqual([first!.seq])
    await reopened.ack(first!.seq)
    const error = await reopened.peek(10).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(CorruptDataError)
    expect((error as CorruptDataError).location).toBe(`${path} (seq ${bad!.seq})`)
    expect((await reopened.stats()).oldestSeq).toBe(bad!.seq)
    // The drain reports it and acks it to skip it; the rest of the log is intact.
    expect(await reopened.ack(bad!.seq)).toBe(1)
    expect((await reopened.peek(10)).map((r) => [r.seq, r.id])).toEqual([[last!.seq, 'item.2']])
  })

  it('upgrades a version-1 file in place: its rows (row format 1) still read, new ones are format 2', async () => {
    const path = join(dir, 'v1.db')
    new SqliteWal({ path }).closeSync()
    // A version-1 file: the same tables, rows that carry their content hash.
    const db = new Database(path)
    db.pragma('user_version = 1')
    const legacy = Buffer.from(FORMAT_1_ROW, 'hex')
    db.prepare(
      "INSERT INTO wal_queue (id, op, row, bytes, enqueued_at) VALUES ('legacy.item', 'put', ?, ?, 5)",
    ).run(legacy, 'legacy.item'.length + legacy.length)
    db.close()

    const wal = walAt(path)
    expect(wal.diagnostics().schemaVersion).toBe(WAL_SCHEMA_VERSION)
    wal.appendSync([put('new.item')])
    const [old, added] = wal.peekSync(10)
    expect(old!.row).toMatchObject({ id: 'legacy.item', version: 7, state: 'draft', batchId: 'b-1' })
    expect(old!.row!.contentHash).toBe(sha256Hex(old!.row!.content))
    expect(added!.row!.contentHash).toBe(sha256Hex(added!.row!.content))
    expect(wal.statsSync().rows).toBe(2)
    wal.closeSync()
    const check = new Database(path, { readonly: true })
    expect(check.pragma('user_version', { simple: true })).toBe(WAL_SCHEMA_VERSION)
    expect(check.prepare('SELECT row FROM wal_queue ORDER BY seq').pluck().all()).toMatchObject([
      legacy,
      expect.objectContaining({ 0: 2 }), // row format 2
    ])
    check.close()
  })

  it('refuses a file of a newer schema with SchemaMismatchError, and a foreign database', () => {
    const newer = join(dir, 'newer.db')
    new SqliteWal({ path: newer }).closeSync()
    const db = new Database(newer)
    db.pragma(`user_version = ${WAL_SCHEMA_VERSION + 1}`)
    db.close()
    const error = expectRefused(newer, SchemaMismatchError) as SchemaMismatchError
    expect([error.found, error.supported]).toEqual([WAL_SCHEMA_VERSION + 1, WAL_SCHEMA_VERSION])
    expect(error.message).toContain(newer)

    const foreign = join(dir, 'foreign.db')
    const other = new Database(foreign)
    other.exec('CREATE TABLE users (id TEXT PRIMARY KEY)')
    other.close()
    expect((expectRefused(foreign, InvalidArgumentError) as InvalidArgumentError).argument).toBe('path')
  })
})

describe('ownership and lifecycle', () => {
  it('lets one connection own a file; a second open fails with BackendUnavailableError', async () => {
    const path = join(dir, 'owned.db')
    const owner = walAt(path)
    await owner.append([put('a')])
    const error = thrown(() => walAt(path, { busyTimeoutMs: 20 }))
    expect(error).toBeInstanceOf(BackendUnavailableError)
    expect((error as Error).message).toContain(path)
    await owner.append([put('b')])
    await owner.close()
    expect((await walAt(path).stats()).rows).toBe(2)
  })

  it('refuses every operation once closed', async () => {
    const wal = walAt(join(dir, 'closed.db'))
    await wal.append([put('a')])
    await wal.close()
    for (const call of [
      () => wal.append([put('b')]),
      () => wal.peek(1),
      () => wal.ack(1),
      () => wal.stats(),
      () => wal.saveSnapshot('f', new Uint8Array(), null, 0),
      () => wal.loadSnapshot('f'),
    ]) {
      await expect(call()).rejects.toBeInstanceOf(BackendUnavailableError)
    }
    expect(() => wal.appendSync([])).toThrow(BackendUnavailableError)
    expect(wal.pressure()).toBeGreaterThan(0)
  })

  it('validates the id of plain records and deletes', async () => {
    const wal = walAt(join(dir, 'ids.db'))
    const item = SyncItem.fromJson('fine', 1)
    const plain = { ...item.toJSON(), content: item.content, id: 'bad..id' } as unknown as ItemRecord
    for (const entry of [
      { id: 'bad..id', op: 'put', row: plain },
      { id: 'bad..id', op: 'delete' },
    ] as WalEntry[]) {
      expect(thrown(() => wal.appendSync([entry]))).toBeInstanceOf(InvalidIdError)
    }
    expect(wal.statsSync().rows).toBe(0)
  })

  it('reports the totals of a refused append in WalFullError', async () => {
    const wal = walAt(join(dir, 'full.db'), { maxRows: 4 })
    await wal.append(puts(3))
    const { bytes } = await wal.stats()
    const error = (await wal.append(puts(2, 'more')).catch((e: unknown) => e)) as WalFullError
    expect(error).toBeInstanceOf(WalFullError)
    expect(error).toMatchObject({ rows: 5, maxRows: 4, maxBytes: WAL_DEFAULTS.maxBytes })
    expect(error.bytes).toBeGreaterThan(bytes)
  })

  it('returns the stored seqs for groups of every size around the multi-row insert chunk', () => {
    const wal = walAt(join(dir, 'chunks.db'))
    const appended = [1, 63, 64, 65, 129, 200].flatMap((n) => wal.appendSync(puts(n, `g${n}`)))
    const stored = wal.peekSync(1_000)
    expect(stored.map((r) => [r.seq, r.id])).toEqual(appended.map((r) => [r.seq, r.id]))
    expect(new Set(stored.map((r) => r.seq)).size).toBe(stored.length)
  })

  it('stores runs of puts and deletes of any length in order, each row with its own bytes', () => {
    const path = join(dir, 'runs.db')
    const wal = walAt(path)
    const rand = prng(5)
    const entries: WalEntry[] = []
    for (const run of [1, 2, 63, 64, 65, 3, 127, 1, 130, 7]) {
      const op = entries.length % 2 === 0 && rand() < 0.5 ? 'delete' : 'put'
      for (let i = 0; i < run; i++) {
        const id = `run.${entries.length}`
        const bytes = Uint8Array.from({ length: Math.floor(rand() * 600) }, () => Math.floor(rand() * 256))
        entries.push(
          op === 'put' ? { id, op, row: SyncItem.fromBytes(id, bytes, { updatedAt: 5 }) } : { id, op },
        )
      }
    }
    const appended = wal.appendSync(entries)
    const stored = wal.peekSync(10_000)
    const summary = (r: WalRecord) => [r.seq, r.id, r.op, r.row && Buffer.from(r.row.content).toString('hex')]
    expect(stored.map(summary)).toEqual(appended.map(summary))
    const { rows, bytes } = wal.statsSync()
    wal.closeSync()
    expect(tableTotals(path)).toEqual({ rows, bytes })
  })

  it('an ack of everything empties the table; a partial one keeps the rest exactly', async () => {
    const path = join(dir, 'ack-all.db')
    const wal = walAt(path)
    const first = wal.appendSync(puts(100, 'a'))
    wal.appendSync([{ id: 'a.gone', op: 'delete' }])
    expect(wal.ackSync(first[59]!.seq)).toBe(60)
    expect(wal.statsSync()).toMatchObject({ rows: 41, oldestSeq: first[60]!.seq })
    expect(wal.ackSync(wal.statsSync().newestSeq! + 1_000)).toBe(41)
    expect(wal.statsSync()).toMatchObject({ rows: 0, bytes: 0, oldestSeq: undefined, newestSeq: undefined })
    const [next] = wal.appendSync([put('b')])
    expect(next!.seq).toBe(first[99]!.seq + 2)
    expect(wal.ackSync(next!.seq)).toBe(1)
    wal.closeSync()
    expect(tableTotals(path)).toEqual({ rows: 0, bytes: 0 })
  })

  it('refuses a record that changes while it is appended, and writes nothing', () => {
    const wal = walAt(join(dir, 'changing.db'))
    const item = SyncItem.fromJson('changing', { a: 1 })
    let reads = 0
    const record = {
      ...item.toJSON(),
      content: item.content,
      // Validation and measuring read the state twice; the write reads a shorter one.
      get state() {
        return ++reads <= 2 ? 'much-longer-state' : 'short'
      },
    } as unknown as ItemRecord
    const error = thrown(() => wal.appendSync([put('before'), { id: 'changing', op: 'put', row: record }]))
    expect(error).toBeInstanceOf(InvalidArgumentError)
    expect((error as InvalidArgumentError).argument).toBe('entries[1].row')
    expect(wal.statsSync().rows).toBe(0)
  })

  it('sync and async forms are the same operations', async () => {
    const wal = walAt(join(dir, 'forms.db'))
    const [a] = wal.appendSync([put('a')])
    const [b] = await wal.append([put('b')])
    expect(wal.peekSync(10).map((r) => r.seq)).toEqual([a!.seq, b!.seq])
    expect(wal.statsSync()).toEqual(await wal.stats())
    expect(wal.ackSync(a!.seq)).toBe(1)
    wal.saveSnapshotSync('f', new Uint8Array([7]), null, 1)
    expect(Array.from(wal.loadSnapshotSync('f')!.bytes)).toEqual([7])
  })
})
