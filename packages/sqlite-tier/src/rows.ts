import {
  CorruptDataError,
  checkId,
  checkState,
  detectContentType,
  type ItemAudit,
  type ItemRecord,
  MAX_PAYLOAD_BYTES,
  SyncItem,
  sha256Hex,
} from '@sync-engine/core'

const HEX64 = /^[0-9a-f]{64}$/

/** The placeholders of one row of an item upsert, in `L3_ITEM_COLUMNS` order (JSON bytes bound as text). */
export const ROW_PLACEHOLDERS = '(?, ?, ?, ?, CAST(? AS TEXT), ?, ?, ?, ?, ?)'
export const ROW_WIDTH = 10

/** What a read selects, in the shape `decodeRow` takes (JSON text comes back as its UTF-8 bytes). */
export const SELECT_COLUMNS =
  'id, version, timestamp, payload_hash, CAST(payload AS BLOB) AS payload, payload_blob, audit, state, access_count, last_accessed'

export interface StoredRow {
  readonly id: string
  readonly version: unknown
  readonly timestamp: unknown
  readonly payload_hash: unknown
  readonly payload: Buffer | null
  readonly payload_blob: Buffer | null
  readonly audit: unknown
  readonly state: unknown
  readonly access_count: unknown
  readonly last_accessed: unknown
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function optionalCount(name: string, value: unknown): string | undefined {
  return value === undefined || isCount(value)
    ? undefined
    : `${name} must be an integer ≥ 0, got ${String(value)}`
}

function optionalString(name: string, value: unknown): string | undefined {
  return value === undefined || typeof value === 'string' ? undefined : `${name} must be a string`
}

/** Problems of the fields a `SyncItem` does not validate itself (L1 counters, audit strings). */
function metadataProblem(row: ItemRecord): string | undefined {
  return (
    optionalCount('accessCount', row.accessCount) ??
    optionalCount('lastAccessed', row.lastAccessed) ??
    optionalString('traceParent', row.traceParent) ??
    optionalString('homeInstanceId', row.homeInstanceId) ??
    optionalString('batchId', row.batchId)
  )
}

/**
 * Why `row` cannot be stored, or `undefined` when it can. A `SyncItem`'s constructor already checked
 * its id (core's `checkId`), state, version, timestamp, size and content type, and its hash is
 * computed from its bytes: only its mutable metadata is checked again. Any other `ItemRecord` gets
 * every check, including hash against bytes and JSON that parses.
 */
export function rowProblem(row: ItemRecord): string | undefined {
  if (row instanceof SyncItem) return metadataProblem(row)
  if (typeof row !== 'object' || row === null) return `row must be an ItemRecord object, got ${String(row)}`
  const idProblem = checkId(row.id)
  if (idProblem) return idProblem.message
  const stateProblem = checkState(row.state)
  if (stateProblem) return stateProblem.message
  if (!Number.isSafeInteger(row.version) || row.version < 1)
    return `version must be an integer ≥ 1, got ${String(row.version)}`
  if (!isCount(row.updatedAt)) return `updatedAt must be epoch milliseconds ≥ 0, got ${String(row.updatedAt)}`
  if (!(row.content instanceof Uint8Array)) return 'content must be a Uint8Array'
  if (row.content.byteLength > MAX_PAYLOAD_BYTES)
    return `payload is ${row.content.byteLength} bytes, over the limit of ${MAX_PAYLOAD_BYTES} bytes`
  const other = metadataProblem(row)
  if (other) return other
  if (row.contentType !== 'json' && row.contentType !== 'binary')
    return `contentType must be 'json' or 'binary', got '${String(row.contentType)}'`
  if (typeof row.contentHash !== 'string' || !HEX64.test(row.contentHash))
    return `contentHash must be 64 lower-case hex characters, got ${JSON.stringify(row.contentHash)}`
  if (sha256Hex(row.content) !== row.contentHash) return 'contentHash does not match the content'
  if (row.contentType === 'json' && detectContentType(row.content) !== 'json')
    return "contentType is 'json' but the content is not a UTF-8 JSON object, array or string"
  return undefined
}

function auditOf(row: ItemRecord): string | null {
  if (row.batchId === undefined && row.traceParent === undefined && row.homeInstanceId === undefined)
    return null
  // JSON.stringify leaves out the fields that are undefined.
  return JSON.stringify({ batch: row.batchId, trace: row.traceParent, home: row.homeInstanceId })
}

/** Writes the parameters of a valid row at `at` of `params`, in `L3_ITEM_COLUMNS` order. */
export function bindRow(row: ItemRecord, params: unknown[], at: number): void {
  const json = row.contentType === 'json'
  params[at] = row.id
  params[at + 1] = row.version
  params[at + 2] = row.updatedAt
  params[at + 3] = row.contentHash
  params[at + 4] = json ? row.content : null
  params[at + 5] = json ? null : row.content
  params[at + 6] = auditOf(row)
  params[at + 7] = row.state
  params[at + 8] = row.accessCount ?? 0
  params[at + 9] = row.lastAccessed ?? 0
}

/** True when `a` must win over `b` for the same id: greater version, or equal and not older. */
export function supersedes(a: ItemRecord, b: ItemRecord): boolean {
  return a.version > b.version || (a.version === b.version && a.updatedAt >= b.updatedAt)
}

function plainBytes(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
}

function parseAudit(text: unknown): ItemAudit {
  if (text === null) return {}
  const audit: unknown = typeof text === 'string' ? JSON.parse(text) : undefined
  if (typeof audit !== 'object' || audit === null) throw new TypeError('audit is not a JSON object')
  return audit as ItemAudit
}

/**
 * Turns a stored row back into a validated item, checking its hash against its bytes; anything that
 * does not decode is a `CorruptDataError` at `location`.
 */
export function decodeRow(row: StoredRow, location: string): SyncItem {
  try {
    const json = row.payload !== null
    if (json === (row.payload_blob !== null)) {
      throw new TypeError(
        json ? 'both payload and payload_blob are set' : 'neither payload nor payload_blob is set',
      )
    }
    if (!isCount(row.access_count) || !isCount(row.last_accessed))
      throw new TypeError('access_count/last_accessed are not integers ≥ 0')
    const audit = parseAudit(row.audit)
    const record: ItemRecord = {
      id: row.id,
      version: row.version as number,
      updatedAt: row.timestamp as number,
      contentType: json ? 'json' : 'binary',
      content: plainBytes((json ? row.payload : row.payload_blob)!),
      contentHash: row.payload_hash as string,
      state: row.state as string,
      traceParent: audit.trace,
      homeInstanceId: audit.home,
      batchId: audit.batch,
      accessCount: row.access_count,
      lastAccessed: row.last_accessed,
    }
    return SyncItem.fromRecord(record, { verifyHash: true })
  } catch (error) {
    throw new CorruptDataError(location, `row ${JSON.stringify(row.id)}: ${(error as Error).message}`, {
      cause: error,
    })
  }
}
