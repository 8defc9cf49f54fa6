import { InvalidArgumentError } from '@sync-engine/core'
import { type FingerprintBits, MAX_LOG2_BUCKETS, SLOTS } from './table.js'

/** Options of `new CuckooFilter(options)`; every field is optional. */
export interface CuckooFilterOptions {
  /** Ids the first table holds before the filter grows (it is sized to the next power of two of buckets). Default 100 000. */
  initialCapacity?: number | undefined
  /** Fingerprint width: 8, 12 or 16 bits. Wider means fewer false positives and more memory. Default 16. */
  fingerprintBits?: FingerprintBits | undefined
  /** Hash seed, an unsigned 32-bit integer. Filters with different seeds place ids differently. Default 0. */
  seed?: number | undefined
  /** Load (fingerprints ÷ slots) of the newest table at which the filter chains a larger one. In (0, 0.99]; default 0.9. */
  maxLoad?: number | undefined
  /** Relocations an insert may make before its homeless fingerprint goes to the stash. 0–10 000; default 500. */
  maxKicks?: number | undefined
  /** Size of each chained table relative to the previous one: 2, 4, 8 or 16. Default 2. */
  growthFactor?: number | undefined
}

/** The options a filter runs with, defaults filled in. */
export interface ResolvedCuckooFilterOptions {
  readonly initialCapacity: number
  readonly fingerprintBits: FingerprintBits
  readonly seed: number
  readonly maxLoad: number
  readonly maxKicks: number
  readonly growthFactor: number
}

export const DEFAULT_OPTIONS: ResolvedCuckooFilterOptions = Object.freeze({
  initialCapacity: 100_000,
  fingerprintBits: 16,
  seed: 0,
  maxLoad: 0.9,
  maxKicks: 500,
  growthFactor: 2,
})

const KNOWN = Object.keys(DEFAULT_OPTIONS)
export const MAX_KICKS = 10_000
const GROWTH_FACTORS = [2, 4, 8, 16]

/** Buckets (log2) of the first table for `initialCapacity` ids at `maxLoad`. */
export function initialLog2(initialCapacity: number, maxLoad: number): number {
  const buckets = Math.ceil(initialCapacity / (SLOTS * maxLoad))
  return Math.max(0, Math.ceil(Math.log2(buckets)))
}

/** The largest `initialCapacity` that fits the largest table at `maxLoad`. */
export const maxInitialCapacity = (maxLoad: number): number =>
  Math.floor(2 ** MAX_LOG2_BUCKETS * SLOTS * maxLoad)

/**
 * Validates options and fills in defaults. `fail(argument, message)` reports the first problem; the
 * constructor throws `InvalidArgumentError`, `CuckooFilter.import` a `CorruptDataError`.
 */
export function resolveOptions(
  input: CuckooFilterOptions | undefined,
  fail: (argument: string, message: string) => never = invalidArgument,
): ResolvedCuckooFilterOptions {
  if (input === undefined) return DEFAULT_OPTIONS
  if (input === null || typeof input !== 'object' || Array.isArray(input))
    fail('options', `options must be an object, got ${input === null ? 'null' : typeof input}`)
  for (const key of Object.keys(input)) {
    if (!KNOWN.includes(key)) fail(`options.${key}`, `unknown option '${key}' (known: ${KNOWN.join(', ')})`)
  }
  // Only `undefined` (or absence) means "default"; `null` is a value, and refused below.
  const pick = <K extends keyof ResolvedCuckooFilterOptions>(key: K): ResolvedCuckooFilterOptions[K] =>
    (input[key] === undefined ? DEFAULT_OPTIONS[key] : input[key]) as ResolvedCuckooFilterOptions[K]

  const fingerprintBits = pick('fingerprintBits')
  if (fingerprintBits !== 8 && fingerprintBits !== 12 && fingerprintBits !== 16)
    fail('options.fingerprintBits', `fingerprintBits must be 8, 12 or 16, got ${show(fingerprintBits)}`)

  const maxLoad = pick('maxLoad')
  if (typeof maxLoad !== 'number' || !(maxLoad > 0 && maxLoad <= 0.99))
    fail('options.maxLoad', `maxLoad must be a number in (0, 0.99], got ${show(maxLoad)}`)

  const initialCapacity = pick('initialCapacity')
  const maxCapacity = maxInitialCapacity(maxLoad)
  if (!Number.isInteger(initialCapacity) || initialCapacity < 1 || initialCapacity > maxCapacity)
    fail(
      'options.initialCapacity',
      `initialCapacity must be an integer from 1 to ${maxCapacity} (at maxLoad ${maxLoad}), got ${show(initialCapacity)}`,
    )

  const seed = pick('seed')
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
    fail('options.seed', `seed must be an unsigned 32-bit integer (0 to 4294967295), got ${show(seed)}`)

  const maxKicks = pick('maxKicks')
  if (!Number.isInteger(maxKicks) || maxKicks < 0 || maxKicks > MAX_KICKS)
    fail('options.maxKicks', `maxKicks must be an integer from 0 to ${MAX_KICKS}, got ${show(maxKicks)}`)

  const growthFactor = pick('growthFactor')
  if (!GROWTH_FACTORS.includes(growthFactor))
    fail('options.growthFactor', `growthFactor must be 2, 4, 8 or 16, got ${show(growthFactor)}`)

  return Object.freeze({ initialCapacity, fingerprintBits, seed, maxLoad, maxKicks, growthFactor })
}

function invalidArgument(argument: string, message: string): never {
  throw new InvalidArgumentError(argument, message)
}

const show = (v: unknown): string =>
  typeof v === 'string' ? JSON.stringify(v) : typeof v === 'bigint' ? `${v}n` : String(v)
