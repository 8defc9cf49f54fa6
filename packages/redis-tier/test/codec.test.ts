import { CorruptDataError, checkState, SyncItem } from '@sync-engine/core'
import { binaryItem, jsonItem, sameItem, testSeed } from '@sync-engine/testkit'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  decodeDocument,
  decodeModuleDocument,
  encodeDocument,
  fitsJsonModule,
  keptBytes,
  packDocuments,
} from '../src/codec.js'
import { keySlot } from '../src/index.js'

describe('item documents', () => {
  it('round-trip any JSON value and any bytes, with every metadata field', () => {
    const seed = testSeed()
    console.log(`codec property seed: ${seed}`)
    const meta = fc.record({
      version: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      updatedAt: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      state: fc
        .string({ unit: 'grapheme', minLength: 1, maxLength: 8 })
        .filter((s) => checkState(s) === undefined),
      batchId: fc.option(fc.string(), { nil: undefined }),
      homeInstanceId: fc.option(fc.string(), { nil: undefined }),
    })
    const content = fc.oneof(
      fc.jsonValue().map((v) => ({ json: v })),
      fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ bytes })),
    )
    fc.assert(
      fc.property(content, meta, (c, m) => {
        const item =
          'json' in c ? SyncItem.fromJson('p.id', c.json, m) : SyncItem.fromBytes('p.id', c.bytes, m)
        const back = decodeDocument(encodeDocument(item), 'p.id', 'k')
        expect(sameItem(back, item)).toBe(true)
        expect([back.updatedAt, back.batchId, back.homeInstanceId]).toEqual([
          item.updatedAt,
          item.batchId,
          item.homeInstanceId,
        ])
      }),
      { seed, numRuns: 300 },
    )
  })

  it('writes the exact header text, and packs documents back to back with their lengths', () => {
    const trace = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
    const items = [
      jsonItem('a', { x: 'ü' }, { version: Number.MAX_SAFE_INTEGER, updatedAt: 0, state: 'é "q" \\' }),
      SyncItem.fromBytes('b', new Uint8Array([0x7d, 0, 0x22]), { version: 10, updatedAt: 1_700_000_000_123 }),
      jsonItem('c', [1], {
        version: 1,
        updatedAt: 9,
        batchId: 'b"1',
        traceParent: trace,
        homeInstanceId: 'h',
      }),
    ]
    const expected = [
      `{"version":9007199254740991,"timestamp":0,"state":"é \\"q\\" \\\\","payload_hash":"${items[0]!.contentHash}","payload":{"x":"ü"}}`,
      `{"version":10,"timestamp":1700000000123,"state":"default","payload_hash":"${items[1]!.contentHash}","content_type":"binary","payload":}\u0000"}`,
      `{"version":1,"timestamp":9,"state":"default","payload_hash":"${items[2]!.contentHash}","audit":{"batch":"b\\"1","trace":"${trace}","home":"h"},"payload":[1]}`,
    ].map((text) => Buffer.from(text))
    for (const [i, item] of items.entries()) expect(encodeDocument(item).equals(expected[i]!)).toBe(true)
    const { bytes, lengths } = packDocuments(items)
    expect(bytes.equals(Buffer.concat(expected))).toBe(true)
    expect(lengths).toEqual(expected.map((e) => e.length))
  })

  it('RedisJSON documents: canonical JSON fits the module and comes back byte for byte', () => {
    const item = jsonItem('m', { b: [1, 2.5, 'x'], a: { z: null } }, { version: 4, state: 'hot' })
    expect(fitsJsonModule(item)).toBe(true)
    expect(fitsJsonModule(SyncItem.fromText('m', '{ "a": 1 }'))).toBe(false)
    expect(fitsJsonModule(binaryItem('b'))).toBe(false)
    // What JSON.GET answers: the module's own serialization of the document.
    const text = JSON.stringify({ ...JSON.parse(encodeDocument(item).toString()), timestamp: item.updatedAt })
    expect(sameItem(decodeModuleDocument(text, 'm', 'k'), item)).toBe(true)
    expect(() => decodeModuleDocument('{"version":1}', 'm', 'k')).toThrow(CorruptDataError)
    expect(() => decodeModuleDocument('{"version":', 'm', 'k')).toThrow(CorruptDataError)
  })

  it('refuses what it did not write', () => {
    const good = encodeDocument(jsonItem('g', [1]))
    for (const raw of [
      Buffer.from(''),
      Buffer.from('{}'),
      Buffer.from('[1]'),
      good.subarray(0, good.length - 3),
      Buffer.from(good.toString().replace('"state":"default"', '"state":""')),
      Buffer.from(good.toString().replace('"state":"default",', '')),
      Buffer.from(good.toString().replace(',"payload":', ',"content_type":"text","payload":')),
      // Read by the byte-level header reader: altered payload, altered hash, a version out of range.
      Buffer.from(good.toString().replace('"payload":[1]', '"payload":[2]')),
      Buffer.from(good.toString().replace(/"payload_hash":"./, '"payload_hash":"A')),
      Buffer.from(good.toString().replace('"version":1,', '"version":99999999999999999,')),
      Buffer.from(good.toString().replace('"version":1,', '"version":0,')),
    ]) {
      expect(() => decodeDocument(raw, 'g', 'key:g'), raw.toString()).toThrow(CorruptDataError)
    }
  })
})

describe('kept bytes', () => {
  it('keep a view of a reply read on its own, and copy a slice of a chunk holding other replies', () => {
    // What ioredis answers for a lone GET: a slice of a chunk that is just the reply.
    const text = new TextEncoder().encode(`$9\r\n{"a":[1]}\r\n`)
    const alone = Buffer.from(text.buffer, text.byteOffset, text.byteLength)
    const view = keptBytes(alone, 4, 13)
    expect(view.toString()).toBe('{"a":[1]}')
    alone[6] = 0x62
    expect(view.toString()).toBe('{"b":[1]}') // a view: no copy made
    // Pipelined replies: one chunk holding many; the kept bytes are a copy.
    const chunk = Buffer.concat([alone, Buffer.alloc(64 * 1024, 0x20)])
    const copy = keptBytes(chunk, 4, 13)
    chunk.fill(0, 4, 13)
    expect(copy.toString()).toBe('{"b":[1]}')
  })
})

describe('key slots', () => {
  it('match the Redis Cluster reference values', () => {
    expect(keySlot('123456789')).toBe(0x31c3 % 16384)
    expect(keySlot('foo')).toBe(12182)
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'))
    expect(keySlot('foo{}{bar}')).toBe(keySlot('foo{}{bar}'))
    expect(keySlot('{}x')).not.toBe(keySlot('x'))
  })
})
