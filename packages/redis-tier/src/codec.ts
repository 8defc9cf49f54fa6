import {
  CorruptDataError,
  canonicalJson,
  type ItemAudit,
  type ItemRecord,
  SyncItem,
  utf8Encode,
} from '@sync-engine/core'

/**
 * The item document of SPEC §5.1, as the bytes of a Redis string:
 *
 *     {"version":3,"timestamp":1700000000000,"state":"active","payload_hash":"…64 hex…",
 *      "audit":{"batch":…,"trace":…,"home":…},"payload":<the item's content, verbatim>}
 *
 * `audit` is present only when the item has one of its fields. `payload` comes last and is spliced in
 * as the item's own bytes (never re-serialized), so the header can be read without touching the
 * payload and the content comes back byte for byte. JSON items make a JSON document. Binary items get
 * `"content_type":"binary"` before `"payload":` and their RAW bytes after it: the same layout, not JSON.
 * Reads check the payload against `payload_hash`, so a truncated or altered value is caught.
 */
const PAYLOAD_FIELD = Buffer.from(',"payload":')
const OPEN = 0x7b
const CLOSE = 0x7d

/** The audit block of a record (`{batch, trace, home}`), or `undefined` when it has none of them. */
function auditOf(record: ItemRecord): ItemAudit | undefined {
  const { batchId, traceParent, homeInstanceId } = record
  if (batchId === undefined && traceParent === undefined && homeInstanceId === undefined) return undefined
  return { batch: batchId, trace: traceParent, home: homeInstanceId } as ItemAudit
}

// The fixed parts of a document header, as bytes.
const VERSION_FIELD = Buffer.from('{"version":')
const TIMESTAMP_FIELD = Buffer.from(',"timestamp":')
const STATE_FIELD = Buffer.from(',"state":')
const HASH_FIELD = Buffer.from(',"payload_hash":"')
const AUDIT_FIELD = Buffer.from('","audit":')
const BINARY_FIELD = Buffer.from(',"content_type":"binary"')
/** Bytes of a header besides its state and audit: the fields, two 16-digit numbers and the hash. */
const HEADER_BYTES =
  VERSION_FIELD.length + TIMESTAMP_FIELD.length + STATE_FIELD.length + HASH_FIELD.length + 1 + 32 + 64
const QUOTE = 0x22
const BACKSLASH = 0x5c
/** `HASH_FIELD` as it follows the state's closing quote. */
const HASH_FIELD_AFTER_STATE = Buffer.from('","payload_hash":"')

// States are few and short: keep the UTF-8 bytes of their JSON text.
const stateJson = new Map<string, Buffer>()
function jsonOfState(state: string): Buffer {
  let bytes = stateJson.get(state)
  if (bytes === undefined) {
    bytes = Buffer.from(JSON.stringify(state))
    if (stateJson.size < 1000) stateJson.set(state, bytes)
  }
  return bytes
}

/** Writes the decimal digits of the safe integer `n` ≥ 0 at `at`; answers where they end. */
function writeInteger(out: Buffer, at: number, n: number): number {
  let end = at + 1
  for (let x = n; x >= 10; x = (x - (x % 10)) / 10) end++
  let x = n
  for (let i = end - 1; i >= at; i--) {
    const digit = x % 10
    out[i] = 48 + digit
    x = (x - digit) / 10
  }
  return end
}

/**
 * The documents of `records` (see above) written back to back into one Buffer, header fields and
 * content copied straight into place (no header string, no per-document Buffer), and the byte length
 * of each.
 */
export function packDocuments(records: readonly ItemRecord[]): { bytes: Buffer; lengths: number[] } {
  const audits: (string | undefined)[] = new Array(records.length)
  let room = 0
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!
    room += documentSize(record) + jsonOfState(record.state).length
    const audit = auditOf(record)
    if (audit !== undefined) {
      audits[i] = JSON.stringify(audit)
      room += AUDIT_FIELD.length + 3 * audits[i]!.length
    }
  }
  const out = Buffer.allocUnsafe(room)
  const lengths: number[] = new Array(records.length)
  let at = 0
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!
    const start = at
    out.set(VERSION_FIELD, at)
    at = writeInteger(out, at + VERSION_FIELD.length, record.version)
    out.set(TIMESTAMP_FIELD, at)
    at = writeInteger(out, at + TIMESTAMP_FIELD.length, record.updatedAt)
    out.set(STATE_FIELD, at)
    at += STATE_FIELD.length
    const state = jsonOfState(record.state)
    out.set(state, at)
    at += state.length
    out.set(HASH_FIELD, at)
    at += HASH_FIELD.length
    at += out.write(record.contentHash, at, 'latin1')
    const audit = audits[i]
    if (audit === undefined) out[at++] = QUOTE
    else {
      out.set(AUDIT_FIELD, at)
      at += AUDIT_FIELD.length
      at += out.write(audit, at)
    }
    if (record.contentType === 'binary') {
      out.set(BINARY_FIELD, at)
      at += BINARY_FIELD.length
    }
    out.set(PAYLOAD_FIELD, at)
    at += PAYLOAD_FIELD.length
    out.set(record.content, at)
    at += record.content.byteLength
    out[at++] = CLOSE
    lengths[i] = at - start
  }
  return { bytes: out.subarray(0, at), lengths }
}

/** About the byte size of `record`'s document (its state and audit block aside). */
export function documentSize(record: ItemRecord): number {
  return HEADER_BYTES + BINARY_FIELD.length + PAYLOAD_FIELD.length + record.content.byteLength + 1
}

/** The document bytes of `record` (see above). */
export function encodeDocument(record: ItemRecord): Buffer {
  return packDocuments([record]).bytes
}

type Fail = (message: string, cause?: unknown) => CorruptDataError

function failAt(location: string): Fail {
  return (message, cause) => new CorruptDataError(location, message, cause === undefined ? {} : { cause })
}

/** Decodes what `encodeDocument` wrote; `CorruptDataError` (at `location`) for anything else. */
export function decodeDocument(raw: Buffer, id: string, location: string): SyncItem {
  const fail = failAt(location)
  if (raw.length < 2 || raw[0] !== OPEN || raw[raw.length - 1] !== CLOSE) {
    throw fail('not a sync-engine item document (expected {…})')
  }
  // The usual header (no audit, an ASCII state without escapes) is read straight from the bytes;
  // any other is parsed as JSON.
  const header: DocumentHeader = { payloadAt: -1 }
  if (!readPlainHeader(raw, header)) {
    const at = raw.indexOf(PAYLOAD_FIELD)
    if (at < 0) throw fail('the document has no "payload" field')
    try {
      Object.assign(header, JSON.parse(`${raw.toString('utf8', 0, at)}}`))
    } catch (e) {
      throw fail('the document header is not JSON', e)
    }
    header.payloadAt = at + PAYLOAD_FIELD.length
  }
  return itemOf(header, keptBytes(raw, header.payloadAt, raw.length - 1), id, fail)
}

/** Bytes a kept slice may hold alive beyond itself (its document header and the reply framing). */
const SLACK_BYTES = 1024

/**
 * `raw[start, end)` as bytes an item may keep. ioredis answers slices of the socket chunk they
 * arrived in: a reply read on its own is the whole chunk (kept as a view, no copy), while pipelined
 * replies share one chunk that no item may keep alive — then a copy, from Node's buffer pool (a fresh
 * ArrayBuffer costs ~3× as much).
 */
export function keptBytes(raw: Buffer, start = 0, end = raw.length): Buffer {
  if (raw.buffer.byteLength - (end - start) <= SLACK_BYTES) return raw.subarray(start, end)
  const copy = Buffer.allocUnsafe(end - start)
  raw.copy(copy, 0, start, end)
  return copy
}

interface DocumentHeader {
  /** Where the payload starts in the document. */
  payloadAt: number
  [field: string]: unknown
}

/**
 * Reads a header of exactly `{"version":N,"timestamp":N,"state":"…","payload_hash":"…"` plus an
 * optional binary content type, with a printable ASCII state and no audit, into `header`; false
 * (leaving the rest to the JSON parser) for any other shape.
 */
function readPlainHeader(raw: Buffer, header: DocumentHeader): boolean {
  const versionAt = fieldEnd(raw, 0, VERSION_FIELD)
  const versionEnd = digitsEnd(raw, versionAt)
  const timestampAt = fieldEnd(raw, versionEnd, TIMESTAMP_FIELD)
  const timestampEnd = digitsEnd(raw, timestampAt)
  let at = fieldEnd(raw, timestampEnd, STATE_FIELD)
  if (at < 0 || raw[at] !== QUOTE) return false
  const stateAt = at + 1
  for (at = stateAt; at < raw.length && raw[at] !== QUOTE; at++) {
    const byte = raw[at]!
    if (byte < 0x20 || byte > 0x7e || byte === BACKSLASH) return false
  }
  const stateEnd = at
  const hashAt = fieldEnd(raw, stateEnd, HASH_FIELD_AFTER_STATE)
  if (hashAt < 0 || raw[hashAt + 64] !== QUOTE) return false
  for (let i = hashAt; i < hashAt + 64; i++) {
    const byte = raw[i]!
    if (!((byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66))) return false
  }
  at = hashAt + 65
  const binary = fieldEnd(raw, at, BINARY_FIELD)
  if (binary >= 0) at = binary
  const payloadAt = fieldEnd(raw, at, PAYLOAD_FIELD)
  if (payloadAt < 0) return false
  header.version = decimal(raw, versionAt, versionEnd)
  header.timestamp = decimal(raw, timestampAt, timestampEnd)
  header.state = raw.toString('latin1', stateAt, stateEnd)
  header.payload_hash = raw.toString('latin1', hashAt, hashAt + 64)
  if (binary >= 0) header.content_type = 'binary'
  header.payloadAt = payloadAt
  return true
}

/** Where `field` ends when `raw` holds it at `at`, else -1 (also for `at` = -1). */
function fieldEnd(raw: Buffer, at: number, field: Buffer): number {
  if (at < 0 || at + field.length > raw.length) return -1
  for (let i = 0; i < field.length; i++) if (raw[at + i] !== field[i]) return -1
  return at + field.length
}

/** Where the 1–16 decimal digits at `at` end; -1 when there are none or more (also for `at` = -1). */
function digitsEnd(raw: Buffer, at: number): number {
  if (at < 0) return -1
  let end = at
  while (end - at <= 16 && end < raw.length && raw[end]! >= 0x30 && raw[end]! <= 0x39) end++
  return end === at || end - at > 16 ? -1 : end
}

/** The integer of the decimal digits `raw[from, to)`. */
function decimal(raw: Buffer, from: number, to: number): number {
  let value = 0
  for (let i = from; i < to; i++) value = value * 10 + (raw[i]! - 0x30)
  return value
}

/** Decodes a RedisJSON document (what `JSON.GET key` answers); the payload is canonicalized. */
export function decodeModuleDocument(text: string, id: string, location: string): SyncItem {
  const fail = failAt(location)
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (e) {
    throw fail('the RedisJSON document does not parse', e)
  }
  if (doc === null || typeof doc !== 'object' || !('payload' in doc)) {
    throw fail('the RedisJSON document has no "payload" field')
  }
  const { payload, ...header } = doc as Record<string, unknown>
  if (header.content_type !== undefined) throw fail('a RedisJSON document cannot hold binary content')
  return itemOf(header, utf8Encode(canonicalJson(payload)), id, fail)
}

/** True when the JSON module can hold this item without changing its bytes (canonical JSON content). */
export function fitsJsonModule(record: ItemRecord): boolean {
  if (record.contentType !== 'json') return false
  const text = Buffer.from(
    record.content.buffer,
    record.content.byteOffset,
    record.content.byteLength,
  ).toString()
  try {
    return canonicalJson(JSON.parse(text)) === text
  } catch {
    return false
  }
}

function optionalString(value: unknown, name: string, fail: Fail): string | undefined {
  if (value === undefined || typeof value === 'string') return value
  throw fail(`audit.${name} is not a string`)
}

const FIELDS = [
  ['version', 'number'],
  ['timestamp', 'number'],
  ['state', 'string'],
  ['payload_hash', 'string'],
] as const

function itemOf(header: unknown, content: Uint8Array, id: string, fail: Fail): SyncItem {
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw fail('the document header is not an object')
  }
  const h = header as Record<string, unknown>
  for (const [field, type] of FIELDS) {
    if (typeof h[field] !== type) throw fail(`"${field}" is missing or not a ${type}`)
  }
  const audit = h.audit ?? {}
  if (audit === null || typeof audit !== 'object' || Array.isArray(audit))
    throw fail('audit is not an object')
  const a = audit as Record<string, unknown>
  if (h.content_type !== undefined && h.content_type !== 'binary') {
    throw fail(`unknown content_type ${JSON.stringify(h.content_type)}`)
  }
  const record = {
    id,
    version: h.version,
    updatedAt: h.timestamp,
    contentType: h.content_type === 'binary' ? 'binary' : 'json',
    content,
    contentHash: h.payload_hash,
    state: h.state,
    traceParent: optionalString(a.trace, 'trace', fail),
    homeInstanceId: optionalString(a.home, 'home', fail),
    batchId: optionalString(a.batch, 'batch', fail),
  } as ItemRecord
  try {
    return SyncItem.fromRecord(record, { verifyHash: true })
  } catch (e) {
    throw fail((e as Error).message, e)
  }
}
