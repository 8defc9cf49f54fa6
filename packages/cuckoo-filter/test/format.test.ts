import { InvalidArgumentError } from '@sync-engine/core'
import { describe, expect, it } from 'vitest'
import { crc32 } from '../src/crc32.js'
import { CuckooFilter, FORMAT_VERSION } from '../src/index.js'
import { corruptMessage, hex, ids } from './helpers.js'

function sample(options = {}) {
  const filter = new CuckooFilter({ initialCapacity: 16, fingerprintBits: 12, ...options })
  filter.addMany(ids(40))
  return filter
}

/** Rewrites the checksum after an edit, so the edit reaches the field checks. */
function resign(bytes: Uint8Array): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  view.setUint32(bytes.length - 4, crc32(bytes, 0, bytes.length - 4), true)
  return bytes
}

describe('export / import', () => {
  it('round-trips every width, with the layout the README documents', () => {
    for (const bits of [8, 12, 16] as const) {
      const filter = sample({ fingerprintBits: bits })
      const bytes = filter.export()
      const view = new DataView(bytes.buffer)
      expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe('SECF')
      expect(view.getUint16(4, true)).toBe(FORMAT_VERSION)
      expect(view.getUint8(6)).toBe(bits)
      expect(view.getUint8(7)).toBe(4)
      expect(view.getUint32(8, true)).toBe(bytes.length)
      expect(view.getUint16(18, true)).toBe(filter.stats().tables)
      expect(view.getUint32(bytes.length - 4, true)).toBe(crc32(bytes, 0, bytes.length - 4))
      const copy = CuckooFilter.import(bytes)
      expect(copy.options).toEqual(filter.options)
      expect(copy.stats()).toEqual(filter.stats())
      expect(hex(copy.export())).toBe(hex(bytes))
    }
  })

  it('reads from any Uint8Array view (Buffer, subarray at an odd offset)', () => {
    const bytes = sample().export()
    const padded = new Uint8Array(bytes.length + 3)
    padded.set(bytes, 3)
    expect(CuckooFilter.import(padded.subarray(3)).stats()).toEqual(sample().stats())
    expect(CuckooFilter.import(Buffer.from(bytes)).mightContain('id.1')).toBe(true)
  })

  it('refuses non-bytes with InvalidArgumentError', () => {
    expect(() => CuckooFilter.import('SECF' as unknown as Uint8Array)).toThrow(InvalidArgumentError)
    expect(() => CuckooFilter.import([1, 2] as unknown as Uint8Array)).toThrow(InvalidArgumentError)
  })

  it('every truncation is a CorruptDataError that says truncated', () => {
    const bytes = sample().export()
    for (let n = 0; n < bytes.length; n++) {
      expect(corruptMessage(() => CuckooFilter.import(bytes.subarray(0, n)))).toMatch(/truncated/)
    }
  })

  it('every flipped byte is a CorruptDataError naming what broke', () => {
    const bytes = sample().export()
    for (let at = 0; at < bytes.length; at++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const bad = bytes.slice()
        bad[at]! ^= flip
        const message = corruptMessage(() => CuckooFilter.import(bad))
        if (at < 4) expect(message).toMatch(/wrong magic/)
        else if (at < 6) expect(message).toMatch(/unsupported format version/)
        else if (at >= 8 && at < 16) expect(message).toMatch(/truncated|trailing|declared length/)
        else expect(message).toMatch(/checksum mismatch/)
      }
    }
  })

  it('says where the bytes came from', () => {
    const bytes = sample().export()
    bytes[30]! ^= 1
    expect(corruptMessage(() => CuckooFilter.import(bytes, { source: 'snapshot 7' }))).toMatch(
      /^corrupt data in snapshot 7: checksum mismatch/,
    )
  })

  it('wrong magic, wrong version, trailing bytes', () => {
    const bytes = sample().export()
    expect(
      corruptMessage(() => CuckooFilter.import(new TextEncoder().encode('{"type":"CuckooFilter"}'))),
    ).toMatch(/wrong magic 7b 22 74 79/)
    const v2 = bytes.slice()
    new DataView(v2.buffer).setUint16(4, 2, true)
    expect(corruptMessage(() => CuckooFilter.import(resign(v2)))).toMatch(
      /unsupported format version 2: this build reads version 1/,
    )
    const longer = new Uint8Array(bytes.length + 1)
    longer.set(bytes)
    expect(corruptMessage(() => CuckooFilter.import(longer))).toMatch(/trailing bytes/)
  })

  it('checks every field even when the checksum holds (crafted bytes)', () => {
    const cases: [string, (v: DataView, b: Uint8Array) => void, RegExp][] = [
      ['fingerprint bits', (v) => v.setUint8(6, 9), /fingerprintBits must be 8, 12 or 16/],
      ['slots per bucket', (v) => v.setUint8(7, 2), /slots per bucket is 2/],
      ['hash function', (v) => v.setUint8(16, 7), /unknown hash function 7/],
      ['growth factor', (v) => v.setUint8(17, 3), /growthFactor/],
      ['max load', (v) => v.setFloat64(40, 1.5, true), /maxLoad/],
      ['max kicks', (v) => v.setUint32(24, 1e6, true), /maxKicks/],
      ['PRNG state', (v) => v.setUint32(32, 0, true), /PRNG/],
      ['table count', (v) => v.setUint16(18, 0, true), /table count is 0/],
      [
        'table count too high',
        (v) => v.setUint16(18, 9, true),
        /layout|do not fit|over the maximum|reserved|smaller/,
      ],
      ['table size', (v) => v.setUint8(48, 29), /over the maximum/],
      ['reserved', (v) => v.setUint8(49, 1), /reserved bytes/],
      ['shrinking tables', (v) => v.setUint8(64, 0), /smaller than table 0|layout/],
      [
        'slot count',
        (v) => v.setUint32(52, v.getUint32(52, true) + 1, true),
        /holds \d+ fingerprints, the header says/,
      ],
    ]
    for (const [what, edit, pattern] of cases) {
      const bytes = sample().export()
      edit(new DataView(bytes.buffer), bytes)
      expect(
        corruptMessage(() => CuckooFilter.import(resign(bytes))),
        what,
      ).toMatch(pattern)
    }
  })

  it('checks stash entries', () => {
    const filter = new CuckooFilter({ initialCapacity: 8, fingerprintBits: 8, maxKicks: 0, maxLoad: 0.99 })
    for (let i = 0; i < 12; i++) filter.add('dup')
    const bytes = filter.export()
    expect(filter.stats().stashed).toBe(4)
    const at = 48 + 16 // first stash entry
    const edits: [(v: DataView) => void, RegExp][] = [
      [(v) => v.setUint16(at + 4, 0, true), /fingerprint 0 out of range/],
      [(v) => v.setUint32(at, 1e6, true), /not the lower bucket/],
      [(v) => v.setUint32(at + 8, 0, true), /count is 0|stash entries hold/],
      [(v) => v.setUint16(at + 6, 1, true), /reserved/],
      [(v) => v.setUint32(48 + 12, 5, true), /stash entries hold 4 fingerprints, the header says 5/],
    ]
    for (const [edit, pattern] of edits) {
      const bad = bytes.slice()
      edit(new DataView(bad.buffer))
      expect(corruptMessage(() => CuckooFilter.import(resign(bad)))).toMatch(pattern)
    }
    const copy = CuckooFilter.import(bytes)
    for (let i = 0; i < 12; i++) expect(copy.remove('dup')).toBe(true)
    expect(copy.remove('dup')).toBe(false)
  })
})
