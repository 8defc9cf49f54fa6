import * as zlib from 'node:zlib'
import {
  CorruptDataError,
  InvalidArgumentError,
  InvalidStateError,
  type ItemRecord,
  MAX_PAYLOAD_BYTES,
  PayloadTooLargeError,
  SyncItem,
} from '@sync-engine/core'
import { describe, expect, it } from 'vitest'
import { crc32, crc32Js, decodeRow, encodeRow } from '../src/codec.js'
import { prng } from './fixtures/records.mjs'
import { thrown } from './helpers.js'

const seed = Number(process.env.SYNC_ENGINE_TEST_SEED ?? 7_301)

const FORMAT_1_ROW =
  '01090000000000001c4000008056febc784234a611bfa47bfa6c1e187e106f03ef74269d04885af573092024a3b09be8966c' +
  '050064726166740300622d31160000007b226e223a312c226e616d65223a22c39c6ec3af227d7adae930'

function randomRecord(rand: () => number, i: number): ItemRecord {
  const pick = <T>(values: T[]) => values[Math.floor(rand() * values.length)]!
  const options = {
    version: 1 + Math.floor(rand() * 2 ** 40),
    updatedAt: Math.floor(rand() * 2 ** 45),
    state: pick(['default', 'draft', 'ünï', '状態', 'x'.repeat(32)]),
    traceParent: pick([undefined, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01']),
    homeInstanceId: pick([undefined, '', 'node-a', 'é😀']),
    batchId: pick([undefined, 'b', 'batch-'.repeat(50)]),
  }
  const id = `codec.${i}.${pick(['a', 'ü', '😀'])}`
  if (rand() < 0.4) return SyncItem.fromJson(id, { i, text: 'y'.repeat(Math.floor(rand() * 300)) }, options)
  const bytes = Uint8Array.from({ length: Math.floor(rand() * (rand() < 0.1 ? 70_000 : 300)) }, () =>
    Math.floor(rand() * 256),
  )
  return SyncItem.fromBytes(id, bytes, options)
}

const fields = (r: ItemRecord) => ({
  id: r.id,
  version: r.version,
  updatedAt: r.updatedAt,
  contentType: r.contentType,
  content: Buffer.from(r.content).toString('base64'),
  contentHash: r.contentHash,
  state: r.state,
  traceParent: r.traceParent,
  homeInstanceId: r.homeInstanceId,
  batchId: r.batchId,
})

describe('row codec', () => {
  it(`round-trips random records exactly (seed ${seed})`, () => {
    console.log(`codec seed: ${seed} (set SYNC_ENGINE_TEST_SEED to replay)`)
    const rand = prng(seed)
    for (let i = 0; i < 400; i++) {
      const record = randomRecord(rand, i)
      const decoded = decodeRow(encodeRow(record, 'row'), record.id, 'test')
      expect(fields(decoded)).toEqual(fields(record))
      expect(decoded.content).toBeInstanceOf(Uint8Array)
    }
  })

  it('is compact: 28 bytes of framing plus the state, optional strings and content (no hash)', () => {
    const item = SyncItem.fromBytes('compact', new Uint8Array(200), { state: 'default' })
    expect(encodeRow(item, 'row').length).toBe(28 + 'default'.length + 200)
    const traced = item.with({ batchId: 'b1' })
    expect(encodeRow(traced, 'row').length).toBe(28 + 7 + 200 + 2 + 2)
  })

  it('still decodes rows of format 1, which stored the content hash', () => {
    // Written by encodeRow of format 1 for this item.
    const item = SyncItem.fromJson(
      'legacy.item',
      { name: 'Ünï', n: 1 },
      { version: 7, updatedAt: 1_700_000_000_000, state: 'draft', batchId: 'b-1' },
    )
    const row = Buffer.from(FORMAT_1_ROW, 'hex')
    expect(fields(decodeRow(row, item.id, 'test'))).toEqual(fields(item))
    row[30]! ^= 1 // a damaged hash byte is caught by the checksum like any other
    expect(() => decodeRow(row, item.id, 'test')).toThrow(CorruptDataError)
  })

  it('reports every damaged byte and every truncation as CorruptDataError at the given location', () => {
    const item = SyncItem.fromJson('damaged', { a: 1, b: 'text' }, { batchId: 'x', traceParent: undefined })
    const row = encodeRow(item, 'row')
    for (let at = 0; at < row.length; at++) {
      const copy = Buffer.from(row)
      copy[at]! ^= 0x5a
      expect(() => decodeRow(copy, item.id, 'file.db (seq 9)'), `byte ${at}`).toThrow(CorruptDataError)
    }
    for (let length = 0; length < row.length; length++) {
      const error = thrown(() => decodeRow(row.subarray(0, length), item.id, 'file.db (seq 9)'))
      expect(error, `length ${length}`).toBeInstanceOf(CorruptDataError)
      expect((error as CorruptDataError).location).toBe('file.db (seq 9)')
    }
    expect(() => decodeRow(Buffer.concat([row, Buffer.of(0)]), item.id, 'x')).toThrow(CorruptDataError)
  })

  it('computes the standard CRC-32, natively and in the JavaScript fallback alike', () => {
    const check = new TextEncoder().encode('123456789')
    expect(crc32(check)).toBe(0xcbf43926)
    expect(crc32Js(check)).toBe(0xcbf43926)
    const rand = prng(seed)
    for (let i = 0; i < 50; i++) {
      const bytes = Uint8Array.from({ length: Math.floor(rand() * 3000) }, () => Math.floor(rand() * 256))
      expect(crc32Js(bytes)).toBe(zlib.crc32(bytes))
      // A range, whichever implementation its length picks, is the CRC of those bytes alone.
      const start = Math.floor(rand() * bytes.length)
      const end = start + Math.floor(rand() * (bytes.length - start))
      expect(crc32(bytes, start, end)).toBe(zlib.crc32(bytes.subarray(start, end)))
      expect(crc32Js(bytes, start, end)).toBe(zlib.crc32(bytes.subarray(start, end)))
    }
  })

  it('names what is wrong with an invalid record', () => {
    const good = SyncItem.fromJson('valid', { a: 1 })
    const base: ItemRecord = {
      id: good.id,
      version: good.version,
      updatedAt: good.updatedAt,
      contentType: good.contentType,
      content: good.content,
      contentHash: good.contentHash,
      state: good.state,
    }
    const cases: [Record<string, unknown>, string][] = [
      [{ version: 0 }, 'row.version'],
      [{ version: 1.5 }, 'row.version'],
      [{ updatedAt: -1 }, 'row.updatedAt'],
      [{ contentType: 'text' }, 'row.contentType'],
      [{ content: [1, 2] }, 'row.content'],
      [{ contentHash: good.contentHash.toUpperCase() }, 'row.contentHash'],
      [{ contentHash: 'abc' }, 'row.contentHash'],
      [{ contentHash: 'f'.repeat(64) }, 'row.contentHash'], // well-formed, but not the content's
      [{ traceParent: 42 }, 'row.traceParent'],
      [{ homeInstanceId: '\ud800' }, 'row.homeInstanceId'],
      [{ batchId: 'b'.repeat(70_000) }, 'row.batchId'],
    ]
    for (const [change, argument] of cases) {
      const error = thrown(() => encodeRow({ ...base, ...change } as ItemRecord, 'row'))
      expect(error, JSON.stringify(change).slice(0, 60)).toBeInstanceOf(InvalidArgumentError)
      expect((error as InvalidArgumentError).argument).toBe(argument)
    }
    expect(() => encodeRow({ ...base, state: '' }, 'row')).toThrow(InvalidStateError)
    expect(() => encodeRow({ ...base, content: new Uint8Array(MAX_PAYLOAD_BYTES + 1) }, 'row')).toThrow(
      PayloadTooLargeError,
    )
    expect(() => encodeRow(null as unknown as ItemRecord, 'row')).toThrow(InvalidArgumentError)
    // A SyncItem is trusted for what core validates, not for its free-form strings.
    const item = SyncItem.fromJson('item', 1, { homeInstanceId: 'a\udc00' })
    expect((thrown(() => encodeRow(item, 'row')) as InvalidArgumentError).argument).toBe('row.homeInstanceId')
  })
})
