import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  canonicalJson,
  InvalidArgumentError,
  InvalidIdError,
  InvalidJsonError,
  MAX_PAYLOAD_BYTES,
  PayloadTooLargeError,
  SyncItem,
  sha256Hex,
  utf8Encode,
} from '../src/index.js'

describe('SyncItem', () => {
  it('SHA-256 of "hello" is the known value', () => {
    expect(sha256Hex('hello')).toBe('2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824')
    expect(SyncItem.fromBytes('h', utf8Encode('hello')).contentHash).toBe(
      '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824',
    )
  })

  it('fromJson content is the UTF-8 of the canonical text and contentHash its SHA-256', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const item = SyncItem.fromJson('p', value)
        const text = canonicalJson(value)
        expect(item.content).toEqual(new TextEncoder().encode(text))
        expect(item.size).toBe(Buffer.byteLength(text))
        expect(item.contentHash).toBe(createHash('sha256').update(item.content).digest('hex'))
        expect(item.json()).toEqual(JSON.parse(text))
      }),
      { seed: 5, numRuns: 500 },
    )
  })

  it('fromJson stores canonical JSON, so equal values give equal bytes and hashes', () => {
    const a = SyncItem.fromJson('user.alice', { name: 'Alice', role: 'admin' })
    const b = SyncItem.fromJson('user.alice', { role: 'admin', name: 'Alice' })
    expect(a.text()).toBe('{"name":"Alice","role":"admin"}')
    expect(a.contentHash).toBe(b.contentHash)
    expect(a.contentHash).toMatch(/^[0-9a-f]{64}$/)
    expect(a.contentType).toBe('json')
    expect(a.json()).toEqual({ name: 'Alice', role: 'admin' })
    expect(a.size).toBe(31)
  })

  it("gives the seed walkthrough's five items 156 content bytes in all", () => {
    const items = [
      SyncItem.fromJson('user.alice', { name: 'Alice', role: 'admin' }),
      SyncItem.fromJson('user.bob', { name: 'Bob', role: 'user' }),
      SyncItem.fromJson('user.carol', { name: 'Carol', role: 'user' }),
      SyncItem.fromJson('config.app', { theme: 'dark', version: '2.0' }),
      SyncItem.fromJson('stats.daily', { requests: 42000, latency_p99: 12 }),
    ]
    expect(items.reduce((n, i) => n + i.size, 0)).toBe(156)
    expect(items[4]!.text()).toBe('{"latency_p99":12,"requests":42000}')
  })

  it('has the documented defaults', () => {
    const before = Date.now()
    const item = SyncItem.fromJson('a', [1])
    expect(item.version).toBe(1)
    expect(item.state).toBe('default')
    expect(item.updatedAt).toBeGreaterThanOrEqual(before)
    expect(item.accessCount).toBe(0)
    expect(item.traceParent).toBeUndefined()
  })

  it('fromBytes keeps the bytes verbatim and detects the type', () => {
    const pretty = utf8Encode('{ "b": 1,  "a": 2 }')
    const item = SyncItem.fromBytes('doc', pretty)
    expect(item.content).toBe(pretty)
    expect(item.contentType).toBe('json')
    const bin = new Uint8Array([0, 1, 2, 255])
    const b = SyncItem.fromBytes('bin', bin)
    expect(b.contentType).toBe('binary')
    expect(() => b.json()).toThrow(InvalidJsonError)
    expect(SyncItem.fromText('t', 'plain').contentType).toBe('binary')
  })

  it('computes the content hash once', () => {
    const item = SyncItem.fromJson('a', { x: 1 })
    const first = item.contentHash
    expect(item.contentHash).toBe(first)
    expect(item.with({ version: 2 }).contentHash).toBe(first)
  })

  it('validates every field at construction', () => {
    expect(() => SyncItem.fromJson('bad..id', 1 as never)).toThrow(InvalidIdError)
    expect(() => SyncItem.fromJson('a', { f: () => 1 })).toThrow(InvalidJsonError)
    expect(() => SyncItem.fromJson('a', {}, { version: 0 })).toThrow(InvalidArgumentError)
    expect(() => SyncItem.fromJson('a', {}, { version: 1.5 })).toThrow(/integer ≥ 1/)
    expect(() => SyncItem.fromJson('a', {}, { updatedAt: -1 })).toThrow(/updatedAt/)
    expect(() => SyncItem.fromJson('a', {}, { state: 's'.repeat(33) })).toThrow(/33 UTF-8 bytes/)
    expect(() => SyncItem.fromJson('a', {}, { traceParent: 'nope' })).toThrow(/traceparent/)
    expect(() => SyncItem.fromBytes('a', 'text' as never)).toThrow(/Uint8Array/)
    const ok = SyncItem.fromJson(
      'a',
      {},
      { traceParent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
    )
    expect(ok.traceParent).toMatch(/^00-/)
  })

  it('refuses content over 16 MiB with PayloadTooLargeError', () => {
    const big = new Uint8Array(MAX_PAYLOAD_BYTES + 1)
    let err: unknown
    try {
      SyncItem.fromBytes('big', big)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(PayloadTooLargeError)
    expect((err as PayloadTooLargeError).size).toBe(MAX_PAYLOAD_BYTES + 1)
    expect((err as PayloadTooLargeError).message).toMatch(/'big'/)
    expect(() => SyncItem.fromJson('big', 'x'.repeat(MAX_PAYLOAD_BYTES))).toThrow(PayloadTooLargeError)
    expect(SyncItem.fromBytes('max', new Uint8Array(MAX_PAYLOAD_BYTES)).size).toBe(MAX_PAYLOAD_BYTES)
  })

  it('round-trips through fromRecord, verifying the hash on request', () => {
    const item = SyncItem.fromJson('user.bob', { n: 1 }, { version: 3, state: 'active', updatedAt: 1000 })
    const copy = SyncItem.fromRecord(
      {
        ...item.toJSON(),
        content: item.content,
        contentType: 'json',
        id: item.id,
        version: 3,
        updatedAt: 1000,
        state: 'active',
        contentHash: item.contentHash,
      },
      { verifyHash: true },
    )
    expect(copy.version).toBe(3)
    expect(copy.state).toBe('active')
    expect(copy.contentHash).toBe(item.contentHash)
    expect(() =>
      SyncItem.fromRecord(
        {
          id: 'x',
          version: 1,
          updatedAt: 0,
          contentType: 'json',
          content: item.content,
          contentHash: '0'.repeat(64),
          state: 'default',
        },
        { verifyHash: true },
      ),
    ).toThrow(/does not match/)
  })
})
