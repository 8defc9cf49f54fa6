import { SyncItem } from 'sync-engine'

/**
 * Pre-generated, seeded benchmark data: ids shaped like a multi-tenant service's
 * (`tenant42.user.1234567`), JSON payloads of 100 B–2 KB, and random key orders. The same seed gives
 * the same data on every run and machine; nothing here is generated inside a timed function.
 */

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32). */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const KINDS = ['user', 'order', 'session', 'cart', 'invoice', 'product', 'device', 'event'] as const
const TENANTS = 100
const ROLES = ['admin', 'member', 'viewer', 'owner'] as const
const WORDS =
  'alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega north south east west river stone cloud'.split(
    ' ',
  )

/**
 * `n` distinct ids `tenant{0..99}.{kind}.{7 digits}`, tenants and kinds drawn at random, so ids share
 * prefixes the way a real keyspace does. `seed` picks the set: different seeds give disjoint sets
 * (the 7-digit part is unique across seeds, up to 1M ids per seed and 8 seeds).
 */
export function benchIds(n: number, seed = 1): string[] {
  if (n > 1_000_000) throw new RangeError(`benchIds: at most 1M ids per seed, asked ${n}`)
  const random = seededRandom(seed)
  const base = 1_000_000 + (seed % 8) * 1_000_000
  // The number part is a random permutation slice, so consecutive ids are not adjacent in any order.
  const numbers = shuffled(n, seed)
  return numbers.map(
    (k) =>
      `tenant${Math.floor(random() * TENANTS)}.${KINDS[Math.floor(random() * KINDS.length)]}.${base + k}`,
  )
}

/** Free text that payloads take slices of (built once; a slice is cheap). */
const TEXT = (() => {
  const random = seededRandom(99)
  let text = ''
  while (text.length < 8192) text += `${WORDS[Math.floor(random() * WORDS.length)]} `
  return text
})()

/**
 * A JSON value whose encoding is about `bytes` long: a profile-like record with a free-text field that
 * takes up the rest.
 */
function payload(random: () => number, i: number, bytes: number): Record<string, unknown> {
  const word = () => WORDS[Math.floor(random() * WORDS.length)]!
  const value: Record<string, unknown> = {
    name: `${word()} ${word()}`,
    email: `user${i}@example.com`,
    role: ROLES[Math.floor(random() * ROLES.length)],
    active: random() < 0.9,
    score: Math.round(random() * 10_000) / 100,
    tags: [word(), word()],
    createdAt: 1_700_000_000_000 + Math.floor(random() * 1e10),
    notes: '',
  }
  const room = Math.max(0, bytes - JSON.stringify(value).length)
  const at = Math.floor(random() * (TEXT.length - room))
  value.notes = TEXT.slice(at, at + room)
  return value
}

/** Payload sizes: log-uniform between 100 B and 2 KB (median ≈ 450 B), as cached records tend to be. */
function payloadSize(random: () => number): number {
  return Math.round(100 * 20 ** random())
}

/** `n` JSON values of 100 B–2 KB; `generation` changes every value (a new write of the same ids). */
export function benchValues(n: number, seed = 1, generation = 0): Record<string, unknown>[] {
  const random = seededRandom(seed * 7919 + generation)
  return Array.from({ length: n }, (_, i) => {
    const value = payload(random, i, payloadSize(random))
    value.generation = generation
    return value
  })
}

/** A fixed `updatedAt`, so two generations of the same ids never make each other stale. */
export const BENCH_TIME = 1_700_000_000_000

/** Items for `ids` with `benchValues` content; the content hash is computed here, not in a timed call. */
export function benchItems(ids: readonly string[], seed = 1, generation = 0): SyncItem[] {
  const values = benchValues(ids.length, seed, generation)
  return ids.map((id, i) => {
    const item = SyncItem.fromJson(id, values[i], { updatedAt: BENCH_TIME })
    void item.contentHash
    return item
  })
}

/** A random permutation of 0..n-1 (Fisher–Yates), for random key order. */
export function shuffled(n: number, seed = 1): number[] {
  const random = seededRandom(seed ^ 0x5bd1e995)
  const order = Array.from({ length: n }, (_, i) => i)
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const t = order[i]!
    order[i] = order[j]!
    order[j] = t
  }
  return order
}

/** `ids` in a random order (a new array; `ids` is left as it is). */
export function inRandomOrder<T>(ids: readonly T[], seed = 1): T[] {
  return shuffled(ids.length, seed).map((i) => ids[i]!)
}

/** Cycles through `values`, one per call: what a timed loop uses to pick its next key. */
export function cycle<T>(values: readonly T[]): () => T {
  let at = 0
  return () => {
    const value = values[at]!
    at = at + 1 === values.length ? 0 : at + 1
    return value
  }
}
