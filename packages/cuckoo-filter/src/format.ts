import { CorruptDataError } from '@sync-engine/core'
import { crc32 } from './crc32.js'
import { type ResolvedCuckooFilterOptions, resolveOptions } from './options.js'
import {
  altOffset,
  type FingerprintBits,
  MAX_LOG2_BUCKETS,
  makeTable,
  SLOTS,
  stashKey,
  type Table,
  tableBytes,
} from './table.js'

/**
 * The byte format of `CuckooFilter.export()` (version 1, every integer little-endian; README has the
 * same table):
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 4 | magic `SECF` (53 45 43 46) |
 * | 4 | 2 | format version (1) |
 * | 6 | 1 | fingerprint bits (8, 12 or 16) |
 * | 7 | 1 | slots per bucket (4) |
 * | 8 | 8 | total length in bytes, checksum included (u64) |
 * | 16 | 1 | hash function (1: the two-lane hash of the README) |
 * | 17 | 1 | growth factor (2, 4, 8, 16) |
 * | 18 | 2 | table count T (≥ 1) |
 * | 20 | 4 | seed |
 * | 24 | 4 | max kicks |
 * | 28 | 4 | initial capacity |
 * | 32 | 4 | relocation PRNG state (xorshift32, non-zero) |
 * | 36 | 4 | expansions |
 * | 40 | 8 | max load (float64) |
 * | 48 | 16·T | per table, oldest first: log2 of buckets (u8), 3 zero bytes, fingerprints in slots (u32), distinct stash entries (u32), stashed fingerprints (u32) |
 * | … | 12·S | stash entries, table by table: lower bucket of the pair (u32), fingerprint (u16), 2 zero bytes, count (u32) |
 * | … | … | the tables' slots, oldest first: 4, 6 or 8 bytes per bucket at 8, 12 or 16 bits |
 * | end − 4 | 4 | CRC-32 (IEEE) of every byte before it |
 */
export const MAGIC = [0x53, 0x45, 0x43, 0x46] as const // 'SECF'
export const FORMAT_VERSION = 1
export const HASH_FUNCTION = 1
export const HEADER_BYTES = 48
const TABLE_BYTES = 16
const STASH_BYTES = 12
const CHECKSUM_BYTES = 4

/** Everything a filter is, as the format carries it. */
export interface FilterParts {
  readonly options: ResolvedCuckooFilterOptions
  readonly tables: Table[]
  readonly rng: number
  readonly expansions: number
}

export function encodeFilter(parts: FilterParts): Uint8Array {
  const { options, tables } = parts
  let stashEntries = 0
  let slotBytes = 0
  for (const t of tables) {
    stashEntries += t.stash.size
    slotBytes += t.byteLength
  }
  const total =
    HEADER_BYTES + TABLE_BYTES * tables.length + STASH_BYTES * stashEntries + slotBytes + CHECKSUM_BYTES
  const out = new Uint8Array(total)
  const view = new DataView(out.buffer)
  out.set(MAGIC, 0)
  view.setUint16(4, FORMAT_VERSION, true)
  view.setUint8(6, options.fingerprintBits)
  view.setUint8(7, SLOTS)
  view.setUint32(8, total % 2 ** 32, true)
  view.setUint32(12, Math.floor(total / 2 ** 32), true)
  view.setUint8(16, HASH_FUNCTION)
  view.setUint8(17, options.growthFactor)
  view.setUint16(18, tables.length, true)
  view.setUint32(20, options.seed, true)
  view.setUint32(24, options.maxKicks, true)
  view.setUint32(28, options.initialCapacity, true)
  view.setUint32(32, parts.rng >>> 0, true)
  view.setUint32(36, parts.expansions, true)
  view.setFloat64(40, options.maxLoad, true)
  let at = HEADER_BYTES
  for (const t of tables) {
    view.setUint8(at, t.log2)
    view.setUint32(at + 4, t.count, true)
    view.setUint32(at + 8, t.stash.size, true)
    view.setUint32(at + 12, t.stashed, true)
    at += TABLE_BYTES
  }
  for (const t of tables) {
    for (const [key, count] of t.stash) {
      const fp = key % 65536
      view.setUint32(at, (key - fp) / 65536, true)
      view.setUint16(at + 4, fp, true)
      view.setUint32(at + 8, count, true)
      at += STASH_BYTES
    }
  }
  for (const t of tables) {
    t.writeTo(out, at)
    at += t.byteLength
  }
  view.setUint32(at, crc32(out, 0, at), true)
  return out
}

const hex = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, '0')}`

/** Parses and checks `export()` bytes; every defect is a `CorruptDataError` at `source` saying what. */
export function decodeFilter(bytes: Uint8Array, source: string): FilterParts {
  const corrupt = (message: string): never => {
    throw new CorruptDataError(source, message)
  }
  const n = bytes.length
  for (let k = 0; k < MAGIC.length; k++) {
    if (k >= n)
      corrupt(`truncated: ${n} bytes, too short for the 4-byte magic (not a complete cuckoo filter export)`)
    if (bytes[k] !== MAGIC[k]) {
      const found = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ')
      corrupt(
        `wrong magic ${found}: expected 53 45 43 46 ('SECF'); these bytes are not a cuckoo filter export`,
      )
    }
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (n < 6) corrupt(`truncated: ${n} bytes, too short for the format version`)
  const version = view.getUint16(4, true)
  if (version !== FORMAT_VERSION)
    corrupt(`unsupported format version ${version}: this build reads version ${FORMAT_VERSION}`)
  if (n < 16) corrupt(`truncated: ${n} bytes, too short for the header (${HEADER_BYTES} bytes)`)
  const declared = view.getUint32(8, true) + view.getUint32(12, true) * 2 ** 32
  if (n < declared) corrupt(`truncated: ${n} of the ${declared} bytes the header declares`)
  if (n > declared)
    corrupt(`${n} bytes, but the header declares ${declared}: trailing bytes or a damaged length`)
  if (declared < HEADER_BYTES + TABLE_BYTES + CHECKSUM_BYTES)
    corrupt(`declared length ${declared} is shorter than the smallest filter`)
  const stored = view.getUint32(n - CHECKSUM_BYTES, true)
  const computed = crc32(bytes, 0, n - CHECKSUM_BYTES)
  if (stored !== computed)
    corrupt(
      `checksum mismatch: stored CRC-32 ${hex(stored)}, computed ${hex(computed)}; the bytes were altered`,
    )

  // The checksum holds, so what follows is what some writer wrote; still check every field, so a
  // crafted export cannot build a filter that breaks its own invariants.
  if (view.getUint8(7) !== SLOTS)
    corrupt(`slots per bucket is ${view.getUint8(7)}, only ${SLOTS} is supported`)
  if (view.getUint8(16) !== HASH_FUNCTION)
    corrupt(`unknown hash function ${view.getUint8(16)}: this build knows ${HASH_FUNCTION}`)
  const options = resolveOptions(
    {
      fingerprintBits: view.getUint8(6) as FingerprintBits,
      growthFactor: view.getUint8(17),
      seed: view.getUint32(20, true),
      maxKicks: view.getUint32(24, true),
      initialCapacity: view.getUint32(28, true),
      maxLoad: view.getFloat64(40, true),
    },
    (_argument, message) => corrupt(`invalid parameter: ${message}`),
  )
  const bits = options.fingerprintBits
  const rng = view.getUint32(32, true)
  if (rng === 0) corrupt('relocation PRNG state is 0 (it never is)')
  const expansions = view.getUint32(36, true)
  const count = view.getUint16(18, true)
  if (count < 1) corrupt('table count is 0 (a filter has at least one table)')

  let at = HEADER_BYTES
  if (n < at + TABLE_BYTES * count + CHECKSUM_BYTES) corrupt(`${count} tables do not fit in ${n} bytes`)
  const descriptors: { log2: number; count: number; stashSize: number; stashed: number }[] = []
  let expected = HEADER_BYTES + TABLE_BYTES * count + CHECKSUM_BYTES
  for (let k = 0; k < count; k++, at += TABLE_BYTES) {
    const log2 = view.getUint8(at)
    if (log2 > MAX_LOG2_BUCKETS)
      corrupt(`table ${k} has 2^${log2} buckets, over the maximum 2^${MAX_LOG2_BUCKETS}`)
    if (view.getUint8(at + 1) || view.getUint16(at + 2, true))
      corrupt(`table ${k}: reserved bytes are not zero`)
    const prev = descriptors[k - 1]
    if (prev && log2 < prev.log2)
      corrupt(
        `table ${k} (2^${log2} buckets) is smaller than table ${k - 1} (2^${prev.log2}); tables only grow`,
      )
    const d = {
      log2,
      count: view.getUint32(at + 4, true),
      stashSize: view.getUint32(at + 8, true),
      stashed: view.getUint32(at + 12, true),
    }
    if (d.count > 2 ** log2 * SLOTS)
      corrupt(`table ${k} claims ${d.count} fingerprints in ${2 ** log2 * SLOTS} slots`)
    if (d.stashed < d.stashSize)
      corrupt(`table ${k} claims ${d.stashed} stashed fingerprints in ${d.stashSize} entries`)
    expected += STASH_BYTES * d.stashSize + tableBytes(bits, log2)
    descriptors.push(d)
  }
  if (expected !== n) corrupt(`the layout the header describes takes ${expected} bytes, not ${n}`)

  const tables: Table[] = []
  for (const [k, d] of descriptors.entries()) {
    const t = makeTable(bits, d.log2, options.maxLoad)
    let stashed = 0
    for (let e = 0; e < d.stashSize; e++, at += STASH_BYTES) {
      const low = view.getUint32(at, true)
      const fp = view.getUint16(at + 4, true)
      const copies = view.getUint32(at + 8, true)
      if (view.getUint16(at + 6, true)) corrupt(`table ${k}, stash entry ${e}: reserved bytes are not zero`)
      if (fp < 1 || fp > 2 ** bits - 1)
        corrupt(`table ${k}, stash entry ${e}: fingerprint ${fp} out of range`)
      if (low > t.mask || low > (low ^ (altOffset(fp) & t.mask)))
        corrupt(`table ${k}, stash entry ${e}: bucket ${low} is not the lower bucket of a pair in this table`)
      if (copies < 1) corrupt(`table ${k}, stash entry ${e}: count is 0`)
      const key = stashKey(low, fp)
      if (t.stash.has(key)) corrupt(`table ${k}, stash entry ${e}: duplicate entry`)
      t.stash.set(key, copies)
      stashed += copies
    }
    if (stashed !== d.stashed)
      corrupt(`table ${k}: stash entries hold ${stashed} fingerprints, the header says ${d.stashed}`)
    t.stashed = stashed
    tables.push(t)
  }
  for (const [k, t] of tables.entries()) {
    const held = t.readFrom(bytes, at)
    if (held !== descriptors[k]!.count)
      corrupt(`table ${k} holds ${held} fingerprints, the header says ${descriptors[k]!.count}`)
    at += t.byteLength
  }
  return { options, tables, rng, expansions }
}
