import type { ExistenceFilter, ExistenceFilterStats } from '@sync-engine/core'
import { InvalidArgumentError } from '@sync-engine/core'
import { decodeFilter, encodeFilter, type FilterParts } from './format.js'
import {
  type CuckooFilterOptions,
  initialLog2,
  type ResolvedCuckooFilterOptions,
  resolveOptions,
} from './options.js'
import { altOffset, MAX_LOG2_BUCKETS, makeTable, SLOTS, stashKey, type Table } from './table.js'

/** What `stats()` reports: core's `ExistenceFilterStats` plus cuckoo-specific figures. */
export interface CuckooFilterStats extends ExistenceFilterStats {
  /** Fingerprints held (every `add` counts, duplicates included, minus successful removes). */
  readonly entries: number
  /** Fingerprint slots over all chained tables (buckets × 4). */
  readonly capacity: number
  /** `entries / capacity`. */
  readonly loadFactor: number
  readonly fingerprintBits: number
  /** Bytes of the fingerprint tables (the stash, normally empty, is not counted). */
  readonly bytes: number
  /** Times the filter chained a larger table since it was created (or cleared). */
  readonly expansions: number
  /** Chained tables (`expansions + 1` unless imported from a filter that was cleared). */
  readonly tables: number
  /** Fingerprints waiting in victim stashes (normally 0). */
  readonly stashed: number
  /** Expected false-positive rate of a lookup for an absent id at the current loads (see README). */
  readonly falsePositiveRate: number
}

/** Distinct stash entries of the newest table at which the filter grows even below `maxLoad`. */
export const STASH_LIMIT = 8

// ── Hashing ─────────────────────────────────────────────────────────────────────────────────────────
// Two 32-bit lanes over the id's UTF-16 code units, two units (one 32-bit word) per step: multiply by an
// odd constant, xor-shift; then the lanes are cross-mixed and each goes through MurmurHash3's fmix32.
// H1 picks buckets, H2 the fingerprint. Chosen by measurement (scripts/hash-candidates.mjs, README).
let H1 = 0
let H2 = 0

function hashId(s: string, seed: number): void {
  const imul = Math.imul
  let a = 0xdeadbeef ^ seed
  let b = 0x41c6ce57 ^ seed
  const n = s.length
  let i = 0
  for (; i + 1 < n; i += 2) {
    const c = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16)
    a = imul(a ^ c, 0x9e3779b1)
    b = imul(b ^ c, 0x5f356495)
    a ^= a >>> 15
    b ^= b >>> 13
  }
  if (i < n) {
    const c = s.charCodeAt(i)
    a = imul(a ^ c, 0x9e3779b1)
    b = imul(b ^ c, 0x5f356495)
  }
  a ^= n
  a = imul(a ^ (a >>> 16), 0x85ebca6b) ^ imul(b ^ (b >>> 13), 0xc2b2ae35)
  b = imul(b ^ (b >>> 16), 0x85ebca6b) ^ imul(a ^ (a >>> 13), 0xc2b2ae35)
  a ^= a >>> 16
  a = imul(a, 0x85ebca6b)
  a ^= a >>> 13
  a = imul(a, 0xc2b2ae35)
  H1 = a ^ (a >>> 16)
  b ^= b >>> 16
  b = imul(b, 0x85ebca6b)
  b ^= b >>> 13
  b = imul(b, 0xc2b2ae35)
  H2 = b ^ (b >>> 16)
}

/**
 * The two 32-bit hashes of `id` under `seed` (unsigned), as the filter computes them: bucket index is
 * `h1 & (buckets − 1)`, fingerprint `h2 mod (2^bits − 1) + 1`. Exposed for tests and for porting.
 */
export function hashPair(id: string, seed = 0): [h1: number, h2: number] {
  hashId(id, seed)
  return [H1 >>> 0, H2 >>> 0]
}

/** First state of the PRNG (xorshift32) that picks relocation victims; never 0. */
const rngStart = (seed: number): number => {
  let x = Math.imul(seed ^ 0x2545f491, 0x9e3779b1)
  x ^= x >>> 16
  return x === 0 ? 0x6d2b79f5 : x
}

const badId = (id: unknown): InvalidArgumentError =>
  new InvalidArgumentError('id', `id must be a string, got ${id === null ? 'null' : typeof id}`)

let restoring: FilterParts | undefined

/**
 * An expandable cuckoo filter over string ids (SPEC §7): "is this id certainly not stored?".
 *
 * Buckets of four fingerprint slots in typed arrays; partial-key cuckoo hashing over power-of-two
 * tables; bounded relocation with a victim stash (an insert never drops a fingerprint); growth by
 * chaining a larger table; a versioned, CRC-32-checked byte format (`export` / `CuckooFilter.import`).
 *
 * No false negatives: an added id is found until it is removed as often as it was added. Callers must
 * only `remove` ids they added — see `remove`.
 */
export class CuckooFilter implements ExistenceFilter {
  /** Version of the byte format `export()` writes and `import()` reads. */
  static readonly FORMAT_VERSION = 1

  /** The options this filter runs with (defaults filled in). */
  readonly options: ResolvedCuckooFilterOptions
  /** Chained tables, oldest (smallest) first; inserts go to the last. */
  private tables: Table[]
  private entries = 0
  private expansions = 0
  private rng: number
  private readonly seed: number
  private readonly fpRange: number

  constructor(options?: CuckooFilterOptions) {
    const parts = restoring
    restoring = undefined
    this.options = parts ? parts.options : resolveOptions(options)
    this.seed = this.options.seed | 0
    this.fpRange = 2 ** this.options.fingerprintBits - 1
    if (parts) {
      this.tables = parts.tables
      this.rng = parts.rng
      this.expansions = parts.expansions
      for (const t of this.tables) this.entries += t.count + t.stashed
    } else {
      this.tables = [this.firstTable()]
      this.rng = rngStart(this.options.seed)
    }
  }

  /**
   * Rebuilds a filter from `export()` bytes. Throws core's `CorruptDataError` saying what is wrong
   * when the bytes are truncated, altered (checksum), not a filter (magic) or of another format
   * version. `source` names where the bytes came from in that error (a file, a key).
   */
  static import(bytes: Uint8Array, options: { source?: string } = {}): CuckooFilter {
    if (!(bytes instanceof Uint8Array))
      throw new InvalidArgumentError('bytes', `bytes must be a Uint8Array, got ${typeof bytes}`)
    restoring = decodeFilter(bytes, options.source ?? 'cuckoo filter bytes')
    try {
      return new CuckooFilter()
    } finally {
      restoring = undefined
    }
  }

  private firstTable(): Table {
    const { fingerprintBits, initialCapacity, maxLoad } = this.options
    return makeTable(fingerprintBits, initialLog2(initialCapacity, maxLoad), maxLoad)
  }

  /** Adds `id` (one more fingerprint: adding an id twice takes two removes). */
  add(id: string): void {
    if (typeof id !== 'string') throw badId(id)
    hashId(id, this.seed)
    const fp = ((H2 >>> 0) % this.fpRange) + 1
    let t = this.tables[this.tables.length - 1]!
    if (t.count + t.stashed >= t.growAt || t.stash.size >= STASH_LIMIT) t = this.grow()
    const mask = t.mask
    const i1 = H1 & mask
    const i2 = i1 ^ (altOffset(fp) & mask)
    this.entries++
    if (t.put(i1, fp) || t.put(i2, fp)) return
    if (t.stashed !== 0) {
      const key = stashKey(Math.min(i1, i2), fp)
      const n = t.stash.get(key)
      if (n !== undefined) {
        t.stash.set(key, n + 1)
        t.stashed++
        return
      }
    }
    this.relocate(t, fp, this.random() & 1 ? i2 : i1)
  }

  /** Adds every id of `ids`. */
  addMany(ids: Iterable<string>): void {
    for (const id of ids) this.add(id)
  }

  /**
   * Removes one fingerprint of `id`; true when one was removed. An id the filter does not match is
   * left alone (false, nothing changes).
   *
   * Contract: only remove ids you added (SPEC §7). A never-added id that happens to match (a false
   * positive: same fingerprint and bucket pair as some added id) removes that id's fingerprint, and
   * the added id may then be missed — a false negative. No cuckoo filter can tell the two apart.
   * Removing ids you added is always safe, however ids collide: tables are searched from the newest
   * (largest) down, and ids indistinguishable in a larger table are indistinguishable in every smaller
   * one, so whichever copy goes, every remaining added id still matches one.
   */
  remove(id: string): boolean {
    if (typeof id !== 'string') throw badId(id)
    hashId(id, this.seed)
    const fp = ((H2 >>> 0) % this.fpRange) + 1
    const off = altOffset(fp)
    const tables = this.tables
    for (let k = tables.length - 1; k >= 0; k--) {
      const t = tables[k]!
      const i1 = H1 & t.mask
      const i2 = i1 ^ (off & t.mask)
      if (t.take(i1, fp) || t.take(i2, fp)) {
        this.entries--
        if (t.stashed !== 0) t.restash()
        return true
      }
      if (t.stashed !== 0) {
        const key = stashKey(Math.min(i1, i2), fp)
        const n = t.stash.get(key)
        if (n !== undefined) {
          if (n === 1) t.stash.delete(key)
          else t.stash.set(key, n - 1)
          t.stashed--
          this.entries--
          return true
        }
      }
    }
    return false
  }

  /** Alias of `remove`. */
  delete(id: string): boolean {
    return this.remove(id)
  }

  /** False: `id` was certainly never added (or was removed). True: it probably was. */
  mightContain(id: string): boolean {
    if (typeof id !== 'string') throw badId(id)
    hashId(id, this.seed)
    const fp = ((H2 >>> 0) % this.fpRange) + 1
    const off = altOffset(fp)
    const tables = this.tables
    for (let k = tables.length - 1; k >= 0; k--) {
      const t = tables[k]!
      const i1 = H1 & t.mask
      const i2 = i1 ^ (off & t.mask)
      if (t.contains(i1, fp) || t.contains(i2, fp)) return true
      if (t.stashed !== 0 && t.stash.has(stashKey(Math.min(i1, i2), fp))) return true
    }
    return false
  }

  /** Alias of `mightContain`. */
  has(id: string): boolean {
    return this.mightContain(id)
  }

  /** Fingerprints held (the `entries` of `stats()`). */
  get size(): number {
    return this.entries
  }

  /** Empties the filter back to one table of the initial capacity. */
  clear(): void {
    const first = this.tables[0]!
    const log2 = initialLog2(this.options.initialCapacity, this.options.maxLoad)
    if (first.log2 === log2) {
      first.reset()
      this.tables = [first]
    } else {
      this.tables = [this.firstTable()]
    }
    this.entries = 0
    this.expansions = 0
    this.rng = rngStart(this.options.seed)
  }

  /** The filter in the versioned byte format (layout in the README); `CuckooFilter.import` reads it. */
  export(): Uint8Array {
    return encodeFilter({
      options: this.options,
      tables: this.tables,
      rng: this.rng,
      expansions: this.expansions,
    })
  }

  stats(): CuckooFilterStats {
    let capacity = 0
    let bytes = 0
    let stashed = 0
    for (const t of this.tables) {
      capacity += t.buckets * SLOTS
      bytes += t.byteLength
      stashed += t.stashed
    }
    return {
      entries: this.entries,
      capacity,
      loadFactor: capacity === 0 ? 0 : this.entries / capacity,
      fingerprintBits: this.options.fingerprintBits,
      bytes,
      expansions: this.expansions,
      tables: this.tables.length,
      stashed,
      falsePositiveRate: this.expectedFalsePositiveRate(),
    }
  }

  /**
   * Expected probability that `mightContain` answers true for an id never added, at the current loads:
   * `1 − Π_tables (1 − 1/(2^f − 1))^(2·4·α)` with α a table's load (each lookup reads two buckets of
   * four slots per table), times a negligible term per stash entry.
   */
  expectedFalsePositiveRate(): number {
    const miss = 1 - 1 / this.fpRange
    let logNone = 0
    for (const t of this.tables) {
      const alpha = t.count / (t.buckets * SLOTS)
      logNone += 2 * SLOTS * alpha * Math.log(miss)
      if (t.stash.size) logNone += t.stash.size * Math.log1p(-Math.min(1, 2 / t.buckets) / this.fpRange)
    }
    return -Math.expm1(logNone)
  }

  private grow(): Table {
    const last = this.tables[this.tables.length - 1]!
    const log2 = Math.min(last.log2 + Math.log2(this.options.growthFactor), MAX_LOG2_BUCKETS)
    const t = makeTable(this.options.fingerprintBits, log2, this.options.maxLoad)
    this.tables.push(t)
    this.expansions++
    return t
  }

  /** Bounded cuckoo relocation of `fp` starting at bucket `i`; a fingerprint left homeless is stashed. */
  private relocate(t: Table, fp: number, i: number): void {
    const mask = t.mask
    let cur = fp
    for (let n = this.options.maxKicks; n > 0; n--) {
      cur = t.swap(i, this.random() & 3, cur)
      i ^= altOffset(cur) & mask
      if (t.put(i, cur)) return
    }
    const j = i ^ (altOffset(cur) & mask)
    const key = stashKey(Math.min(i, j), cur)
    t.stash.set(key, (t.stash.get(key) ?? 0) + 1)
    t.stashed++
  }

  /** xorshift32 (deterministic: the same adds on the same options give the same bytes). */
  private random(): number {
    let x = this.rng
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.rng = x
    return x >>> 0
  }
}
