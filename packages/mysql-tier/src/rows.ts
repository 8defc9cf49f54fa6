import { isUtf8 } from 'node:buffer'
import {
  CorruptDataError,
  type ItemAudit,
  type ItemRecord,
  L3_ITEM_COLUMNS,
  type LeafRecord,
  SyncItem,
  utf8ByteLength,
} from '@sync-engine/core'
import { LEAN_COLUMNS } from './item-sql.js'

/** The `audit` column is TEXT: at most 65 535 bytes. */
const MAX_AUDIT_BYTES = 65_535
/** Bytes a row adds to a statement besides its payload and audit (id, hash, state, numbers, framing). */
const ROW_OVERHEAD_BYTES = 1024
const HASH = /^[0-9a-f]{64}$/

/**
 * A valid row, ready to bind. It is also the Merkle upsert of its leaf (`op`, `id`, `version`,
 * `contentHash`), so a written batch goes to the tree without another object per row.
 */
export interface EncodedRow {
  readonly op: 'upsert'
  /** Position in the caller's batch. */
  readonly index: number
  readonly id: string
  readonly version: number
  readonly updatedAt: number
  readonly contentHash: string
  readonly json: boolean
  readonly payload: Buffer
  readonly audit: string | null
  readonly state: string
  readonly accessCount: number
  readonly lastAccessed: number
  /** Approximate bytes on the wire (chunks stay under `max_allowed_packet`). */
  readonly bytes: number
}

/** True for a row the lean upsert can write (`LEAN_COLUMNS`): JSON content, no audit, no access counts. */
export function isLean(r: EncodedRow): boolean {
  return r.json && r.audit === null && r.accessCount === 0 && r.lastAccessed === 0
}

/**
 * The values of `rows`, row after row: what one multi-row upsert binds — in `L3_ITEM_COLUMNS` order,
 * or in `LEAN_COLUMNS` order for rows that are all lean.
 */
export function rowParams(rows: readonly EncodedRow[], lean = false): unknown[] {
  const params = new Array<unknown>(rows.length * (lean ? LEAN_COLUMNS : L3_ITEM_COLUMNS).length)
  let k = 0
  for (const r of rows) {
    params[k++] = r.id
    params[k++] = r.version
    params[k++] = r.updatedAt
    params[k++] = r.contentHash
    params[k++] = r.json ? r.payload : null
    if (!lean) {
      params[k++] = r.json ? null : r.payload
      params[k++] = r.audit
    }
    params[k++] = r.state
    if (!lean) {
      params[k++] = r.accessCount
      params[k++] = r.lastAccessed
    }
  }
  return params
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value !== undefined && typeof value !== 'string') {
    throw new TypeError(`${name} must be a string when present, got ${typeof value}`)
  }
  return value
}

function optionalCount(value: unknown, name: string): number {
  if (value === undefined) return 0
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`${name} must be an integer ≥ 0 when present, got ${String(value)}`)
  }
  return value
}

/** The `audit` column's JSON (`{batch, trace, home}` with the fields present), or null when none is. */
function encodeAudit(row: ItemRecord): string | null {
  const { batchId, traceParent, homeInstanceId } = row
  if (batchId === undefined && traceParent === undefined && homeInstanceId === undefined) return null
  return JSON.stringify({
    batch: optionalString(batchId, 'batchId'),
    trace: optionalString(traceParent, 'traceParent'),
    home: optionalString(homeInstanceId, 'homeInstanceId'),
  })
}

/**
 * Validates one row for the table and encodes it, or returns why it is refused. The id, state,
 * version, timestamp, trace parent and content type are checked by core's own rules
 * (`SyncItem.fromRecord`, which applies `checkId`/`checkState`; a `SyncItem` passed them when it was
 * made); this adds what storing needs: bytes as a `Uint8Array`, a well-formed hash, JSON content that is
 * valid UTF-8 (it goes to a utf8mb4 column), an audit that fits TEXT, and a payload within `maxPayloadBytes`.
 */
export function encodeRow(row: ItemRecord, index: number, maxPayloadBytes: number): EncodedRow | string {
  try {
    if (row === null || typeof row !== 'object') return `row must be an object, got ${String(row)}`
    if (!(row.content instanceof Uint8Array)) {
      return `content of '${String(row.id)}' must be a Uint8Array, got ${typeof row.content}`
    }
    const item = row instanceof SyncItem
    if (!item) SyncItem.fromRecord(row)
    const { id, version, updatedAt, contentHash, content } = row
    // A SyncItem's hash is well-formed by construction (computed, or checked by `fromRecord`).
    if (!item && (typeof contentHash !== 'string' || !HASH.test(contentHash))) {
      return `contentHash of '${id}' must be 64 lower-case hex characters, got ${JSON.stringify(contentHash)}`
    }
    if (content.byteLength > maxPayloadBytes) {
      return `payload of '${id}' is ${content.byteLength} bytes, over this server's limit of ${maxPayloadBytes} bytes (max_allowed_packet)`
    }
    const payload = asBuffer(content)
    const json = row.contentType === 'json'
    if (json && !isUtf8(payload)) return `JSON content of '${id}' is not valid UTF-8`
    const audit = encodeAudit(row)
    const auditBytes = audit === null ? 0 : utf8ByteLength(audit)
    if (auditBytes > MAX_AUDIT_BYTES) {
      return `audit of '${id}' (batchId, traceParent, homeInstanceId) is ${auditBytes} bytes, over ${MAX_AUDIT_BYTES}`
    }
    return {
      op: 'upsert',
      index,
      id,
      version,
      updatedAt,
      contentHash,
      json,
      payload,
      audit,
      state: row.state,
      accessCount: optionalCount(row.accessCount, 'accessCount'),
      lastAccessed: optionalCount(row.lastAccessed, 'lastAccessed'),
      bytes: content.byteLength + auditBytes + ROW_OVERHEAD_BYTES,
    }
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  }
}

/** The largest payload a row may carry so that one row fits in one statement of `statementBytes`. */
export function payloadLimit(statementBytes: number, hardLimit: number): number {
  return Math.min(hardLimit, statementBytes - MAX_AUDIT_BYTES - 2 * ROW_OVERHEAD_BYTES)
}

/** A row as the driver returns it (`SELECT` of `L3_ITEM_COLUMNS`). */
export interface StoredRow {
  readonly id: unknown
  readonly version: unknown
  readonly timestamp: unknown
  readonly payload_hash: unknown
  readonly payload: unknown
  readonly payload_blob: unknown
  readonly audit: unknown
  readonly state: unknown
  readonly access_count: unknown
  readonly last_accessed: unknown
}

function decodeAudit(audit: unknown): ItemAudit {
  if (audit === null) return {}
  if (typeof audit !== 'string') throw new TypeError('audit is not text')
  const parsed = JSON.parse(audit) as unknown
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new TypeError('audit is not a JSON object')
  }
  const { batch, trace, home } = parsed as Record<string, unknown>
  return {
    ...(batch === undefined ? {} : { batch: optionalString(batch, 'audit.batch') }),
    ...(trace === undefined ? {} : { trace: optionalString(trace, 'audit.trace') }),
    ...(home === undefined ? {} : { home: optionalString(home, 'audit.home') }),
  } as ItemAudit
}

function storedNumber(value: unknown, name: string): number {
  // BIGINT beyond 2^53 arrives as a string (supportBigNumbers): not a value this tier wrote.
  if (typeof value !== 'number') throw new TypeError(`${name} is not a safe integer (${String(value)})`)
  return value
}

/**
 * The item a stored row holds, validated like any item and with its hash checked against its
 * bytes; `CorruptDataError` (at `location`) when the row is not something this tier wrote.
 */
export function decodeRow(row: StoredRow, location: string): SyncItem {
  try {
    const json = row.payload !== null
    if (json === (row.payload_blob !== null)) {
      throw new TypeError('exactly one of payload (JSON) and payload_blob (binary) must be set')
    }
    let content: Uint8Array
    if (json) {
      if (typeof row.payload !== 'string') throw new TypeError('payload is not text')
      content = Buffer.from(row.payload, 'utf8')
    } else {
      if (!(row.payload_blob instanceof Uint8Array)) throw new TypeError('payload_blob is not bytes')
      content = new Uint8Array(row.payload_blob)
    }
    const audit = decodeAudit(row.audit)
    const record: ItemRecord = {
      id: row.id as string,
      version: storedNumber(row.version, 'version'),
      updatedAt: storedNumber(row.timestamp, 'timestamp'),
      contentType: json ? 'json' : 'binary',
      content,
      contentHash: row.payload_hash as string,
      state: row.state as string,
      traceParent: audit.trace,
      homeInstanceId: audit.home,
      batchId: audit.batch,
      accessCount: storedNumber(row.access_count, 'access_count'),
      lastAccessed: storedNumber(row.last_accessed, 'last_accessed'),
    }
    return SyncItem.fromRecord(record, { verifyHash: true })
  } catch (error) {
    throw new CorruptDataError(location, error instanceof Error ? error.message : String(error), {
      cause: error,
    })
  }
}

/** A `(id, version, payload_hash)` row as a Merkle leaf. */
export function decodeLeaf(row: { id: unknown; version: unknown; payload_hash: unknown }): LeafRecord {
  return {
    id: row.id as string,
    version: storedNumber(row.version, 'version'),
    contentHash: row.payload_hash as string,
  }
}
