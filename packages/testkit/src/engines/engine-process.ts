import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { InvalidArgumentError } from '@sync-engine/core'
import { requirePositive } from '../faults/checks.js'
import { ChildProcessRunner } from '../faults/child-runner.js'
import {
  type EngineEventMessage,
  type EngineRequest,
  type ItemInput,
  type ItemView,
  isEngineEvent,
  type LoadReport,
  type LoadSpec,
  type SubmitOptionsInput,
} from './protocol.js'

export interface EngineProcessOptions {
  /**
   * The module the child imports: it must export `SyncEngine` and `SyncItem` (sync-engine's built
   * `dist/index.js`, say). A path, a `file:` URL, or a bare specifier the child can resolve.
   */
  readonly engineModule: string | URL
  /**
   * The engine's configuration. It crosses the process boundary by structured clone: plain data
   * only (URLs, prefixes, options) — no logger, meter provider or store instances.
   */
  readonly config: Readonly<Record<string, unknown>>
  /** The child's log level (to its stderr, kept in `stderr`); default `'error'`. */
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'silent'
  /** Bound on `start()`: the fork, the import and `engine.start()`; default 30 000 ms. */
  readonly startTimeoutMs?: number
  /** Bound on every other call unless the call gives its own; default 10 000 ms. */
  readonly callTimeoutMs?: number
  /** The child is SIGKILLed this long after it was forked, whatever happens; default 600 000 ms. */
  readonly lifetimeMs?: number
  /** The child's environment; default the parent's. */
  readonly env?: NodeJS.ProcessEnv
}

/** What `stats()` returns: the engine's `health()`, `filterStats()` and metric counters. */
export interface EngineStats {
  readonly health: Record<string, unknown> & { readonly state: string }
  readonly filter: Record<string, unknown> & { readonly trust: string }
  readonly counters: readonly { name: string; attributes: Record<string, unknown>; value: number }[]
}

const CLOSE_GRACE_MS = 5000

/** `dist/engine-child.js`: beside this module once built, or in the package's dist when run from source. */
function childScript(): string {
  const here = dirname(fileURLToPath(import.meta.url))
  const beside = join(here, 'engine-child.js')
  if (existsSync(beside)) return beside
  const built = join(here, '..', '..', 'dist', 'engine-child.js')
  if (existsSync(built)) return built
  throw new InvalidArgumentError(
    'engine-child',
    `no engine child script at ${beside} or ${built}: build @sync-engine/testkit first`,
  )
}

/**
 * One engine in a child Node process, driven over IPC (SPEC §13): `start()` forks it, imports the
 * engine module and starts an engine from a plain config; every call is bounded by a timeout; engine
 * `state` and `trust` events arrive in `events`. `close()` shuts the engine down gracefully (bounded)
 * and SIGKILLs what does not exit; a child whose parent dies shuts its engine down and exits, and
 * `EngineProcess.closeAll()` (or testkit's `closeAllProcesses()`) fits `afterAll`.
 */
export class EngineProcess {
  readonly name: string
  readonly #runner: ChildProcessRunner
  readonly #callTimeoutMs: number
  #closing: Promise<void> | undefined

  private constructor(name: string, runner: ChildProcessRunner, callTimeoutMs: number) {
    this.name = name
    this.#runner = runner
    this.#callTimeoutMs = callTimeoutMs
  }

  /** Forks a child and starts its engine; resolves with the handle once `engine.start()` resolved. */
  static async start(options: EngineProcessOptions): Promise<EngineProcess> {
    const { startTimeoutMs = 30_000, callTimeoutMs = 10_000, lifetimeMs = 600_000 } = options
    requirePositive('startTimeoutMs', startTimeoutMs)
    requirePositive('callTimeoutMs', callTimeoutMs)
    const engineModule =
      options.engineModule instanceof URL
        ? fileURLToPath(options.engineModule)
        : options.engineModule.startsWith('file:')
          ? fileURLToPath(options.engineModule)
          : options.engineModule
    const runner = await ChildProcessRunner.start(childScript(), {
      timeoutMs: lifetimeMs,
      ...(options.env ? { env: options.env } : {}),
    })
    const name =
      typeof options.config.instanceId === 'string' ? options.config.instanceId : `engine ${runner.pid}`
    const engine = new EngineProcess(name, runner, callTimeoutMs)
    try {
      await engine.#call(
        { op: 'start', engineModule, config: options.config, logLevel: options.logLevel ?? 'error' },
        startTimeoutMs,
      )
    } catch (error) {
      await runner.close()
      throw new Error(
        `${name} did not start: ${(error as Error).message}; stderr: ${runner.stderr.slice(-2000)}`,
        {
          cause: error,
        },
      )
    }
    return engine
  }

  /** Closes every engine process still running (SIGKILL; use `close()` for a graceful end). */
  static closeAll(): Promise<void> {
    return ChildProcessRunner.closeAll()
  }

  get pid(): number {
    return this.#runner.pid
  }

  /** The child's stderr so far (its log lines; the last 64 KiB). */
  get stderr(): string {
    return this.#runner.stderr
  }

  /** True once the child has exited. */
  get exited(): boolean {
    return this.#runner.exited
  }

  /** The engine events received so far (`state`, `trust`), oldest first. */
  get events(): readonly EngineEventMessage[] {
    return this.#runner.messages.filter(isEngineEvent)
  }

  /** Resolves with the first event (past or future) named `event` whose arguments `match`. */
  async waitForEvent(
    event: string,
    match: (args: readonly unknown[]) => boolean = () => true,
    timeoutMs = this.#callTimeoutMs,
  ): Promise<EngineEventMessage> {
    return (await this.#runner.waitForMessage(
      (m) => isEngineEvent(m) && m.$engineEvent === event && match(m.args),
      timeoutMs,
    )) as EngineEventMessage
  }

  submit(item: ItemInput, options?: SubmitOptionsInput): Promise<void> {
    return this.#call({ op: 'submit', item, ...(options ? { options } : {}) })
  }

  submitMany(items: readonly ItemInput[], options?: SubmitOptionsInput): Promise<void> {
    return this.#call({ op: 'submitMany', items, ...(options ? { options } : {}) })
  }

  get(id: string): Promise<ItemView | null> {
    return this.#call({ op: 'get', id })
  }

  /** `engine.getMany(ids)`: the ids found, in one batched read. */
  getMany(ids: readonly string[], timeoutMs?: number): Promise<Map<string, ItemView>> {
    return this.#call({ op: 'getMany', ids }, timeoutMs)
  }

  /** `engine.get(id)` for each id (concurrently, in one round trip), in order; `null` when not stored. */
  getEach(ids: readonly string[], timeoutMs?: number): Promise<(ItemView | null)[]> {
    return this.#call({ op: 'getEach', ids }, timeoutMs)
  }

  delete(id: string): Promise<boolean> {
    return this.#call({ op: 'delete', id })
  }

  deleteMany(ids: readonly string[]): Promise<string[]> {
    return this.#call({ op: 'deleteMany', ids })
  }

  /** `engine.flush()`: resolves with its `FlushReport`. */
  flush(timeoutMs?: number): Promise<Record<string, unknown>> {
    return this.#call({ op: 'flush' }, timeoutMs)
  }

  health(): Promise<EngineStats['health']> {
    return this.#call({ op: 'health' })
  }

  /** Health, filter stats and every metric counter, in one call. */
  stats(): Promise<EngineStats> {
    return this.#call({ op: 'stats' })
  }

  /** The value of one counter (summed over entries whose attributes include `attributes`). */
  async counter(name: string, attributes: Record<string, unknown> = {}): Promise<number> {
    const { counters } = await this.stats()
    return counters
      .filter((c) => c.name === name && Object.entries(attributes).every(([k, v]) => c.attributes[k] === v))
      .reduce((sum, c) => sum + c.value, 0)
  }

  verifyFilter(timeoutMs?: number): Promise<boolean> {
    return this.#call({ op: 'verifyFilter' }, timeoutMs)
  }

  /** The ids among `ids` the engine calls definitely missing (`engine.definitelyMissing`). */
  definitelyMissing(ids: readonly string[]): Promise<string[]> {
    return this.#call({ op: 'definitelyMissing', ids })
  }

  /** `engine.pauseCoherence()`: holds the engine's change-stream reader. */
  pauseCoherence(): Promise<void> {
    return this.#call({ op: 'pauseCoherence' })
  }

  resumeCoherence(): Promise<void> {
    return this.#call({ op: 'resumeCoherence' })
  }

  /**
   * Runs a load inside the child for `spec.durationMs` (no IPC per operation), then flushes; bounded
   * by the duration plus the call timeout.
   */
  load(spec: LoadSpec): Promise<LoadReport> {
    requirePositive('durationMs', spec.durationMs)
    return this.#call({ op: 'load', spec }, spec.durationMs + this.#callTimeoutMs)
  }

  /** `engine.shutdown()`, then the child exits; resolves with the `ShutdownReport`. */
  async shutdown(timeoutMs?: number): Promise<Record<string, unknown>> {
    const report = await this.#call<Record<string, unknown>>({ op: 'shutdown' }, timeoutMs)
    await this.#runner.waitExit(CLOSE_GRACE_MS)
    return report
  }

  /** SIGKILLs the child (a crash) and resolves when it is gone. */
  kill(): Promise<void> {
    return this.#runner.close()
  }

  /**
   * Ends the process whatever its state: a graceful shutdown bounded by `timeoutMs` (default 5 s),
   * then SIGKILL. Never rejects; safe to call more than once.
   */
  close(timeoutMs = CLOSE_GRACE_MS): Promise<void> {
    this.#closing ??= (async () => {
      if (!this.#runner.exited) await this.shutdown(timeoutMs).catch(() => undefined)
      await this.#runner.close()
    })()
    return this.#closing
  }

  #call<T>(request: EngineRequest, timeoutMs = this.#callTimeoutMs): Promise<T> {
    return this.#runner.request<T>(request, timeoutMs)
  }
}

/** N engine processes started together; `close()` ends them all (fits `afterEach`/`afterAll`). */
export class EngineCluster {
  readonly processes: readonly EngineProcess[]

  private constructor(processes: EngineProcess[]) {
    this.processes = processes
  }

  /**
   * Starts `count` engine processes concurrently, the i-th from `options(i)`. If one fails to start,
   * the others are closed and the error is thrown.
   */
  static async start(
    count: number,
    options: (index: number) => EngineProcessOptions,
  ): Promise<EngineCluster> {
    if (!Number.isSafeInteger(count) || count < 1)
      throw new InvalidArgumentError('count', `count must be an integer ≥ 1, got ${String(count)}`)
    const started = await Promise.allSettled(
      Array.from({ length: count }, (_, i) => EngineProcess.start(options(i))),
    )
    const processes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed) {
      await Promise.all(processes.map((p) => p.close()))
      throw failed.reason
    }
    return new EngineCluster(processes)
  }

  at(index: number): EngineProcess {
    const p = this.processes[index]
    if (!p)
      throw new InvalidArgumentError(
        'index',
        `no process ${index} (the cluster has ${this.processes.length})`,
      )
    return p
  }

  /** Runs `work` on every process concurrently; resolves with the results in order. */
  all<T>(work: (p: EngineProcess, index: number) => Promise<T>): Promise<T[]> {
    return Promise.all(this.processes.map(work))
  }

  /** Closes every process (each gracefully within `timeoutMs`, then SIGKILL). Never rejects. */
  async close(timeoutMs?: number): Promise<void> {
    await Promise.all(this.processes.map((p) => p.close(timeoutMs)))
  }
}
