/**
 * The one error hierarchy of sync-engine. Every error the packages throw on purpose is a
 * `SyncEngineError` with a stable, machine-readable `code`; match on `code` (or `instanceof`),
 * never on `message`, which may be reworded.
 */
export type SyncEngineErrorCode =
  | 'INVALID_ID'
  | 'INVALID_STATE'
  | 'INVALID_ARGUMENT'
  | 'INVALID_CONFIG'
  | 'INVALID_JSON'
  | 'PAYLOAD_TOO_LARGE'
  | 'BACKPRESSURE'
  | 'ENGINE_NOT_READY'
  | 'ENGINE_STOPPED'
  | 'BACKEND_UNAVAILABLE'
  | 'TIMEOUT'
  | 'CORRUPT_DATA'
  | 'WAL_FULL'
  | 'SCHEMA_MISMATCH'
  | 'ROW_REJECTED'

export interface SyncEngineErrorOptions {
  cause?: unknown
}

export class SyncEngineError extends Error {
  readonly code: SyncEngineErrorCode

  constructor(code: SyncEngineErrorCode, message: string, options: SyncEngineErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.name = new.target.name
  }
}

/** The rules of SPEC §3.1; each failing rule has its own message. */
export type IdRule =
  | 'not-a-string'
  | 'empty'
  | 'too-long'
  | 'control-character'
  | 'invalid-unicode'
  | 'leading-dot'
  | 'trailing-dot'
  | 'empty-segment'
  | 'reserved-namespace'

export class InvalidIdError extends SyncEngineError {
  readonly id: unknown
  readonly rule: IdRule
  constructor(id: unknown, rule: IdRule, message: string) {
    super('INVALID_ID', message)
    this.id = id
    this.rule = rule
  }
}

export type StateRule = 'not-a-string' | 'empty' | 'too-long' | 'control-character' | 'invalid-unicode'

export class InvalidStateError extends SyncEngineError {
  readonly state: unknown
  readonly rule: StateRule
  constructor(state: unknown, rule: StateRule, message: string) {
    super('INVALID_STATE', message)
    this.state = state
    this.rule = rule
  }
}

/** An argument that is not one of the above (a version of 0, a negative TTL, a bad trace parent…). */
export class InvalidArgumentError extends SyncEngineError {
  readonly argument: string
  constructor(argument: string, message: string) {
    super('INVALID_ARGUMENT', message)
    this.argument = argument
  }
}

/** A configuration object that does not validate; `issues` lists every problem found, by path. */
export class InvalidConfigError extends SyncEngineError {
  readonly issues: readonly { path: string; message: string }[]
  constructor(issues: readonly { path: string; message: string }[]) {
    super(
      'INVALID_CONFIG',
      `invalid configuration: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}`,
    )
    this.issues = issues
  }
}

export class InvalidJsonError extends SyncEngineError {
  /** JSONPath-like location of the offending value (`$` for the value itself). */
  readonly path: string
  constructor(path: string, message: string, options: SyncEngineErrorOptions = {}) {
    super('INVALID_JSON', message, options)
    this.path = path
  }
}

export class PayloadTooLargeError extends SyncEngineError {
  readonly size: number
  readonly limit: number
  readonly id: string | undefined
  constructor(size: number, limit: number, id?: string) {
    super(
      'PAYLOAD_TOO_LARGE',
      `payload${id === undefined ? '' : ` of '${id}'`} is ${size} bytes, over the limit of ${limit} bytes`,
    )
    this.size = size
    this.limit = limit
    this.id = id
  }
}

/** Pressure levels of SPEC §9, lowest first. */
export type PressureLevel = 'Normal' | 'Warn' | 'Throttle' | 'Critical' | 'Emergency' | 'Shutdown'

export class BackpressureError extends SyncEngineError {
  readonly level: PressureLevel
  readonly retryAfterMs: number
  constructor(level: PressureLevel, retryAfterMs: number, detail = '') {
    super(
      'BACKPRESSURE',
      `write refused: memory pressure is ${level}${detail ? ` (${detail})` : ''}; retry after ${retryAfterMs} ms`,
    )
    this.level = level
    this.retryAfterMs = retryAfterMs
  }
}

export class EngineNotReadyError extends SyncEngineError {
  readonly state: string
  constructor(state: string, operation: string) {
    super('ENGINE_NOT_READY', `cannot ${operation}: the engine is ${state}; call start() first`)
    this.state = state
  }
}

export class EngineStoppedError extends SyncEngineError {
  readonly state: string
  constructor(state: string, operation: string) {
    super('ENGINE_STOPPED', `cannot ${operation}: the engine is ${state}`)
    this.state = state
  }
}

export class BackendUnavailableError extends SyncEngineError {
  readonly backend: string
  constructor(backend: string, message: string, options: SyncEngineErrorOptions = {}) {
    super('BACKEND_UNAVAILABLE', `${backend} unavailable: ${message}`, options)
    this.backend = backend
  }
}

export class TimeoutError extends SyncEngineError {
  readonly operation: string
  readonly timeoutMs: number
  constructor(operation: string, timeoutMs: number) {
    super('TIMEOUT', `${operation} timed out after ${timeoutMs} ms`)
    this.operation = operation
    this.timeoutMs = timeoutMs
  }
}

/** Stored bytes that are not what the library wrote: a truncated file, a garbage value, a bad checksum. */
export class CorruptDataError extends SyncEngineError {
  /** What was corrupt: a file path, a key, an id. */
  readonly location: string
  constructor(location: string, message: string, options: SyncEngineErrorOptions = {}) {
    super('CORRUPT_DATA', `corrupt data in ${location}: ${message}`, options)
    this.location = location
  }
}

export class WalFullError extends SyncEngineError {
  readonly rows: number
  readonly bytes: number
  readonly maxRows: number
  readonly maxBytes: number
  constructor(rows: number, bytes: number, maxRows: number, maxBytes: number) {
    super(
      'WAL_FULL',
      `write-ahead log full: ${rows}/${maxRows} rows, ${bytes}/${maxBytes} bytes after this append; nothing of it was written`,
    )
    this.rows = rows
    this.bytes = bytes
    this.maxRows = maxRows
    this.maxBytes = maxBytes
  }
}

/** A stored schema the code cannot work with (newer than it knows, or not its own). */
export class SchemaMismatchError extends SyncEngineError {
  readonly found: number
  readonly supported: number
  constructor(found: number, supported: number, where: string) {
    super(
      'SCHEMA_MISMATCH',
      `${where} has schema version ${found}, but this code supports up to ${supported}; upgrade the package`,
    )
    this.found = found
    this.supported = supported
  }
}

/**
 * A row the store refused (too long for its column, a value of the wrong type, an invalid id that got
 * past validation): isolated from its batch, whose other rows were written, and reported as a dead letter.
 */
export class RowRejectedError extends SyncEngineError {
  /** The id of the refused row. */
  readonly id: string
  /** Why the store refused it. */
  readonly reason: string
  constructor(id: string, reason: string, options: SyncEngineErrorOptions = {}) {
    super('ROW_REJECTED', `row '${id}' was rejected: ${reason}`, options)
    this.id = id
    this.reason = reason
  }
}

export function isSyncEngineError(value: unknown): value is SyncEngineError {
  return value instanceof SyncEngineError
}
