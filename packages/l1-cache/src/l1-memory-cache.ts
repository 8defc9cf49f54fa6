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
  utf8ByteLength,
} from '@sync-engine/core'
import { CoarseClock } from './coarse-clock.js'
import { Entry, Ring } from './entry.js'
import { type L1MemoryCacheOptions, resolveL1Options } from './options.js'
import {
  CREDIT_MAX,
  entryBytes,
  estimateEntrySize,
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
/** Most removed entries kept for reuse. */
const FREE_LIST_MAX = 1024

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
 * The in-process tier (SPEC §9): a `Map` of entries with exact byte accounting, pinning, TTLs and
 * eviction by a size-weighted CLOCK (see the README). Synchronous throughout.
 */
export class L1MemoryCache implements L1Cache {
  readonly maxBytes: number
  readonly thresholds: Readonly<PressureThresholds>
  /** Pressure above which a `set`/`unpin` starts evicting. */
  readonly evictAt: number
  /** Pressure an eviction run brings the cache down to. */
  readonly evictTo: number

  readonly #map = new Map<string, Entry>()
  /** Unpinned entries never read since cached, oldest at the hand. */
  readonly #probation = new Ring()
  /** Unpinned entries read at least once: the size-weighted CLOCK. */
  readonly #main = new Ring()
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
  readonly #free: Entry[] = []
  #sweep: Iterator<Entry> | undefined = undefined

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
    return this.#map.size
  }

  get bytes(): number {
    return this.#bytes
  }

  // ── reads ──────────────────────────────────────────────────────────────────────────────────────

  get(id: string): SyncItem | undefined {
    const e = this.#live(id)
    if (e === undefined) {
      this.#misses++
      return undefined
    }
    if (e.credit < CREDIT_MAX) e.credit++
    if (e.probation) this.#relocate(e, e.pinned, false)
    const now = this.#coarse.now()
    e.accessCount++
    e.lastAccessed = now
    const item = e.item as SyncItem
    item.accessCount++
    item.lastAccessed = now
    this.#hits++
    return item
  }

  peek(id: string): SyncItem | undefined {
    return this.#live(id)?.item as SyncItem | undefined
  }

  has(id: string): boolean {
    return this.#live(id) !== undefined
  }

  /** Accounting and access facts of one entry, without counting an access. */
  inspect(id: string): L1EntryInfo | undefined {
    const e = this.#live(id)
    if (e === undefined) return undefined
    return {
      bytes: e.bytes,
      pinned: e.pinned,
      accessCount: e.accessCount,
      lastAccessed: e.lastAccessed,
      expiresInMs: e.expiresAt === 0 ? undefined : e.expiresAt - this.#clock.monotonic(),
    }
  }

  // ── writes ─────────────────────────────────────────────────────────────────────────────────────

  set(item: SyncItem, options?: L1SetOptions): void {
    checkItem(item)
    const ttlMs = options === undefined ? 0 : ttlOf(options)
    const pinned = options === undefined ? false : pinnedOf(options)
    let e = this.#live(item.id)
    const idBytes = e === undefined ? utf8ByteLength(item.id) : e.idBytes
    const bytes = entryBytes(idBytes, item)
    if (!pinned && bytes > this.#evictToBytes) {
      // Could never stay: evicting everything else first would only empty the cache for nothing.
      if (e !== undefined) this.#unlink(e)
      this.#evictions++
      this.#notify(item, 'evicted')
      return
    }
    let enqueue = !pinned
    if (e === undefined) {
      e = (this.#free.pop() ?? new Entry()).reset(item, idBytes)
      this.#map.set(e.id, e)
    } else {
      // A replace keeps the entry's place in its queue (its credits carry its recency); only a
      // change of pin state takes it out of, or puts it into, a queue.
      this.#account(e, -1)
      if (!e.pinned) {
        enqueue = false
        if (pinned) this.#queue(e).remove(e)
      }
    }
    e.item = item
    e.bytes = bytes
    e.weight = sizeWeight(bytes)
    e.pinned = pinned
    e.expiresAt = ttlMs === 0 ? 0 : this.#clock.monotonic() + ttlMs
    this.#account(e, 1)
    if (enqueue) this.#queue(e).insert(e)
    this.#evictIfOver()
  }

  delete(id: string): boolean {
    const e = this.#live(id)
    if (e === undefined) return false
    this.#unlink(e)
    return true
  }

  pin(id: string): boolean {
    const e = this.#live(id)
    if (e === undefined) return false
    if (!e.pinned) this.#relocate(e, true, e.probation)
    return true
  }

  unpin(id: string): boolean {
    const e = this.#live(id)
    if (e === undefined) return false
    if (e.pinned) {
      this.#relocate(e, false, e.probation)
      this.#evictIfOver()
    }
    return true
  }

  clear(): void {
    const removed = this.#listeners.length === 0 ? [] : [...this.#map.values()]
    this.#map.clear()
    this.#probation.reset()
    this.#main.reset()
    this.#probationBytes = 0
    this.#sweep = undefined
    this.#bytes = 0
    this.#pinnedItems = 0
    this.#pinnedBytes = 0
    this.#ttlItems = 0
    for (const e of removed) this.#notify(e.item as SyncItem, 'cleared')
  }

  /**
   * Looks at up to `limit` entries (resuming where the last call stopped, pinned ones included) and
   * drops the expired ones. Returns how many it dropped. Expired entries also leave when read and
   * when the eviction hand passes them; this is for callers that want memory back sooner.
   */
  purgeExpired(limit = DEFAULT_PURGE_LIMIT): number {
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new InvalidArgumentError('limit', `limit must be an integer ≥ 1, got ${String(limit)}`)
    }
    if (this.#ttlItems === 0) return 0
    const now = this.#clock.monotonic()
    let purged = 0
    for (let n = Math.min(limit, this.#map.size); n > 0; n--) {
      let next = this.#sweep?.next()
      if (next === undefined || next.done === true) {
        this.#sweep = this.#map.values()
        next = this.#sweep.next()
        if (next.done === true) break
      }
      const e = next.value
      if (e.expiresAt !== 0 && e.expiresAt <= now) {
        this.#remove(e, 'expired')
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
      items: this.#map.size,
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

  /** The entry of `id` if present and not expired; an expired one is dropped on the way. */
  #live(id: string): Entry | undefined {
    const e = this.#map.get(id)
    if (e === undefined || e.expiresAt === 0 || e.expiresAt > this.#clock.monotonic()) return e
    this.#remove(e, 'expired')
    return undefined
  }

  /** Adds (`sign` 1) or takes back (-1) an entry's bytes and flags in the totals. */
  #account(e: Entry, sign: 1 | -1): void {
    const bytes = sign * e.bytes
    this.#bytes += bytes
    if (e.expiresAt !== 0) this.#ttlItems += sign
    if (e.pinned) {
      this.#pinnedItems += sign
      this.#pinnedBytes += bytes
    } else if (e.probation) {
      this.#probationBytes += bytes
    }
  }

  /** The queue an unpinned entry belongs in. */
  #queue(e: Entry): Ring {
    return e.probation ? this.#probation : this.#main
  }

  /** Counts an entry in the totals and, unless pinned, puts it at the back of its queue. */
  #attach(e: Entry): void {
    this.#account(e, 1)
    if (!e.pinned) this.#queue(e).insert(e)
  }

  /** The inverse of `#attach`. */
  #detach(e: Entry): void {
    this.#account(e, -1)
    if (!e.pinned) this.#queue(e).remove(e)
  }

  /** Pins/unpins an entry or promotes it out of probation (to the back of its new queue). */
  #relocate(e: Entry, pinned: boolean, probation: boolean): void {
    this.#detach(e)
    e.pinned = pinned
    e.probation = probation
    this.#attach(e)
  }

  /** Removes an entry silently (a caller's own `delete` or replace); returns its item. */
  #unlink(e: Entry): SyncItem {
    const item = e.item as SyncItem
    this.#map.delete(e.id)
    this.#detach(e)
    e.item = undefined
    if (this.#free.length < FREE_LIST_MAX) this.#free.push(e)
    return item
  }

  /** Removes an entry on the cache's own account, counting and reporting it. */
  #remove(e: Entry, reason: 'evicted' | 'expired'): void {
    const item = this.#unlink(e)
    if (reason === 'evicted') this.#evictions++
    else this.#expirations++
    this.#notify(item, reason)
  }

  #evictIfOver(): void {
    if (this.#bytes <= this.#evictAtBytes) return
    const now = this.#ttlItems === 0 ? 0 : this.#clock.monotonic()
    while (this.#bytes > this.#evictToBytes) {
      const victim = this.#pickVictim(now)
      if (victim === undefined) return // only pinned entries left: over budget, honestly reported
      this.#remove(victim, victim.expiresAt !== 0 && victim.expiresAt <= now ? 'expired' : 'evicted')
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
  #pickVictim(now: number): Entry | undefined {
    const allowance = Math.min(this.#walkAllowance + WALK_STEPS_PER_EVICTION, MAX_WALK)
    const oldest = this.#probation.hand
    const main = this.#main
    if (
      oldest !== undefined &&
      (main.hand === undefined || this.#probationBytes > (this.#bytes - this.#pinnedBytes) * PROBATION_SHARE)
    ) {
      this.#walkSteps++
      this.#walkAllowance = allowance - 1
      return oldest
    }
    let best: Entry | undefined
    let steps = 0
    while (steps < allowance) {
      const e = main.hand
      if (e === undefined) break
      steps++
      if (e.credit < e.weight || (e.expiresAt !== 0 && e.expiresAt <= now)) {
        best = e
        break
      }
      e.credit -= e.weight
      if (
        best === undefined ||
        e.credit < best.credit ||
        (e.credit === best.credit && e.bytes > best.bytes)
      ) {
        best = e
      }
      main.advance()
    }
    if (best === undefined) return undefined // nothing unpinned: no step taken, no allowance earned
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
