import {
  BackendUnavailableError,
  CorruptDataError,
  InvalidArgumentError,
  InvalidIdError,
  InvalidStateError,
  type Logger,
  MAX_PAYLOAD_BYTES,
  SyncItem,
  sha256Hex,
  TimeoutError,
} from '@sync-engine/core'
import { merkleRootOf } from '@sync-engine/merkle'
import { jsonItem, rawRecord, requireMysql, sameItem, uniqueName } from '@sync-engine/testkit'
import mysql from 'mysql2/promise'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { ItemSql } from '../src/item-sql.js'
import { MysqlL3Store } from '../src/store.js'
import {
  closeAdmin,
  freshDatabase,
  openStore,
  poolExecutor,
  sql,
  type TestDatabase,
  urlFor,
} from './helpers.js'

let db: TestDatabase
let store: MysqlL3Store

beforeAll(async () => {
  await requireMysql()
  db = await freshDatabase('l3_store')
})
afterAll(async () => {
  await db?.drop()
  await closeAdmin()
})
beforeEach(async () => {
  store = await openStore(db)
})
afterEach(async () => {
  // Every test leaves a tree that matches its rows.
  const leaves = []
  for (let page = await store.scanLeaves(undefined, 1000); page.length > 0; ) {
    leaves.push(...page)
    page = await store.scanLeaves(page[page.length - 1]!.id, 1000)
  }
  expect(await store.merkleRoot()).toBe(merkleRootOf(leaves))
  await store.close()
  await sql(`DELETE FROM \`${db.name}\`.sync_items`)
  await sql(`DELETE FROM \`${db.name}\`.merkle_nodes`)
})

const tableExists = async (name: string) =>
  (
    await sql<unknown[]>(
      'SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
      [db.name, name],
    )
  ).length === 1

describe('bad input', () => {
  it('round-trips ids with quotes, LIKE metacharacters, backslashes and unicode exactly', async () => {
    const ids = [
      "it's",
      'say "hi"',
      '100%',
      'a_b',
      'c\\d',
      '\\',
      '%',
      '_',
      'ünï.名前.😀',
      '\u{10ffff}x',
      'a!b',
    ]
    const items = ids.map((id, i) => jsonItem(id, { i }))
    expect((await store.putBatch(items)).every((o) => o.status === 'written')).toBe(true)
    for (const item of items) expect(sameItem(await store.get(item.id), item)).toBe(true)
    expect((await store.getMany(ids)).items.size).toBe(ids.length)
    // Each LIKE metacharacter, including the escape character, is matched literally.
    expect(await store.scanPrefix('%')).toEqual(['%'])
    expect(await store.scanPrefix('_')).toEqual(['_'])
    expect(await store.scanPrefix('\\')).toEqual(['\\'])
    expect(await store.scanPrefix('a!')).toEqual(['a!b'])
    expect(await store.countPrefix('a')).toBe(2)
  })

  it('keeps ids apart that differ only by case or trailing spaces (binary, no-pad collation)', async () => {
    const ids = ['key', 'Key', 'key ', 'key  ', 'kéy', 'ke\u0301y']
    await store.putBatch(ids.map((id) => jsonItem(id, [id])))
    expect(await store.count()).toBe(ids.length)
    for (const id of ids) expect((await store.get(id))?.json()).toEqual([id])
    expect(await store.scanIds(undefined, 10)).toEqual(
      [...ids].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
    )
  })

  it('rejects a 300-byte id alone (ASCII or multi-byte); the rest of the batch lands', async () => {
    const outcomes = await store.putBatch([
      jsonItem('ok.1', [1]),
      rawRecord('é'.repeat(150)),
      rawRecord('y'.repeat(300)),
      jsonItem('ok.2', [2]),
    ])
    expect(outcomes.map((o) => o.status)).toEqual(['written', 'rejected', 'rejected', 'written'])
    expect(outcomes[1]?.reason).toMatch(/300 UTF-8 bytes, over the limit of 255/)
    expect(await store.count()).toBe(2)
  })

  it('rejects malformed rows, each with a reason naming what is wrong', async () => {
    const bad = [
      rawRecord('bad.hash', { contentHash: 'XYZ' }),
      rawRecord('bad.utf8', { contentType: 'json', content: new Uint8Array([0x22, 0xff, 0x22]) }),
      rawRecord('bad.type', { contentType: 'xml' as never }),
      rawRecord('bad.version', { version: 0 }),
      rawRecord('bad.time', { updatedAt: -1 }),
      rawRecord('bad.content', { content: 'text' as never }),
      rawRecord('bad.trace', { traceParent: 'nope' }),
      rawRecord('bad.batch', { batchId: 42 as never }),
      rawRecord('bad.count', { accessCount: -1 }),
      rawRecord('bad..id'),
      rawRecord('bad.state', { state: '' }),
      null as never,
    ]
    const outcomes = await store.putBatch([...bad, jsonItem('good', [1])])
    expect(outcomes.map((o) => o.status)).toEqual([...bad.map(() => 'rejected'), 'written'])
    const reasons = outcomes.map((o) => o.reason ?? '')
    expect(reasons[0]).toMatch(/contentHash/)
    expect(reasons[1]).toMatch(/UTF-8/)
    expect(reasons[2]).toMatch(/contentType/)
    expect(reasons[3]).toMatch(/version/)
    expect(reasons[4]).toMatch(/updatedAt/)
    expect(reasons[5]).toMatch(/Uint8Array/)
    expect(reasons[6]).toMatch(/traceParent/)
    expect(reasons[7]).toMatch(/batchId/)
    expect(reasons[8]).toMatch(/accessCount/)
    expect(reasons[9]).toMatch(/\.\./)
    expect(reasons[10]).toMatch(/state/)
    expect(reasons[11]).toMatch(/object/)
    expect(await store.count()).toBe(1)
  })

  it("rejects a payload over what one packet carries (the server's max_allowed_packet) alone", async () => {
    const huge = SyncItem.fromBytes('huge', new Uint8Array(MAX_PAYLOAD_BYTES).fill(7))
    const outcomes = await store.putBatch([huge, jsonItem('small', [1])])
    expect(outcomes[0]).toMatchObject({
      status: 'rejected',
      reason: expect.stringMatching(/max_allowed_packet/),
    })
    expect(outcomes[1]?.status).toBe('written')
  })

  it('writes a batch of large payloads in several packet-sized statements', async () => {
    const items = Array.from({ length: 9 }, (_, i) =>
      SyncItem.fromBytes(`big.${i}`, new Uint8Array(3 * 1024 * 1024).fill(i + 1)),
    )
    expect((await store.putBatch(items)).every((o) => o.status === 'written')).toBe(true)
    const { items: found } = await store.getMany(items.map((i) => i.id))
    for (const item of items) expect(sameItem(found.get(item.id), item)).toBe(true)
  })

  it('treats SQL in ids, states and prefixes as data', async () => {
    const evil = ["x'; DROP TABLE sync_items; --", 'y" OR "1"="1', 'z`; DELETE FROM merkle_nodes; --']
    await store.putBatch([...evil.map((id) => jsonItem(id, [id])), jsonItem('plain', [0])])
    expect(await store.count()).toBe(4)
    const state = "s' OR '1'='1"
    expect(await store.setState([evil[0]!], state)).toEqual([evil[0]])
    expect(await store.byState(state)).toEqual([evil[0]])
    expect(await store.byState("' OR 1=1 --")).toEqual([])
    expect(await store.countByState("default' OR 'x'='x")).toBe(0)
    expect(await store.deleteByState("default' OR 'x'='x")).toEqual([])
    expect(await store.countPrefix("' OR 1=1 --")).toBe(0)
    expect(await store.deletePrefix("x' OR '1'='1")).toEqual([])
    expect(await store.deletePrefix("x'; DROP")).toEqual([evil[0]])
    expect(await store.count()).toBe(3)
    expect(await tableExists('sync_items')).toBe(true)
    expect(await tableExists('merkle_nodes')).toBe(true)
  })

  it('refuses invalid ids, states, prefixes, limits and table names with typed errors', async () => {
    await expect(store.get('')).rejects.toBeInstanceOf(InvalidIdError)
    await expect(store.get('.lead')).rejects.toBeInstanceOf(InvalidIdError)
    await expect(store.exists('a\u0000b')).rejects.toBeInstanceOf(InvalidIdError)
    await expect(store.deleteBatch(['ok', 'bad..id'])).rejects.toBeInstanceOf(InvalidIdError)
    await expect(store.byState('')).rejects.toBeInstanceOf(InvalidStateError)
    await expect(store.setState(['ok'], 's'.repeat(33))).rejects.toBeInstanceOf(InvalidStateError)
    await expect(store.scanPrefix('')).rejects.toMatchObject({ argument: 'prefix' })
    await expect(store.countPrefix('a\nb')).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(store.scanIds(undefined, 0)).rejects.toMatchObject({ argument: 'limit' })
    await expect(store.scanLeaves(undefined, 1.5)).rejects.toMatchObject({ argument: 'limit' })
    await expect(store.byState('x', { limit: -1 })).rejects.toMatchObject({ argument: 'limit' })
    await expect(store.scanIds(42 as never, 1)).rejects.toMatchObject({ argument: 'afterId' })
    await expect(store.putBatch('rows' as never)).rejects.toMatchObject({ argument: 'rows' })
    await expect(store.registerPartition('p.', 'x; DROP TABLE y')).rejects.toMatchObject({
      argument: 'table',
    })
    await expect(store.registerPartition('p.', 'merkle_nodes')).rejects.toMatchObject({ argument: 'table' })
    await expect(store.merkle.writeNodes({ upsert: [], delete: [] })).rejects.toMatchObject({
      argument: 'merkle',
    })
    expect(() => new MysqlL3Store({ url: db.url, tabel: 'x' } as never)).toThrow(
      /unknown MysqlL3Store option 'tabel'/,
    )
    expect(() => new MysqlL3Store({ url: db.url, table: 'items-1' })).toThrow(InvalidArgumentError)
    expect(() => new MysqlL3Store({ url: db.url, pool: {} })).toThrow(/exactly one/)
    expect(() => new MysqlL3Store({ url: 'postgres://x/y' })).toThrow(/mysql:\/\//)
    expect(() => new MysqlL3Store({ url: db.url, queryTimeoutMs: -5 })).toThrow(/queryTimeoutMs/)
  })
})

describe('writes', () => {
  it('guards in the statement itself: the upsert never lets an older row overwrite a newer one', async () => {
    // Straight to the SQL, bypassing the outcome pre-check, to prove the guard alone holds.
    const pool = mysql.createPool({ uri: db.url, connectionLimit: 1, charset: 'UTF8MB4_BIN' })
    try {
      const exec = poolExecutor(pool)
      const upsert = new ItemSql('sync_items').upsert(1)
      const row = (version: number, at: number, text: string) => {
        const content = Buffer.from(JSON.stringify(text))
        return ['g', version, at, sha256Hex(content), content, null, null, `v${version}`, 0, 0]
      }
      const stored = async () =>
        (
          await sql<{ version: number; timestamp: number; payload: string; state: string }[]>(
            `SELECT version, \`timestamp\`, payload, state FROM \`${db.name}\`.sync_items WHERE id = 'g'`,
          )
        )[0]
      await exec.execute(upsert, row(5, 500, 'five'))
      await exec.execute(upsert, row(4, 900, 'older version')) // lower version, later time: ignored
      expect(await stored()).toEqual({ version: 5, timestamp: 500, payload: '"five"', state: 'v5' })
      await exec.execute(upsert, row(5, 499, 'older time')) // same version, earlier time: ignored
      expect((await stored())?.payload).toBe('"five"')
      await exec.execute(upsert, row(5, 500, 'same time')) // same version and time: written
      expect((await stored())?.payload).toBe('"same time"')
      // A greater version with an earlier timestamp wins, and every column follows it (the timestamp
      // is assigned before the version, so the version test still compares against the old row).
      await exec.execute(upsert, row(6, 100, 'six'))
      expect(await stored()).toEqual({ version: 6, timestamp: 100, payload: '"six"', state: 'v6' })
    } finally {
      await pool.end()
    }
    await sql(`DELETE FROM \`${db.name}\`.sync_items`)
  })

  it('writes one row per id of a batch: the greatest (version, updatedAt), the later on a tie', async () => {
    const outcomes = await store.putBatch([
      jsonItem('dup', { v: 1 }, { version: 1 }),
      jsonItem('dup', { v: 3 }, { version: 3 }),
      jsonItem('dup', { v: 2 }, { version: 2 }),
      jsonItem('tie', { n: 'first' }, { version: 1, updatedAt: 10 }),
      jsonItem('tie', { n: 'second' }, { version: 1, updatedAt: 10 }),
    ])
    expect(outcomes.map((o) => o.status)).toEqual(['stale', 'written', 'stale', 'stale', 'written'])
    expect(outcomes[0]?.reason).toMatch(/superseded/)
    expect(outcomes[1]).toEqual({ id: 'dup', status: 'written', created: true })
    expect((await store.get('dup'))?.json()).toEqual({ v: 3 })
    expect((await store.get('tie'))?.json()).toEqual({ n: 'second' })
    expect((await store.putBatch([jsonItem('dup', { v: 4 }, { version: 4 })]))[0]).toEqual({
      id: 'dup',
      status: 'written',
      created: false,
    })
  })

  it('is atomic: a statement failing on the server leaves rows and tree as they were', async () => {
    await store.putBatch([jsonItem('before', [1])])
    const root = await store.merkleRoot()
    const table = `\`${db.name}\`.sync_items`
    await sql(`ALTER TABLE ${table} ADD CONSTRAINT no_boom CHECK (id <> 'boom')`)
    try {
      const batch = Array.from({ length: 3000 }, (_, i) => jsonItem(`many.${i}`, [i]))
      batch.push(jsonItem('boom', [0]))
      await expect(store.putBatch(batch)).rejects.toThrow(/CONSTRAINT `no_boom` failed/)
      expect(await store.count()).toBe(1)
      expect(await store.merkleRoot()).toBe(root)
    } finally {
      await sql(`ALTER TABLE ${table} DROP CONSTRAINT no_boom`)
    }
  })

  it('stores and returns the audit fields and access counters', async () => {
    const item = jsonItem('audited', [1], {
      traceParent: '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01',
      homeInstanceId: 'node-7',
      batchId: 'batch-42',
    })
    item.accessCount = 5
    item.lastAccessed = 1_700_000_000_123
    await store.putBatch([item])
    const back = await store.get('audited')
    expect(back).toMatchObject({
      traceParent: item.traceParent,
      homeInstanceId: 'node-7',
      batchId: 'batch-42',
      accessCount: 5,
      lastAccessed: 1_700_000_000_123,
    })
    const [row] = await sql<{ audit: string }[]>(
      `SELECT audit FROM \`${db.name}\`.sync_items WHERE id = 'audited'`,
    )
    expect(JSON.parse(row!.audit)).toEqual({ batch: 'batch-42', trace: item.traceParent, home: 'node-7' })
  })

  it('a plain JSON row over an audited binary row with counters leaves none of them (lean upsert)', async () => {
    const old = SyncItem.fromBytes('shape', new Uint8Array([1, 2, 3]), {
      version: 1,
      batchId: 'b-1',
      homeInstanceId: 'node-1',
    })
    old.accessCount = 3
    old.lastAccessed = 1_700_000_000_000
    const plain = jsonItem('shape', { now: 'json' }, { version: 2 })
    const audited = jsonItem('shape.2', [2], { version: 1, batchId: 'b-2' })
    await store.putBatch([old])
    // One batch with both shapes: each goes through its own statement.
    const outcomes = await store.putBatch([plain, audited])
    expect(outcomes.map((o) => o.status)).toEqual(['written', 'written'])
    const [row] = await sql<
      { payload_blob: unknown; audit: unknown; access_count: unknown; last_accessed: unknown }[]
    >(
      `SELECT payload_blob, audit, access_count, last_accessed FROM \`${db.name}\`.sync_items WHERE id = 'shape'`,
    )
    expect(row).toEqual({ payload_blob: null, audit: null, access_count: 0, last_accessed: 0 })
    const back = await store.get('shape')
    expect(back && sameItem(back, plain)).toBe(true)
    expect(back?.batchId).toBeUndefined()
    expect((await store.get('shape.2'))?.batchId).toBe('b-2')
    // An older lean row does not replace a newer one.
    const stale = await store.putBatch([jsonItem('shape', { old: true }, { version: 1 })])
    expect(stale[0]!.status).toBe('stale')
    expect((await store.get('shape'))?.json()).toEqual({ now: 'json' })
  })

  it('writes thousands of rows across statement sizes and scans them back in order', async () => {
    const n = 5000 + 1234
    const items = Array.from({ length: n }, (_, i) => jsonItem(`bulk.${i % 37}.${i}`, { i }))
    const outcomes = await store.putBatch(items)
    expect(outcomes.filter((o) => o.status === 'written')).toHaveLength(n)
    expect(await store.count()).toBe(n)
    expect(await store.countPrefix('bulk.3')).toBe(items.filter((i) => i.id.startsWith('bulk.3')).length)
    const ids: string[] = []
    for (let page = await store.scanIds(undefined, 2000); page.length > 0; ) {
      ids.push(...page)
      page = await store.scanIds(page[page.length - 1], 2000)
    }
    expect(ids).toEqual(items.map((i) => i.id).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))))
    const some = items.filter((_, i) => i % 3 === 0).map((i) => i.id)
    expect((await store.getMany(some)).items.size).toBe(some.length)
    expect((await store.deleteBatch(some)).length).toBe(some.length)
    expect(await store.count()).toBe(n - some.length)
  })
})

describe('reads of rows the tier did not write', () => {
  it('reports a corrupt row as CorruptDataError for that id; getMany answers the rest', async () => {
    await store.putBatch([jsonItem('c.ok', [1]), jsonItem('c.hash', [2]), jsonItem('c.both', [3])])
    const table = `\`${db.name}\`.sync_items`
    await sql(`UPDATE ${table} SET payload_hash = ? WHERE id = 'c.hash'`, ['0'.repeat(64)])
    await sql(`UPDATE ${table} SET payload_blob = 'x' WHERE id = 'c.both'`)
    const { items, errors } = await store.getMany(['c.ok', 'c.hash', 'c.both'])
    expect([...items.keys()]).toEqual(['c.ok'])
    expect(errors.get('c.hash')).toBeInstanceOf(CorruptDataError)
    expect(errors.get('c.hash')?.message).toMatch(/c\.hash.*does not match/)
    expect(errors.get('c.both')?.message).toMatch(/exactly one of payload/)
    await expect(store.get('c.hash')).rejects.toBeInstanceOf(CorruptDataError)
    // Put the rows back in the state the tree describes.
    await store.deleteBatch(['c.hash', 'c.both'])
  })
})

describe('connection, health and logging', () => {
  it('reports health with server facts, and not-ok once closed', async () => {
    const health = await store.health(2000)
    expect(health.ok).toBe(true)
    expect(health.details).toMatchObject({ database: db.name, schemaVersion: 2, merkle: true })
    expect(String(health.details?.server)).toMatch(/\d+\.\d+/)
    const other = await openStore(db)
    await other.close()
    expect((await other.health()).ok).toBe(false)
    await expect(other.get('x')).rejects.toBeInstanceOf(BackendUnavailableError)
  })

  it('shares one pool between concurrent connect() calls', async () => {
    let connects = 0
    const logger: Logger = {
      ...quiet,
      info: (_: unknown, msg?: unknown) => void (msg === 'mysql-tier connected' && connects++),
    }
    const twice = new MysqlL3Store({ url: db.url, logger })
    await Promise.all([twice.connect(), twice.connect()])
    await twice.connect()
    expect(twice.connected).toBe(true)
    expect(connects).toBe(1)
    await twice.close()
    expect(twice.connected).toBe(false)
  })

  it('logs the connection URL with the password redacted', async () => {
    const user = uniqueName('u').slice(0, 32)
    const password = 'hunter2-secret'
    await sql(`CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'`)
    await sql(`CREATE USER '${user}'@'localhost' IDENTIFIED BY '${password}'`)
    await sql(`GRANT ALL ON \`${db.name}\`.* TO '${user}'@'%'`)
    await sql(`GRANT ALL ON \`${db.name}\`.* TO '${user}'@'localhost'`)
    const lines: unknown[] = []
    const log = (a: unknown, b?: unknown) => lines.push([a, b])
    const logger: Logger = { debug: log, info: log, warn: log, error: log }
    const secret = new MysqlL3Store({ url: urlFor(db.name, { user, password }), logger })
    try {
      await secret.connect()
      expect(JSON.stringify(lines)).toContain(`${user}:***@`)
      expect(JSON.stringify(lines)).not.toContain(password)
      expect(secret.where).not.toContain(password)
    } finally {
      await secret.close()
      await sql(`DROP USER '${user}'@'%'`)
      await sql(`DROP USER '${user}'@'localhost'`)
    }
  })

  it('fails to connect with BackendUnavailableError naming the redacted URL after bounded retries', async () => {
    const dead = new MysqlL3Store({ url: 'mysql://root:pw@127.0.0.1:1/test', retries: 1, logger: quiet })
    const error = await dead.connect().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BackendUnavailableError)
    expect((error as Error).message).toContain('mysql://root:***@127.0.0.1:1/test')
    expect((error as Error).message).not.toContain(':pw@')
  })

  it('retries on a new connection when the server kills the one it was using', async () => {
    const holder = await mysql.createConnection({ uri: db.url })
    try {
      // Hold the store's lock, so the write waits inside GET_LOCK, then kill the waiting connection.
      await holder.query('SELECT GET_LOCK(?, 0)', [`${db.name}.sync_items.merkle`])
      const warnings: unknown[] = []
      const retrying = await openStore(db, { logger: { ...quiet, warn: (o: unknown) => warnings.push(o) } })
      const write = retrying.putBatch([jsonItem('survivor', [1])]).finally(() => retrying.close())
      const victim = (
        await waitForRow<{ id: number }>(
          "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE 'SELECT GET_LOCK%'",
          [db.name],
          20,
          2000,
        )
      ).id
      expect(victim).toBeDefined()
      await sql(`KILL CONNECTION ${Number(victim)}`)
      await holder.query('DO RELEASE_LOCK(?)', [`${db.name}.sync_items.merkle`])
      expect(await write).toEqual([{ id: 'survivor', status: 'written', created: true }])
      expect(warnings).toEqual([expect.objectContaining({ attempt: 1 })])
      expect(await store.exists('survivor')).toBe(true)
    } finally {
      await holder.end()
    }
  })

  it('gives up waiting for the store lock held by another session with TimeoutError', async () => {
    const other = await mysql.createConnection({ uri: db.url })
    try {
      await other.query('SELECT GET_LOCK(?, 0)', [`${db.name}.sync_items.merkle`])
      const waiting = await openStore(db, { lockTimeoutSeconds: 1 })
      try {
        await expect(waiting.putBatch([jsonItem('locked', [1])])).rejects.toBeInstanceOf(TimeoutError)
        expect(await waiting.exists('locked')).toBe(false)
      } finally {
        await waiting.close()
      }
    } finally {
      await other.end()
    }
  })
})

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} }

/**
 * Polls `query` until it returns a row (for at most ~`forMs`), every `everyMs` (MariaDB refreshes its
 * `INNODB_TRX` view only when it was not read in the last 100 ms); its first row.
 */
async function waitForRow<T>(query: string, params: unknown[], everyMs = 20, forMs = 6000): Promise<T> {
  for (let waited = 0; waited < forMs; waited += everyMs) {
    const [row] = await sql<T[]>(query, params)
    if (row !== undefined) return row
    await new Promise((r) => setTimeout(r, everyMs))
  }
  throw new Error(`no row from: ${query}`)
}

describe('writers beside the store', () => {
  it('retries with locking reads when a writer outside the store lock changed a row meanwhile', async () => {
    const foreign = await mysql.createConnection({ uri: db.url })
    const warnings: string[] = []
    const racing = await openStore(db, {
      overlapMinRows: 1,
      logger: { ...quiet, warn: (_: unknown, message?: string) => warnings.push(String(message)) },
    })
    try {
      // A newer row, not committed yet: the store's version read (beside) does not see it, and its
      // upsert waits for the row lock until the row is committed — a lost race the statement reports.
      await foreign.query('START TRANSACTION')
      await foreign.query(
        "INSERT INTO sync_items (id, version, `timestamp`, payload_hash, payload, state) VALUES ('race', 9, 1, ?, '[9]', 'default')",
        [sha256Hex(Buffer.from('[9]'))],
      )
      const write = racing.putBatch([jsonItem('race', [1]), jsonItem('calm', [2])])
      // The store's upsert waits for the row, and its side transaction has decided (without the row)
      // and written tree nodes: two writing transactions (this one and the side one) not waiting.
      await waitForRow(
        "SELECT SUM(t.trx_state = 'LOCK WAIT') AS waiting, SUM(t.trx_state <> 'LOCK WAIT' AND t.trx_rows_modified > 0) AS writing " +
          'FROM information_schema.INNODB_TRX AS t JOIN information_schema.PROCESSLIST AS p ON p.ID = t.trx_mysql_thread_id ' +
          'WHERE p.DB = ? HAVING waiting >= 1 AND writing >= 2',
        [db.name],
        150,
      )
      await foreign.query('COMMIT')
      expect(await write).toEqual([
        { id: 'race', status: 'stale', reason: expect.stringMatching(/version 9/) },
        { id: 'calm', status: 'written', created: true },
      ])
      expect(warnings).toEqual([expect.stringMatching(/outside the store lock; putBatch retried/)])
      expect((await store.get('race'))?.version).toBe(9)
    } finally {
      await foreign.end()
      await racing.close()
      // The foreign row bypassed the tree: repair it, as an operator would.
      await store.rebuildMerkle()
    }
  })

  it('retries the whole batch when a side connection is killed while it waits for the rows', async () => {
    await store.putBatch([jsonItem('hold', [1])])
    const holder = await mysql.createConnection({ uri: db.url })
    const warnings: unknown[] = []
    const writer = await openStore(db, {
      overlapMinRows: 1,
      logger: { ...quiet, warn: (o: unknown) => warnings.push(o) },
    })
    try {
      // Lock the row without changing it: the batch's upsert waits while its side transactions
      // decide, write their node upserts and wait for the rows.
      await holder.query('START TRANSACTION')
      await holder.query("SELECT id FROM sync_items WHERE id = 'hold' FOR UPDATE")
      const write = writer.putBatch([jsonItem('hold', [2], { version: 2 }), jsonItem('beside', [3])])
      const side = await waitForRow<{ id: number }>(
        'SELECT t.trx_mysql_thread_id AS id FROM information_schema.INNODB_TRX AS t ' +
          'JOIN information_schema.PROCESSLIST AS p ON p.ID = t.trx_mysql_thread_id ' +
          "WHERE p.DB = ? AND t.trx_state <> 'LOCK WAIT' AND t.trx_rows_modified > 0 " +
          "AND EXISTS (SELECT 1 FROM information_schema.INNODB_TRX AS w WHERE w.trx_state = 'LOCK WAIT') LIMIT 1",
        [db.name],
        150,
      )
      await sql(`KILL CONNECTION ${Number(side.id)}`)
      await holder.query('COMMIT')
      expect(await write).toEqual([
        { id: 'hold', status: 'written', created: false },
        { id: 'beside', status: 'written', created: true },
      ])
      expect(warnings).toEqual([expect.objectContaining({ attempt: 1 })])
      expect((await store.get('hold'))?.version).toBe(2)
      expect(await sql(`SELECT merkle_stale AS stale FROM \`${db.name}\`.sync_engine_schema`)).toEqual([
        { stale: 0 },
      ])
    } finally {
      await holder.end()
      await writer.close()
    }
  })

  it('reads the root without rebuilding when the stale mark was a writer between its two commits', async () => {
    await store.putBatch([jsonItem('mark.1', [1]), jsonItem('mark.2', [2])])
    const root = await store.merkleRoot()
    const stamp = `SELECT MAX(updated_at) AS at FROM \`${db.name}\`.merkle_nodes`
    const [before] = await sql<{ at: number }[]>(stamp)
    const writer = await mysql.createConnection({ uri: db.url })
    try {
      // A writer holds the lock and has committed its tree (marked stale), not yet its rows.
      await writer.query('SELECT GET_LOCK(?, 0)', [`${db.name}.sync_items.merkle`])
      await writer.query('UPDATE sync_engine_schema SET merkle_stale = 1')
      const reading = store.merkleRoot()
      await waitForRow(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE 'SELECT GET_LOCK%'",
        [db.name],
      )
      await writer.query('UPDATE sync_engine_schema SET merkle_stale = 0')
      await writer.query('DO RELEASE_LOCK(?)', [`${db.name}.sync_items.merkle`])
      expect(await reading).toBe(root)
      expect(await sql(stamp)).toEqual([before])
    } finally {
      await writer.end()
    }
  })
})

describe('merkle: false', () => {
  it('keeps no tree, marks it stale, and a store with the tree rebuilds it before answering', async () => {
    const writer = await openStore(db, { merkle: false })
    try {
      await writer.putBatch([jsonItem('nm.1', [1]), jsonItem('nm.2', [2])])
      expect(await writer.merkleRoot()).toBeNull()
      await expect(writer.rebuildMerkle()).rejects.toMatchObject({ argument: 'merkle' })
    } finally {
      await writer.close()
    }
    expect(await sql(`SELECT COUNT(*) AS n FROM \`${db.name}\`.merkle_nodes`)).toEqual([{ n: 0 }])
    const leaves = await store.scanLeaves(undefined, 10)
    expect(await store.merkleRoot()).toBe(merkleRootOf(leaves))
    // The next write applies incrementally again.
    await store.putBatch([jsonItem('nm.3', [3])])
    expect(await store.merkleRoot()).toBe(merkleRootOf(await store.scanLeaves(undefined, 10)))
  })

  it('rebuilds the tree inside the next write when the tree is stale', async () => {
    const writer = await openStore(db, { merkle: false })
    await writer.putBatch([jsonItem('st.1', [1])])
    await writer.close()
    await store.deleteBatch(['st.1'])
    expect(await sql(`SELECT merkle_stale AS stale FROM \`${db.name}\`.sync_engine_schema`)).toEqual([
      { stale: 0 },
    ])
    await store.putBatch([jsonItem('st.2', [2])])
    expect(await store.merkleRoot()).toBe(merkleRootOf(await store.scanLeaves(undefined, 10)))
  })
})
