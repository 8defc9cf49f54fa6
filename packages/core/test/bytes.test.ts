import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { sha256, sha256Hex, utf8ByteLength, utf8Encode } from '../src/index.js'

describe('byte helpers', () => {
  it('utf8Encode writes what TextEncoder writes, into a buffer of its own', () => {
    const encoder = new TextEncoder()
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
        const bytes = utf8Encode(text)
        expect(bytes).toEqual(encoder.encode(text))
        expect(bytes.buffer.byteLength).toBe(bytes.byteLength)
        expect(bytes.byteLength).toBe(utf8ByteLength(text))
      }),
      { seed: 9, numRuns: 1000 },
    )
    const first = utf8Encode('abc')
    utf8Encode('xyz')
    expect(first).toEqual(new Uint8Array([0x61, 0x62, 0x63]))
  })

  it('utf8Encode handles texts longer than its scratch buffer', () => {
    for (const text of ['é'.repeat(30_000), 'a'.repeat(100_000), '😀'.repeat(20_000)]) {
      expect(utf8Encode(text)).toEqual(new TextEncoder().encode(text))
    }
  })

  it('sha256 and sha256Hex hash bytes, and strings as their UTF-8', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 100 }), (text) => {
        const hex = createHash('sha256').update(text).digest('hex')
        expect(sha256Hex(text)).toBe(hex)
        expect(sha256Hex(utf8Encode(text))).toBe(hex)
        const raw = sha256(text)
        expect(raw).toBeInstanceOf(Uint8Array)
        expect(raw.buffer.byteLength).toBe(32)
        expect(Buffer.from(raw).toString('hex')).toBe(hex)
      }),
      { seed: 10, numRuns: 300 },
    )
  })
})
