import * as crypto from 'node:crypto'
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
const PLAIN_HEADER =
  /^\{"version":(\d{1,16}),"timestamp":(\d{1,16}),"state":"([^"\\]*)","payload_hash":"([0-9a-f]{64})"(,"content_type":"binary")?$/
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
  const at = raw.indexOf(PAYLOAD_FIELD)
  if (at < 0) throw fail('the document has no "payload" field')
  const text = raw.toString('utf8', 0, at)
  // The usual header (no audit, a state without escapes) is matched directly; the rest is parsed.
  const plain = PLAIN_HEADER.exec(text)
  let header: unknown
  if (plain) {
    header = {
      version: Number(plain[1]),
      timestamp: Number(plain[2]),
      state: plain[3],
      payload_hash: plain[4],
      content_type: plain[5] === undefined ? undefined : 'binary',
    }
  } else {
    try {
      header = JSON.parse(`${text}}`)
    } catch (e) {
      throw fail('the document header is not JSON', e)
    }
  }
  // A copy: the reply buffer may be a slice of a larger socket chunk the item must not keep alive.
  const content = new Uint8Array(raw.length - 1 - (at + PAYLOAD_FIELD.length))
  content.set(raw.subarray(at + PAYLOAD_FIELD.length, raw.length - 1))
  return itemOf(header, content, id, fail)
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
  const actual = sha256Hex(content)
  if (actual !== record.contentHash) {
    throw fail(`payload_hash ${JSON.stringify(record.contentHash)} does not match the payload (${actual})`)
  }
  try {
    return SyncItem.fromRecord(record)
  } catch (e) {
    throw fail((e as Error).message, e)
  }
}

/** Hex SHA-256, with Node's one-shot `crypto.hash` where it exists (≥ 20.12: no Hash object). */
const sha256Hex: (data: Uint8Array) => string =
  typeof crypto.hash === 'function'
    ? (data) => crypto.hash('sha256', data, 'hex')
    : (data) => crypto.createHash('sha256').update(data).digest('hex')
