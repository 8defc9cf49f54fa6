import { InvalidArgumentError } from '@sync-engine/core'

/** A deterministic pseudo-random source: call it for a float in [0, 1). */
export interface SeededRandom {
  (): number
  /** The seed it was made from (print it in a failing test to reproduce the run). */
  readonly seed: number
  /** A float in [min, max). */
  between(min: number, max: number): number
  /** An integer in [min, max] (both inclusive). */
  int(min: number, max: number): number
}

/**
 * A seedable PRNG (mulberry32): the same seed gives the same sequence on every machine. Not for
 * cryptography; for jitter, kill moments and other test randomness that must be reproducible.
 */
export function seededRandom(seed: number): SeededRandom {
  if (!Number.isSafeInteger(seed)) {
    throw new InvalidArgumentError('seed', `seed must be a safe integer, got ${String(seed)}`)
  }
  // Fold the high bits in so seeds above 2^32 still differ.
  let state = (seed ^ Math.floor(seed / 0x1_0000_0000)) >>> 0
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000
  }
  const between = (min: number, max: number): number => {
    requireRange('between', min, max)
    return min + next() * (max - min)
  }
  const int = (min: number, max: number): number => {
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max)) {
      throw new InvalidArgumentError('int', `int(min, max) needs integers, got ${min}, ${max}`)
    }
    requireRange('int', min, max)
    return min + Math.floor(next() * (max - min + 1))
  }
  return Object.assign(next, { seed, between, int })
}

function requireRange(argument: string, min: number, max: number): void {
  if (!Number.isFinite(min) || !Number.isFinite(max) || min > max) {
    throw new InvalidArgumentError(
      argument,
      `${argument}(min, max) needs finite min <= max, got ${min}, ${max}`,
    )
  }
}
