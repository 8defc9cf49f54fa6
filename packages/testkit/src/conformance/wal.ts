import {
  bytesEqual,
  type ItemRecord,
  SyncEngineError,
  SyncItem,
  toHex,
  type WalEntry,
  WalFullError,
  type WriteAheadLog,
} from '@sync-engine/core'
import { afterAll, afterEach, describe, expect, it } from 'vitest'

/** Limits a conformance test asks of a fresh log; absent fields take the implementation's defaults. */
export interface WalFactoryOptions {
  maxRows?: number
  maxBytes?: number
}

/** Makes a new, empty log for every call (its own file, table or key space). */
export type WalFactory = (options: WalFactoryOptions) => WriteAheadLog | Promise<WriteAheadLog>

export interface WalConformanceHooks {
  /** After every test, once the logs that test made are closed (e.g. remove their files). */
  afterEach?: () => void | Promise<void>
  /** Once after the whole suite (e.g. remove a temp directory). */
  cleanup?: () => void | Promise<void>
}

const put = (row: ItemRecord): WalEntry => ({ id: row.id, op: 'put', row })
const del = (id: string): WalEntry => ({ id, op: 'delete' })
const item = (i: number, size = 40) =>
  SyncItem.fromJson(
    `conformance.wal.${i}`,
    { i, pad: 'x'.repeat(size) },
    { updatedAt: 1_700_000_000_000 + i },
  )

/** Every field a WAL must keep, with absent optional fields compared as `undefined`. */
function expectSameRow(actual: ItemRecord | undefined, expected: ItemRecord): void {
  expect(actual).toBeDefined()
  const a = actual!
  const fields = (r: ItemRecord) => ({
    id: r.id,
    version: r.version,
    updatedAt: r.updatedAt,
    contentType: r.contentType,
    contentHash: r.contentHash,
    state: r.state,
    traceParent: r.traceParent ?? undefined,
    homeInstanceId: r.homeInstanceId ?? undefined,
    batchId: r.batchId ?? undefined,
    size: r.content.byteLength,
  })
  expect(fields(a)).toEqual(fields(expected))
  expect(a.content).toBeInstanceOf(Uint8Array)
  if (!bytesEqual(a.content, expected.content)) {
    expect(toHex(a.content.subarray(0, 256))).toBe(toHex(expected.content.subarray(0, 256)))
    expect.fail(`content of '${expected.id}' differs from what was appended`)
  }
}

/**
 * The contract of `WriteAheadLog` (core `tiers.ts`, SPEC §5.3): group commits with increasing seqs,
 * seq-ordered peeks, acknowledgement by seq, exact row and byte accounting, all-or-nothing appends
 * refused past the limits, pressure, filter snapshots, and byte-exact records of every kind.
 */
export function describeWriteAheadLog(
  name: string,
  factory: WalFactory,
  hooks: WalConformanceHooks = {},
): void {
  describe(`WriteAheadLog conformance: ${name}`, () => {
    const opened: WriteAheadLog[] = []
    const make = async (options: WalFactoryOptions = {}) => {
      const wal = await factory(options)
      opened.push(wal)
      return wal
    }
    /** Bytes one entry accounts for, measured on a fresh log. */
    const bytesOf = async (entry: WalEntry) => {
      const wal = await make()
      await wal.append([entry])
      return (await wal.stats()).bytes
    }

    afterEach(async () => {
      for (const wal of opened.splice(0)) await wal.close()
      await hooks.afterEach?.()
    })
    afterAll(async () => {
      await hooks.cleanup?.()
    })

    it('starts empty', async () => {
      const wal = await make({ maxRows: 10, maxBytes: 10_000 })
      expect(await wal.stats()).toEqual({
        rows: 0,
        bytes: 0,
        maxRows: 10,
        maxBytes: 10_000,
        oldestSeq: undefined,
        newestSeq: undefined,
        oldestEnqueuedAt: undefined,
      })
      expect(await wal.peek(10)).toEqual([])
      expect(wal.pressure()).toBe(0)
      expect(await wal.ack(1_000)).toBe(0)
    })

    it('append returns one record per entry, in order, with increasing seqs', async () => {
      const wal = await make()
      const entries = [put(item(1)), del('conformance.wal.gone'), put(item(2))]
      const records = await wal.append(entries)
      expect(records.map((r) => [r.id, r.op])).toEqual(entries.map((e) => [e.id, e.op]))
      expectSameRow(records[0]!.row, entries[0]!.row!)
      expect(records[1]!.row).toBeUndefined()
      for (const r of records) expect(typeof r.enqueuedAt).toBe('number')
      const seqs = records.map((r) => r.seq)
      for (const seq of seqs) expect(Number.isSafeInteger(seq)).toBe(true)
      expect([...seqs].sort((a, b) => a - b)).toEqual(seqs)
      expect(new Set(seqs).size).toBe(seqs.length)
      const next = await wal.append([put(item(3))])
      expect(next[0]!.seq).toBeGreaterThan(seqs[2]!)
    })

    it('append of nothing returns [] and writes nothing', async () => {
      const wal = await make()
      expect(await wal.append([])).toEqual([])
      expect((await wal.stats()).rows).toBe(0)
    })

    it('seqs keep increasing after acks, even when the log was emptied', async () => {
      const wal = await make()
      const first = await wal.append([put(item(1)), put(item(2))])
      expect(await wal.ack(first[1]!.seq)).toBe(2)
      const second = await wal.append([put(item(3))])
      expect(second[0]!.seq).toBeGreaterThan(first[1]!.seq)
    })

    it('peek returns the oldest records in seq order, up to limit, and removes nothing', async () => {
      const wal = await make()
      const a = await wal.append([put(item(1)), put(item(2))])
      const b = await wal.append([del('conformance.wal.1'), put(item(3))])
      const all = [...a, ...b]
      expect((await wal.peek(3)).map((r) => r.seq)).toEqual(all.slice(0, 3).map((r) => r.seq))
      const everything = await wal.peek(100)
      expect(everything.map((r) => [r.seq, r.id, r.op])).toEqual(all.map((r) => [r.seq, r.id, r.op]))
      expect(everything.map((r) => r.enqueuedAt)).toEqual(all.map((r) => r.enqueuedAt))
      expect((await wal.stats()).rows).toBe(4)
      expect(await wal.peek(0)).toEqual([])
    })

    it('ack removes exactly the records with seq ≤ uptoSeq and says how many', async () => {
      const wal = await make()
      const records = await wal.append([1, 2, 3, 4, 5].map((i) => put(item(i))))
      const seqs = records.map((r) => r.seq)
      expect(await wal.ack(seqs[0]! - 1)).toBe(0)
      expect(await wal.ack(seqs[1]!)).toBe(2)
      expect((await wal.peek(10)).map((r) => r.seq)).toEqual(seqs.slice(2))
      expect(await wal.ack(seqs[1]!)).toBe(0)
      expect(await wal.ack(seqs[4]! + 1_000)).toBe(3)
      expect(await wal.peek(10)).toEqual([])
      expect((await wal.stats()).rows).toBe(0)
    })

    it('stats count rows and bytes exactly: additive, and back to zero when drained', async () => {
      const small = put(item(1, 10))
      const large = put(SyncItem.fromBytes('conformance.wal.blob', new Uint8Array(5_000).fill(7)))
      const gone = del('conformance.wal.gone')
      const [bSmall, bLarge, bGone] = [await bytesOf(small), await bytesOf(large), await bytesOf(gone)]
      expect(bSmall).toBeGreaterThanOrEqual(small.row!.content.byteLength)
      expect(bLarge).toBeGreaterThanOrEqual(5_000)
      expect(bGone).toBeGreaterThan(0)
      expect(bLarge).toBeGreaterThan(bSmall)

      const wal = await make()
      const [r1] = await wal.append([small, large])
      await wal.append([gone])
      expect(await wal.stats()).toMatchObject({ rows: 3, bytes: bSmall + bLarge + bGone })
      await wal.ack(r1!.seq)
      expect(await wal.stats()).toMatchObject({ rows: 2, bytes: bLarge + bGone })
      await wal.append([small])
      expect(await wal.stats()).toMatchObject({ rows: 3, bytes: bSmall + bLarge + bGone })
      const newest = (await wal.stats()).newestSeq!
      await wal.ack(newest)
      expect(await wal.stats()).toMatchObject({ rows: 0, bytes: 0 })
    })

    it('stats follow the oldest and newest record', async () => {
      const wal = await make()
      const a = await wal.append([put(item(1))])
      const b = await wal.append([put(item(2)), put(item(3))])
      let stats = await wal.stats()
      expect(stats.oldestSeq).toBe(a[0]!.seq)
      expect(stats.newestSeq).toBe(b[1]!.seq)
      expect(stats.oldestEnqueuedAt).toBe(a[0]!.enqueuedAt)
      await wal.ack(a[0]!.seq)
      stats = await wal.stats()
      expect(stats.oldestSeq).toBe(b[0]!.seq)
      expect(stats.oldestEnqueuedAt).toBe(b[0]!.enqueuedAt)
      await wal.ack(b[1]!.seq)
      stats = await wal.stats()
      expect([stats.oldestSeq, stats.newestSeq, stats.oldestEnqueuedAt]).toEqual([
        undefined,
        undefined,
        undefined,
      ])
    })

    it('refuses an append past maxRows with WalFullError and writes nothing of it', async () => {
      const wal = await make({ maxRows: 5 })
      await wal.append([1, 2, 3].map((i) => put(item(i))))
      const before = await wal.stats()
      const error = await wal.append([4, 5, 6].map((i) => put(item(i)))).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(WalFullError)
      expect((error as WalFullError).code).toBe('WAL_FULL')
      expect(await wal.stats()).toEqual(before)
      expect((await wal.peek(10)).map((r) => r.id)).toEqual([1, 2, 3].map((i) => item(i).id))
      await wal.append([4, 5].map((i) => put(item(i))))
      expect((await wal.stats()).rows).toBe(5)
      await expect(wal.append([del('conformance.wal.more')])).rejects.toBeInstanceOf(WalFullError)
    })

    it('refuses an append past maxBytes with WalFullError and writes nothing of it', async () => {
      const entry = (i: number) => put(item(i, 100))
      const one = await bytesOf(entry(0))
      const wal = await make({ maxBytes: one * 3 })
      await expect(wal.append([1, 2, 3, 4].map(entry))).rejects.toBeInstanceOf(WalFullError)
      expect(await wal.stats()).toMatchObject({ rows: 0, bytes: 0 })
      await wal.append([1, 2].map(entry))
      await expect(wal.append([3, 4].map(entry))).rejects.toBeInstanceOf(WalFullError)
      expect(await wal.stats()).toMatchObject({ rows: 2, bytes: one * 2 })
      await wal.append([entry(3)])
      expect(await wal.stats()).toMatchObject({ rows: 3, bytes: one * 3 })
    })

    it('pressure is max(rows / maxRows, bytes / maxBytes)', async () => {
      const byRows = await make({ maxRows: 10 })
      await byRows.append([1, 2, 3, 4, 5].map((i) => put(item(i))))
      const s = await byRows.stats()
      expect(byRows.pressure()).toBeCloseTo(Math.max(s.rows / s.maxRows, s.bytes / s.maxBytes), 12)
      expect(byRows.pressure()).toBeGreaterThanOrEqual(0.5)

      const entry = put(item(9, 1_000))
      const one = await bytesOf(entry)
      const byBytes = await make({ maxBytes: one * 4 })
      await byBytes.append([entry])
      expect(byBytes.pressure()).toBeCloseTo(0.25, 12)
      await byBytes.ack((await byBytes.stats()).newestSeq!)
      expect(byBytes.pressure()).toBe(0)
    })

    it('records round-trip byte-exact: JSON, binary, empty, large, unicode, metadata and deletes', async () => {
      const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i)
      const large = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251)
      const rows: ItemRecord[] = [
        SyncItem.fromJson('rt.json', { b: [1, 2.5, null, true], a: 'é\u2028😀', nested: { z: {} } }),
        SyncItem.fromBytes('rt.binary', allBytes, { version: 7, updatedAt: 0 }),
        SyncItem.fromBytes('rt.empty', new Uint8Array(0)),
        SyncItem.fromBytes('rt.large', large, { version: Number.MAX_SAFE_INTEGER }),
        SyncItem.fromBytes('rt.text', new TextEncoder().encode('  {"spaced": true}  '), {
          updatedAt: 1_712_345_678_901,
          state: 'ünïcödé',
          traceParent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
          homeInstanceId: 'instance-🛰',
          batchId: 'batch-42',
        }),
        SyncItem.fromJson('日本.データ', 'a JSON string'),
      ]
      const entries = [...rows.map(put), del('rt.deleted'), put(rows[0]!)]
      const wal = await make()
      const appended = await wal.append(entries)
      const read = await wal.peek(100)
      expect(read.map((r) => [r.seq, r.id, r.op])).toEqual(appended.map((r) => [r.seq, r.id, r.op]))
      entries.forEach((entry, i) => {
        if (entry.row === undefined) expect(read[i]!.row).toBeUndefined()
        else expectSameRow(read[i]!.row, entry.row)
      })
    })

    it('rejects invalid input with a SyncEngineError and writes nothing of that call', async () => {
      const wal = await make()
      const valid = put(item(1))
      const invalid: unknown[] = [
        { id: '', op: 'put', row: item(2) },
        { id: 'ok.id', op: 'upsert' },
        { id: 'ok.id', op: 'put' },
        { id: 'other.id', op: 'put', row: item(3) },
      ]
      for (const bad of invalid) {
        const error = await wal.append([valid, bad as WalEntry]).catch((e: unknown) => e)
        expect(error, JSON.stringify(bad)).toBeInstanceOf(SyncEngineError)
      }
      expect((await wal.stats()).rows).toBe(0)
      await expect(wal.peek(-1)).rejects.toBeInstanceOf(SyncEngineError)
      await expect(wal.ack(Number.NaN)).rejects.toBeInstanceOf(SyncEngineError)
    })

    it('snapshots round-trip, a later save replaces the earlier one, filters are independent', async () => {
      const wal = await make()
      expect(await wal.loadSnapshot('ids')).toBeUndefined()
      const bytes = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 31) % 256)
      const root = 'ab'.repeat(32)
      await wal.saveSnapshot('ids', bytes, root, 12_345)
      await wal.saveSnapshot('other', new Uint8Array([1, 2, 3]), null, 0)
      const loaded = await wal.loadSnapshot('ids')
      expect(loaded).toMatchObject({ filterId: 'ids', merkleRoot: root, entryCount: 12_345 })
      expect(typeof loaded!.savedAt).toBe('number')
      expect(bytesEqual(loaded!.bytes, bytes)).toBe(true)

      await wal.saveSnapshot('ids', new Uint8Array([9]), null, 1)
      const replaced = await wal.loadSnapshot('ids')
      expect(replaced).toMatchObject({ filterId: 'ids', merkleRoot: null, entryCount: 1 })
      expect(Array.from(replaced!.bytes)).toEqual([9])
      expect(Array.from((await wal.loadSnapshot('other'))!.bytes)).toEqual([1, 2, 3])
      expect(await wal.stats()).toMatchObject({ rows: 0, bytes: 0 })
    })

    it('close can be called twice', async () => {
      const wal = await make()
      await wal.append([put(item(1))])
      await wal.close()
      await wal.close()
    })
  })
}
