/** Slots per bucket. */
export const SLOTS = 4
/** Largest table: 2^28 buckets (2^30 slots, 2 GiB at 16 bits). */
export const MAX_LOG2_BUCKETS = 28

export type FingerprintBits = 8 | 12 | 16

/**
 * One cuckoo table of the chain: `buckets` (a power of two) buckets of four fingerprint slots in a
 * typed array, 0 marking an empty slot, plus its victim stash. The stash holds fingerprints that found
 * no slot after the bounded relocation; it is keyed by `stashKey(min(i1, i2), fp)` (the bucket pair
 * and fingerprint are all a lookup can know) and counts duplicates. It is empty in all but
 * pathological cases (many copies of one id, or a `maxLoad` near 1).
 */
export abstract class Table {
  readonly bits: FingerprintBits
  readonly log2: number
  readonly buckets: number
  readonly mask: number
  /** Fingerprints held in slots (not counting the stash). */
  count = 0
  /** Fingerprints held in the stash (sum of its counts). */
  stashed = 0
  readonly stash = new Map<number, number>()
  /** Fingerprints (slots + stash) from which the chain grows instead of inserting here. */
  readonly growAt: number

  constructor(bits: FingerprintBits, log2: number, maxLoad: number) {
    this.bits = bits
    this.log2 = log2
    this.buckets = 2 ** log2
    this.mask = this.buckets - 1
    this.growAt = Math.max(1, Math.floor(this.buckets * SLOTS * maxLoad))
  }

  /** Whether bucket `i` holds `fp`. */
  abstract contains(i: number, fp: number): boolean
  /** Puts `fp` into a free slot of bucket `i`; false when the bucket is full. */
  abstract put(i: number, fp: number): boolean
  /** Removes one copy of `fp` from bucket `i`; false when it holds none. */
  abstract take(i: number, fp: number): boolean
  /** Stores `fp` in slot `slot` of bucket `i` and returns what was there (a full bucket's victim). */
  abstract swap(i: number, slot: number, fp: number): number
  /** Bytes of the slot array (what `stats().bytes` reports). */
  abstract get byteLength(): number
  /** Writes the slots in the export layout (see README) at `out[offset]`. */
  abstract writeTo(out: Uint8Array, offset: number): void
  /** Loads the slots from the export layout; returns the number of occupied slots. */
  abstract readFrom(bytes: Uint8Array, offset: number): number
  /** Empties the slots and the stash. */
  abstract reset(): void

  /** Tries to move stash entries back into slots (called after a slot was freed). */
  restash(): void {
    for (const [key, n] of this.stash) {
      const fp = key % 65536
      const i = (key - fp) / 65536
      const j = i ^ (altOffset(fp) & this.mask)
      let left = n
      while (left > 0 && (this.put(i, fp) || this.put(j, fp))) left--
      if (left === n) continue
      this.stashed -= n - left
      if (left === 0) this.stash.delete(key)
      else this.stash.set(key, left)
    }
  }
}

/**
 * Partial-key cuckoo hashing: a fingerprint's other bucket is `i ^ (altOffset(fp) & mask)`, so it can
 * move without its id. The multiplier is MurmurHash2's (as in the reference cuckoo filter).
 */
export const altOffset = (fp: number): number => Math.imul(fp, 0x5bd1e995)

/** Stash key of a (bucket pair, fingerprint): `min(i1, i2) * 65536 + fp` (exact in a double). */
export const stashKey = (low: number, fp: number): number => low * 65536 + fp

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** 8- and 16-bit fingerprints: one typed-array element per slot, bucket `i` at `[4i, 4i + 4)`. */
export class WordTable extends Table {
  private readonly slots: Uint8Array | Uint16Array

  constructor(bits: 8 | 16, log2: number, maxLoad: number) {
    super(bits, log2, maxLoad)
    this.slots = bits === 8 ? new Uint8Array(this.buckets * SLOTS) : new Uint16Array(this.buckets * SLOTS)
  }

  contains(i: number, fp: number): boolean {
    const s = this.slots
    const b = i << 2
    return s[b] === fp || s[b + 1] === fp || s[b + 2] === fp || s[b + 3] === fp
  }

  put(i: number, fp: number): boolean {
    const s = this.slots
    const b = i << 2
    for (let k = b; k < b + SLOTS; k++) {
      if (s[k] === 0) {
        s[k] = fp
        this.count++
        return true
      }
    }
    return false
  }

  take(i: number, fp: number): boolean {
    const s = this.slots
    const b = i << 2
    for (let k = b; k < b + SLOTS; k++) {
      if (s[k] === fp) {
        s[k] = 0
        this.count--
        return true
      }
    }
    return false
  }

  swap(i: number, slot: number, fp: number): number {
    const k = (i << 2) + slot
    const old = this.slots[k]!
    this.slots[k] = fp
    return old
  }

  get byteLength(): number {
    return this.slots.byteLength
  }

  writeTo(out: Uint8Array, offset: number): void {
    const s = this.slots
    if (s instanceof Uint8Array || LITTLE_ENDIAN) {
      out.set(new Uint8Array(s.buffer, s.byteOffset, s.byteLength), offset)
      return
    }
    for (let k = 0; k < s.length; k++) {
      out[offset + 2 * k] = s[k]! & 0xff
      out[offset + 2 * k + 1] = s[k]! >>> 8
    }
  }

  readFrom(bytes: Uint8Array, offset: number): number {
    const s = this.slots
    if (s instanceof Uint8Array || LITTLE_ENDIAN) {
      new Uint8Array(s.buffer, s.byteOffset, s.byteLength).set(bytes.subarray(offset, offset + s.byteLength))
    } else {
      for (let k = 0; k < s.length; k++) s[k] = bytes[offset + 2 * k]! | (bytes[offset + 2 * k + 1]! << 8)
    }
    let n = 0
    for (let k = 0; k < s.length; k++) if (s[k] !== 0) n++
    this.count = n
    return n
  }

  reset(): void {
    this.slots.fill(0)
    this.count = 0
    this.stash.clear()
    this.stashed = 0
  }
}

/**
 * 12-bit fingerprints packed: a bucket is 6 bytes, two little-endian 24-bit words each holding two
 * slots (slot 2h in bits 0–11 and slot 2h+1 in bits 12–23 of word h).
 */
export class PackedTable extends Table {
  private readonly data: Uint8Array

  constructor(log2: number, maxLoad: number) {
    super(12, log2, maxLoad)
    this.data = new Uint8Array(this.buckets * 6)
  }

  contains(i: number, fp: number): boolean {
    const d = this.data
    const o = i * 6
    const w0 = d[o]! | (d[o + 1]! << 8) | (d[o + 2]! << 16)
    if ((w0 & 0xfff) === fp || w0 >>> 12 === fp) return true
    const w1 = d[o + 3]! | (d[o + 4]! << 8) | (d[o + 5]! << 16)
    return (w1 & 0xfff) === fp || w1 >>> 12 === fp
  }

  private get(i: number, slot: number): number {
    const d = this.data
    const o = i * 6 + 3 * (slot >> 1)
    const w = d[o]! | (d[o + 1]! << 8) | (d[o + 2]! << 16)
    return slot & 1 ? w >>> 12 : w & 0xfff
  }

  private set(i: number, slot: number, fp: number): void {
    const d = this.data
    const o = i * 6 + 3 * (slot >> 1)
    let w = d[o]! | (d[o + 1]! << 8) | (d[o + 2]! << 16)
    w = slot & 1 ? (w & 0xfff) | (fp << 12) : (w & 0xfff000) | fp
    d[o] = w & 0xff
    d[o + 1] = (w >>> 8) & 0xff
    d[o + 2] = w >>> 16
  }

  put(i: number, fp: number): boolean {
    for (let s = 0; s < SLOTS; s++) {
      if (this.get(i, s) === 0) {
        this.set(i, s, fp)
        this.count++
        return true
      }
    }
    return false
  }

  take(i: number, fp: number): boolean {
    for (let s = 0; s < SLOTS; s++) {
      if (this.get(i, s) === fp) {
        this.set(i, s, 0)
        this.count--
        return true
      }
    }
    return false
  }

  swap(i: number, slot: number, fp: number): number {
    const old = this.get(i, slot)
    this.set(i, slot, fp)
    return old
  }

  get byteLength(): number {
    return this.data.byteLength
  }

  writeTo(out: Uint8Array, offset: number): void {
    out.set(this.data, offset)
  }

  readFrom(bytes: Uint8Array, offset: number): number {
    this.data.set(bytes.subarray(offset, offset + this.data.byteLength))
    let n = 0
    for (let i = 0; i < this.buckets; i++) for (let s = 0; s < SLOTS; s++) if (this.get(i, s) !== 0) n++
    this.count = n
    return n
  }

  reset(): void {
    this.data.fill(0)
    this.count = 0
    this.stash.clear()
    this.stashed = 0
  }
}

export function makeTable(bits: FingerprintBits, log2: number, maxLoad: number): Table {
  return bits === 12 ? new PackedTable(log2, maxLoad) : new WordTable(bits, log2, maxLoad)
}

/** Bytes of one table of 2^log2 buckets in memory and in the export. */
export const tableBytes = (bits: FingerprintBits, log2: number): number =>
  2 ** log2 * (bits === 8 ? 4 : bits === 12 ? 6 : 8)
