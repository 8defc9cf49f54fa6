import type { Clock } from '@sync-engine/core'

/** How many reads may share one clock reading inside a single synchronous run. */
const READS_PER_TICK = 1024

/**
 * Wall-clock time for `lastAccessed` stamps without a `Date.now()` per read (≈ 40 ns here, a third of
 * a cache hit). A reading is reused until a 1 ms unref'd timer marks it stale, or until
 * `READS_PER_TICK` reads have used it, whichever comes first: a stamp is at most about a millisecond
 * old (or 1024 reads, in a long chain of awaits that gives timers no turn), and a burst of reads costs
 * one clock call. A timer rather than a microtask marks it stale, because a microtask per reading
 * would cost every awaited read (the engine's async `get`) an extra queue turn.
 */
export class CoarseClock {
  readonly #clock: Clock
  #now = 0
  #fresh = false
  #reads = 0
  readonly #markStale = (): void => {
    this.#fresh = false
  }

  constructor(clock: Clock) {
    this.#clock = clock
  }

  now(): number {
    if (this.#fresh && (++this.#reads & (READS_PER_TICK - 1)) !== 0) return this.#now
    return this.#refresh()
  }

  #refresh(): number {
    this.#now = this.#clock.now()
    if (!this.#fresh) {
      this.#fresh = true
      setTimeout(this.#markStale, 1).unref()
    }
    return this.#now
  }
}
