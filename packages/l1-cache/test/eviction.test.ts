import { describe, expect, it } from 'vitest'
import {
  CREDIT_MAX,
  L1_ENTRY_OVERHEAD_BYTES,
  L1MemoryCache,
  MAX_WALK,
  sizeWeight,
  WALK_STEPS_PER_EVICTION,
} from '../src/index.js'
import { item, recordRemovals } from './helpers.js'

/** Room for about `entries` entries of `contentBytes` before eviction starts (evictAt). */
function cacheFor(entries: number, contentBytes = 100): L1MemoryCache {
  const bytes = entries * (contentBytes + 20 + L1_ENTRY_OVERHEAD_BYTES)
  const probe = new L1MemoryCache()
  return new L1MemoryCache({ maxBytes: Math.ceil(bytes / probe.evictAt) })
}

/** Deterministic xorshift32, so workloads are the same on every run. */
function random(seed: number): () => number {
  let x = seed
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 2 ** 32
  }
}

describe('eviction scoring', () => {
  it('size weights: 1 up to 2 KiB, one more per ×4, at most 4', () => {
    expect([600, 2048, 2049, 8192, 8193, 32768, 32769, 1 << 24].map(sizeWeight)).toEqual([
      1, 1, 2, 2, 3, 3, 4, 4,
    ])
  })

  it('keeps frequently read small entries through a scan of large one-shot entries', () => {
    const cache = new L1MemoryCache({ maxBytes: 2 * 1024 * 1024 })
    const removals = recordRemovals(cache)
    const hot = Array.from({ length: 200 }, (_, i) => `hot.${i}`)
    for (const id of hot) cache.set(item(id, 200))
    // 2 000 large entries (20 KiB, ~30 × the cache) pass through, never read again; the hot set is
    // read in a loop at the same time, each entry about once per 20 large writes.
    for (let i = 0; i < 2_000; i++) {
      cache.set(item(`scan.${i}`, 20_000))
      for (let r = 0; r < 10; r++) cache.get(hot[(i * 10 + r) % hot.length]!)
    }
    for (const id of hot) expect(cache.has(id), id).toBe(true)
    expect(removals.every((r) => r.id.startsWith('scan.') && r.reason === 'evicted')).toBe(true)
    expect(cache.stats().evictions).toBeGreaterThan(1_900)
  })

  it('without reads the same scan flushes the small entries out (the credits are what kept them)', () => {
    const cache = new L1MemoryCache({ maxBytes: 2 * 1024 * 1024 })
    const hot = Array.from({ length: 200 }, (_, i) => `hot.${i}`)
    for (const id of hot) cache.set(item(id, 200))
    for (let i = 0; i < 2_000; i++) cache.set(item(`scan.${i}`, 20_000))
    expect(hot.filter((id) => cache.has(id))).toEqual([])
  })

  it('of entries read equally often, large ones are evicted before small ones', () => {
    const cache = new L1MemoryCache({ maxBytes: 4 * 1024 * 1024 })
    const evicted: string[] = []
    cache.onRemove((removed) => evicted.push(removed.id))
    const small = Array.from({ length: 100 }, (_, i) => `small.${i}`)
    const large = Array.from({ length: 100 }, (_, i) => `large.${i}`)
    for (let i = 0; i < 100; i++) {
      cache.set(item(small[i]!, 200))
      cache.set(item(large[i]!, 20_000))
    }
    for (let r = 0; r < 3; r++) for (const id of [...small, ...large]) cache.get(id)
    // Fillers read once each keep the main ring turning until small entries go too.
    for (let i = 0; i < 20_000 && !evicted.some((id) => id.startsWith('small.')); i++) {
      cache.set(item(`filler.${i}`, 5_000))
      cache.get(`filler.${i}`)
    }
    const originals = evicted.filter((id) => !id.startsWith('filler.'))
    const lastLarge = originals.findLastIndex((id) => id.startsWith('large.'))
    const firstSmall = originals.findIndex((id) => id.startsWith('small.'))
    expect(originals.filter((id) => id.startsWith('large.'))).toHaveLength(100)
    expect(firstSmall).toBeGreaterThan(lastLarge)
  })

  it('evicts at evictAt down to evictTo, not before', () => {
    const cache = new L1MemoryCache({ maxBytes: 100_000, evictAt: 0.8, evictTo: 0.5 })
    const unit = cache.estimateSize(item('e.00', 400))
    let i = 0
    while (cache.bytes + unit <= 80_000) cache.set(item(`e.${String(i++).padStart(2, '0')}`, 400))
    expect(cache.stats().evictions).toBe(0)
    const before = cache.size
    cache.set(item(`e.${String(i++).padStart(2, '0')}`, 400))
    expect(cache.bytes).toBeLessThanOrEqual(50_000)
    expect(cache.bytes).toBeGreaterThan(50_000 - unit)
    expect(cache.stats().evictions).toBe(before + 1 - cache.size)
  })
})

describe('eviction work', () => {
  /** Walk steps per removal for a mixed workload: skewed reads of recent ids, writes of new ids. */
  function stepsPerRemoval(entries: number): { perRemoval: number; maxPerSet: number; bounded: boolean } {
    const cache = cacheFor(entries)
    const next = random(entries)
    let maxPerSet = 0
    for (let i = 0; i < entries * 6; i++) {
      const before = cache.stats()
      cache.set(item(`w.${i}`, 100))
      const after = cache.stats()
      const removed = after.evictions + after.expirations - before.evictions - before.expirations
      if (removed > 0)
        maxPerSet = Math.max(maxPerSet, (after.evictionWalkSteps - before.evictionWalkSteps) / removed)
      for (let r = 0; r < 4; r++) cache.get(`w.${Math.floor(i - entries * next() ** 3)}`)
    }
    const s = cache.stats()
    const removals = s.evictions + s.expirations
    return {
      perRemoval: s.evictionWalkSteps / removals,
      maxPerSet,
      bounded: s.evictionWalkSteps <= WALK_STEPS_PER_EVICTION * removals + MAX_WALK,
    }
  }

  it('is O(1) amortised per eviction: steps per removal stay small and do not grow with the cache', () => {
    const results = [1_000, 4_000, 16_000].map(stepsPerRemoval)
    console.log('eviction walk steps per removal (1k, 4k, 16k entries):', results)
    for (const r of results) {
      expect(r.bounded).toBe(true)
      expect(r.perRemoval).toBeLessThanOrEqual(WALK_STEPS_PER_EVICTION)
      expect(r.maxPerSet).toBeLessThanOrEqual(MAX_WALK)
    }
    // 16 × the entries, the same work per eviction (within 10 %).
    expect(results[2]!.perRemoval).toBeLessThan(results[0]!.perRemoval * 1.1)
  })

  it('bounds one eviction by MAX_WALK steps, and all by the allowance, when every entry has full credits', () => {
    const cache = cacheFor(5_000)
    for (let i = 0; i < 5_000; i++) cache.set(item(`full.${i}`))
    for (let r = 0; r < CREDIT_MAX; r++) for (let i = 0; i < 5_000; i++) cache.get(`full.${i}`)
    for (let i = 0; i < 2_000; i++) {
      const before = cache.stats()
      cache.set(item(`new.${i}`))
      cache.get(`new.${i}`)
      const after = cache.stats()
      expect(after.evictionWalkSteps - before.evictionWalkSteps).toBeLessThanOrEqual(
        MAX_WALK * (after.evictions - before.evictions),
      )
    }
    const s = cache.stats()
    expect(s.evictions).toBeGreaterThan(1_000)
    expect(s.evictionWalkSteps).toBeLessThanOrEqual(WALK_STEPS_PER_EVICTION * s.evictions + MAX_WALK)
  })

  it('earns no walk allowance from eviction runs that find nothing unpinned', () => {
    const cache = cacheFor(500)
    const ids = Array.from({ length: 400 }, (_, i) => `hot.${i}`)
    for (let cycle = 0; cycle < 20; cycle++) {
      for (const id of ids) if (!cache.has(id)) cache.set(item(id))
      for (let r = 0; r < CREDIT_MAX; r++) for (const id of ids) cache.get(id)
      // Everything pinned and over budget: these sets start eviction runs that find nothing...
      for (const id of ids) cache.pin(id)
      for (let i = 0; i < 300; i++) cache.set(item(`pinned.${i}`), { pinned: true })
      for (let i = 0; i < 300; i++) cache.delete(`pinned.${i}`)
      for (const id of ids) cache.unpin(id)
      // ...so the walk over the hot ring this big write causes is paid for by evictions alone.
      cache.set(item('big', 100_000), { pinned: true })
      cache.delete('big')
    }
    const s = cache.stats()
    expect(s.evictions).toBeGreaterThan(500)
    expect(s.evictionWalkSteps).toBeLessThanOrEqual(WALK_STEPS_PER_EVICTION * s.evictions + MAX_WALK)
  })

  it('never walks over pinned entries (they are not in the ring)', () => {
    const cache = cacheFor(2_000)
    for (let i = 0; i < 1_500; i++) cache.set(item(`pinned.${i}`), { pinned: true })
    for (let i = 0; i < 5_000; i++) cache.set(item(`loose.${i}`))
    const s = cache.stats()
    expect(s.pinnedItems).toBe(1_500)
    expect(s.evictions).toBeGreaterThan(4_000)
    expect(s.evictionWalkSteps).toBe(s.evictions)
  })
})
