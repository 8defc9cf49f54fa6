import {
  type Clock,
  DEFAULT_PRESSURE_THRESHOLDS,
  InvalidArgumentError,
  type PressureThresholds,
  systemClock,
  validatePressureThresholds,
} from '@sync-engine/core'

export interface L1MemoryCacheOptions {
  /** Byte budget the pressure ratio is measured against. Default 256 MiB. */
  maxBytes?: number
  /** Lower bounds of the pressure levels; missing keys keep core's defaults (0.70 / 0.80 / …). */
  thresholds?: Partial<PressureThresholds>
  /** Eviction starts when a `set`/`unpin` leaves pressure above this. Default 0.97 × `thresholds.warn`. */
  evictAt?: number
  /** Eviction stops once pressure is at or below this. Default 0.98 × `evictAt`. */
  evictTo?: number
  /** Time source for TTLs (monotonic) and `lastAccessed` stamps (wall). Default: the system clock. */
  clock?: Clock
}

export interface ResolvedL1Options {
  readonly maxBytes: number
  readonly thresholds: Readonly<PressureThresholds>
  readonly evictAt: number
  readonly evictTo: number
  readonly clock: Clock
}

export const DEFAULT_L1_MAX_BYTES = 256 * 1024 * 1024
/** Default `evictAt` as a fraction of the warn threshold: a cache of unpinned entries stays Normal. */
export const DEFAULT_EVICT_AT_OF_WARN = 0.97
/** Default `evictTo` as a fraction of `evictAt`: each eviction run frees about 2 % of what is held. */
export const DEFAULT_EVICT_TO_OF_EVICT_AT = 0.98

const OPTION_KEYS = ['maxBytes', 'thresholds', 'evictAt', 'evictTo', 'clock']
const THRESHOLD_KEYS = Object.keys(DEFAULT_PRESSURE_THRESHOLDS)

const describe = (v: unknown) => (typeof v === 'string' ? `'${v}'` : String(v))

function checkKeys(value: object, known: readonly string[], path: string): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new InvalidArgumentError(path, `unknown ${path} key '${key}' (known: ${known.join(', ')})`)
    }
  }
}

function checkObject(value: unknown, name: string): asserts value is object {
  if (value === null || typeof value !== 'object') {
    throw new InvalidArgumentError(
      name,
      `${name} must be an object, got ${value === null ? 'null' : typeof value}`,
    )
  }
}

function resolveThresholds(given: Partial<PressureThresholds> | undefined): Readonly<PressureThresholds> {
  if (given === undefined) return DEFAULT_PRESSURE_THRESHOLDS
  checkObject(given, 'thresholds')
  checkKeys(given, THRESHOLD_KEYS, 'thresholds')
  try {
    return Object.freeze(validatePressureThresholds({ ...DEFAULT_PRESSURE_THRESHOLDS, ...given }))
  } catch (error) {
    // Core names the engine option (`backpressure.x`); say which L1 option it was.
    if (!(error instanceof InvalidArgumentError)) throw error
    const key = error.argument.slice(error.argument.lastIndexOf('.') + 1)
    throw new InvalidArgumentError(
      `thresholds.${key}`,
      error.message.replace(/^backpressure\./, 'thresholds.'),
    )
  }
}

/** A ratio in (0, 1], or in (0, below) when `below` is given. */
function ratio(value: unknown, name: string, below?: { name: string; value: number }): number {
  const ok =
    typeof value === 'number' && value > 0 && (below === undefined ? value <= 1 : value < below.value)
  if (!ok) {
    const range =
      below === undefined ? '(0, 1]' : `(0, ${below.name} = ${Number(below.value.toPrecision(6))})`
    throw new InvalidArgumentError(name, `${name} must be a number in ${range}, got ${describe(value)}`)
  }
  return value as number
}

/** Applies defaults and refuses bad options with `InvalidArgumentError` naming the option. */
export function resolveL1Options(options: L1MemoryCacheOptions = {}): ResolvedL1Options {
  checkObject(options, 'options')
  checkKeys(options, OPTION_KEYS, 'options')
  const maxBytes = options.maxBytes ?? DEFAULT_L1_MAX_BYTES
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw new InvalidArgumentError('maxBytes', `maxBytes must be an integer ≥ 1, got ${describe(maxBytes)}`)
  }
  const thresholds = resolveThresholds(options.thresholds)
  const evictAt = ratio(options.evictAt ?? DEFAULT_EVICT_AT_OF_WARN * thresholds.warn, 'evictAt')
  const evictTo = ratio(options.evictTo ?? DEFAULT_EVICT_TO_OF_EVICT_AT * evictAt, 'evictTo', {
    name: 'evictAt',
    value: evictAt,
  })
  const clock = options.clock ?? systemClock
  if (typeof clock?.now !== 'function' || typeof clock.monotonic !== 'function') {
    throw new InvalidArgumentError('clock', 'clock must have now() and monotonic() methods')
  }
  return { maxBytes, thresholds, evictAt, evictTo, clock }
}
