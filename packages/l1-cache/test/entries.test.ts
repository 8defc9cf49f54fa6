import { describe, expect, it } from 'vitest'
import { Entries, NONE, Ring } from '../src/entries.js'
import { L1_ENTRY_OVERHEAD_BYTES, L1MemoryCache } from '../src/index.js'
import { item, manualCache, recordRemovals } from './helpers.js'

describe('entry slots', () => {
  it('a released slot is the next one handed out, fresh: no reads, no credits, in probation', () => {
    const entries = new Entries()
    const a = entries.alloc(item('s.a'), 3)
    entries.credit[a] = 5
    entries.accessCount[a] = 9
    entries.lastAccessed[a] = 1234
    entries.probation[a] = 0
    const b = entries.alloc(item('s.b'), 3)
    expect(b).not.toBe(a)
    entries.release(a)
    expect(entries.items[a]).toBeUndefined()
    const c = entries.alloc(item('s.c'), 4)
    expect(c).toBe(a)
    expect([
      entries.credit[c],
      entries.accessCount[c],
      entries.lastAccessed[c],
      entries.probation[c],
    ]).toEqual([0, 0, 0, 1])
    expect(entries.idBytes[c]).toBe(4)
    expect(entries.items[c]?.id).toBe('s.c')
    expect(entries.used).toBe(2)
  })

  it('grows by doubling, keeping every field of the held slots, and shrinks back on reset', () => {
    const entries = new Entries()
    const initial = entries.items.length
    /** Every field of a slot, set to values particular to `i`. */
    const fields = (slot: number) => [
      entries.items[slot]?.id,
      entries.idBytes[slot],
      entries.credit[slot],
      entries.weight[slot],
      entries.pinned[slot],
      entries.probation[slot],
      entries.bytes[slot],
      entries.expiresAt[slot],
      entries.accessCount[slot],
      entries.lastAccessed[slot],
    ]
    const expected = (i: number) => [
      `g.${i}`,
      i,
      i % 8,
      (i % 4) + 1,
      i % 2,
      i % 3 === 0 ? 1 : 0,
      i * 10,
      i + 0.5,
      i,
      i * 7,
    ]
    const slots = Array.from({ length: initial * 3 + 1 }, (_, i) => {
      const slot = entries.alloc(item(`g.${i}`), i)
      entries.credit[slot] = i % 8
      entries.weight[slot] = (i % 4) + 1
      entries.pinned[slot] = i % 2
      entries.probation[slot] = i % 3 === 0 ? 1 : 0
      entries.bytes[slot] = i * 10
      entries.expiresAt[slot] = i + 0.5
      entries.accessCount[slot] = i
      entries.lastAccessed[slot] = i * 7
      return slot
    })
    expect(entries.items.length).toBe(initial * 4)
    expect(entries.bytes.length).toBe(initial * 4)
    for (const [i, slot] of slots.entries()) expect(fields(slot), `slot ${slot}`).toEqual(expected(i))
    entries.reset()
    expect([entries.used, entries.items.length, entries.next.length]).toEqual([0, initial, initial])
    expect(entries.items.every((x) => x === undefined)).toBe(true)
    expect(entries.alloc(item('after.reset'), 1)).toBe(0)
  })

  it('rings link slots in insertion order and survive growth of the arrays', () => {
    const entries = new Entries()
    const ring = new Ring(entries)
    expect(ring.hand).toBe(NONE)
    const slots = Array.from({ length: entries.items.length + 5 }, (_, i) => {
      const slot = entries.alloc(item(`r.${i}`), 1)
      ring.insert(slot)
      return slot
    })
    ring.remove(slots[0]!)
    ring.remove(slots[7]!)
    const order: number[] = []
    for (let n = 0; n < slots.length - 2; n++) {
      order.push(ring.hand)
      ring.advance()
    }
    expect(order).toEqual(slots.filter((_, i) => i !== 0 && i !== 7))
    expect(ring.hand).toBe(slots[1]) // round the circle
    for (const slot of order) ring.remove(slot)
    expect(ring.hand).toBe(NONE)
  })
})

describe('slots through the cache', () => {
  /** A cache with room for about `entries` items of 100 content bytes before it evicts. */
  const cacheFor = (entries: number) => {
    const bytes = entries * (100 + 8 + L1_ENTRY_OVERHEAD_BYTES)
    return manualCache({ maxBytes: Math.ceil(bytes / new L1MemoryCache().evictAt) })
  }

  it('an entry in a reused slot starts fresh: no access count or stamp of the evicted one', () => {
    const { cache } = cacheFor(50)
    const removals = recordRemovals(cache)
    for (let i = 0; i < 50; i++) {
      cache.set(item(`old.${i}`))
      for (let r = 0; r < 3; r++) cache.get(`old.${i}`)
    }
    // Each insert now evicts, and takes the slot an evicted entry left (read ones among them).
    for (let i = 0; i < 500; i++) {
      cache.set(item(`new.${i}`))
      expect(cache.inspect(`new.${i}`)).toMatchObject({ accessCount: 0, lastAccessed: 0, pinned: false })
    }
    expect(removals.filter((r) => r.id.startsWith('old.')).length).toBeGreaterThan(5)
    expect(removals.every((r) => r.reason === 'evicted')).toBe(true)
    for (let i = 0; i < 500; i++) {
      const info = cache.inspect(`new.${i}`)
      if (info !== undefined) expect(info.accessCount, `new.${i}`).toBe(0)
    }
    for (let i = 0; i < 50; i++) {
      const info = cache.inspect(`old.${i}`)
      if (info !== undefined) expect(info.accessCount, `old.${i}`).toBe(3)
    }
  })

  it('pinned entries keep their slots and facts through heavy eviction around them', () => {
    const { cache } = cacheFor(100)
    const pinned = Array.from({ length: 30 }, (_, i) => item(`pin.${String(i).padStart(2, '0')}`))
    for (const p of pinned) cache.set(p, { pinned: true })
    for (const p of pinned.slice(0, 10)) cache.get(p.id)
    const removals = recordRemovals(cache)
    for (let i = 0; i < 5_000; i++) cache.set(item(`churn.${i}`))
    expect(removals.length).toBeGreaterThan(4_800)
    expect(removals.every((r) => r.id.startsWith('churn.') && r.reason === 'evicted')).toBe(true)
    for (const [i, p] of pinned.entries()) {
      expect(cache.peek(p.id)).toBe(p)
      expect(cache.inspect(p.id)).toMatchObject({ pinned: true, accessCount: i < 10 ? 1 : 0 })
    }
    expect(cache.stats()).toMatchObject({ pinnedItems: 30, pinnedBytes: 30 * cache.estimateSize(pinned[0]!) })
  })

  it('keeps exact accounting past growth, deletes in the middle and a clear', () => {
    const { cache } = manualCache()
    const sizeOf = (i: number) => (i * 37) % 500
    const ids = Array.from({ length: 1_000 }, (_, i) => `grow.${i}`)
    for (const [i, id] of ids.entries()) cache.set(item(id, sizeOf(i)), { pinned: i % 7 === 0 })
    for (let i = 0; i < ids.length; i += 3) cache.delete(ids[i]!)
    for (let i = 0; i < ids.length; i += 3) cache.set(item(`${ids[i]}.again`, 10))
    let bytes = 0
    for (const [i, id] of ids.entries()) {
      const held = cache.peek(id)
      expect(held === undefined, id).toBe(i % 3 === 0)
      if (held !== undefined) {
        expect(held.content.byteLength).toBe(sizeOf(i))
        expect(cache.inspect(id)?.pinned).toBe(i % 7 === 0)
        bytes += cache.estimateSize(held)
      } else {
        bytes += cache.estimateSize(cache.peek(`${id}.again`)!)
      }
    }
    expect(cache.bytes).toBe(bytes)
    cache.clear()
    expect([cache.size, cache.bytes, cache.stats().pinnedItems]).toEqual([0, 0, 0])
    cache.set(item('after.clear'))
    expect(cache.peek('after.clear')?.id).toBe('after.clear')
    expect(cache.bytes).toBe(cache.estimateSize(item('after.clear')))
  })
})
