import { type SyncItem, utf8ByteLength } from '@sync-engine/core'

/**
 * Bytes accounted per entry on top of its id and content: the heap an entry costs beyond those
 * bytes (the `SyncItem` and its fields, the `Uint8Array` and its `ArrayBuffer`, the cache's entry
 * slot and its `Map` entry, the 64-char content hash once computed). Measured with
 * `scripts/measure-overhead.ts` on Node 20: 463–491 B without the hash, 537–566 B with it (every
 * item that went through the write path or came from L2/L3 has it), rounded up; see the README.
 */
export const L1_ENTRY_OVERHEAD_BYTES = 600

/** Most credits an entry can hold: reads beyond this many per hand revolution are not remembered. */
export const CREDIT_MAX = 7

/**
 * Walk steps each eviction adds to the hand's allowance: the eviction hand never takes more than
 * this many steps per evicted entry on average (plus `MAX_WALK` once), whatever the reads did.
 */
export const WALK_STEPS_PER_EVICTION = 8

/**
 * Most steps the allowance can save up, so also the most entries one eviction looks at before it
 * settles for the lowest-credit entry it saw.
 */
export const MAX_WALK = 1024

/**
 * Share of the unpinned bytes the probation queue (entries not read since they were cached) may hold
 * before eviction takes from it rather than from the main ring.
 */
export const PROBATION_SHARE = 0.25

/** Accounted bytes of an item whose id is `idBytes` UTF-8 bytes long. */
export function entryBytes(idBytes: number, item: SyncItem): number {
  return idBytes + item.content.byteLength + L1_ENTRY_OVERHEAD_BYTES
}

/** Any UTF-16 code unit outside ASCII. */
const NON_ASCII = /[\u0080-\uffff]/

/**
 * UTF-8 bytes of `id`: its length when it is all ASCII, else core's `utf8ByteLength`. The regular
 * expression scans the string natively: 31–36 ns for the bench's 16–18 character ids against 47–83 ns
 * for a `charCodeAt` loop (slowest on a concatenated id, which `charCodeAt` reads through its rope).
 */
export function idByteLength(id: string): number {
  return NON_ASCII.test(id) ? utf8ByteLength(id) : id.length
}

/** Accounted bytes of an item: UTF-8 bytes of the id + content bytes + `L1_ENTRY_OVERHEAD_BYTES`. */
export function estimateEntrySize(item: SyncItem): number {
  return entryBytes(idByteLength(item.id), item)
}

/**
 * Credits one pass of the eviction hand takes from an entry of `bytes` (accounted bytes): 1 up to
 * 2 KiB, then one more per ×4 (2 up to 8 KiB, 3 up to 32 KiB, 4 above). A large entry must be read
 * that many times more often than a small one to stay: the cache keeps what saves most reads per byte.
 */
export function sizeWeight(bytes: number): number {
  return bytes <= 2048 ? 1 : bytes <= 8192 ? 2 : bytes <= 32768 ? 3 : 4
}
