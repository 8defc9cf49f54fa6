import type { SyncItem } from '@sync-engine/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { item, manualCache, recordRemovals } from './helpers.js'

/**
 * Model-based test: random command sequences run against the cache and against a plain `Map` of what
 * the cache must hold. After every command the byte accounting must be exact (bytes == Σ estimateSize
 * of held entries), the statistics must match the model's counts, every reported removal must be
 * legal (no pinned entry evicted, no live entry expired), and eviction must have brought unpinned
 * data back under the budget.
 */
const SEED = 20_251_126
const RUNS = 150

const IDS = ['a', 'b', 'c.d', 'ü', 'é.日本', 'emoji.😀', 'x'.repeat(60), 'user.alice', 'user.bob', 'k']
const MAX_BYTES = 12_000

type Command =
  | { op: 'set'; id: string; size: number; ttl: number | undefined; pinned: boolean }
  | { op: 'get' | 'peek' | 'has' | 'delete' | 'pin' | 'unpin' | 'inspect'; id: string }
  | { op: 'advance'; ms: number }
  | { op: 'purge'; limit: number }
  | { op: 'clear' }

const id = fc.constantFrom(...IDS)
const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('set' as const),
      id,
      size: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 300, max: 9_000 })),
      ttl: fc.option(fc.integer({ min: 1, max: 200 }), { nil: undefined }),
      pinned: fc.boolean(),
    }),
  },
  {
    weight: 8,
    arbitrary: fc.record({
      op: fc.constantFrom('get', 'peek', 'has', 'delete', 'pin', 'unpin', 'inspect'),
      id,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 120 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('purge' as const), limit: fc.integer({ min: 1, max: 12 }) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('clear' as const) }) },
)

interface Held {
  item: SyncItem
  pinned: boolean
  /** Monotonic ms; 0 = no TTL. */
  expiresAt: number
  /** Reads of the id since it was cached (kept across replaces of a live entry). */
  entryReads: number
}

function run(commands: Command[]): void {
  const { cache, clock } = manualCache({ maxBytes: MAX_BYTES })
  const removals = recordRemovals(cache)
  const held = new Map<string, Held>()
  const itemReads = new Map<SyncItem, number>()
  const counts = { hits: 0, misses: 0, evictions: 0, expirations: 0 }
  const expired = (h: Held) => h.expiresAt !== 0 && h.expiresAt <= clock.monotonic()

  for (const [step, cmd] of commands.entries()) {
    const where = `step ${step}: ${JSON.stringify(cmd)}`
    removals.length = 0
    /** Removals the command itself must report first (an expired entry met by a keyed command). */
    const expected: { item: SyncItem; reason: string }[] = []
    let live: Held | undefined
    if ('id' in cmd) {
      const h = held.get(cmd.id)
      if (h !== undefined && expired(h)) {
        held.delete(cmd.id)
        expected.push({ item: h.item, reason: 'expired' })
      } else {
        live = h
      }
    }

    switch (cmd.op) {
      case 'set': {
        const next = item(cmd.id, cmd.size)
        cache.set(next, { pinned: cmd.pinned, ...(cmd.ttl === undefined ? {} : { ttlMs: cmd.ttl }) })
        held.set(cmd.id, {
          item: next,
          pinned: cmd.pinned,
          expiresAt: cmd.ttl === undefined ? 0 : clock.monotonic() + cmd.ttl,
          entryReads: live?.entryReads ?? 0,
        })
        break
      }
      case 'get': {
        const got = cache.get(cmd.id)
        expect(got, where).toBe(live?.item)
        if (live === undefined) counts.misses++
        else {
          counts.hits++
          live.entryReads++
          itemReads.set(live.item, (itemReads.get(live.item) ?? 0) + 1)
        }
        break
      }
      case 'peek':
        expect(cache.peek(cmd.id), where).toBe(live?.item)
        break
      case 'has':
        expect(cache.has(cmd.id), where).toBe(live !== undefined)
        break
      case 'inspect': {
        const info = cache.inspect(cmd.id)
        expect(info === undefined, where).toBe(live === undefined)
        if (live !== undefined && info !== undefined) {
          expect(info.pinned, where).toBe(live.pinned)
          expect(info.accessCount, where).toBe(live.entryReads)
          expect(info.bytes, where).toBe(cache.estimateSize(live.item))
        }
        break
      }
      case 'delete':
        expect(cache.delete(cmd.id), where).toBe(live !== undefined)
        held.delete(cmd.id)
        break
      case 'pin':
      case 'unpin':
        expect(cache[cmd.op](cmd.id), where).toBe(live !== undefined)
        if (live !== undefined) live.pinned = cmd.op === 'pin'
        break
      case 'advance':
        clock.advance(cmd.ms)
        break
      case 'purge': {
        const purged = cache.purgeExpired(cmd.limit)
        expect(purged, where).toBeLessThanOrEqual(cmd.limit)
        expect(removals.length, where).toBe(purged)
        break
      }
      case 'clear':
        cache.clear()
        for (const h of held.values()) expected.push({ item: h.item, reason: 'cleared' })
        held.clear()
        break
    }

    // The command's own removals come first, in order (clear reports in any order).
    const own = removals.slice(0, expected.length)
    const key = (r: { item: SyncItem; reason: string }) => `${r.item.id}/${r.reason}`
    if (cmd.op === 'clear') {
      expect(own.map(key).sort(), where).toEqual(expected.map(key).sort())
    } else {
      expect(
        own.map((r) => [r.item, r.reason]),
        where,
      ).toEqual(expected.map((r) => [r.item, r.reason]))
    }
    // Every other removal is the cache's own: legal, and of an entry it held.
    for (const r of removals.slice(expected.length)) {
      const h = held.get(r.id)
      expect(h?.item, `${where}: removal of an entry not held`).toBe(r.item)
      if (h === undefined) continue
      if (r.reason === 'evicted') expect(h.pinned, `${where}: pinned entry evicted`).toBe(false)
      else expect(r.reason === 'expired' && expired(h), `${where}: bad removal ${r.reason}`).toBe(true)
      held.delete(r.id)
    }
    for (const r of removals) {
      if (r.reason === 'evicted') counts.evictions++
      if (r.reason === 'expired') counts.expirations++
    }

    // Accounting and statistics are exact.
    let bytes = 0
    let pinnedBytes = 0
    let pinnedItems = 0
    for (const h of held.values()) {
      const size = cache.estimateSize(h.item)
      bytes += size
      if (h.pinned) {
        pinnedItems++
        pinnedBytes += size
      }
    }
    expect(cache.size, where).toBe(held.size)
    expect(cache.bytes, where).toBe(bytes)
    expect(cache.pressure(), where).toBe(bytes / MAX_BYTES)
    const { evictionWalkSteps: _, ...stats } = cache.stats()
    expect(stats, where).toEqual({
      items: held.size,
      bytes,
      maxBytes: MAX_BYTES,
      pinnedItems,
      pinnedBytes,
      ...counts,
    })
    for (const [heldId, h] of held) {
      if (!expired(h)) expect(cache.peek(heldId), where).toBe(h.item)
      expect(h.item.accessCount, where).toBe(itemReads.get(h.item) ?? 0)
    }
    for (const absent of IDS.filter((i) => !held.has(i))) expect(cache.peek(absent), where).toBeUndefined()

    // After a set or unpin, eviction has brought the cache under evictAt, unless only pinned entries
    // (and expired ones it has not met yet) are left to blame.
    if (cmd.op === 'set' || cmd.op === 'unpin') {
      const evictable = [...held.values()].some((h) => !h.pinned)
      if (evictable) expect(cache.bytes, where).toBeLessThanOrEqual(MAX_BYTES * cache.evictAt)
    }
  }
}

describe(`model test against a Map (fast-check seed ${SEED}, ${RUNS} runs)`, () => {
  it('keeps exact accounting and legal removals through random command sequences', () => {
    console.log(`l1-cache model test: fast-check seed ${SEED}`)
    fc.assert(
      fc.property(fc.array(command, { minLength: 20, maxLength: 150, size: 'max' }), (commands) => {
        run(commands)
      }),
      { seed: SEED, numRuns: RUNS },
    )
  })
})
