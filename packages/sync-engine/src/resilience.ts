import {
  BackendUnavailableError,
  CorruptDataError,
  InvalidArgumentError,
  InvalidIdError,
  InvalidJsonError,
  InvalidStateError,
  PayloadTooLargeError,
  TimeoutError,
} from '@sync-engine/core'
import {
  type CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  isBrokenCircuitError,
  isTaskCancelledError,
  type RetryPolicy,
  retry,
  TimeoutPolicy,
  TimeoutStrategy,
} from 'cockatiel'

/** How the engine talks to a backend that may die, stall or lie (SPEC §9). */
export interface ResilienceOptions {
  /** Timeout of one L2 read or probe (default: `redis.commandTimeoutMs`, else 1000 ms). */
  l2TimeoutMs: number
  /** Timeout of one L2 batch write (default: 5 × `l2TimeoutMs`, at least 5000 ms). */
  l2BatchTimeoutMs: number
  /** Timeout of one L3 call (default 10 000 ms). */
  l3TimeoutMs: number
  /** Extra attempts after a transient error (reset, timeout, deadlock, lock wait); 0 disables. Default 2. */
  retries: number
  /** First retry delay; later ones grow exponentially with jitter up to `retryMaxMs`. Default 25 / 1000 ms. */
  retryBaseMs: number
  retryMaxMs: number
  /** Consecutive failures that open a backend's circuit (default 5). */
  breakerThreshold: number
  /** How long an open circuit refuses calls before one half-open probe; grows with jitter up to `halfOpenMaxMs`. Default 250 / 2000 ms. */
  halfOpenAfterMs: number
  halfOpenMaxMs: number
  /** How often an L2 that went away is probed for its return (default 500 ms). */
  probeIntervalMs: number
}

export type CircuitStatus = 'closed' | 'open' | 'half-open' | 'isolated'

// ── error classes ──────────────────────────────────────────────────────────────────────────────────

interface DriverError {
  code?: unknown
  errno?: unknown
  name?: unknown
  cause?: unknown
}

/** The error and its causes, outermost first (a tier wraps the driver's error in one of core's). */
function* chain(error: unknown): Generator<DriverError> {
  for (let e = error, depth = 0; typeof e === 'object' && e !== null && depth < 8; depth++) {
    yield e as DriverError
    e = (e as DriverError).cause
  }
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_LOCK_DEADLOCK',
  'ER_LOCK_WAIT_TIMEOUT',
  'SQLITE_BUSY',
])
// Deadlock, lock wait timeout, server gone away, lost connection during a query.
const TRANSIENT_ERRNO = new Set([1213, 1205, 2006, 2013])

/** Worth another attempt right away: a reset connection, a timeout, a deadlock, a lock wait. */
export function isTransient(error: unknown): boolean {
  for (const e of chain(error)) {
    if (e instanceof TimeoutError || isTaskCancelledError(e)) return true
    if (TRANSIENT_CODES.has(e.code as string) || TRANSIENT_ERRNO.has(e.errno as number)) return true
  }
  return false
}

const DATA_ERRORS = [
  InvalidIdError,
  InvalidStateError,
  InvalidArgumentError,
  InvalidJsonError,
  PayloadTooLargeError,
  CorruptDataError,
]
// Data too long, incorrect value, out of range, null in NOT NULL, truncated, invalid JSON, check constraint.
const DATA_ERRNO = new Set([1406, 1366, 1264, 1048, 1292, 1265, 3140, 4025])
const DATA_CODE =
  /^(ER_DATA_TOO_LONG|ER_TRUNCATED|ER_WARN_DATA|ER_BAD_NULL|ER_INVALID_JSON|SQLITE_CONSTRAINT|SQLITE_TOOBIG|SQLITE_MISMATCH)/

/**
 * The data is wrong, not the backend: a row too long, a value of the wrong type, an invalid id, a Redis
 * error reply. Such an error is no reason to distrust the backend; a batch that meets one is split to
 * find the rows at fault (`isolate`).
 */
export function isDataError(error: unknown): boolean {
  for (const e of chain(error)) {
    if (DATA_ERRORS.some((type) => e instanceof type)) return true
    if (DATA_ERRNO.has(e.errno as number)) return true
    if (typeof e.code === 'string' && DATA_CODE.test(e.code)) return true
    if (e.name === 'ReplyError') return true
  }
  return false
}

/** Anything that is not the data's fault: the backend is down, slow, refusing, or in an unknown state. */
export function isOutage(error: unknown): boolean {
  return !isDataError(error)
}

// ── policies ───────────────────────────────────────────────────────────────────────────────────────

/** How one method of a backend is called. */
export interface CallPolicy {
  readonly timeoutMs: number
  /** Retry transient errors (the call must be safe to repeat: every write here is version-guarded). */
  readonly retry: boolean
  /** Counted by (and refused by) the circuit breaker; connects bypass it. Default true. */
  readonly breaker?: boolean
}

export interface GuardEvents {
  /** The circuit changed state; `reason` is the last failure when it opened. */
  circuit(state: CircuitStatus, reason: string | undefined): void
}

const CIRCUIT_STATUS: Record<CircuitState, CircuitStatus> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'isolated',
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error))

/**
 * Timeout, retry and circuit breaker for one backend (cockatiel policies): every call has a timeout;
 * transient errors are retried with capped exponential backoff and jitter; after
 * `breakerThreshold` consecutive outage errors the circuit opens and calls fail at once with
 * `BackendUnavailableError` until a half-open probe succeeds. Data errors neither count nor retry.
 */
export class BackendGuard {
  readonly backend: string
  readonly #breaker: CircuitBreakerPolicy
  readonly #retry: RetryPolicy | undefined
  readonly #timeouts = new Map<number, TimeoutPolicy>()
  #lastFailure: string | undefined

  constructor(backend: string, options: ResilienceOptions, events: GuardEvents) {
    this.backend = backend
    this.#breaker = circuitBreaker(handleWhen(isOutage), {
      breaker: new ConsecutiveBreaker(options.breakerThreshold),
      halfOpenAfter: new ExponentialBackoff({
        initialDelay: options.halfOpenAfterMs,
        maxDelay: options.halfOpenMaxMs,
      }),
    })
    this.#breaker.onFailure((f) => {
      if (f.handled && 'error' in f.reason) this.#lastFailure = message(f.reason.error)
    })
    this.#breaker.onStateChange((state) => {
      events.circuit(CIRCUIT_STATUS[state], state === CircuitState.Open ? this.#lastFailure : undefined)
    })
    this.#retry =
      options.retries > 0
        ? retry(handleWhen(isTransient), {
            maxAttempts: options.retries,
            backoff: new ExponentialBackoff({
              initialDelay: options.retryBaseMs,
              maxDelay: options.retryMaxMs,
            }),
          }).dangerouslyUnref()
        : undefined
  }

  get circuit(): CircuitStatus {
    return CIRCUIT_STATUS[this.#breaker.state]
  }

  /** Closes the circuit (the backend was seen healthy by other means, e.g. a reconnect). */
  reset(): void {
    if (this.#breaker.state !== CircuitState.Closed) this.#breaker.isolate().dispose()
  }

  /** Runs one backend call under `policy`; errors come out as core's (`TimeoutError`, `BackendUnavailableError`) or as thrown. */
  async run<T>(operation: string, call: () => Promise<T>, policy: CallPolicy): Promise<T> {
    const timed = () => this.#timed(operation, call, policy.timeoutMs)
    const attempt = policy.breaker === false ? timed : () => this.#breaker.execute(timed)
    try {
      return await (policy.retry && this.#retry ? this.#retry.execute(attempt) : attempt())
    } catch (error) {
      if (isBrokenCircuitError(error)) {
        throw new BackendUnavailableError(
          this.backend,
          `circuit open after repeated failures (last: ${this.#lastFailure ?? 'unknown'}); calls resume after a half-open probe succeeds`,
          { cause: error },
        )
      }
      throw error
    }
  }

  async #timed<T>(operation: string, call: () => Promise<T>, ms: number): Promise<T> {
    let policy = this.#timeouts.get(ms)
    if (!policy) {
      policy = new TimeoutPolicy(ms, { strategy: TimeoutStrategy.Aggressive }).dangerouslyUnref()
      this.#timeouts.set(ms, policy)
    }
    try {
      return await policy.execute(() => call())
    } catch (error) {
      if (isTaskCancelledError(error)) throw new TimeoutError(`${this.backend} ${operation}`, ms)
      throw error
    }
  }
}

type Policies = Readonly<Record<string, CallPolicy>>

/**
 * `target` seen through `guard`: each method named in `policies` runs under its policy; `children`
 * guard nested stores (the Merkle node store of a tier) the same way. Every other method is passed
 * through, bound to the target (tiers keep private state).
 */
export function guarded<T extends object>(
  target: T,
  guard: BackendGuard,
  policies: Policies,
  children: Readonly<Record<string, Policies>> = {},
): T {
  const cache = new Map<string, unknown>()
  return new Proxy(target, {
    get(t, key) {
      const value: unknown = Reflect.get(t, key, t)
      if (typeof key !== 'string') return value
      const hit = cache.get(key)
      if (hit !== undefined) return hit
      let out = value
      const child = children[key]
      const policy = policies[key]
      if (child && typeof value === 'object' && value !== null) out = guarded(value, guard, child)
      else if (typeof value === 'function') {
        const fn = value as (...args: unknown[]) => unknown
        out = policy
          ? (...args: unknown[]) => guard.run(key, () => Promise.resolve(fn.apply(t, args)), policy)
          : fn.bind(t)
      } else return value
      cache.set(key, out)
      return out
    },
  })
}

/**
 * Runs a batch call; when it fails because of the data (`isDataError`), splits the batch in halves
 * until the rows at fault stand alone, so the others still land (SPEC §9: one bad row never poisons
 * its batch). Outage errors pass through (the caller keeps the whole batch for later). When every row
 * fails alone, the fault is the backend's, not the rows': the first error is rethrown.
 */
export async function isolate<I, R>(
  items: readonly I[],
  call: (part: readonly I[]) => Promise<R[]>,
): Promise<{ results: R[]; poison: { item: I; error: unknown }[] }> {
  const results: R[] = []
  const poison: { item: I; error: unknown }[] = []
  const run = async (part: readonly I[]): Promise<void> => {
    try {
      results.push(...(await call(part)))
    } catch (error) {
      if (!isDataError(error)) throw error
      if (part.length === 1) {
        poison.push({ item: part[0]!, error })
        return
      }
      const mid = part.length >> 1
      await run(part.slice(0, mid))
      await run(part.slice(mid))
    }
  }
  await run(items)
  if (items.length > 1 && poison.length === items.length) throw poison[0]!.error
  return { results, poison }
}
