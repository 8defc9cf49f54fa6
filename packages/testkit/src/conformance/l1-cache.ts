import {
  type L1Cache,
  type L1RemovalReason,
  pressureLevel,
  SyncItem,
  utf8ByteLength,
} from '@sync-engine/core'
import { describe, expect, it } from 'vitest'

/** Makes a fresh, empty cache with the given byte budget (default thresholds). */
export type L1CacheFactory = (opts: { maxBytes: number }) => L1Cache

const item = (id: string, contentBytes = 100, fill = 0x61): SyncItem =>
  SyncItem.fromBytes(id, new Uint8Array(contentBytes).fill(fill))

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Every removal the cache reports, in order. */
function recordRemovals(cache: L1Cache): { id: string; reason: L1RemovalReason }[] {
  const seen: { id: string; reason: L1RemovalReason }[] = []
  cache.onRemove((removed, reason) => seen.push({ id: removed.id, reason }))
  return seen
}

/** bytes, size and stats() agree with each other and with `estimateSize` of what is present. */
function expectAccountingExact(cache: L1Cache, presentIds: Iterable<string>): void {
  let sum = 0
  let count = 0
  for (const id of presentIds) {
    const found = cache.peek(id)
    expect(found, `'${id}' should be cached`).toBeDefined()
    sum += cache.estimateSize(found as SyncItem)
    count++
  }
  expect(cache.size).toBe(count)
  expect(cache.bytes).toBe(sum)
  const stats = cache.stats()
  expect(stats.items).toBe(count)
  expect(stats.bytes).toBe(sum)
  expect(cache.pressure()).toBeCloseTo(sum / cache.maxBytes, 12)
}

/**
 * The contract of any L1 (`L1Cache` of `@sync-engine/core`): reads and their statistics, byte
 * accounting, pinning under pressure, the pressure ratio, removal events, TTLs, `clear`.
 */
export function describeL1Cache(name: string, factory: L1CacheFactory): void {
  describe(`L1Cache conformance: ${name}`, () => {
    const unit = factory({ maxBytes: 1 << 20 }).estimateSize(item('probe.unit'))
    const roomy = () => factory({ maxBytes: 1 << 24 })
    /** A cache with room for about `entries` entries of `unit` bytes. */
    const tight = (entries: number) => factory({ maxBytes: unit * entries })

    it('a miss is undefined and counts as a miss', () => {
      const cache = roomy()
      expect(cache.get('absent')).toBeUndefined()
      expect(cache.peek('absent')).toBeUndefined()
      expect(cache.has('absent')).toBe(false)
      expect(cache.stats()).toMatchObject({ hits: 0, misses: 1, items: 0, bytes: 0 })
    })

    it('get returns the item, counts a hit and an access on the item', () => {
      const cache = roomy()
      const a = item('user.a')
      cache.set(a)
      const before = Date.now()
      expect(cache.get('user.a')).toBe(a)
      expect(cache.get('user.a')).toBe(a)
      expect(a.accessCount).toBe(2)
      expect(a.lastAccessed).toBeGreaterThan(0)
      expect(a.lastAccessed).toBeLessThanOrEqual(Date.now())
      expect(a.lastAccessed).toBeGreaterThan(before - 60_000)
      expect(cache.stats()).toMatchObject({ hits: 2, misses: 0 })
    })

    it('peek and has touch no statistic and no access count', () => {
      const cache = roomy()
      const a = item('user.a')
      cache.set(a)
      expect(cache.peek('user.a')).toBe(a)
      expect(cache.has('user.a')).toBe(true)
      expect(a.accessCount).toBe(0)
      expect(cache.stats()).toMatchObject({ hits: 0, misses: 0 })
    })

    it('set replaces an entry of the same id', () => {
      const cache = roomy()
      cache.set(item('user.a', 100))
      const b = item('user.a', 300, 0x62)
      cache.set(b)
      expect(cache.size).toBe(1)
      expect(cache.peek('user.a')).toBe(b)
      expectAccountingExact(cache, ['user.a'])
    })

    it('delete removes an entry, says whether it was there, and is not reported as a removal', () => {
      const cache = roomy()
      const removals = recordRemovals(cache)
      cache.set(item('user.a'))
      expect(cache.delete('user.a')).toBe(true)
      expect(cache.delete('user.a')).toBe(false)
      expect(cache.has('user.a')).toBe(false)
      cache.set(item('user.b'))
      cache.set(item('user.b', 10))
      expect(removals).toEqual([])
      expectAccountingExact(cache, ['user.b'])
    })

    it('estimateSize is UTF-8 id bytes + content bytes + a fixed overhead', () => {
      const cache = roomy()
      const base = cache.estimateSize(item('a', 0))
      expect(base).toBeGreaterThanOrEqual(1)
      expect(cache.estimateSize(item('a', 1000))).toBe(base + 1000)
      expect(cache.estimateSize(item('ab', 0))).toBe(base + 1)
      const multibyte = 'ü.日本.😀'
      expect(cache.estimateSize(item(multibyte, 7))).toBe(base - 1 + utf8ByteLength(multibyte) + 7)
    })

    it('bytes equal the sum of estimateSize after every kind of operation', () => {
      const cache = roomy()
      /** id → pinned? (a set replaces the entry whole: `pinned` defaults to false). */
      const present = new Map<string, boolean>()
      for (let i = 0; i < 90; i++) {
        const id = `acct.${i % 17}.ü`
        switch (i % 6) {
          case 0:
          case 1:
          case 2:
            cache.set(item(id, (i * 37) % 900), { pinned: i % 5 === 0 })
            present.set(id, i % 5 === 0)
            break
          case 3:
            expect(cache.delete(id)).toBe(present.delete(id))
            break
          case 4:
            expect(cache.pin(id)).toBe(present.has(id))
            if (present.has(id)) present.set(id, true)
            break
          default:
            expect(cache.unpin(id)).toBe(present.has(id))
            if (present.has(id)) present.set(id, false)
        }
        expectAccountingExact(cache, present.keys())
        const pinned = [...present].filter(([, p]) => p).map(([id]) => cache.peek(id) as SyncItem)
        expect(cache.stats().pinnedItems).toBe(pinned.length)
        expect(cache.stats().pinnedBytes).toBe(pinned.reduce((n, it) => n + cache.estimateSize(it), 0))
      }
    })

    it('keeps unpinned data within maxBytes, reporting every eviction', () => {
      const cache = tight(20)
      const removals = recordRemovals(cache)
      for (let i = 0; i < 200; i++) {
        cache.set(item(`fill.${i}`))
        expect(cache.bytes).toBeLessThanOrEqual(cache.maxBytes)
      }
      expect(removals.length).toBeGreaterThan(0)
      expect(removals.every((r) => r.reason === 'evicted')).toBe(true)
      expect(cache.stats().evictions).toBe(removals.length)
      expect(cache.size).toBe(200 - removals.length)
      for (const r of removals) expect(cache.has(r.id)).toBe(false)
    })

    it('never evicts pinned entries, and goes over budget rather than drop them', () => {
      const cache = tight(10)
      const removals = recordRemovals(cache)
      for (let i = 0; i < 15; i++) cache.set(item(`pinned.${i}`), { pinned: true })
      for (let i = 0; i < 100; i++) cache.set(item(`loose.${i}`))
      for (let i = 0; i < 15; i++) expect(cache.peek(`pinned.${i}`)).toBeDefined()
      expect(removals.some((r) => r.id.startsWith('pinned.'))).toBe(false)
      const stats = cache.stats()
      expect(stats.pinnedItems).toBe(15)
      let pinnedBytes = 0
      for (let i = 0; i < 15; i++) pinnedBytes += cache.estimateSize(cache.peek(`pinned.${i}`) as SyncItem)
      expect(stats.pinnedBytes).toBe(pinnedBytes)
      expect(cache.bytes).toBeGreaterThanOrEqual(stats.pinnedBytes)
      expect(cache.pressure()).toBeGreaterThan(1)
      expect(cache.pressureLevel()).toBe('Shutdown')
    })

    it('pin and unpin answer false for unknown ids; unpinned entries become evictable', () => {
      const cache = tight(10)
      const removals = recordRemovals(cache)
      expect(cache.pin('absent')).toBe(false)
      expect(cache.unpin('absent')).toBe(false)
      for (let i = 0; i < 5; i++) {
        cache.set(item(`p.${i}`))
        expect(cache.pin(`p.${i}`)).toBe(true)
      }
      expect(cache.stats().pinnedItems).toBe(5)
      for (let i = 0; i < 5; i++) expect(cache.unpin(`p.${i}`)).toBe(true)
      expect(cache.stats()).toMatchObject({ pinnedItems: 0, pinnedBytes: 0 })
      for (let i = 0; i < 100; i++) cache.set(item(`loose.${i}`))
      expect(removals.some((r) => r.id.startsWith('p.') && r.reason === 'evicted')).toBe(true)
      expect(cache.bytes).toBeLessThanOrEqual(cache.maxBytes)
    })

    it('pressure is bytes / maxBytes and its level follows the default thresholds', () => {
      const cache = tight(10)
      expect(cache.pressure()).toBe(0)
      expect(cache.pressureLevel()).toBe('Normal')
      for (let i = 0; i < 30; i++) {
        cache.set(item(`pr.${i}`), { pinned: i % 2 === 0 })
        expect(cache.pressure()).toBe(cache.bytes / cache.maxBytes)
        expect(cache.pressureLevel()).toBe(pressureLevel(cache.pressure()))
      }
      expect(cache.stats().maxBytes).toBe(cache.maxBytes)
    })

    it('clear drops every entry, pinned ones too, reporting each as cleared', () => {
      const cache = roomy()
      const removals = recordRemovals(cache)
      cache.set(item('c.1'))
      cache.set(item('c.2'), { pinned: true })
      cache.set(item('c.3'), { ttlMs: 60_000 })
      cache.clear()
      expect(cache.size).toBe(0)
      expect(cache.bytes).toBe(0)
      expect(cache.pressure()).toBe(0)
      expect(cache.stats()).toMatchObject({ items: 0, bytes: 0, pinnedItems: 0, pinnedBytes: 0 })
      expect(removals.map((r) => r.reason)).toEqual(['cleared', 'cleared', 'cleared'])
      expect(removals.map((r) => r.id).sort()).toEqual(['c.1', 'c.2', 'c.3'])
      cache.set(item('c.4'))
      expectAccountingExact(cache, ['c.4'])
    })

    it('onRemove returns an unsubscribe function', () => {
      const cache = roomy()
      const calls: string[] = []
      const off = cache.onRemove((removed) => calls.push(removed.id))
      cache.set(item('u.1'))
      cache.clear()
      off()
      cache.set(item('u.2'))
      cache.clear()
      expect(calls).toEqual(['u.1'])
    })

    it('an entry past its TTL is a miss, counted as an expiry and reported', async () => {
      const cache = roomy()
      const removals = recordRemovals(cache)
      cache.set(item('ttl.short'), { ttlMs: 5 })
      cache.set(item('ttl.long'), { ttlMs: 60_000 })
      expect(cache.get('ttl.short')).toBeDefined()
      await sleep(30)
      expect(cache.get('ttl.short')).toBeUndefined()
      expect(cache.has('ttl.short')).toBe(false)
      expect(cache.get('ttl.long')).toBeDefined()
      expect(removals).toEqual([{ id: 'ttl.short', reason: 'expired' }])
      expect(cache.stats()).toMatchObject({ hits: 2, misses: 1, expirations: 1 })
      expectAccountingExact(cache, ['ttl.long'])
    })
  })
}
