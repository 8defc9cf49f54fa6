import * as crypto from 'node:crypto'
import { InvalidArgumentError, validateId } from '@sync-engine/core'

/**
 * The hash definitions of SPEC §6, bit-exact:
 * - leaf = SHA-256( utf8(id) ‖ `|` ‖ version as 8-byte little-endian unsigned ‖ `|` ‖ P ), P the 32 raw
 *   bytes of SHA-256(content);
 * - interior = SHA-256 over the children in ascending byte order of their UTF-8 segment, each
 *   contributing utf8(segment) ‖ `:` ‖ child hash (32 raw bytes) ‖ `;`.
 * Everything is written into one reused scratch buffer and hashed in one call: no per-child allocation.
 */

/** A version: an integer from 1 to 2^64 − 1 (a `number` up to 2^53 − 1, or a `bigint`). */
export type MerkleVersion = number | bigint

const COLON = 0x3a
const SEMICOLON = 0x3b
const PIPE = 0x7c
/** Bytes of a raw SHA-256. */
export const HASH_BYTES = 32
const MAX_U64 = (1n << 64n) - 1n

// Two hex characters (each < 128) → their byte, or -1: one lookup per output byte.
const HEX_PAIR = new Int16Array(1 << 14).fill(-1)
{
  const value = (c: number) => Number.parseInt(String.fromCharCode(c), 16)
  const digits = [...'0123456789abcdefABCDEF'].map((c) => c.charCodeAt(0))
  for (const a of digits) for (const b of digits) HEX_PAIR[(a << 7) | b] = value(a) * 16 + value(b)
}

let scratch = Buffer.allocUnsafe(64 * 1024)
/** `views[n]` is `scratch.subarray(0, n)` for the short preimages (a leaf's), made once per length. */
const VIEWED = 512
let views: Buffer[] = new Array(VIEWED)

/** A shared scratch buffer of at least `bytes` (valid until the next call: hashing is synchronous). */
export function ensureScratch(bytes: number): Buffer {
  if (scratch.length < bytes) {
    scratch = Buffer.allocUnsafe(Math.max(bytes, scratch.length * 2))
    views = new Array(VIEWED)
  }
  return scratch
}

export const sha256Hex: (data: Uint8Array) => string =
  typeof crypto.hash === 'function'
    ? (data) => crypto.hash('sha256', data, 'hex')
    : (data) => crypto.createHash('sha256').update(data).digest('hex')

/** The SHA-256 of `data` as 32 raw bytes. */
export const sha256Bytes: (data: Uint8Array) => Buffer =
  typeof crypto.hash === 'function'
    ? (data) => crypto.hash('sha256', data, 'buffer')
    : (data) => crypto.createHash('sha256').update(data).digest()

/** `sha256Hex` of the first `length` bytes of the scratch buffer. */
export function hashScratch(length: number): string {
  if (length >= VIEWED) return sha256Hex(scratch.subarray(0, length))
  views[length] ??= scratch.subarray(0, length)
  return sha256Hex(views[length])
}

/**
 * Writes `text` from index `from` on as UTF-8 at `at` (ASCII inline, the rest through `Buffer.write`);
 * returns the end.
 */
export function writeUtf8(buf: Buffer, text: string, at: number, from = 0): number {
  let o = at
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c >= 0x80) return at + buf.write(from === 0 ? text : text.slice(from), at, 'utf8')
    buf[o++] = c
  }
  return o
}

/** Writes 64 hex characters as 32 bytes at `at`; returns false when `hex` is not 64 hex characters. */
export function writeHash(buf: Buffer, hex: string, at: number): boolean {
  if (hex.length !== 64) return false
  let bad = 0
  for (let i = 0, o = at; i < 64; i += 2, o++) {
    const a = hex.charCodeAt(i)
    const b = hex.charCodeAt(i + 1)
    const v = (a | b) < 128 ? HEX_PAIR[(a << 7) | b]! : -1
    bad |= v
    buf[o] = v
  }
  return bad >= 0
}

/**
 * Byte order of the UTF-8 encodings, i.e. code point order, without encoding: UTF-16 order differs
 * only between surrogates (code points ≥ U+10000) and U+E000–U+FFFF. `""` sorts first.
 */
export function compareSegments(a: string, b: string): number {
  return compareFrom(a, b, 0)
}

/** `compareSegments` of `a.slice(from)` and `b.slice(from)` (strings that share their first `from` units). */
function compareFrom(a: string, b: string, from: number): number {
  if (a === b) return 0
  const n = Math.min(a.length, b.length)
  for (let i = from; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x !== y) return x >= 0xd800 && y >= 0xd800 ? codePointRank(x) - codePointRank(y) : x - y
  }
  return a.length - b.length
}

// Surrogates (0xD800–0xDFFF) move above 0xE000–0xFFFF.
function codePointRank(unit: number): number {
  return unit < 0xe000 ? unit + 0x2000 : unit - 0x800
}

/** True for 64 hex characters (either case). */
export function isHashHex(text: unknown): text is string {
  if (typeof text !== 'string' || text.length !== 64) return false
  let bad = 0
  for (let i = 0; i < 64; i += 2) {
    const a = text.charCodeAt(i)
    const b = text.charCodeAt(i + 1)
    bad |= (a | b) < 128 ? HEX_PAIR[(a << 7) | b]! : -1
  }
  return bad >= 0
}

/** True for an integer from 1 to 2^64 − 1 (a safe-integer number or a bigint). */
export function isVersion(version: unknown): version is MerkleVersion {
  if (typeof version === 'number') return Number.isSafeInteger(version) && version >= 1
  return typeof version === 'bigint' && version >= 1n && version <= MAX_U64
}

export function checkVersion(version: unknown, argument = 'version'): MerkleVersion {
  if (isVersion(version)) return version
  throw new InvalidArgumentError(
    argument,
    `${argument} must be an integer from 1 to 2^64-1 (a safe-integer number or a bigint), got ${String(version)}`,
  )
}

export function checkContentHash(contentHash: unknown, argument = 'contentHash'): string {
  if (isHashHex(contentHash)) return contentHash
  throw new InvalidArgumentError(
    argument,
    `${argument} must be a hex SHA-256 (64 hex characters), got ${JSON.stringify(contentHash)}`,
  )
}

function writeU32(buf: Buffer, value: number, at: number): void {
  buf[at] = value
  buf[at + 1] = value >>> 8
  buf[at + 2] = value >>> 16
  buf[at + 3] = value >>> 24
}

/**
 * Leaf hash of a valid id and version; `null` when `contentHash` is not 64 hex characters (checked
 * while it is decoded, so valid input pays nothing extra).
 */
export function leafHashOrNull(id: string, version: MerkleVersion, contentHash: unknown): string | null {
  if (typeof contentHash !== 'string') return null
  const buf = ensureScratch(id.length * 3 + 2 + 8 + HASH_BYTES)
  let o = writeUtf8(buf, id, 0)
  buf[o++] = PIPE
  if (typeof version === 'bigint') buf.writeBigUInt64LE(version, o)
  else {
    // Byte by byte: `writeUInt32LE` checks its arguments again, once per leaf.
    writeU32(buf, version >>> 0, o)
    writeU32(buf, Math.floor(version / 0x1_0000_0000), o + 4)
  }
  o += 8
  buf[o++] = PIPE
  if (!writeHash(buf, contentHash, o)) return null
  return hashScratch(o + HASH_BYTES)
}

/** Leaf hash of validated arguments; throws `InvalidArgumentError` naming `argument` for a bad hash. */
export function leafHashChecked(
  id: string,
  version: MerkleVersion,
  contentHash: unknown,
  argument: () => string,
): string {
  const hash = leafHashOrNull(id, version, contentHash)
  if (hash === null) checkContentHash(contentHash, argument())
  return hash!
}

/**
 * The leaf hash of an id (SPEC §6). `contentHashHex` is the hex SHA-256 of the content (either case).
 * Throws `InvalidIdError` / `InvalidArgumentError` for bad input.
 */
export function leafHash(id: string, version: MerkleVersion, contentHashHex: string): string {
  return leafHashChecked(validateId(id), checkVersion(version), contentHashHex, () => 'contentHash')
}

/** An upper bound of the preimage size of these children (UTF-8 is at most 3 bytes per UTF-16 unit). */
export function childrenBound(segments: readonly string[]): number {
  let bound = 0
  for (const s of segments) bound += s.length * 3 + 2 + HASH_BYTES
  return bound
}

/**
 * Writes the interior-hash preimage of children already in ascending segment order into `buf` (sized
 * by `childrenBound`): utf8(segment) ‖ `:` ‖ 32 raw bytes ‖ `;` each. Returns the length written.
 * `badHash(i)` is called (and must throw) when `hashes[i]` is not 64 hex characters.
 */
export function writeChildren(
  buf: Buffer,
  segments: readonly string[],
  hashes: readonly string[],
  badHash: (index: number) => never,
): number {
  let o = 0
  for (let i = 0; i < segments.length; i++) {
    const end = writeChild(buf, o, segments[i]!, hashes[i]!)
    if (end < 0) badHash(i)
    o = end
  }
  return o
}

/**
 * Writes one child, utf8(segment) ‖ `:` ‖ 32 raw bytes ‖ `;`, at `at`; returns the end (the hash
 * starts 33 bytes before it), or -1 when `hash` is not 64 hex characters.
 */
export function writeChild(buf: Buffer, at: number, segment: string, hash: string): number {
  let o = writeUtf8(buf, segment, at)
  buf[o++] = COLON
  if (!writeHash(buf, hash, o)) return -1
  o += HASH_BYTES
  buf[o++] = SEMICOLON
  return o
}

/** `writeChild` of a raw hash (the 32 bytes of `raw` from `rawAt`) and of the segment `path.slice(from)`. */
export function writeChildBytes(
  buf: Buffer,
  at: number,
  path: string,
  from: number,
  raw: Uint8Array,
  rawAt: number,
): number {
  let o = writeUtf8(buf, path, at, from)
  buf[o++] = COLON
  for (let i = 0; i < HASH_BYTES; i++) buf[o++] = raw[rawAt + i]!
  buf[o++] = SEMICOLON
  return o
}

/** Hash of children already in ascending segment order (see `writeChildren`). */
export function hashSortedChildren(
  segments: readonly string[],
  hashes: readonly string[],
  badHash: (index: number) => never,
): string {
  const buf = ensureScratch(childrenBound(segments))
  return hashScratch(writeChildren(buf, segments, hashes, badHash))
}

/**
 * True when the segments are in strictly ascending byte order (no repeats). With `from`, of paths
 * under one parent: their segments start at `from`.
 */
export function isSorted(segments: readonly string[], from = 0): boolean {
  for (let i = 1; i < segments.length; i++)
    if (compareFrom(segments[i - 1]!, segments[i]!, from) >= 0) return false
  return true
}

/** Sorts parallel arrays of segments (or paths, see `isSorted`) and hashes (or any values) by segment byte order, in place. */
export function sortChildren<T>(segments: string[], hashes: T[], from = 0): void {
  const n = segments.length
  if (n <= 16) {
    // Insertion sort: no allocation for the few changed children of a typical node.
    for (let i = 1; i < n; i++) {
      const segment = segments[i]!
      const hash = hashes[i]!
      let j = i - 1
      while (j >= 0 && compareFrom(segments[j]!, segment, from) > 0) {
        segments[j + 1] = segments[j]!
        hashes[j + 1] = hashes[j]!
        j--
      }
      segments[j + 1] = segment
      hashes[j + 1] = hash
    }
    return
  }
  const order = segments.map((_, i) => i).sort((i, j) => compareFrom(segments[i]!, segments[j]!, from))
  const s = order.map((i) => segments[i]!)
  const h = order.map((i) => hashes[i]!)
  for (let i = 0; i < n; i++) {
    segments[i] = s[i]!
    hashes[i] = h[i]!
  }
}

/**
 * Sorts parallel arrays by segment byte order (stably) and keeps, of each repeated segment, the last
 * entry; in place. `from` as in `isSorted`.
 */
export function keepLastOfEach<T>(segments: string[], values: T[], from = 0): void {
  if (!isSorted(segments, from)) sortChildren(segments, values, from)
  let n = 0
  for (let j = 0; j < segments.length; j++) {
    if (n > 0 && segments[n - 1] === segments[j]) n--
    segments[n] = segments[j]!
    values[n] = values[j]!
    n++
  }
  segments.length = n
  values.length = n
}

/**
 * The interior hash of a node from its children, given as `[segment, childHashHex]` pairs in any
 * order (a `Map<segment, hash>` works). The id's own leaf, if the node is also an id, is the child
 * with segment `""`.
 */
export function interiorHash(children: Iterable<readonly [string, string]>): string {
  const segments: string[] = []
  const hashes: string[] = []
  const seen = new Set<string>()
  for (const [segment, hash] of children) {
    if (typeof segment !== 'string' || segment.includes('.'))
      throw new InvalidArgumentError(
        'children',
        `segment ${JSON.stringify(segment)} is not a string without '.'`,
      )
    if (seen.has(segment))
      throw new InvalidArgumentError('children', `segment ${JSON.stringify(segment)} appears twice`)
    seen.add(segment)
    segments.push(segment)
    hashes.push(checkContentHash(hash, `children[${JSON.stringify(segment)}]`))
  }
  if (segments.length === 0)
    throw new InvalidArgumentError('children', 'an interior node has at least one child')
  sortChildren(segments, hashes)
  return hashSortedChildren(segments, hashes, () => {
    throw new Error('unreachable: hashes were checked')
  })
}
