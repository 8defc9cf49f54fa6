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

// States are few and short: keep their JSON text.
const stateJson = new Map<string, string>()
function jsonOfState(state: string): string {
  let text = stateJson.get(state)
  if (text === undefined) {
    text = JSON.stringify(state)
    if (stateJson.size < 1000) stateJson.set(state, text)
  }
  return text
}

/** A document in two parts: `header` (up to and including `,"payload":`), then the content and `}`. */
export interface DocumentParts {
  readonly header: string
  readonly content: Uint8Array
}

/** The parts of `record`'s document (see above); nothing is copied yet. */
export function documentParts(record: ItemRecord): DocumentParts {
  let header = `{"version":${record.version},"timestamp":${record.updatedAt},"state":${jsonOfState(record.state)},"payload_hash":"${record.contentHash}"`
  const audit = auditOf(record)
  if (audit !== undefined) header += `,"audit":${JSON.stringify(audit)}`
  if (record.contentType === 'binary') header += ',"content_type":"binary"'
  return { header: `${header},"payload":`, content: record.content }
}

/** About the byte size of a document (exact when its header is ASCII). */
export function documentSize(doc: DocumentParts): number {
  return doc.header.length + doc.content.byteLength + 1
}

/**
 * Documents written back to back into one Buffer (each one's bytes copied once, straight into place),
 * and the byte length of each.
 */
export function packDocuments(docs: readonly DocumentParts[]): { bytes: Buffer; lengths: number[] } {
  let room = 0
  for (const doc of docs) room += doc.header.length * 3 + doc.content.byteLength + 1
  const out = Buffer.allocUnsafe(room)
  const lengths: number[] = new Array(docs.length)
  let at = 0
  for (let i = 0; i < docs.length; i++) {
    const { header, content } = docs[i]!
    const start = at
    at += out.write(header, at)
    out.set(content, at)
    at += content.byteLength
    out[at++] = CLOSE
    lengths[i] = at - start
  }
  return { bytes: out.subarray(0, at), lengths }
}

/** The document bytes of `record` (see above). */
export function encodeDocument(record: ItemRecord): Buffer {
  return packDocuments([documentParts(record)]).bytes
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
