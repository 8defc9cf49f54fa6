import { sha256Hex, utf8ByteLength, utf8Decode, utf8Encode } from './bytes.js'
import { canonicalJson } from './canonical-json.js'
import { type ContentType, detectContentType } from './content.js'
import { InvalidArgumentError, InvalidJsonError, PayloadTooLargeError } from './errors.js'
import { DEFAULT_STATE, validateId, validateState } from './ids.js'

/** Hard limit of any item's content (SPEC §3.2); engines may configure a lower `maxPayloadBytes`. */
export const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024

/** Audit block stored with an L3 row (`audit` column, JSON `{batch, trace, home}`). */
export interface ItemAudit {
  readonly batch?: string
  readonly trace?: string
  readonly home?: string
}

/**
 * The plain data of an item as tiers store and return it. `SyncItem` implements it; a tier may return
 * any object of this shape and `SyncItem.fromRecord` turns it back into a validated item.
 */
export interface ItemRecord {
  readonly id: string
  readonly version: number
  readonly updatedAt: number
  readonly contentType: ContentType
  readonly content: Uint8Array
  readonly contentHash: string
  readonly state: string
  readonly traceParent?: string | undefined
  readonly homeInstanceId?: string | undefined
  readonly batchId?: string | undefined
  readonly accessCount?: number | undefined
  readonly lastAccessed?: number | undefined
}

/** What a caller may set when making an item; every field optional. */
export interface SyncItemOptions {
  /** Caller-owned version, integer ≥ 1 (default 1). The greatest `(version, updatedAt)` wins in L3. */
  version?: number | undefined
  /** Epoch ms; default: now. */
  updatedAt?: number | undefined
  /** Caller tag, ≤ 32 UTF-8 bytes (default `'default'`). */
  state?: string | undefined
  /** W3C `traceparent` header value. */
  traceParent?: string | undefined
  homeInstanceId?: string | undefined
  batchId?: string | undefined
}

const TRACE_PARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/

function checkVersion(version: number): number {
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new InvalidArgumentError('version', `version must be an integer ≥ 1, got ${String(version)}`)
  }
  return version
}

function checkTimestamp(name: string, ms: number): number {
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new InvalidArgumentError(
      name,
      `${name} must be an integer number of epoch milliseconds ≥ 0, got ${String(ms)}`,
    )
  }
  return ms
}

function checkTraceParent(value: string | undefined): string | undefined {
  if (value !== undefined && !TRACE_PARENT.test(value)) {
    throw new InvalidArgumentError(
      'traceParent',
      `traceParent '${value}' is not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)`,
    )
  }
  return value
}

function checkSize(id: string, bytes: number): void {
  if (bytes > MAX_PAYLOAD_BYTES) throw new PayloadTooLargeError(bytes, MAX_PAYLOAD_BYTES, id)
}

/**
 * One record: an id, its bytes and their metadata. Every constructor validates the id, state,
 * version and size, so an invalid item cannot exist. Content is kept verbatim and never copied by
 * the item (callers must not mutate a buffer after handing it over).
 */
export class SyncItem implements ItemRecord {
  readonly id: string
  readonly version: number
  readonly updatedAt: number
  readonly contentType: ContentType
  readonly content: Uint8Array
  readonly state: string
  readonly traceParent: string | undefined
  readonly homeInstanceId: string | undefined
  readonly batchId: string | undefined
  /** Kept by L1: how often the item was read there, and when last (epoch ms; 0 = never). */
  accessCount = 0
  lastAccessed = 0
  #hash: string | undefined

  private constructor(
    id: string,
    contentType: ContentType,
    content: Uint8Array,
    options: SyncItemOptions,
    hash?: string,
    idChecked = false,
  ) {
    this.id = idChecked ? id : validateId(id)
    checkSize(id, content.byteLength)
    this.contentType = contentType
    this.content = content
    this.version = options.version === undefined ? 1 : checkVersion(options.version)
    this.updatedAt =
      options.updatedAt === undefined ? Date.now() : checkTimestamp('updatedAt', options.updatedAt)
    this.state = options.state === undefined ? DEFAULT_STATE : validateState(options.state)
    this.traceParent = checkTraceParent(options.traceParent)
    this.homeInstanceId = options.homeInstanceId
    this.batchId = options.batchId
    this.#hash = hash
  }

  /** An item whose content is the canonical JSON of `value` (SPEC §3.2). */
  static fromJson(id: string, value: unknown, options: SyncItemOptions = {}): SyncItem {
    validateId(id)
    const text = canonicalJson(value)
    // Refuse before encoding a huge string (UTF-8 is at least one byte per UTF-16 unit).
    if (text.length > MAX_PAYLOAD_BYTES) checkSize(id, utf8ByteLength(text))
    return new SyncItem(id, 'json', utf8Encode(text), options, undefined, true)
  }

  /** An item holding `bytes` as given; JSON iff they parse as a JSON object, array or string. */
  static fromBytes(id: string, bytes: Uint8Array, options: SyncItemOptions = {}): SyncItem {
    if (!(bytes instanceof Uint8Array)) {
      throw new InvalidArgumentError('bytes', `content must be a Uint8Array, got ${typeof bytes}`)
    }
    validateId(id)
    checkSize(id, bytes.byteLength)
    return new SyncItem(id, detectContentType(bytes), bytes, options, undefined, true)
  }

  /** An item holding the UTF-8 of `text`, typed by the same detection as `fromBytes`. */
  static fromText(id: string, text: string, options: SyncItemOptions = {}): SyncItem {
    return SyncItem.fromBytes(id, utf8Encode(text), options)
  }

  /**
   * Rebuilds an item from what a tier stored. Validates like every constructor; when `verifyHash`
   * is set, a stored hash that does not match the content raises `InvalidArgumentError` (tiers map it
   * to `CorruptDataError` with their location).
   */
  static fromRecord(record: ItemRecord, { verifyHash = false }: { verifyHash?: boolean } = {}): SyncItem {
    const options: SyncItemOptions = {
      version: record.version,
      updatedAt: record.updatedAt,
      state: record.state,
      traceParent: record.traceParent,
      homeInstanceId: record.homeInstanceId,
      batchId: record.batchId,
    }
    if (record.contentType !== 'json' && record.contentType !== 'binary') {
      throw new InvalidArgumentError(
        'contentType',
        `contentType must be 'json' or 'binary', got '${String(record.contentType)}'`,
      )
    }
    let hash: string | undefined = record.contentHash
    if (verifyHash) {
      const actual = sha256Hex(record.content)
      if (actual !== record.contentHash) {
        throw new InvalidArgumentError(
          'contentHash',
          `stored hash ${record.contentHash} does not match the content (${actual})`,
        )
      }
      hash = actual
    } else if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash)) {
      hash = undefined
    }
    const item = new SyncItem(record.id, record.contentType, record.content, options, hash)
    if (record.accessCount !== undefined) item.accessCount = record.accessCount
    if (record.lastAccessed !== undefined) item.lastAccessed = record.lastAccessed
    return item
  }

  /** Lower-case hex SHA-256 of `content`, computed on first use and then kept. */
  get contentHash(): string {
    if (this.#hash === undefined) this.#hash = sha256Hex(this.content)
    return this.#hash
  }

  /** Content size in bytes. */
  get size(): number {
    return this.content.byteLength
  }

  /** The parsed JSON content; `InvalidJsonError` for a binary item. */
  json<T = unknown>(): T {
    if (this.contentType !== 'json') {
      throw new InvalidJsonError('$', `item '${this.id}' holds binary content, not JSON`)
    }
    return JSON.parse(utf8Decode(this.content)) as T
  }

  /** The content decoded as UTF-8 (invalid sequences become U+FFFD). */
  text(): string {
    return utf8Decode(this.content)
  }

  /** A copy with some metadata changed; content (and its hash) are shared. */
  with(changes: SyncItemOptions): SyncItem {
    const options: SyncItemOptions = {
      version: this.version,
      updatedAt: this.updatedAt,
      state: this.state,
      traceParent: this.traceParent,
      homeInstanceId: this.homeInstanceId,
      batchId: this.batchId,
      ...changes,
    }
    return new SyncItem(this.id, this.contentType, this.content, options, this.#hash, true)
  }

  toJSON(): Record<string, unknown> {
    return {
      id: this.id,
      version: this.version,
      updatedAt: this.updatedAt,
      contentType: this.contentType,
      contentHash: this.contentHash,
      state: this.state,
      size: this.size,
    }
  }
}
