import { type Clock, InvalidArgumentError, type SyncItem, utf8ByteLength } from '@sync-engine/core'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { L1_ENTRY_OVERHEAD_BYTES, L1MemoryCache } from '../src/index.js'
import { item, manualCache, nextTurn, recordRemovals } from './helpers.js'

describe('reads and access statistics', () => {
  it('counts accesses on the entry (kept across replaces) and on the item', () => {
    const { cache } = manualCache()
    const first = item('u.a')
    cache.set(first)
    cache.get('u.a')
    cache.get('u.a')
    const second = item('u.a', 10)
    cache.set(second)
    cache.get('u.a')
    expect(first.accessCount).toBe(2)
    expect(second.accessCount).toBe(1)
    expect(cache.inspect('u.a')?.accessCount).toBe(3)
    expect(cache.stats()).toMatchObject({ hits: 3, misses: 0 })
  })

  it('stamps lastAccessed from the clock, one reading shared until its 1 ms timer marks it stale', async () => {
    const { cache, clock } = manualCache()
    const a = item('u.a')
    cache.set(a)
    await nextTurn()
    cache.get('u.a')
    expect(a.lastAccessed).toBe(1_000_000)
    clock.advance(5)
    cache.get('u.a')
    expect(a.lastAccessed).toBe(1_000_000) // same run: the coarse reading
    await Promise.resolve()
    cache.get('u.a')
    expect(a.lastAccessed).toBe(1_000_000) // an await alone does not cost a new reading
    await nextTurn()
    cache.get('u.a')
    expect(a.lastAccessed).toBe(1_000_005)
    expect(cache.inspect('u.a')?.lastAccessed).toBe(1_000_005)
  })

  it('refreshes the reading within a long synchronous run every 1024 reads', async () => {
    const { cache, clock } = manualCache()
    const a = item('u.a')
    cache.set(a)
    await nextTurn()
    cache.get('u.a')
    clock.advance(7)
    for (let i = 0; i < 1024; i++) cache.get('u.a')
    expect(a.lastAccessed).toBe(1_000_007)
  })

  it('does not read the clock per get', () => {
    let nowCalls = 0
    let monotonicCalls = 0
    const clock: Clock = {
      now: () => {
        nowCalls++
        return 5
      },
      monotonic: () => {
        monotonicCalls++
        return 5
      },
    }
    const cache = new L1MemoryCache({ clock })
    for (let i = 0; i < 100; i++) cache.set(item(`c.${i}`))
    for (let i = 0; i < 10_000; i++) cache.get(`c.${i % 100}`)
    expect(nowCalls).toBeLessThanOrEqual(11)
    expect(monotonicCalls).toBe(0) // no TTLs: the monotonic clock is never needed
  })

  it('peek and has change no statistic, credit or stamp', () => {
    const { cache } = manualCache()
    const a = item('u.a')
    cache.set(a)
    for (let i = 0; i < 5; i++) {
      cache.peek('u.a')
      cache.has('u.a')
      cache.peek('u.none')
      cache.has('u.none')
      cache.inspect('u.a')
    }
    expect(a.accessCount).toBe(0)
    expect(a.lastAccessed).toBe(0)
    expect(cache.inspect('u.a')).toMatchObject({ accessCount: 0, lastAccessed: 0, pinned: false })
    expect(cache.stats()).toMatchObject({ hits: 0, misses: 0 })
  })
})

describe('accounting', () => {
  it('estimates UTF-8 id bytes + content bytes + L1_ENTRY_OVERHEAD_BYTES', () => {
    const cache = new L1MemoryCache()
    const id = 'ü.日本.😀'
    expect(cache.estimateSize(item(id, 123))).toBe(utf8ByteLength(id) + 123 + L1_ENTRY_OVERHEAD_BYTES)
    expect(utf8ByteLength(id)).toBe(2 + 1 + 6 + 1 + 4)
  })

  it('reports pinned bytes and pressure honestly above 1 when only pinned entries remain', () => {
    const { cache } = manualCache({ maxBytes: 10_000 })
    for (let i = 0; i < 30; i++) cache.set(item(`p.${i}`), { pinned: true })
    const s = cache.stats()
    expect(s.pinnedItems).toBe(30)
    expect(s.pinnedBytes).toBe(s.bytes)
    expect(cache.pressure()).toBe(s.bytes / 10_000)
    expect(cache.pressure()).toBeGreaterThan(2)
    expect(cache.pressureLevel()).toBe('Shutdown')
  })

  it('uses its own thresholds for the pressure level', () => {
    const cache = new L1MemoryCache({
      maxBytes: 10_000,
      thresholds: { warn: 0.05, throttle: 0.1 },
    })
    cache.set(item('a', 0), { pinned: true })
    expect(cache.pressure()).toBeCloseTo(0.0601, 6)
    expect(cache.pressureLevel()).toBe('Warn')
    cache.set(item('b', 0), { pinned: true })
    expect(cache.pressureLevel()).toBe('Throttle')
  })

  it('clear keeps the hit and miss counters', () => {
    const { cache } = manualCache()
    cache.set(item('a'))
    cache.get('a')
    cache.get('b')
    cache.clear()
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, items: 0, bytes: 0 })
  })
})

describe('pinning and replacing', () => {
  it('pin and unpin are idempotent and true while the entry is cached', () => {
    const { cache } = manualCache()
    cache.set(item('a'))
    expect(cache.pin('a')).toBe(true)
    expect(cache.pin('a')).toBe(true)
    expect(cache.stats().pinnedItems).toBe(1)
    expect(cache.unpin('a')).toBe(true)
    expect(cache.unpin('a')).toBe(true)
    expect(cache.stats()).toMatchObject({ pinnedItems: 0, pinnedBytes: 0 })
  })

  it('a set replaces the whole entry: the pin is not inherited', () => {
    const { cache } = manualCache()
    cache.set(item('a'), { pinned: true })
    cache.set(item('a', 10))
    expect(cache.inspect('a')?.pinned).toBe(false)
    expect(cache.stats().pinnedItems).toBe(0)
  })

  it('an unpinned item that alone exceeds evictTo × maxBytes is not kept', () => {
    const { cache } = manualCache({ maxBytes: 10_000 })
    const removals = recordRemovals(cache)
    cache.set(item('big', 100))
    const huge = item('big', 20_000)
    cache.set(huge)
    expect(cache.has('big')).toBe(false)
    expect(removals).toEqual([{ item: huge, id: 'big', reason: 'evicted' }])
    expect(cache.stats()).toMatchObject({ items: 0, bytes: 0, evictions: 1 })
    cache.set(huge, { pinned: true })
    expect(cache.has('big')).toBe(true)
    expect(cache.pressure()).toBeGreaterThan(2)
  })

  it('unpinning over budget evicts down to evictTo', () => {
    const { cache } = manualCache({ maxBytes: 10_000 })
    for (let i = 0; i < 20; i++) cache.set(item(`p.${String(i).padStart(2, '0')}`), { pinned: true })
    expect(cache.stats().evictions).toBe(0)
    for (let i = 0; i < 20; i++) cache.unpin(`p.${String(i).padStart(2, '0')}`)
    expect(cache.bytes).toBeLessThanOrEqual(10_000 * cache.evictTo)
    expect(cache.stats().evictions).toBeGreaterThan(0)
  })
})

describe('removal listeners', () => {
  afterEach(() => {
    vi.unstubAllGlobals()
  })

  it('delete and replace are not reported; eviction, expiry and clear are', () => {
    const { cache, clock } = manualCache({ maxBytes: 10_000 })
    const removals = recordRemovals(cache)
    cache.set(item('d'))
    cache.delete('d')
    cache.set(item('r'))
    cache.set(item('r', 5))
    expect(removals).toEqual([])
    cache.set(item('t'), { ttlMs: 1 })
    clock.advance(1)
    cache.get('t')
    for (let i = 0; i < 20; i++) cache.set(item(`e.${i}`))
    cache.clear()
    expect(new Set(removals.map((r) => r.reason))).toEqual(new Set(['expired', 'evicted', 'cleared']))
  })

  it('unsubscribing twice is harmless and leaves other listeners', () => {
    const { cache } = manualCache()
    const a: string[] = []
    const b: string[] = []
    const offA = cache.onRemove((x) => a.push(x.id))
    cache.onRemove((x) => b.push(x.id))
    offA()
    offA()
    cache.set(item('x'))
    cache.clear()
    expect(a).toEqual([])
    expect(b).toEqual(['x'])
  })

  it('a throwing listener does not disturb the cache or other listeners; its error is re-thrown later', () => {
    const queued: (() => void)[] = []
    vi.stubGlobal('queueMicrotask', (fn: () => void) => queued.push(fn))
    const { cache } = manualCache({ maxBytes: 10_000 })
    const seen: string[] = []
    cache.onRemove(() => {
      throw new Error('listener bug')
    })
    cache.onRemove((x) => seen.push(x.id))
    for (let i = 0; i < 20; i++) cache.set(item(`e.${i}`))
    expect(seen.length).toBe(cache.stats().evictions)
    expect(cache.bytes).toBeLessThanOrEqual(10_000 * cache.evictAt)
    const rethrows = queued.filter((fn) => {
      try {
        fn()
        return false
      } catch (error) {
        return (error as Error).message === 'listener bug'
      }
    })
    expect(rethrows.length).toBe(seen.length)
  })

  it('keeps exact accounting when a listener writes to the cache during an eviction', () => {
    const { cache } = manualCache({ maxBytes: 20_000 })
    const evicted: SyncItem[] = []
    cache.onRemove((x, reason) => {
      if (reason !== 'evicted' || x.id.startsWith('echo.')) return
      evicted.push(x)
      cache.set(item(`echo.${x.id}`, 10))
    })
    for (let i = 0; i < 100; i++) cache.set(item(`w.${i}`))
    let sum = 0
    for (let i = 0; i < 100; i++) {
      for (const id of [`w.${i}`, `echo.w.${i}`]) {
        const found = cache.peek(id)
        if (found !== undefined) sum += cache.estimateSize(found)
      }
    }
    expect(evicted.length).toBeGreaterThan(0)
    expect(cache.bytes).toBe(sum)
    expect(cache.bytes).toBeLessThanOrEqual(20_000 * cache.evictAt)
  })
})

describe('argument checks', () => {
  it('refuses what is not an item, bad set options and a non-function listener', () => {
    const cache = new L1MemoryCache()
    const bad = [undefined, null, {}, { id: 'x', content: 'text' }] as unknown as SyncItem[]
    for (const value of bad) {
      expect(() => cache.set(value)).toThrow(InvalidArgumentError)
      expect(() => cache.estimateSize(value)).toThrow(/item must be a SyncItem/)
    }
    expect(() => cache.set(item('a'), { pinned: 'yes' as unknown as boolean })).toThrow(
      expect.objectContaining({ argument: 'pinned' }),
    )
    expect(() => cache.set(item('a'), { ttlMs: -5 })).toThrow(expect.objectContaining({ argument: 'ttlMs' }))
    expect(() => cache.onRemove('nope' as never)).toThrow(expect.objectContaining({ argument: 'listener' }))
    expect(cache.size).toBe(0)
  })
})
