import { InvalidArgumentError } from '@sync-engine/core'
import { describe, expect, it } from 'vitest'
import { item, manualCache, recordRemovals } from './helpers.js'

describe('TTL (injected clock)', () => {
  it('an entry is live until its TTL has passed, then a miss counted as an expiry', () => {
    const { cache, clock } = manualCache()
    const removals = recordRemovals(cache)
    const a = item('t.a')
    cache.set(a, { ttlMs: 100 })
    clock.advance(99)
    expect(cache.get('t.a')).toBe(a)
    clock.advance(1)
    expect(cache.get('t.a')).toBeUndefined()
    expect(removals).toEqual([{ item: a, id: 't.a', reason: 'expired' }])
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, expirations: 1, items: 0, bytes: 0 })
  })

  it('peek, has, inspect, pin, unpin and delete treat an expired entry as absent and purge it', () => {
    for (const op of ['peek', 'has', 'inspect', 'pin', 'unpin', 'delete'] as const) {
      const { cache, clock } = manualCache()
      const removals = recordRemovals(cache)
      cache.set(item('t.a'), { ttlMs: 10 })
      clock.advance(10)
      const answer = cache[op]('t.a')
      expect(answer === undefined || answer === false, op).toBe(true)
      expect(
        removals.map((r) => r.reason),
        op,
      ).toEqual(['expired'])
      expect(cache.stats(), op).toMatchObject({ hits: 0, misses: 0, expirations: 1, items: 0, bytes: 0 })
    }
  })

  it('inspect reports the time left', () => {
    const { cache, clock } = manualCache()
    cache.set(item('t.a'), { ttlMs: 1_000 })
    cache.set(item('t.b'))
    clock.advance(250)
    expect(cache.inspect('t.a')?.expiresInMs).toBe(750)
    expect(cache.inspect('t.b')?.expiresInMs).toBeUndefined()
  })

  it('a set replaces the TTL: a new one restarts it, none removes it', () => {
    const { cache, clock } = manualCache()
    cache.set(item('t.a'), { ttlMs: 100 })
    clock.advance(80)
    cache.set(item('t.a'), { ttlMs: 100 })
    clock.advance(80)
    expect(cache.has('t.a')).toBe(true)
    cache.set(item('t.a'))
    clock.advance(10_000)
    expect(cache.has('t.a')).toBe(true)
  })

  it('a set over an expired entry reports the old one as expired and starts a fresh entry', () => {
    const { cache, clock } = manualCache()
    const removals = recordRemovals(cache)
    const old = item('t.a')
    cache.set(old, { ttlMs: 10 })
    cache.get('t.a')
    clock.advance(10)
    cache.set(item('t.a', 50))
    expect(removals).toEqual([{ item: old, id: 't.a', reason: 'expired' }])
    expect(cache.inspect('t.a')?.accessCount).toBe(0)
  })

  it('pinned entries expire too (a TTL is part of the value; pinning only protects from eviction)', () => {
    const { cache, clock } = manualCache()
    cache.set(item('t.p'), { ttlMs: 10, pinned: true })
    clock.advance(10)
    expect(cache.get('t.p')).toBeUndefined()
    expect(cache.stats()).toMatchObject({ pinnedItems: 0, pinnedBytes: 0, expirations: 1 })
  })

  it('eviction drops expired entries as expired, not evicted (probation queue and main ring)', () => {
    for (const read of [false, true]) {
      const { cache, clock } = manualCache({ maxBytes: 20_000 })
      const removals = recordRemovals(cache)
      for (let i = 0; i < 10; i++) cache.set(item(`old.${i}`), { ttlMs: 50 })
      // Read entries move to the main ring; new entries that are read make the main ring evict.
      if (read) for (let i = 0; i < 10; i++) cache.get(`old.${i}`)
      clock.advance(50)
      for (let i = 0; i < 30; i++) {
        cache.set(item(`new.${i}`))
        if (read) cache.get(`new.${i}`)
      }
      const old = removals.filter((r) => r.id.startsWith('old.'))
      expect(old.length, `read: ${read}`).toBe(10)
      expect(old.every((r) => r.reason === 'expired')).toBe(true)
      expect(cache.stats().expirations).toBe(10)
    }
  })

  it('purgeExpired looks at up to `limit` entries per call, resuming where it stopped', () => {
    const { cache, clock } = manualCache()
    const removals = recordRemovals(cache)
    for (let i = 0; i < 20; i++) cache.set(item(`p.${i}`), i % 2 === 0 ? { ttlMs: 10 } : {})
    cache.set(item('p.pinned'), { ttlMs: 10, pinned: true })
    expect(cache.purgeExpired(100)).toBe(0)
    clock.advance(10)
    const first = cache.purgeExpired(6)
    expect(first).toBe(3)
    let total = first
    for (let i = 0; i < 5; i++) total += cache.purgeExpired(6)
    expect(total).toBe(11)
    expect(removals.every((r) => r.reason === 'expired')).toBe(true)
    expect(cache.size).toBe(10)
    expect(cache.stats()).toMatchObject({ expirations: 11, pinnedItems: 0 })
    expect(cache.purgeExpired()).toBe(0)
  })

  it('refuses a bad ttlMs or purge limit', () => {
    const { cache } = manualCache()
    for (const ttlMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '5' as unknown as number]) {
      expect(() => cache.set(item('t.x'), { ttlMs }), String(ttlMs)).toThrow(InvalidArgumentError)
    }
    expect(() => cache.purgeExpired(0)).toThrow(/limit must be an integer ≥ 1/)
    expect(() => cache.purgeExpired(1.5)).toThrow(InvalidArgumentError)
    expect(cache.size).toBe(0)
  })
})
