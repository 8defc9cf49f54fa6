import {
  type Clock,
  InvalidArgumentError,
  type L1Cache,
  type L1RemovalReason,
  type L1SetOptions,
  type L1Stats,
  type PressureLevel,
  type PressureThresholds,
  pressureLevel,
  type SyncItem,
} from '@sync-engine/core'
import { CoarseClock } from './coarse-clock.js'
import { Entries, NONE, Ring } from './entries.js'
import { type L1MemoryCacheOptions, resolveL1Options } from './options.js'
import {
  CREDIT_MAX,
  entryBytes,
  estimateEntrySize,
  idByteLength,
  MAX_WALK,
  PROBATION_SHARE,
  sizeWeight,
  WALK_STEPS_PER_EVICTION,
} from './sizing.js'

export type L1RemoveListener = (item: SyncItem, reason: L1RemovalReason) => void

export interface L1MemoryCacheStats extends L1Stats {
  /**
   * Entries the eviction hands have looked at, in total: at most `WALK_STEPS_PER_EVICTION` per
   * eviction plus `MAX_WALK`, and at most `MAX_WALK` for any one eviction.
   */
  readonly evictionWalkSteps: number
}

/** What the cache knows about one entry, read without counting an access. */
export interface L1EntryInfo {
  readonly bytes: number
  readonly pinned: boolean
  /** Reads of this id since it was cached (kept across replaces). */
  readonly accessCount: number
  /** Epoch ms of the last read (0 = never). */
  readonly lastAccessed: number
  /** Ms until the entry expires; `undefined` without a TTL. */
  readonly expiresInMs: number | undefined
}

const DEFAULT_PURGE_LIMIT = 1024

function checkItem(item: SyncItem): void {
  if (typeof item?.id !== 'string' || !(item.content instanceof Uint8Array)) {
    throw new InvalidArgumentError('item', 'item must be a SyncItem (an id and Uint8Array content)')
  }
}

/** The TTL of `set` options (0 = none), refusing bad values. */
function ttlOf(options: L1SetOptions): number {
  const ttlMs = options.ttlMs
  if (ttlMs === undefined) return 0
  if (typeof ttlMs !== 'number' || !(ttlMs > 0) || ttlMs === Number.POSITIVE_INFINITY) {
    throw new InvalidArgumentError('ttlMs', `ttlMs must be a finite number of ms > 0, got ${String(ttlMs)}`)
  }
  return ttlMs
}

function pinnedOf(options: L1SetOptions): boolean {
  const pinned = options.pinned
  if (pinned === undefined || typeof pinned === 'boolean') return pinned === true
  throw new InvalidArgumentError('pinned', `pinned must be a boolean, got ${typeof pinned}`)
}

/**
 * The in-process tier (SPEC §9): a `Map` from ids to entry slots (see `Entries`) with exact byte
 * accounting, pinning, TTLs and eviction by a size-weighted CLOCK (see the README). Synchronous
 * throughout.
 */
export class L1MemoryCache implements L1Cache {
  readonly maxBytes: number
  readonly thresholds: Readonly<PressureThresholds>
  /** Pressure above which a `set`/`unpin` starts evicting. */
  readonly evictAt: number
  /** Pressure an eviction run brings the cache down to. */
  readonly evictTo: number

  /** Id → slot of its entry. */
  readonly #index = new Map<string, number>()
  readonly #entries = new Entries()
  /** Unpinned entries never read since cached, oldest at the hand. */
  readonly #probation = new Ring(this.#entries)
  /** Unpinned entries read at least once: the size-weighted CLOCK. */
  readonly #main = new Ring(this.#entries)
  readonly #clock: Clock
  readonly #coarse: CoarseClock
  readonly #evictAtBytes: number
  readonly #evictToBytes: number
  #bytes = 0
  #pinnedItems = 0
  #pinnedBytes = 0
  #probationBytes = 0
  #ttlItems = 0
  #hits = 0
  #misses = 0
  #evictions = 0
  #expirations = 0
  #walkSteps = 0
  /** Steps the main ring's hand may still take (see `WALK_STEPS_PER_EVICTION`). */
  #walkAllowance = MAX_WALK
  #listeners: readonly L1RemoveListener[] = []
  /** The slot `purgeExpired` looks at next. */
  #sweepAt = 0

  constructor(options: L1MemoryCacheOptions = {}) {
    const o = resolveL1Options(options)
    this.maxBytes = o.maxBytes
    this.thresholds = o.thresholds
    this.evictAt = o.evictAt
    this.evictTo = o.evictTo
    this.#clock = o.clock
    this.#coarse = new CoarseClock(o.clock)
    this.#evictAtBytes = Math.floor(o.maxBytes * o.evictAt)
    this.#evictToBytes = Math.floor(o.maxBytes * o.evictTo)
  }

  get size(): number {
    return this.#index.size
  }

  get bytes(): number {
    return this.#bytes
  }

  // ── reads ──────────────────────────────────────────────────────────────────────────────────────

  get(id: string): SyncItem | undefined {
    const slot = this.#live(id)
    if (slot === NONE) {
      this.#misses++
      return undefined
    }
    const t = this.#entries
    if (t.credit[slot]! < CREDIT_MAX) t.credit[slot]!++
    if (t.probation[slot] === 1) this.#relocate(slot, t.pinned[slot] === 1, false)
    const now = this.#coarse.now()
    t.accessCount[slot]!++
    t.lastAccessed[slot] = now
    const item = t.items[slot] as SyncItem
    item.accessCount++
    item.lastAccessed = now
    this.#hits++
    return item
  }

  peek(id: string): SyncItem | undefined {
    const slot = this.#live(id)
    return slot === NONE ? undefined : this.#entries.items[slot]
  }

  has(id: string): boolean {
    return this.#live(id) !== NONE
  }

  /** Accounting and access facts of one entry, without counting an access. */
  inspect(id: string): L1EntryInfo | undefined {
    const slot = this.#live(id)
    if (slot === NONE) return undefined
    const t = this.#entries
    const expiresAt = t.expiresAt[slot]!
    return {
      bytes: t.bytes[slot]!,
      pinned: t.pinned[slot] === 1,
      accessCount: t.accessCount[slot]!,
      lastAccessed: t.lastAccessed[slot]!,
      expiresInMs: expiresAt === 0 ? undefined : expiresAt - this.#clock.monotonic(),
    }
  }

  // ── writes ─────────────────────────────────────────────────────────────────────────────────────

  set(item: SyncItem, options?: L1SetOptions): void {
    checkItem(item)
    const ttlMs = options === undefined ? 0 : ttlOf(options)
    const pinned = options === undefined ? false : pinnedOf(options)
    const t = this.#entries
    let slot = this.#live(item.id)
    const idBytes = slot === NONE ? idByteLength(item.id) : t.idBytes[slot]!
    const bytes = entryBytes(idBytes, item)
    if (!pinned && bytes > this.#evictToBytes) {
      // Could never stay: evicting everything else first would only empty the cache for nothing.
      if (slot !== NONE) this.#unlink(slot)
      this.#evictions++
      this.#notify(item, 'evicted')
      return
    }
    let enqueue = !pinned
    if (slot === NONE) {
      slot = t.alloc(item, idBytes)
      this.#index.set(item.id, slot)
    } else {
      // A replace keeps the entry's place in its queue (its credits carry its recency); only a
      // change of pin state takes it out of, or puts it into, a queue.
      this.#account(slot, -1)
      if (t.pinned[slot] === 0) {
        enqueue = false
        if (pinned) this.#queue(slot).remove(slot)
      }
      t.items[slot] = item
    }
    t.bytes[slot] = bytes
    t.weight[slot] = sizeWeight(bytes)
    t.pinned[slot] = pinned ? 1 : 0
    t.expiresAt[slot] = ttlMs === 0 ? 0 : this.#clock.monotonic() + ttlMs
    this.#account(slot, 1)
    if (enqueue) this.#queue(slot).insert(slot)
    this.#evictIfOver()
  }

  delete(id: string): boolean {
    const slot = this.#live(id)
    if (slot === NONE) return false
    this.#unlink(slot)
    return true
  }

  pin(id: string): boolean {
    const slot = this.#live(id)
    if (slot === NONE) return false
    const t = this.#entries
    if (t.pinned[slot] === 0) this.#relocate(slot, true, t.probation[slot] === 1)
    return true
  }

  unpin(id: string): boolean {
    const slot = this.#live(id)
    if (slot === NONE) return false
    const t = this.#entries
    if (t.pinned[slot] === 1) {
      this.#relocate(slot, false, t.probation[slot] === 1)
      this.#evictIfOver()
    }
    return true
  }

  clear(): void {
    const t = this.#entries
    const removed: SyncItem[] = []
    if (this.#listeners.length > 0) {
      for (let slot = 0; slot < t.used; slot++) {
        const item = t.items[slot]
        if (item !== undefined) removed.push(item)
      }
    }
    this.#index.clear()
    t.reset()
    this.#probation.reset()
    this.#main.reset()
    this.#probationBytes = 0
    this.#sweepAt = 0
    this.#bytes = 0
    this.#pinnedItems = 0
    this.#pinnedBytes = 0
    this.#ttlItems = 0
    for (const item of removed) this.#notify(item, 'cleared')
  }

  /**
   * Looks at up to `limit` entries (resuming where the last call stopped, pinned ones included; at
   * most one pass over the slots per call) and drops the expired ones. Returns how many it dropped.
   * Expired entries also leave when read and when the eviction hand passes them; this is for callers
   * that want memory back sooner.
   */
  purgeExpired(limit = DEFAULT_PURGE_LIMIT): number {
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new InvalidArgumentError('limit', `limit must be an integer ≥ 1, got ${String(limit)}`)
    }
    if (this.#ttlItems === 0) return 0
    const now = this.#clock.monotonic()
    const t = this.#entries
    let purged = 0
    let looked = 0
    // `t.used` is read on every turn: a listener may write to the cache.
    for (let visited = 0; looked < limit && visited < t.used; visited++) {
      if (this.#sweepAt >= t.used) this.#sweepAt = 0
      const slot = this.#sweepAt++
      if (t.items[slot] === undefined) continue
      looked++
      const expiresAt = t.expiresAt[slot]!
      if (expiresAt !== 0 && expiresAt <= now) {
        this.#remove(slot, 'expired')
        purged++
      }
    }
    return purged
  }

  // ── accounting ─────────────────────────────────────────────────────────────────────────────────

  estimateSize(item: SyncItem): number {
    checkItem(item)
    return estimateEntrySize(item)
  }

  pressure(): number {
    return this.#bytes / this.maxBytes
  }

  pressureLevel(): PressureLevel {
    return pressureLevel(this.pressure(), this.thresholds)
  }

  stats(): L1MemoryCacheStats {
    return {
      items: this.#index.size,
      bytes: this.#bytes,
      maxBytes: this.maxBytes,
      pinnedItems: this.#pinnedItems,
      pinnedBytes: this.#pinnedBytes,
      hits: this.#hits,
      misses: this.#misses,
      evictions: this.#evictions,
      expirations: this.#expirations,
      evictionWalkSteps: this.#walkSteps,
    }
  }

  /**
   * Calls `listener` for every entry that leaves on its own: `'evicted'`, `'expired'`, `'cleared'`.
   * A direct `delete` or a replacing `set` is not reported. Listeners run after the entry is gone; one
   * that throws does not disturb the cache (its error is re-thrown from a microtask).
   */
  onRemove(listener: L1RemoveListener): () => void {
    if (typeof listener !== 'function') {
      throw new InvalidArgumentError('listener', `listener must be a function, got ${typeof listener}`)
    }
    this.#listeners = [...this.#listeners, listener]
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener)
    }
  }

  // ── internals ──────────────────────────────────────────────────────────────────────────────────

  /** The slot of `id` if present and not expired, else `NONE`; an expired entry is dropped on the way. */
  #live(id: string): number {
    const slot = this.#index.get(id)
    if (slot === undefined) return NONE
    const expiresAt = this.#entries.expiresAt[slot]!
    if (expiresAt === 0 || expiresAt > this.#clock.monotonic()) return slot
    this.#remove(slot, 'expired')
    return NONE
  }

  /** Adds (`sign` 1) or takes back (-1) an entry's bytes and flags in the totals. */
  #account(slot: number, sign: 1 | -1): void {
    const t = this.#entries
    const bytes = sign * t.bytes[slot]!
    this.#bytes += bytes
    if (t.expiresAt[slot] !== 0) this.#ttlItems += sign
    if (t.pinned[slot] === 1) {
      this.#pinnedItems += sign
      this.#pinnedBytes += bytes
    } else if (t.probation[slot] === 1) {
      this.#probationBytes += bytes
    }
  }

  /** The queue an unpinned entry belongs in. */
  #queue(slot: number): Ring {
    return this.#entries.probation[slot] === 1 ? this.#probation : this.#main
  }

  /** Counts an entry in the totals and, unless pinned, puts it at the back of its queue. */
  #attach(slot: number): void {
    this.#account(slot, 1)
    if (this.#entries.pinned[slot] === 0) this.#queue(slot).insert(slot)
  }

  /** The inverse of `#attach`. */
  #detach(slot: number): void {
    this.#account(slot, -1)
    if (this.#entries.pinned[slot] === 0) this.#queue(slot).remove(slot)
  }

  /** Pins/unpins an entry or promotes it out of probation (to the back of its new queue). */
  #relocate(slot: number, pinned: boolean, probation: boolean): void {
    const t = this.#entries
    this.#detach(slot)
    t.pinned[slot] = pinned ? 1 : 0
    t.probation[slot] = probation ? 1 : 0
    this.#attach(slot)
  }

  /** Removes an entry silently (a caller's own `delete` or replace); returns its item. */
  #unlink(slot: number): SyncItem {
    const t = this.#entries
    const item = t.items[slot] as SyncItem
    this.#index.delete(item.id)
    this.#detach(slot)
    t.release(slot)
    return item
  }

  /** Removes an entry on the cache's own account, counting and reporting it. */
  #remove(slot: number, reason: 'evicted' | 'expired'): void {
    const item = this.#unlink(slot)
    if (reason === 'evicted') this.#evictions++
    else this.#expirations++
    this.#notify(item, reason)
  }

  #evictIfOver(): void {
    if (this.#bytes <= this.#evictAtBytes) return
    const now = this.#ttlItems === 0 ? 0 : this.#clock.monotonic()
    while (this.#bytes > this.#evictToBytes) {
      const victim = this.#pickVictim(now)
      if (victim === NONE) return // only pinned entries left: over budget, honestly reported
      const expiry = this.#entries.expiresAt[victim]!
      this.#remove(victim, expiry !== 0 && expiry <= now ? 'expired' : 'evicted')
    }
  }

  /**
   * The next entry to drop. While the probation queue holds more than `PROBATION_SHARE` of the
   * unpinned bytes (or the main ring is empty), that is its oldest entry: cached, never read since.
   * Otherwise the main ring's hand walks to an expired entry or one whose credits no longer cover its
   * weight; entries passed over pay their weight in credits. Each victim found adds
   * `WALK_STEPS_PER_EVICTION` to the hand's allowance (saved up to `MAX_WALK`); when a walk has used
   * it up without a victim, it takes the entry left with the fewest credits (the largest on a tie).
   */
  #pickVictim(now: number): number {
    const allowance = Math.min(this.#walkAllowance + WALK_STEPS_PER_EVICTION, MAX_WALK)
    const oldest = this.#probation.hand
    const main = this.#main
    if (
      oldest !== NONE &&
      (main.hand === NONE || this.#probationBytes > (this.#bytes - this.#pinnedBytes) * PROBATION_SHARE)
    ) {
      this.#walkSteps++
      this.#walkAllowance = allowance - 1
      return oldest
    }
    const t = this.#entries
    let best = NONE
    let steps = 0
    while (steps < allowance) {
      const slot = main.hand
      if (slot === NONE) break
      steps++
      const expiresAt = t.expiresAt[slot]!
      const weight = t.weight[slot]!
      let credit = t.credit[slot]!
      if (credit < weight || (expiresAt !== 0 && expiresAt <= now)) {
        best = slot
        break
      }
      credit -= weight
      t.credit[slot] = credit
      if (
        best === NONE ||
        credit < t.credit[best]! ||
        (credit === t.credit[best] && t.bytes[slot]! > t.bytes[best]!)
      ) {
        best = slot
      }
      main.advance()
    }
    if (best === NONE) return NONE // nothing unpinned: no step taken, no allowance earned
    this.#walkSteps += steps
    this.#walkAllowance = allowance - steps
    return best
  }

  #notify(item: SyncItem, reason: L1RemovalReason): void {
    for (const listener of this.#listeners) {
      try {
        listener(item, reason)
      } catch (error) {
        queueMicrotask(() => {
          throw error
        })
      }
    }
  }
}
