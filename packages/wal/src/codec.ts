import * as zlib from 'node:zlib'
import {
  CorruptDataError,
  hasLoneSurrogate,
  InvalidArgumentError,
  type ItemRecord,
  MAX_PAYLOAD_BYTES,
  PayloadTooLargeError,
  SyncItem,
  sha256Hex,
  validateState,
} from '@sync-engine/core'

/**
 * The `row` column of the queue: one `ItemRecord` (without its id, which has its own column) in a
 * small versioned binary layout, all integers little-endian:
 *
 * | bytes | field |
 * |---|---|
 * | 1 | format (2) |
 * | 1 | flags: 1 = JSON content, 2 = traceParent, 4 = homeInstanceId, 8 = batchId present |
 * | 8 | version (float64, a safe integer) |
 * | 8 | updatedAt (float64, a safe integer) |
 * | 2 + n | state (u16 length + UTF-8) |
 * | (2 + n) × k | traceParent, homeInstanceId, batchId when their flag is set |
 * | 4 + n | content (u32 length + the bytes verbatim) |
 * | 4 | CRC-32 of everything before it |
 *
 * The content hash is not stored: it is the SHA-256 of the content (SPEC §6), computed again when a
 * row is decoded. Format 1 held it as 32 raw bytes after updatedAt; its rows still decode.
 *
 * The checksum makes any damaged byte (content or metadata) a `CorruptDataError` at decode instead
 * of a silently different record.
 */
export const ROW_FORMAT = 2
/** The first format: the same fields with the raw content hash between updatedAt and the state. */
const ROW_FORMAT_WITH_HASH = 1

const FLAG_JSON = 1
const FLAG_TRACE_PARENT = 2
const FLAG_HOME_INSTANCE_ID = 4
const FLAG_BATCH_ID = 8
const OPTIONAL_FIELDS = ['traceParent', 'homeInstanceId', 'batchId'] as const
const KNOWN_FLAGS = 15
const STRINGS_AT = 18
/** Where format 1 kept the hash, and its strings after it. */
const HASH_AT = 18
const STRINGS_AFTER_HASH_AT = 50
const MAX_STRING_BYTES = 0xffff

// Slice-by-4 tables: CRC_TABLES[k][b] is the CRC of byte b followed by k zero bytes.
const CRC_TABLES = [0, 1, 2, 3].map(() => new Int32Array(256))
const [CRC0, CRC1, CRC2, CRC3] = CRC_TABLES as [Int32Array, Int32Array, Int32Array, Int32Array]
for (let n = 0; n < 256; n++) {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  CRC0[n] = c
}
for (let n = 0; n < 256; n++) {
  for (let t = 1; t < 4; t++) {
    const previous = CRC_TABLES[t - 1]![n]!
    CRC_TABLES[t]![n] = CRC0[previous & 0xff]! ^ (previous >>> 8)
  }
}

/**
 * Standard CRC-32 (IEEE) of `bytes[start, end)` in JavaScript, four bytes a step. Faster than a call
 * into zlib for the short rows of a typical log, and the fallback before `zlib.crc32` (Node 20.15).
 */
export function crc32Js(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = -1
  let i = start
  for (; i + 4 <= end; i += 4) {
    c ^= bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)
    c = CRC3[c & 0xff]! ^ CRC2[(c >>> 8) & 0xff]! ^ CRC1[(c >>> 16) & 0xff]! ^ CRC0[c >>> 24]!
  }
  for (; i < end; i++) c = CRC0[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8)
  return (c ^ -1) >>> 0
}

const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32
/** From this length on, zlib's native CRC-32 beats the JavaScript one despite its call cost. */
const NATIVE_CRC_FROM = 256

/** CRC-32 of `bytes[start, end)`: JavaScript for short ranges, zlib (when present) for long ones. */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  if (nativeCrc32 === undefined || end - start < NATIVE_CRC_FROM) return crc32Js(bytes, start, end)
  return nativeCrc32(bytes.subarray(start, end))
}

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

const SHA256_HEX = /^[0-9a-f]{64}$/

/** Checks what a `SyncItem` already guarantees (core validates every item when it is made). */
function checkPlainRecord(record: ItemRecord, where: string): void {
  if (typeof record !== 'object' || record === null) {
    throw new InvalidArgumentError(where, `${where} must be an ItemRecord object`)
  }
  checkInteger(where, 'version', record.version, 1)
  checkInteger(where, 'updatedAt', record.updatedAt, 0)
  const { content, contentType, contentHash } = record
  if (contentType !== 'json' && contentType !== 'binary') {
    invalid(where, 'contentType', `must be 'json' or 'binary', got '${String(contentType)}'`)
  }
  if (!(content instanceof Uint8Array)) invalid(where, 'content', 'must be a Uint8Array')
  if (content.byteLength > MAX_PAYLOAD_BYTES) {
    throw new PayloadTooLargeError(content.byteLength, MAX_PAYLOAD_BYTES, record.id)
  }
  if (typeof contentHash !== 'string' || !SHA256_HEX.test(contentHash)) {
    invalid(where, 'contentHash', 'must be 64 lower-case hex digits (SHA-256)')
  }
  // Not stored but computed from the content when read: a record must not come back different.
  if (contentHash !== sha256Hex(content)) invalid(where, 'contentHash', 'is not the SHA-256 of the content')
  validateState(record.state)
}

/** Framing of every row: format, flags, version, updatedAt, three lengths and the CRC. */
const FRAMING = STRINGS_AT + 2 + 4 + 4

/**
 * Validates `record` and returns the length of its row; `writeRow` then writes it. `where` names
 * the record in error messages (`entries[3].row`); every problem is an `InvalidArgumentError` (or
 * core's state/size error). A `SyncItem` is valid by construction, so only its free-form strings are
 * checked; a plain record's hash must be the SHA-256 of its content.
 */
export function rowLength(record: ItemRecord, where: string): number {
  if (!(record instanceof SyncItem)) checkPlainRecord(record, where)
  let size = FRAMING + utf8Length(record.state) + record.content.byteLength
  for (const field of OPTIONAL_FIELDS) {
    const value = record[field]
    if (value !== undefined) size += 2 + checkString(where, field, value)
  }
  return size
}

/**
 * Writes the row of a record `rowLength` accepted at `buf[at, at + length)`, checksum included,
 * and returns where it ends.
 */
export function writeRow(record: ItemRecord, buf: Buffer, at: number): number {
  const { content, traceParent, homeInstanceId, batchId } = record
  buf[at] = ROW_FORMAT
  buf[at + 1] =
    (record.contentType === 'json' ? FLAG_JSON : 0) |
    (traceParent === undefined ? 0 : FLAG_TRACE_PARENT) |
    (homeInstanceId === undefined ? 0 : FLAG_HOME_INSTANCE_ID) |
    (batchId === undefined ? 0 : FLAG_BATCH_ID)
  buf.writeDoubleLE(record.version, at + 2)
  buf.writeDoubleLE(record.updatedAt, at + 10)
  let end = writeString(buf, at + STRINGS_AT, record.state)
  if (traceParent !== undefined) end = writeString(buf, end, traceParent)
  if (homeInstanceId !== undefined) end = writeString(buf, end, homeInstanceId)
  if (batchId !== undefined) end = writeString(buf, end, batchId)
  buf.writeUInt32LE(content.byteLength, end)
  buf.set(content, end + 4)
  end += 4 + content.byteLength
  buf.writeUInt32LE(crc32(buf, at, end), end)
  return end + 4
}

/** Validates `record` and encodes it into a row of its own (see `rowLength` for the errors). */
export function encodeRow(record: ItemRecord, where: string): Buffer {
  const buf = Buffer.allocUnsafe(rowLength(record, where))
  writeRow(record, buf, 0)
  return buf
}

/** UTF-8 length of a string; ASCII (the usual state tag) without a call into the runtime. */
function utf8Length(value: string): number {
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) > 0x7f) return Buffer.byteLength(value)
  return value.length
}

/** Writes a u16 length and the UTF-8 of `value`; short ASCII strings byte by byte (no runtime call). */
function writeString(buf: Buffer, at: number, value: string): number {
  let i = 0
  if (value.length <= 64) {
    for (; i < value.length; i++) {
      const c = value.charCodeAt(i)
      if (c > 0x7f) break
      buf[at + 2 + i] = c
    }
  }
  const bytes = i === value.length ? i : buf.write(value, at + 2, 'utf8')
  buf.writeUInt16LE(bytes, at)
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
    const format = buf[0]
    if (format !== ROW_FORMAT && format !== ROW_FORMAT_WITH_HASH) {
      throw new RangeError(buf.length === 0 ? 'row is empty' : `unknown row format ${format}`)
    }
    const stringsAt = format === ROW_FORMAT ? STRINGS_AT : STRINGS_AFTER_HASH_AT
    if (buf.length < stringsAt + 10) throw new RangeError(`row is only ${buf.length} bytes`)
    const end = buf.length - 4
    const stored = buf.readUInt32LE(end)
    const actual = crc32(buf, 0, end)
    if (stored !== actual) throw new RangeError(`checksum mismatch (stored ${stored}, computed ${actual})`)
    const flags = buf[1]!
    if ((flags & ~KNOWN_FLAGS) !== 0) throw new RangeError(`unknown flags ${flags}`)
    const version = buf.readDoubleLE(2)
    const updatedAt = buf.readDoubleLE(10)
    if (!Number.isSafeInteger(version) || !Number.isSafeInteger(updatedAt)) {
      throw new RangeError('version or updatedAt is not an integer')
    }
    const r = new Reader(buf, stringsAt, end)
    const state = r.string()
    const optional = (flag: number) => (flags & flag ? r.string() : undefined)
    const traceParent = optional(FLAG_TRACE_PARENT)
    const homeInstanceId = optional(FLAG_HOME_INSTANCE_ID)
    const batchId = optional(FLAG_BATCH_ID)
    const length = buf.readUInt32LE(r.take(4))
    const start = r.take(length)
    if (r.at !== end) throw new RangeError(`${end - r.at} unexpected bytes after the content`)
    const content = new Uint8Array(buf.buffer, buf.byteOffset + start, length)
    return {
      id,
      version,
      updatedAt,
      contentType: flags & FLAG_JSON ? 'json' : 'binary',
      content,
      contentHash:
        format === ROW_FORMAT ? sha256Hex(content) : buf.toString('hex', HASH_AT, STRINGS_AFTER_HASH_AT),
      state,
      traceParent,
      homeInstanceId,
      batchId,
    }
  } catch (error) {
    throw new CorruptDataError(location, `undecodable row: ${(error as Error).message}`, { cause: error })
  }
}
