import * as zlib from 'node:zlib'
import {
  CorruptDataError,
  hasLoneSurrogate,
  InvalidArgumentError,
  type ItemRecord,
  MAX_PAYLOAD_BYTES,
  PayloadTooLargeError,
  SyncItem,
  validateState,
} from '@sync-engine/core'

/**
 * The `row` column of the queue: one `ItemRecord` (without its id, which has its own column) in a
 * small versioned binary layout, all integers little-endian:
 *
 * | bytes | field |
 * |---|---|
 * | 1 | format (1) |
 * | 1 | flags: 1 = JSON content, 2 = traceParent, 4 = homeInstanceId, 8 = batchId present |
 * | 8 | version (float64, a safe integer) |
 * | 8 | updatedAt (float64, a safe integer) |
 * | 32 | contentHash (raw SHA-256) |
 * | 2 + n | state (u16 length + UTF-8) |
 * | (2 + n) × k | traceParent, homeInstanceId, batchId when their flag is set |
 * | 4 + n | content (u32 length + the bytes verbatim) |
 * | 4 | CRC-32 of everything before it |
 *
 * The checksum makes any damaged byte (content or metadata) a `CorruptDataError` at decode instead
 * of a silently different record.
 */
export const ROW_FORMAT = 1

const FLAG_JSON = 1
const OPTIONAL_FIELDS = [
  ['traceParent', 2],
  ['homeInstanceId', 4],
  ['batchId', 8],
] as const
const KNOWN_FLAGS = 15
const HASH_AT = 18
const STRINGS_AT = 50
const MAX_STRING_BYTES = 0xffff

const CRC_TABLE = new Int32Array(256)
for (let n = 0; n < 256; n++) {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  CRC_TABLE[n] = c
}

/** Standard CRC-32 (IEEE), in JavaScript: the fallback for Node versions before `zlib.crc32` (20.15). */
export function crc32Js(bytes: Uint8Array): number {
  let c = -1
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8)
  return (c ^ -1) >>> 0
}

const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32
export const crc32: (bytes: Uint8Array) => number = nativeCrc32 ?? crc32Js

function invalid(where: string, field: string, message: string): never {
  throw new InvalidArgumentError(`${where}.${field}`, `${where}.${field} ${message}`)
}

function checkString(where: string, field: string, value: unknown): number {
  if (typeof value !== 'string') invalid(where, field, `must be a string, got ${typeof value}`)
  if (hasLoneSurrogate(value)) invalid(where, field, 'contains a lone UTF-16 surrogate')
  const bytes = Buffer.byteLength(value)
  if (bytes > MAX_STRING_BYTES) invalid(where, field, `is ${bytes} UTF-8 bytes, over ${MAX_STRING_BYTES}`)
  return bytes
}

function checkInteger(where: string, field: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    invalid(where, field, `must be an integer ≥ ${min}, got ${String(value)}`)
  }
  return value
}

const HEX_DIGIT = new Int8Array(128).fill(-1)
for (let i = 0; i < 16; i++) HEX_DIGIT['0123456789abcdef'.charCodeAt(i)] = i
const hexDigit = (hex: string, i: number) => {
  const c = hex.charCodeAt(i)
  return c < 128 ? HEX_DIGIT[c]! : -1
}

/** Writes 64 lower-case hex digits as 32 raw bytes; false (and a partial write) for anything else. */
function writeHash(buf: Buffer, at: number, hex: unknown): boolean {
  if (typeof hex !== 'string' || hex.length !== 64) return false
  for (let i = 0; i < 32; i++) {
    const hi = hexDigit(hex, 2 * i)
    const lo = hexDigit(hex, 2 * i + 1)
    if ((hi | lo) < 0) return false
    buf[at + i] = (hi << 4) | lo
  }
  return true
}

// Byte lengths of the optional strings of the record being encoded (-1 = absent). encodeRow is
// synchronous and not re-entrant, so one scratch array serves every call without allocating.
const optionalBytes = new Int32Array(OPTIONAL_FIELDS.length)

/** Checks what a `SyncItem` already guarantees (core validates every item when it is made). */
function checkPlainRecord(record: ItemRecord, where: string): void {
  if (typeof record !== 'object' || record === null) {
    throw new InvalidArgumentError(where, `${where} must be an ItemRecord object`)
  }
  checkInteger(where, 'version', record.version, 1)
  checkInteger(where, 'updatedAt', record.updatedAt, 0)
  const { content, contentType } = record
  if (contentType !== 'json' && contentType !== 'binary') {
    invalid(where, 'contentType', `must be 'json' or 'binary', got '${String(contentType)}'`)
  }
  if (!(content instanceof Uint8Array)) invalid(where, 'content', 'must be a Uint8Array')
  if (content.byteLength > MAX_PAYLOAD_BYTES) {
    throw new PayloadTooLargeError(content.byteLength, MAX_PAYLOAD_BYTES, record.id)
  }
  validateState(record.state)
}

/**
 * Validates `record` and encodes it. `where` names the record in error messages
 * (`entries[3].row`); every problem is an `InvalidArgumentError` (or core's id/state/size error).
 * A `SyncItem` is valid by construction, so only its free-form strings and hash are checked.
 */
export function encodeRow(record: ItemRecord, where: string): Buffer {
  if (!(record instanceof SyncItem)) checkPlainRecord(record, where)
  const { version, updatedAt, content, contentType, state } = record
  const stateBytes = Buffer.byteLength(state)

  let flags = contentType === 'json' ? FLAG_JSON : 0
  let size = STRINGS_AT + 2 + stateBytes + 4 + content.byteLength + 4
  for (let k = 0; k < OPTIONAL_FIELDS.length; k++) {
    const [field, flag] = OPTIONAL_FIELDS[k]!
    const value = record[field]
    const bytes = value === undefined ? -1 : checkString(where, field, value)
    optionalBytes[k] = bytes
    if (bytes >= 0) {
      flags |= flag
      size += 2 + bytes
    }
  }

  const buf = Buffer.allocUnsafe(size)
  if (!writeHash(buf, HASH_AT, record.contentHash)) {
    invalid(where, 'contentHash', 'must be 64 lower-case hex digits (SHA-256)')
  }
  buf[0] = ROW_FORMAT
  buf[1] = flags
  buf.writeDoubleLE(version, 2)
  buf.writeDoubleLE(updatedAt, 10)
  let at = writeString(buf, STRINGS_AT, state, stateBytes)
  for (let k = 0; k < OPTIONAL_FIELDS.length; k++) {
    const bytes = optionalBytes[k]!
    if (bytes >= 0) at = writeString(buf, at, record[OPTIONAL_FIELDS[k]![0]]!, bytes)
  }
  buf.writeUInt32LE(content.byteLength, at)
  buf.set(content, at + 4)
  at += 4 + content.byteLength
  buf.writeUInt32LE(crc32(buf.subarray(0, at)), at)
  return buf
}

function writeString(buf: Buffer, at: number, value: string, bytes: number): number {
  buf.writeUInt16LE(bytes, at)
  buf.write(value, at + 2, bytes, 'utf8')
  return at + 2 + bytes
}

/** A reader that refuses to run past the end of the row. */
class Reader {
  at: number
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.at = start
  }
  take(n: number): number {
    const start = this.at
    if (start + n > this.end) throw new RangeError(`row ends before byte ${start + n} (length ${this.end})`)
    this.at += n
    return start
  }
  string(): string {
    const n = this.buf.readUInt16LE(this.take(2))
    const start = this.take(n)
    return this.buf.toString('utf8', start, start + n)
  }
}

/**
 * Decodes a row written by `encodeRow`. Anything else — an unknown format, a bad checksum, a length
 * that runs past the end, a trailing byte — is a `CorruptDataError` at `location`.
 */
export function decodeRow(row: Uint8Array, id: string, location: string): ItemRecord {
  const buf = Buffer.isBuffer(row) ? row : Buffer.from(row.buffer, row.byteOffset, row.byteLength)
  try {
    if (buf.length < STRINGS_AT + 10) throw new RangeError(`row is only ${buf.length} bytes`)
    if (buf[0] !== ROW_FORMAT) throw new RangeError(`unknown row format ${buf[0]}`)
    const end = buf.length - 4
    const stored = buf.readUInt32LE(end)
    const actual = crc32(buf.subarray(0, end))
    if (stored !== actual) throw new RangeError(`checksum mismatch (stored ${stored}, computed ${actual})`)
    const flags = buf[1]!
    if ((flags & ~KNOWN_FLAGS) !== 0) throw new RangeError(`unknown flags ${flags}`)
    const version = buf.readDoubleLE(2)
    const updatedAt = buf.readDoubleLE(10)
    if (!Number.isSafeInteger(version) || !Number.isSafeInteger(updatedAt)) {
      throw new RangeError('version or updatedAt is not an integer')
    }
    const r = new Reader(buf, STRINGS_AT, end)
    const state = r.string()
    const optional = (flag: number) => (flags & flag ? r.string() : undefined)
    const traceParent = optional(OPTIONAL_FIELDS[0][1])
    const homeInstanceId = optional(OPTIONAL_FIELDS[1][1])
    const batchId = optional(OPTIONAL_FIELDS[2][1])
    const length = buf.readUInt32LE(r.take(4))
    const start = r.take(length)
    if (r.at !== end) throw new RangeError(`${end - r.at} unexpected bytes after the content`)
    return {
      id,
      version,
      updatedAt,
      contentType: flags & FLAG_JSON ? 'json' : 'binary',
      content: new Uint8Array(buf.buffer, buf.byteOffset + start, length),
      contentHash: buf.toString('hex', HASH_AT, HASH_AT + 32),
      state,
      traceParent,
      homeInstanceId,
      batchId,
    }
  } catch (error) {
    throw new CorruptDataError(location, `undecodable row: ${(error as Error).message}`, { cause: error })
  }
}
