import { crc32 as zlibCrc32 } from 'node:zlib'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { crc32 } from '../src/crc32.js'
import { fcParams } from './helpers.js'

const utf8 = (s: string) => new TextEncoder().encode(s)

describe('crc32', () => {
  it('matches the published check values', () => {
    expect(crc32(new Uint8Array(0))).toBe(0)
    expect(crc32(utf8('a'))).toBe(0xe8b7be43)
    expect(crc32(utf8('123456789'))).toBe(0xcbf43926)
    expect(crc32(utf8('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339)
  })

  it('equals zlib for any bytes and any sub-range', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        expect(crc32(bytes)).toBe(zlibCrc32(bytes))
        const start = bytes.length ? a % bytes.length : 0
        const end = start + (bytes.length - start ? b % (bytes.length - start + 1) : 0)
        expect(crc32(bytes, start, end)).toBe(zlibCrc32(bytes.subarray(start, end)))
      }),
      fcParams(0xc3c, 300),
    )
  })
})
