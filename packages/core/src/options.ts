import { InvalidArgumentError } from './errors.js'
import { validateState } from './ids.js'

/** What a resolved `submit` promises (SPEC §3.3). */
export type Durability = 'memory' | 'local' | 'ground-truth'

export const DURABILITY_LEVELS: readonly Durability[] = ['memory', 'local', 'ground-truth']

/** Per-call write options (SPEC §3.3). L1 always holds the item. */
export interface SubmitOptions {
  /** Write to L2 (Redis). Default true. */
  l2?: boolean
  /** L2 TTL in whole seconds; the item also leaves L1 when it passes. */
  l2TtlSeconds?: number
  /** Write to L3 (SQL). Default true. */
  l3?: boolean
  /** State tag for the item (overrides the item's own). */
  state?: string
  /** Default `'memory'`. */
  durability?: Durability
}

/** Submit options with every default applied. */
export interface ResolvedSubmitOptions {
  readonly l2: boolean
  readonly l2TtlSeconds: number | undefined
  readonly l3: boolean
  readonly state: string | undefined
  readonly durability: Durability
}

export const DEFAULT_SUBMIT_OPTIONS: ResolvedSubmitOptions = Object.freeze({
  l2: true,
  l2TtlSeconds: undefined,
  l3: true,
  state: undefined,
  durability: 'memory',
})

function checkTtl(ttlSeconds: unknown): number {
  if (typeof ttlSeconds !== 'number' || !Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1) {
    throw new InvalidArgumentError(
      'l2TtlSeconds',
      `l2TtlSeconds must be a whole number of seconds ≥ 1, got ${String(ttlSeconds)}`,
    )
  }
  return ttlSeconds
}

/** Applies defaults and refuses contradictions with `InvalidArgumentError`. */
export function resolveSubmitOptions(options?: SubmitOptions): ResolvedSubmitOptions {
  if (options === undefined) return DEFAULT_SUBMIT_OPTIONS
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError(
      'options',
      `submit options must be an object, got ${options === null ? 'null' : typeof options}`,
    )
  }
  for (const key of Object.keys(options)) {
    if (!['l2', 'l2TtlSeconds', 'l3', 'state', 'durability'].includes(key)) {
      throw new InvalidArgumentError('options', `unknown submit option '${key}'`)
    }
  }
  const l2 = options.l2 ?? true
  const l3 = options.l3 ?? true
  const durability = options.durability ?? 'memory'
  if (typeof l2 !== 'boolean') throw new InvalidArgumentError('l2', `l2 must be a boolean, got ${typeof l2}`)
  if (typeof l3 !== 'boolean') throw new InvalidArgumentError('l3', `l3 must be a boolean, got ${typeof l3}`)
  if (!DURABILITY_LEVELS.includes(durability)) {
    throw new InvalidArgumentError(
      'durability',
      `durability must be one of ${DURABILITY_LEVELS.join(', ')}, got '${String(durability)}'`,
    )
  }
  const l2TtlSeconds = options.l2TtlSeconds === undefined ? undefined : checkTtl(options.l2TtlSeconds)
  if (l2TtlSeconds !== undefined && !l2) {
    throw new InvalidArgumentError('l2TtlSeconds', 'l2TtlSeconds was given but l2 is false')
  }
  if (!l3 && durability !== 'memory') {
    throw new InvalidArgumentError(
      'durability',
      `durability '${durability}' needs the L3 write, but l3 is false`,
    )
  }
  const state = options.state === undefined ? undefined : validateState(options.state)
  return { l2, l2TtlSeconds, l3, state, durability }
}

/** Presets (SPEC §3.3). `SubmitOptions` is both the type and this namespace of ready-made values. */
export const SubmitOptions = Object.freeze({
  /** L2 only, with a TTL: a shared cache entry that never reaches SQL. */
  cache(ttlSeconds: number): SubmitOptions {
    return { l2: true, l2TtlSeconds: checkTtl(ttlSeconds), l3: false }
  },
  /** L3 only: durable, not put in the shared cache. */
  durable(): SubmitOptions {
    return { l2: false, l3: true }
  },
  /** Every tier; resolves once the write is in the local WAL (survives `kill -9`). */
  local(): SubmitOptions {
    return { durability: 'local' }
  },
  /** Every tier; resolves once L3 committed it (or the WAL holds it while L3 is down). */
  groundTruth(): SubmitOptions {
    return { durability: 'ground-truth' }
  },
})
