/** A source of time the packages read instead of `Date.now()`, so tests can inject it. */
export interface Clock {
  /** Wall-clock epoch milliseconds. */
  now(): number
  /** Monotonic milliseconds (for durations and timeouts). */
  monotonic(): number
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
}

/** A clock that only moves when told to. */
export class ManualClock implements Clock {
  #now: number
  #mono = 0
  constructor(startMs = 0) {
    this.#now = startMs
  }
  now(): number {
    return this.#now
  }
  monotonic(): number {
    return this.#mono
  }
  advance(ms: number): void {
    this.#now += ms
    this.#mono += ms
  }
  set(epochMs: number): void {
    this.#now = epochMs
  }
}
