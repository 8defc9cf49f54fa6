import { EventEmitter } from 'node:events'
import {
  BackendUnavailableError,
  BackpressureError,
  type ChangeEntry,
  type ChangeFeed,
  type ChangePublisher,
  CorruptDataError,
  EngineNotReadyError,
  EngineStoppedError,
  InvalidArgumentError,
  InvalidConfigError,
  type L1Cache,
  type L2Store,
  type L3Store,
  type Logger,
  METRIC,
  type MerkleNode,
  type MerkleTreeWrites,
  type PageOptions,
  PayloadTooLargeError,
  type PressureLevel,
  type PutOutcome,
  pressureLevel,
  pressureRank,
  type ReceivedChange,
  RowRejectedError,
  redactUrl,
  resolveSubmitOptions,
  type SubmitOptions,
  SyncItem,
  validateId,
  validateState,
  type WalEntry,
  type WalRecord,
  type WriteAheadLog,
} from '@sync-engine/core'
import { diff, type MerkleDiff, type MerkleDiffSource, merkleRootOf } from '@sync-engine/merkle'
import { type Backends, createBackends } from './backends.js'
import { type ResolvedConfig, resolveConfig, type SyncEngineConfig } from './config.js'
import { FilterManager, type FilterTrust, type WarmUpProgress, type WarmUpReport } from './filter-manager.js'
import { ENGINE_METRIC, EngineMetrics, HOT_GET, HOT_SUBMIT } from './metrics.js'
import { copyInStep, diffSource, mirrorPaths, repairL2FromL3, repairL2Ids, rewriteL2 } from './mirror.js'
import {
  type BulkEntry,
  carryWalSeqs,
  type DeleteEntry,
  deferred,
  type Entry,
  entryBytes,
  type PutEntry,
  type StateEntry,
  type Waiter,
  WriteQueue,
} from './pipeline.js'
import {
  BackendGuard,
  type CallPolicy,
  type CircuitStatus,
  guarded,
  isOutage,
  isolate,
  type ResilienceOptions,
} from './resilience.js'
import { WalTracker } from './wal-tracker.js'

/** Lifecycle states (SPEC §8). */
export type EngineState =
  | 'Created'
  | 'Connecting'
  | 'DrainingWal'
  | 'SyncingRedis'
  | 'WarmingUp'
  | 'Ready'
  | 'ShuttingDown'
  | 'Stopped'

/** Where an item stands (SPEC §4 read path). */
export interface ItemStatus {
  readonly id: string
  /** `Pending`: a write or delete of it is still in the pipeline; `Synced`: durable where configured. */
  readonly status: 'Synced' | 'Pending' | 'Missing'
  readonly inL1: boolean
  readonly inL2: boolean
  readonly inL3: boolean
}

export interface FlushReport {
  readonly reason: string
  readonly items: number
  readonly puts: number
  readonly deletes: number
  readonly stateChanges: number
  readonly bulkOps: number
  readonly l3Written: number
  readonly l3Stale: number
  readonly l3Rejected: number
  readonly l2Written: number
  readonly l2Errors: number
  readonly walFallback: number
  readonly cdcEntries: number
  readonly durationMs: number
}

export interface StartReport {
  readonly durationMs: number
  readonly phases: Readonly<Record<string, number>>
  readonly walReplayed: number
  readonly filter: 'restored' | 'stale' | 'none' | 'disabled'
  readonly l2: 'connected' | 'unavailable' | 'none'
  readonly l2Repaired: number
}

export interface ShutdownReport {
  readonly durationMs: number
  readonly flushed: number
  readonly walPending: number
  readonly filterSnapshot: { bytes: number; entries: number } | undefined
}

export interface TierHealth {
  readonly configured: boolean
  readonly ok: boolean
  readonly latencyMs?: number
  readonly error?: string
  readonly details?: Readonly<Record<string, unknown>>
  /** The engine's circuit breaker for this backend. */
  readonly circuit?: CircuitStatus
  /** L2: false while it is away (reads skip it, missed writes are remembered). */
  readonly attached?: boolean
  /** L2: ids whose writes missed it while it was away, repaired when it returns. */
  readonly pendingRepairs?: number
}

export interface EngineHealth {
  readonly state: EngineState
  readonly acceptingWrites: boolean
  readonly pressure: number
  readonly level: PressureLevel
  readonly l1: { items: number; bytes: number; maxBytes: number; pressure: number }
  readonly l2: TierHealth
  readonly l3: TierHealth
  /** `backlog`: rows only the drain can apply (L3 was unreachable); they shrink as L3 takes them. */
  readonly wal: { rows: number; bytes: number; pressure: number; backlog: boolean }
  readonly pipeline: { items: number; bytes: number }
  readonly filter: { trust: FilterTrust; entries: number; warming: boolean }
}

export interface DeadLetter {
  /** The row's id (for an undecodable WAL record: `wal seq N`). */
  readonly id: string
  readonly reason: string
  readonly at: number
  /** Where it was met: a flush, or the WAL drain (`seq` then names the record). */
  readonly source: 'flush' | 'wal'
  readonly seq?: number
}

type Events = {
  state: [EngineState]
  flush: [FlushReport]
  warmup: [WarmUpProgress]
  trust: [FilterTrust, string]
}

const RESOLVED = Promise.resolve()
const READABLE: ReadonlySet<EngineState> = new Set(['Ready', 'ShuttingDown'])
const MAX_DEAD_LETTERS = 10_000
/** Records applied per L3 call of a drain, and how long a drain holds the flush chain before yielding. */
const WAL_DRAIN_BATCH = 5000
const DRAIN_SLICE_MS = 1000
const DRAIN_MAX_DELAY_MS = 2000
/** Ids whose L2 writes are remembered while L2 is away; past it, only the Merkle repair restores L2. */
const MAX_L2_MISSED = 1_000_000
/** Throttle: the longest a submit waits for room before it proceeds anyway. */
const THROTTLE_MAX_WAIT_MS = 5000
const THROTTLE = pressureRank('Throttle')
const CRITICAL = pressureRank('Critical')

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref())
const errorMessage = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** Call policies per backend method (SPEC §9: every backend call has a timeout). */
function policies(r: ResilienceOptions) {
  const connect = (timeoutMs: number): CallPolicy => ({ timeoutMs, retry: false, breaker: false })
  // L2 calls are not retried: a read falls through to L3, a missed write is remembered and repaired.
  const l2Read: CallPolicy = { timeoutMs: r.l2TimeoutMs, retry: false }
  const l2Write: CallPolicy = { timeoutMs: r.l2BatchTimeoutMs, retry: false }
  const l3: CallPolicy = { timeoutMs: r.l3TimeoutMs, retry: true }
  const l3Once: CallPolicy = { timeoutMs: r.l3TimeoutMs, retry: false }
  return {
    l2: {
      connect: connect(r.l2BatchTimeoutMs),
      get: l2Read,
      getMany: l2Read,
      exists: l2Read,
      byState: l2Read,
      putBatch: l2Write,
      deleteBatch: l2Write,
    },
    l2Merkle: { getNodes: l2Read, getChildren: l2Read, writeNodes: l2Write },
    cdc: { connect: connect(r.l2BatchTimeoutMs), publish: l2Write },
    l3: {
      connect: connect(r.l3TimeoutMs),
      putBatch: l3,
      get: l3,
      getMany: l3,
      exists: l3,
      deleteBatch: l3,
      count: l3,
      scanIds: l3,
      scanLeaves: l3,
      byState: l3,
      countByState: l3,
      setState: l3,
      // A retried bulk delete that had committed would report nothing deleted.
      deleteByState: l3Once,
      scanPrefix: l3,
      countPrefix: l3,
      deletePrefix: l3Once,
      merkleRoot: l3,
    },
    l3Merkle: { getNodes: l3, getChildren: l3 },
  }
}

const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

const emptyReport = (reason: string): FlushReport => ({
  reason,
  items: 0,
  puts: 0,
  deletes: 0,
  stateChanges: 0,
  bulkOps: 0,
  l3Written: 0,
  l3Stale: 0,
  l3Rejected: 0,
  l2Written: 0,
  l2Errors: 0,
  walFallback: 0,
  cdcEntries: 0,
  durationMs: 0,
})

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/** A batch whose L3 half is done (see `#commitBatch`), waiting for its L2 half. */
interface CommittedBatch {
  readonly entries: Entry[]
  readonly puts: PutEntry[]
  readonly deletes: DeleteEntry[]
  readonly states: Map<string, StateEntry[]>
  readonly l3Puts: PutEntry[]
  /** Puts L3 wrote (or that have no L3 part). */
  readonly written: PutEntry[]
  readonly done: L3Done
  readonly viaWal: boolean
}

/** What a flush's direct L3 writes committed (filled as they go, so a later failure keeps the facts). */
interface L3Done {
  readonly outcomes: Map<string, PutOutcome>
  readonly deleted: Set<string>
  /** Per state entry: whether its state changed, or why it could not be applied. */
  readonly states: Map<StateEntry, boolean | Error>
  /** Ids whose state L3 changed (their new rows go to L2 and the change stream). */
  readonly stateChanged: string[]
  /**
   * The Merkle tree writes of the batch's committed `putBatch` calls, in order — what the mirror
   * copies — or `null` when a call did not report them (the mirror then reads the touched paths).
   */
  tree: MerkleTreeWrites[] | null
}

/**
 * The coordinator (SPEC §1, §4, §8): an L1 memory tier, an optional L2 (Redis) and an L3 ground truth
 * (MySQL/MariaDB or SQLite), tied together by a batched write pipeline, a WAL, a Merkle tree mirrored
 * from L3 to L2, a cuckoo filter and a change stream. Its timers are its own and unref'd: there is no
 * loop to run, and after `shutdown()` the process can exit by itself.
 */
export class SyncEngine extends EventEmitter<Events> {
  readonly config: ResolvedConfig
  readonly logger: Logger
  readonly metrics: EngineMetrics
  #state: EngineState = 'Created'
  #backends: Backends | undefined
  #wal: WriteAheadLog | undefined
  #filter: FilterManager
  readonly #queue = new WriteQueue()
  #flushChain: Promise<unknown> = RESOLVED
  #flushScheduled = false
  #ageTimer: NodeJS.Timeout | undefined
  #snapshotTimer: NodeJS.Timeout | undefined
  #drainTimer: NodeJS.Timeout | undefined
  #drainDelay = 0
  #walPressure = 0
  #walRows = 0
  /** Which WAL records are still needed; backlog vs shadow records of `local` writes. */
  readonly #tracker = new WalTracker()
  /** Where the next acknowledgement of shadow records reaches (0: none scheduled). */
  #ackUpTo = 0
  /** `local` writes of this turn, group-committed into the WAL together; one promise for all of them. */
  #localBatch: PutEntry[] = []
  #localCommit: { promise: Promise<void>; waiter: Waiter<void> } | undefined
  /** Per-id epoch of its latest enqueued mutation, so a slow read never promotes a value older than it. */
  #epoch = 0
  readonly #writtenAt = new Map<string, number>()
  #epochFloor = 0
  readonly #inflightGets = new Map<string, Promise<SyncItem>>()
  readonly #deadLetters: DeadLetter[] = []
  readonly #l2Guard: BackendGuard
  readonly #l3Guard: BackendGuard
  /** L2 is connected and believed in step with L3: reads use it, flushes write it. */
  #l2Up = false
  #l2Connected = false
  /** Ids whose L2 writes were missed while L2 was away (→ TTL of the last one), repaired when it returns. */
  #l2Missed = new Map<string, number | undefined>()
  #l2MissedOverflow = false
  #l2Probe: NodeJS.Timeout | undefined
  #l2Probing = false
  /** An L3 that connected late (degraded start): L2 gets a Merkle-guided repair once the backlog is in. */
  #l2RepairWanted = false
  #l3Healthy = false
  /** False while an L3 that was unreachable at a degraded start has not connected yet. */
  #l3Connected = false
  /** The last WAL record a previous run left (0: none); see `#drainBatch`. */
  #leftoverUpTo = 0
  #level: PressureLevel = 'Normal'
  #feed: ChangeFeed | undefined
  #tailing: Promise<void> | undefined
  #lastFeedOk = 0
  /** Set while `pauseCoherence()` holds the change-stream reader; resolved by `resumeCoherence()`. */
  #feedPaused: { promise: Promise<void>; waiter: Waiter<void> } | undefined
  /**
   * Ids another process changed while a write of this engine's own was pending: once that write
   * commits its L1 copy is dropped, not kept (L3 may hold the other process's value).
   */
  readonly #changedWhilePending = new Set<string>()
  /**
   * Ids another process deleted → when this engine learned it. For twice `cdc.maxStalenessMs` reads
   * do not cache them: a put of another engine's that raced the delete may still be in L2 until that
   * engine sees the delete and removes it.
   */
  readonly #recentlyDeleted = new Map<string, number>()
  #startPromise: Promise<StartReport> | undefined
  #shutdownPromise: Promise<ShutdownReport> | undefined
  #flushedTotal = 0

  constructor(config: SyncEngineConfig = {}) {
    super()
    this.config = resolveConfig(config)
    this.logger = this.config.logger
    this.metrics = new EngineMetrics(this.config.meterProvider)
    this.#filter = new FilterManager(this.config.filter, this.logger)
    this.#filter.on('progress', (p) => this.emit('warmup', p))
    this.#filter.on('trust', (t, reason) => this.emit('trust', t, reason))
    const circuit = (backend: 'L2' | 'L3') => (state: CircuitStatus, reason: string | undefined) => {
      this.metrics.count(ENGINE_METRIC.circuitTransitions, { backend, state })
      if (state === 'open')
        this.logger.warn({ backend, reason }, 'Circuit opened: calls fail fast until a probe succeeds')
      else this.logger.info({ backend, state }, 'Circuit state changed')
      if (backend === 'L3' && state === 'closed' && this.#tracker.backlog) this.#scheduleDrain(0)
    }
    this.#l2Guard = new BackendGuard('L2', this.config.resilience, { circuit: circuit('L2') })
    this.#l3Guard = new BackendGuard('L3', this.config.resilience, { circuit: circuit('L3') })
    this.logger.info(
      { node_id: this.config.instanceId, initial_capacity: this.config.filter.initialCapacity },
      'Creating expandable cuckoo filter manager',
    )
  }

  get state(): EngineState {
    return this.#state
  }

  #setState(state: EngineState): void {
    this.#state = state
    this.emit('state', state)
  }

  // ── lifecycle ─────────────────────────────────────────────────────────────────────────────────

  /** Connects every tier, replays the WAL, restores the filter and repairs L2 (SPEC §8). Once only. */
  start(): Promise<StartReport> {
    if (this.#state === 'Stopped' || this.#state === 'ShuttingDown') {
      return Promise.reject(new EngineStoppedError(this.#state, 'start (create a new engine)'))
    }
    if (this.#startPromise) {
      return Promise.reject(
        new InvalidArgumentError('start', `start() was already called (state: ${this.#state})`),
      )
    }
    this.#startPromise = this.#start()
    return this.#startPromise
  }

  async #start(): Promise<StartReport> {
    const started = performance.now()
    const phases: Record<string, number> = {}
    const phase = async <T>(name: string, work: () => Promise<T> | T): Promise<T> => {
      const t = performance.now()
      try {
        return await work()
      } finally {
        phases[name] = (performance.now() - t) / 1000
        this.metrics.record(METRIC.startupSeconds, phases[name], { phase: name })
      }
    }
    this.metrics.register(this.#gauges())
    this.#setState('Connecting')
    this.logger.info('Starting sync engine')
    try {
      const backends = await createBackends(this.config, this.logger)
      this.#guard(backends)
      this.#backends = backends
      const walOptions = this.config.wal as { path?: string; maxRows?: number; maxBytes?: number }
      this.logger.info(
        { path: walOptions.path, max_items: walOptions.maxRows, max_bytes: walOptions.maxBytes },
        'Initializing write-ahead log',
      )
      this.#wal = await phase('wal_init', () => backends.openWal())
      // Whatever a previous run left in the log is backlog: replayed before anything else.
      const leftover = await this.#wal.stats()
      if (leftover.rows > 0) {
        this.#tracker.leftover(leftover.oldestSeq ?? 1, leftover.newestSeq ?? 0)
        this.#leftoverUpTo = leftover.newestSeq ?? 0
      }
      await this.#refreshWalStats()

      let root: string | null = null
      const l3 = backends.l3
      if (l3) {
        const sql = this.config.sql as { url?: string }
        this.logger.info(
          { url: sql.url ? redactUrl(sql.url) : backends.l3Name },
          'Connecting to SQL (L3 - ground truth)...',
        )
        try {
          await phase('sql_connect', () => l3.connect())
          this.#l3Connected = true
          this.#l3Healthy = true
          root = await l3.merkleRoot()
          this.logger.info({ root }, 'SQL (L3) connected; merkle root (ground truth)')
        } catch (error) {
          if (!this.config.allowDegradedStart) {
            throw new BackendUnavailableError(
              'L3',
              `cannot connect (${errorMessage(error)}); set allowDegradedStart to run on the WAL until it answers`,
              { cause: error },
            )
          }
          this.logger.warn(
            { error: errorMessage(error) },
            'L3 unreachable at start; running degraded on the WAL',
          )
          this.#scheduleDrain(1000)
        }
      }

      this.#setState('DrainingWal')
      let walReplayed = 0
      if (l3 && this.#l3Connected && this.#tracker.backlog) {
        try {
          walReplayed = await phase('wal_drain', () => this.#drainAll())
          root = await l3.merkleRoot()
        } catch (error) {
          if (!this.config.allowDegradedStart) throw error
          this.logger.warn(
            { error: errorMessage(error) },
            'WAL replay failed; running degraded, it will retry',
          )
          this.#scheduleDrain(1000)
        }
      }

      let filter: StartReport['filter'] = 'disabled'
      if (l3 && this.#l3Connected) {
        filter = await phase('cf_restore', () => this.#filter.restore(this.#wal!, root))
        if (filter !== 'restored')
          this.logger.info('No matching L3 filter snapshot - filter will be built on warm-up')
      }

      this.#setState('SyncingRedis')
      let l2State: StartReport['l2'] = 'none'
      let l2Repaired = 0
      if (backends.l2) {
        const redis = this.config.redis as { url?: string; prefix?: string }
        this.logger.info(
          { url: redis.url ? redactUrl(redis.url) : backends.l2Name, prefix: redis.prefix },
          'Connecting to Redis (L2 - cache)...',
        )
        try {
          await phase('redis_connect', () => this.#connectL2())
          l2Repaired = (await phase('redis_sync', () => this.#repairL2())).size
          this.#l2Up = true
          l2State = 'connected'
          this.logger.info(
            { repaired: l2Repaired },
            l2Repaired ? 'Redis repaired from L3 where Merkle branches differed' : 'Redis agrees with L3',
          )
        } catch (error) {
          l2State = 'unavailable'
          this.logger.warn(
            { error: errorMessage(error) },
            'Redis (L2) unavailable at start; running without it, attaching when it answers',
          )
          this.#l2Down(error)
        }
      }

      this.#setState('WarmingUp')
      if (l3 && this.#l3Connected && filter !== 'restored') this.#backgroundWarmUp()
      this.#startTimers()
      const durationMs = performance.now() - started
      this.metrics.record(METRIC.startupTotalSeconds, durationMs / 1000)
      this.#setState('Ready')
      if (l2State === 'connected') await this.#startCoherence()
      this.logger.info(
        { has_sql: Boolean(l3), has_redis: l2State === 'connected', ms: Math.round(durationMs) },
        'Sync engine ready',
      )
      return { durationMs, phases, walReplayed, filter, l2: l2State, l2Repaired }
    } catch (error) {
      this.logger.error({ error: (error as Error).message }, 'Start failed')
      this.#stopTimers()
      await this.#closeBackends()
      this.#setState('Stopped')
      throw error
    }
  }

  #backgroundWarmUp(): void {
    const l3 = this.#backends?.l3
    if (!l3) return
    this.#filter.warmUp(l3).catch((error: unknown) => {
      this.logger.warn(
        { error: (error as Error).message },
        'Filter warm-up failed; the filter stays untrusted',
      )
    })
  }

  #startTimers(): void {
    const { snapshotIntervalMs } = this.config.filter
    if (snapshotIntervalMs > 0 && this.#backends?.l3) {
      this.#snapshotTimer = setInterval(() => {
        if (this.#filter.insertsSinceSnapshot > 0) void this.#snapshotFilter('interval')
      }, snapshotIntervalMs)
      this.#snapshotTimer.unref()
    }
  }

  /**
   * Stops accepting writes, flushes everything, drains the WAL where L3 answers, saves the filter
   * snapshot and closes every connection and timer. Safe to call more than once.
   */
  shutdown(): Promise<ShutdownReport> {
    this.#shutdownPromise ??= this.#shutdown()
    return this.#shutdownPromise
  }

  async #shutdown(): Promise<ShutdownReport> {
    const started = performance.now()
    if (this.#startPromise) await this.#startPromise.catch(() => undefined)
    if (this.#state === 'Stopped' || this.#state === 'Created') {
      this.#setState('Stopped')
      return { durationMs: 0, flushed: 0, walPending: 0, filterSnapshot: undefined }
    }
    this.#setState('ShuttingDown')
    this.logger.info('Initiating sync engine shutdown...')
    this.#stopTimers()
    await this.#stopCoherence()
    const before = this.#flushedTotal
    await this.#flushLocalLog()
    while (!this.#queue.empty) await this.flush('shutdown')
    await this.#flushChain
    // One attempt at the backlog: an L3 that is still away keeps it for the next start.
    if (this.#tracker.backlog && this.#backends?.l3) {
      await this.#onChain(() => this.#drainAll()).catch((error: unknown) =>
        this.logger.warn({ error: errorMessage(error) }, 'WAL backlog kept for the next start'),
      )
    }
    const filterSnapshot = await this.#snapshotFilter('shutdown')
    await this.#refreshWalStats()
    const walPending = this.#walRows
    await this.#closeBackends()
    this.#setState('Stopped')
    this.logger.info('Sync engine shutdown complete')
    return {
      durationMs: performance.now() - started,
      flushed: this.#flushedTotal - before,
      walPending,
      filterSnapshot,
    }
  }

  async #closeBackends(): Promise<void> {
    const b = this.#backends
    const closing: Promise<unknown>[] = []
    if (b?.l2) closing.push(b.l2.close())
    if (b?.cdc?.close) closing.push(b.cdc.close())
    if (b?.l3) closing.push(b.l3.close())
    if (this.#wal) closing.push(this.#wal.close())
    const results = await Promise.allSettled(closing)
    for (const r of results)
      if (r.status === 'rejected')
        this.logger.warn({ error: String(r.reason) }, 'Error while closing a backend')
    this.#l2Up = false
    this.#l3Healthy = false
  }

  #stopTimers(): void {
    clearTimeout(this.#ageTimer)
    clearInterval(this.#snapshotTimer)
    clearTimeout(this.#drainTimer)
    clearInterval(this.#l2Probe)
    this.#drainTimer = undefined
    this.#l2Probe = undefined
  }

  /** Puts every backend call under its timeout, retry and circuit breaker (SPEC §9). */
  #guard(backends: Backends): void {
    const p = policies(this.config.resilience)
    if (backends.l3) backends.l3 = guarded(backends.l3, this.#l3Guard, p.l3, { merkle: p.l3Merkle })
    if (backends.l2) backends.l2 = guarded(backends.l2, this.#l2Guard, p.l2, { merkle: p.l2Merkle })
    if (backends.cdc) backends.cdc = guarded(backends.cdc, this.#l2Guard, p.cdc)
  }

  /** Runs `work` between flushes (flushes, drains and L2 repairs never overlap). */
  #onChain<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#flushChain.then(work)
    this.#flushChain = run.catch(() => undefined)
    return run
  }

  #assertWritable(operation: string): void {
    if (this.#state === 'Ready') return
    if (this.#state === 'ShuttingDown' || this.#state === 'Stopped')
      throw new EngineStoppedError(this.#state, operation)
    throw new EngineNotReadyError(this.#state, operation)
  }

  #assertReadable(operation: string): void {
    if (READABLE.has(this.#state)) return
    if (this.#state === 'Stopped') throw new EngineStoppedError(this.#state, operation)
    throw new EngineNotReadyError(this.#state, operation)
  }

  get #l1(): L1Cache {
    return this.#backends!.l1
  }

  get #l2(): L2Store | undefined {
    return this.#l2Up ? this.#backends?.l2 : undefined
  }

  get #l3(): L3Store | undefined {
    return this.#backends?.l3
  }

  // ── writes ────────────────────────────────────────────────────────────────────────────────────

  /** Pressure = max(L1 bytes / max, pipeline bytes / limit, WAL fill) (SPEC §9). */
  pressure(): number {
    const l1 = this.#backends ? this.#l1.pressure() : 0
    const pipeline = this.#queue.bytes / (this.config.batch.maxBytes * 64)
    return Math.max(l1, pipeline, this.#walPressure)
  }

  /** The level of `pressure()`; every change of level is logged and counted (`sync_engine_backpressure_transitions_total`). */
  pressureLevel(): PressureLevel {
    const level = pressureLevel(this.pressure(), this.config.backpressure)
    if (level !== this.#level) this.#levelChanged(level)
    return level
  }

  #levelChanged(level: PressureLevel): void {
    const from = this.#level
    this.#level = level
    this.metrics.count(ENGINE_METRIC.backpressureTransitions, { from, to: level })
    const rising = pressureRank(level) > pressureRank(from)
    const log = pressureRank(level) >= THROTTLE || pressureRank(from) >= THROTTLE ? 'warn' : 'info'
    this.logger[log](
      { from, to: level, pressure: Number(this.pressure().toFixed(3)), wal_rows: this.#walRows },
      rising ? 'Backpressure rising' : 'Backpressure easing',
    )
  }

  /**
   * Writes an item: validated, into L1, queued for the next flush; resolves per its durability
   * (`memory`: now; `local`: once in the WAL; `ground-truth`: once L3 committed it).
   */
  submit(item: SyncItem, options?: SubmitOptions): Promise<void> {
    try {
      this.#assertWritable('submit')
      const [entry, throttle] = this.#enqueuePut(item, options)
      if (throttle) return this.#throttled().then(() => this.#durable(entry))
      return this.#durable(entry)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** `submit` for many items; one options object for all. */
  async submitMany(items: readonly SyncItem[], options?: SubmitOptions): Promise<void> {
    this.#assertWritable('submitMany')
    if (!Array.isArray(items))
      throw new InvalidArgumentError('items', 'submitMany takes an array of SyncItem')
    const waits: Promise<void>[] = []
    for (const item of items) {
      const wait = this.submit(item, options)
      if (wait !== RESOLVED) waits.push(wait)
    }
    await Promise.all(waits)
  }

  /** Validates and queues a write; also says whether the caller must wait for room (Throttle). */
  #enqueuePut(item: SyncItem, options: SubmitOptions | undefined): [PutEntry, boolean] {
    const t0 = this.metrics.timing ? performance.now() : 0
    if (!(item instanceof SyncItem)) {
      throw new InvalidArgumentError(
        'item',
        'submit takes a SyncItem (SyncItem.fromJson / SyncItem.fromBytes)',
      )
    }
    if (item.size > this.config.maxPayloadBytes)
      throw new PayloadTooLargeError(item.size, this.config.maxPayloadBytes, item.id)
    const resolved = resolveSubmitOptions(options)
    const level = this.pressureLevel()
    if (pressureRank(level) >= CRITICAL) {
      this.metrics.count(METRIC.errors, { tier: 'L1', operation: 'submit', reason: 'backpressure' })
      this.#scheduleFlush(true)
      throw new BackpressureError(level, this.#retryAfterMs(), `pressure ${this.pressure().toFixed(2)}`)
    }
    if (resolved.state !== undefined && resolved.state !== item.state)
      item = item.with({ state: resolved.state })
    const ttl = resolved.l2TtlSeconds
    this.#l1.set(item, ttl === undefined ? { pinned: true } : { pinned: true, ttlMs: ttl * 1000 })
    const entry: PutEntry = {
      kind: 'put',
      id: item.id,
      item,
      options: resolved,
      bytes: entryBytes(item.id, item.size),
      waiters: [],
    }
    this.#push(entry)
    this.metrics.submits++
    this.metrics.l1BytesWritten += item.size
    if (this.metrics.timing) this.metrics.hot(HOT_SUBMIT, (performance.now() - t0) / 1000)
    return [entry, pressureRank(level) >= THROTTLE]
  }

  /** When a refused write may try again: the next flush, or — when the WAL is what is full — the next drain. */
  #retryAfterMs(): number {
    const flush = Math.max(this.config.batch.maxAgeMs, 10)
    return this.#walPressure >= this.config.backpressure.throttle
      ? Math.max(flush, this.#drainDelay, 250)
      : flush
  }

  #push(entry: Entry): void {
    this.#writtenAt.set(entry.id, ++this.#epoch)
    if (this.#writtenAt.size > 200_000) {
      this.#writtenAt.clear()
      this.#epochFloor = this.#epoch
    }
    this.#queue.push(entry)
    this.#scheduleFlush(false)
  }

  #durable(entry: PutEntry): Promise<void> {
    if (entry.options.durability === 'memory') return RESOLVED
    if (entry.options.durability === 'ground-truth') {
      const { promise, waiter } = deferred<void>()
      entry.waiters.push(waiter)
      this.#scheduleFlush(true)
      return promise
    }
    // local: group-commit every `local` write of this event-loop turn into the WAL at once.
    this.#localBatch.push(entry)
    if (!this.#localCommit) {
      this.#localCommit = deferred<void>()
      queueMicrotask(() => void this.#flushLocalLog())
    }
    return this.#localCommit.promise
  }

  async #flushLocalLog(): Promise<void> {
    const batch = this.#localBatch
    const commit = this.#localCommit
    if (batch.length === 0 || !commit) return
    this.#localBatch = []
    this.#localCommit = undefined
    try {
      const entries: WalEntry[] = new Array(batch.length)
      for (let i = 0; i < batch.length; i++) entries[i] = { id: batch[i]!.id, op: 'put', row: batch[i]!.item }
      const records = await this.#wal!.append(entries)
      this.#tracker.add(records, false)
      this.#walRows += records.length
      this.#walPressure = this.#wal!.pressure()
      for (let i = 0; i < records.length; i++) {
        // Done once the id's latest write is committed (the record rides on that entry); done now if
        // that already happened.
        const latest = this.#queue.latest.get(batch[i]!.id)
        if (latest?.walSeqs) latest.walSeqs.push(records[i]!.seq)
        else if (latest) latest.walSeqs = [records[i]!.seq]
        else this.#walCommitted(records[i]!.seq)
      }
      commit.waiter.resolve()
    } catch (error) {
      commit.waiter.reject(error)
    }
  }

  /**
   * Throttle (SPEC §9): the write is queued, its submit waits for room — flushes for pipeline and L1
   * pressure, the drain for WAL pressure — at most `THROTTLE_MAX_WAIT_MS`.
   */
  async #throttled(): Promise<void> {
    const deadline = performance.now() + THROTTLE_MAX_WAIT_MS
    while (pressureRank(this.pressureLevel()) >= THROTTLE && performance.now() < deadline) {
      if (!this.#queue.empty) await this.flush('throttle').catch(() => undefined)
      else await sleep(Math.min(Math.max(this.config.batch.maxAgeMs, 10), 100))
    }
  }

  #scheduleFlush(now: boolean): void {
    const { maxItems, maxBytes, maxAgeMs } = this.config.batch
    const full =
      this.#queue.count >= maxItems ||
      this.#queue.bytes >= maxBytes ||
      this.#l1.pressure() >= this.config.backpressure.warn
    if (now || full) {
      if (this.#flushScheduled) return
      this.#flushScheduled = true
      const reason = full ? 'batch_full' : 'prompt'
      setImmediate(() => {
        this.#flushScheduled = false
        if (!this.#queue.empty) void this.flush(reason).catch(() => undefined)
      })
      return
    }
    if (this.#ageTimer === undefined) {
      this.#ageTimer = setTimeout(() => {
        this.#ageTimer = undefined
        if (!this.#queue.empty) void this.flush('age').catch(() => undefined)
      }, maxAgeMs)
      this.#ageTimer.unref()
    }
  }

  /** Deletes an id from every tier; resolves (after its flush) with whether it existed. */
  delete(id: string): Promise<boolean> {
    try {
      this.#assertWritable('delete')
      validateId(id)
      const pending = this.#queue.latest.get(id)
      const knownToExist = pending ? pending.kind !== 'delete' : this.#l1.has(id)
      this.#l1.delete(id)
      const { promise, waiter } = deferred<boolean>()
      const entry: DeleteEntry = {
        kind: 'delete',
        id,
        knownToExist,
        bytes: entryBytes(id),
        waiters: [waiter],
      }
      this.#push(entry)
      this.#scheduleFlush(true)
      return promise
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** Deletes many ids; resolves with the ids that existed. */
  async deleteMany(ids: readonly string[]): Promise<string[]> {
    const existed = await Promise.all(ids.map((id) => this.delete(id)))
    return ids.filter((_, i) => existed[i])
  }

  /**
   * Applies a change received from elsewhere (another region, a replication channel) through the
   * pipeline like a local write — version-guarded, into every tier — but does not echo it back to
   * the change stream. Resolves when it is queued (`PUT`) or committed (`DEL`, with whether it existed).
   */
  async applyRemote(change: ChangeEntry): Promise<boolean> {
    this.#assertWritable('applyRemote')
    if (change.op === 'DEL') {
      validateId(change.key)
      const { promise, waiter } = deferred<boolean>()
      this.#l1.delete(change.key)
      this.#push({
        kind: 'delete',
        id: change.key,
        knownToExist: false,
        bytes: entryBytes(change.key),
        waiters: [waiter],
        replicated: true,
      })
      this.#scheduleFlush(true)
      return promise
    }
    if (!(change.data instanceof Uint8Array))
      throw new InvalidArgumentError('change.data', 'a PUT change must carry its content bytes')
    const item = SyncItem.fromRecord(
      {
        id: change.key,
        version: change.meta.version ?? 1,
        updatedAt: change.meta.updatedAt,
        contentType: change.meta.contentType ?? 'binary',
        content: change.data,
        contentHash: change.hash,
        state: change.meta.state ?? 'default',
        homeInstanceId: change.meta.origin,
      },
      { verifyHash: true },
    )
    if (item.size > this.config.maxPayloadBytes)
      throw new PayloadTooLargeError(item.size, this.config.maxPayloadBytes, item.id)
    this.#l1.set(item, { pinned: true })
    this.#push({
      kind: 'put',
      id: item.id,
      item,
      options: resolveSubmitOptions(),
      bytes: entryBytes(item.id, item.size),
      waiters: [],
      replicated: true,
    })
    return true
  }

  /** Tags an item with a state; resolves (after its flush) with whether the state changed. */
  setState(id: string, state: string): Promise<boolean> {
    try {
      this.#assertWritable('setState')
      validateId(id)
      validateState(state)
      const open = this.#queue.open(id)
      if (open?.kind === 'put') {
        if (open.item.state === state) return Promise.resolve(false)
        const item = open.item.with({ state })
        this.#l1.set(item, { pinned: true })
        // Its WAL records move over when the queue replaces `open` (a shared list would copy into itself).
        const entry: PutEntry = { ...open, item, waiters: [], walSeqs: undefined }
        this.#push(entry)
        return Promise.resolve(true)
      }
      if (open?.kind === 'delete') return Promise.resolve(false)
      const { promise, waiter } = deferred<boolean>()
      const entry: StateEntry = { kind: 'state', id, state, bytes: entryBytes(id), waiters: [waiter] }
      this.#push(entry)
      this.#scheduleFlush(true)
      return promise
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** Deletes every item in `state` (after everything queued before it); resolves with the ids deleted. */
  deleteByState(state: string): Promise<string[]> {
    return this.#bulk('deleteByState', validateState(state))
  }

  /** Deletes every id starting with `prefix` (after everything queued before it); resolves with them. */
  deletePrefix(prefix: string): Promise<string[]> {
    if (typeof prefix !== 'string' || prefix.length === 0) {
      return Promise.reject(
        new InvalidArgumentError(
          'prefix',
          'prefix must be a non-empty string (use deleteMany for everything)',
        ),
      )
    }
    return this.#bulk('deletePrefix', prefix)
  }

  #bulk(kind: BulkEntry['kind'], arg: string): Promise<string[]> {
    try {
      this.#assertWritable(kind)
      if (!this.#l3)
        throw new InvalidArgumentError(kind, `${kind} needs an L3 store (this engine has sql: false)`)
      const { promise, waiter } = deferred<string[]>()
      this.#queue.pushBulk({ kind, arg, waiter })
      this.#scheduleFlush(true)
      return promise
    } catch (error) {
      return Promise.reject(error)
    }
  }

  // ── flush ─────────────────────────────────────────────────────────────────────────────────────

  /**
   * Flushes everything queued so far (after any flush in progress) and resolves with what it did.
   * Flushes never overlap; producers never run one inside `submit`.
   */
  flush(reason = 'manual'): Promise<FlushReport> {
    if (!this.#backends) return Promise.reject(new EngineNotReadyError(this.#state, 'flush'))
    return this.#onChain(() => this.#flushOnce(reason))
  }

  async #flushOnce(reason: string): Promise<FlushReport> {
    clearTimeout(this.#ageTimer)
    this.#ageTimer = undefined
    if (this.#localBatch.length) await this.#flushLocalLog()
    const report: Mutable<FlushReport> = emptyReport(reason)
    if (this.#queue.empty) return report
    const started = performance.now()
    // Batch k+1's L3 transaction runs while batch k goes to L2 and the change stream: L3 commits stay
    // in batch order, and so do the L2 halves (a chain); a bulk operation waits for both.
    let published: Promise<void> = Promise.resolve()
    try {
      for (const segment of this.#queue.drain()) {
        if (segment.kind !== 'entries') {
          await published
          await this.#runBulk(segment, report)
          continue
        }
        for (const entries of this.#batches(segment.entries)) {
          const batch = await this.#commitBatch(entries, report)
          if (!batch) continue
          const previous = published
          published = (async () => {
            try {
              await previous
            } finally {
              await this.#publishBatch(batch, report)
            }
          })()
          published.catch(() => undefined)
        }
      }
    } finally {
      await published
    }
    report.durationMs = performance.now() - started
    this.#flushedTotal += report.items
    this.metrics.record(METRIC.flushSeconds, report.durationMs / 1000)
    this.logger.info(
      {
        l2_success: report.l2Written,
        l2_errors: report.l2Errors,
        l3_success: report.l3Written,
        wal_fallback: report.walFallback,
        flush_ms: Math.round(report.durationMs),
        reason,
      },
      'Batch flush complete',
    )
    if (
      this.config.filter.snapshotEveryInserts > 0 &&
      this.#filter.insertsSinceSnapshot >= this.config.filter.snapshotEveryInserts
    ) {
      await this.#snapshotNow('inserts')
    }
    this.emit('flush', report)
    return report
  }

  /**
   * A segment's entries in id order, cut into batches of at most `batch.maxItems` entries and about
   * `batch.maxBytes` bytes: one L3 transaction each, however much was queued.
   */
  *#batches(entries: Map<string, Entry>): Generator<Entry[]> {
    const { maxItems, maxBytes } = this.config.batch
    let batch: Entry[] = []
    let bytes = 0
    for (const entry of [...entries.values()].sort(byId)) {
      if (batch.length > 0 && (batch.length >= maxItems || bytes + entry.bytes > maxBytes)) {
        yield batch
        batch = []
        bytes = 0
      }
      batch.push(entry)
      bytes += entry.bytes
    }
    if (batch.length > 0) yield batch
  }

  /**
   * The first half of a batch: its L3 transaction (or the WAL when L3 is out), one batch at a time.
   * Resolves with what the second half needs, or nothing when the batch ended here.
   */
  async #commitBatch(entries: Entry[], report: Mutable<FlushReport>): Promise<CommittedBatch | undefined> {
    const puts: PutEntry[] = []
    const deletes: DeleteEntry[] = []
    const states = new Map<string, StateEntry[]>()
    for (const e of entries) {
      if (e.kind === 'put') puts.push(e)
      else if (e.kind === 'delete') deletes.push(e)
      else pushTo(states, e.state, e)
    }
    report.items += entries.length
    report.puts += puts.length
    report.deletes += deletes.length
    report.stateChanges += entries.length - puts.length - deletes.length

    const l3 = this.#l3
    const l3Puts = l3 ? puts.filter((p) => p.options.l3) : []
    const done: L3Done = {
      outcomes: new Map(),
      deleted: new Set(),
      states: new Map(),
      stateChanged: [],
      tree: [],
    }
    const l3Work = l3Puts.length > 0 || deletes.length > 0 || states.size > 0
    // While older L3 mutations wait in the WAL (or L3 never connected), new ones queue behind them.
    let viaWal = l3 !== undefined && l3Work && (this.#tracker.backlog || !this.#l3Connected)
    if (l3 && l3Work && !viaWal) {
      const t = performance.now()
      try {
        await this.#writeL3(l3, l3Puts, deletes, states, done)
        this.#l3Healthy = true
        this.#recordBatch('L3', l3Puts, (performance.now() - t) / 1000, 'success')
      } catch (error) {
        viaWal = true
        this.#l3Healthy = false
        this.#recordBatch('L3', l3Puts, (performance.now() - t) / 1000, 'error')
        this.logger.warn(
          { error: errorMessage(error), items: l3Puts.length + deletes.length },
          'L3 write failed; the batch goes to the WAL',
        )
      }
    }
    if (viaWal) {
      for (const put of this.#statesAsPuts(states, done)) {
        puts.push(put)
        l3Puts.push(put)
      }
      if (!(await this.#logBacklog(l3Puts, deletes, entries, report))) return undefined
    }

    // Rows L3 rejected or found stale must not reach L2 or stay pinned in L1.
    const written = puts.filter((p) => {
      const o = done.outcomes.get(p.id)
      if (!o || o.status === 'written') return true
      if (o.status === 'rejected') this.#deadLetter(p.id, o.reason ?? 'rejected by L3', 'flush')
      if (this.#l1.peek(p.id) === p.item) this.#l1.delete(p.id)
      return false
    })
    for (const o of done.outcomes.values()) {
      if (o.status === 'written') report.l3Written++
      else if (o.status === 'stale') report.l3Stale++
      else report.l3Rejected++
    }
    // What L3 really committed feeds the filter, even when a later call of this flush failed.
    this.#filter.committed(this.#createdIds(done.outcomes.values()), [...done.deleted])
    return { entries, puts, deletes, states, l3Puts, written, done, viaWal }
  }

  /**
   * The second half of a batch, in batch order: L2 documents, the Merkle mirror, the change stream,
   * then the entries settle. Runs beside the next batch's L3 transaction.
   */
  async #publishBatch(batch: CommittedBatch, report: Mutable<FlushReport>): Promise<void> {
    const { entries, puts, deletes, states, l3Puts, written, done, viaWal } = batch
    const l3 = this.#l3
    // The new state of items whose state changed, read once for L2 and the change stream.
    let stateItems = new Map<string, SyncItem>()
    if (l3 && done.stateChanged.length) {
      try {
        stateItems = (await l3.getMany(done.stateChanged)).items
      } catch (error) {
        this.logger.warn({ error: errorMessage(error) }, 'Reading changed states back from L3 failed')
        for (const id of done.stateChanged) this.#missL2(id, undefined)
      }
    }

    // The Merkle mirror copies what L3 committed; it runs beside the L2 documents and the change
    // stream (its latency is hidden), and the batch settles only once it is done. Neither rejects.
    const mirrored =
      l3 && !viaWal
        ? this.#tombstones(deletes).then(() => {
            const deleted = deletes.map((d) => d.id)
            // L3 told what its puts did to the tree: copied as such, only the deletes' paths are read.
            const put = l3Puts.map((p) => p.id)
            if (done.tree) return this.#mirror(deleted, { tree: done.tree, ids: put })
            return this.#mirror([...put, ...deleted])
          })
        : undefined

    // L2: documents (grouped by TTL), deletes, and the new state of items whose state changed.
    const l2Puts = written.filter((p) => p.options.l2)
    const l2Deleted = new Set<string>()
    const t2 = performance.now()
    const l2Done = await this.#toL2(
      'batch_write',
      () => [
        ...l2Puts.map((p): [string, number | undefined] => [p.id, p.options.l2TtlSeconds]),
        ...deletes.map((d): [string, undefined] => [d.id, undefined]),
        ...done.stateChanged.map((id): [string, undefined] => [id, undefined]),
      ],
      async (l2) => {
        const byTtl = new Map<number | undefined, SyncItem[]>()
        for (const p of l2Puts) pushTo(byTtl, p.options.l2TtlSeconds, p.item)
        for (const [ttl, items] of byTtl) {
          const res = await l2.putBatch(items, ttl === undefined ? {} : { ttlSeconds: ttl })
          report.l2Written += res.filter((o) => o.status === 'written').length
        }
        if (deletes.length) for (const id of await l2.deleteBatch(deletes.map((d) => d.id))) l2Deleted.add(id)
        if (stateItems.size) await l2.putBatch([...stateItems.values()])
      },
    )
    if (this.#backends?.l2 && (l2Puts.length || deletes.length)) {
      if (!l2Done) report.l2Errors += l2Puts.length + deletes.length
      this.#recordBatch('L2', l2Puts, (performance.now() - t2) / 1000, l2Done ? 'success' : 'error')
    }

    // Change stream: what was committed.
    const changes: ChangeEntry[] = [
      ...written.filter((p) => !p.replicated).map((p) => this.#change('PUT', p.item)),
      ...deletes
        .filter((d) => !d.replicated && (done.deleted.has(d.id) || (!l3 && l2Deleted.has(d.id))))
        .map((d) => this.#change('DEL', d.id)),
      ...[...stateItems.values()].map((item) => this.#change('PUT', item)),
    ]
    report.cdcEntries += await this.#publish(changes)
    await mirrored

    // Committed: settle first (the entries leave the pipeline), then let L1 evict what it holds. A
    // `ground-truth` write L3 refused is not committed: its submit rejects with the reason.
    for (const p of puts) {
      const o = done.outcomes.get(p.id)
      const refused =
        o?.status === 'rejected' ? new RowRejectedError(p.id, o.reason ?? 'rejected by L3') : undefined
      this.#settle(p, undefined, refused)
    }
    for (const d of deletes)
      this.#settle(d, d.knownToExist || done.deleted.has(d.id) || (!l3 && l2Deleted.has(d.id)))
    const foreign = this.#changedWhilePending
    // Changed by another process while this flush wrote them: the L2 write may have landed after theirs.
    const resync =
      foreign.size && l3 && !viaWal ? entries.filter((e) => foreign.has(e.id)).map((e) => e.id) : []
    for (const [, list] of states) {
      for (const s of list) {
        const result = done.states.get(s) ?? false
        if (result instanceof Error) {
          this.#settle(s, undefined, result)
          continue
        }
        const cached = result ? this.#l1.peek(s.id) : undefined
        this.#settle(s, result)
        if (foreign.has(s.id)) this.#l1.delete(s.id)
        else if (cached && cached.state !== s.state && !this.#queue.latest.has(s.id))
          this.#l1.set(cached.with({ state: s.state }))
      }
    }
    for (const p of written) {
      if (this.#l1.peek(p.id) !== p.item) continue
      // Another process changed the id while this write was in flight: which one L3 kept is unknown here.
      if (foreign.has(p.id)) this.#l1.delete(p.id)
      else this.#l1.unpin(p.id)
    }
    if (foreign.size) for (const e of entries) if (!this.#queue.latest.has(e.id)) foreign.delete(e.id)
    if (resync.length)
      await this.#resyncL2(resync, new Map(l2Puts.filter((p) => !p.options.l3).map((p) => [p.id, p.item])))
  }

  /**
   * Re-reads ids from L3 into L2 (or removes them from L2): another process changed them while this
   * engine's writes of them were in flight, and across processes L2 writes may land in another order
   * than L3 commits (a delete there, then this engine's put here, would leave the deleted item in L2).
   * `cacheOnly`: items of this flush that live in L2 only. A failed L3 read leaves L2 as it is.
   */
  async #resyncL2(ids: string[], cacheOnly: Map<string, SyncItem>): Promise<void> {
    const stored = await this.#l3
      ?.getMany(ids)
      .then((r) => r.items)
      .catch(() => undefined)
    if (!stored) return
    const all = new Map(ids.map((id): [string, undefined] => [id, undefined]))
    await this.#toL2(
      'coherence_resync',
      () => all,
      (l2) => rewriteL2(l2, all, stored, (id) => cacheOnly.get(id)),
    )
  }

  /** The direct L3 writes of a flush; `done` collects what committed, also when a later call throws. */
  async #writeL3(
    l3: L3Store,
    puts: PutEntry[],
    deletes: DeleteEntry[],
    states: Map<string, StateEntry[]>,
    done: L3Done,
  ): Promise<void> {
    if (puts.length) {
      const { results, poison } = await isolate(
        puts.map((p) => p.item),
        async (rows) => {
          let tree: MerkleTreeWrites | null | undefined
          const outcomes = await l3.putBatch(rows, {
            onMerkleChanges: (writes) => {
              tree = writes
            },
          })
          if (tree) done.tree?.push(tree)
          else done.tree = null
          return outcomes
        },
      )
      for (const o of results) done.outcomes.set(o.id, o)
      for (const { item, error } of poison)
        done.outcomes.set(item.id, { id: item.id, status: 'rejected', reason: errorMessage(error) })
    }
    if (deletes.length) {
      const { results, poison } = await isolate(
        deletes.map((d) => d.id),
        (ids) => l3.deleteBatch(ids),
      )
      for (const id of results) done.deleted.add(id)
      for (const { item, error } of poison) this.#deadLetter(item, errorMessage(error), 'flush')
    }
    for (const [state, list] of states) {
      const changed = new Set(
        await l3.setState(
          list.map((s) => s.id),
          state,
        ),
      )
      for (const s of list) {
        done.states.set(s, changed.has(s.id))
        if (changed.has(s.id)) done.stateChanged.push(s.id)
      }
    }
  }

  /**
   * State changes bound for the WAL (which logs rows, not state changes) travel as puts of the item
   * L1 holds, with its new state; one whose item is not cached cannot be applied until L3 answers.
   */
  #statesAsPuts(states: Map<string, StateEntry[]>, done: L3Done): PutEntry[] {
    const out: PutEntry[] = []
    for (const [state, list] of states) {
      for (const s of list) {
        if (done.states.has(s)) continue // applied by L3 before it failed
        const cached = this.#l1.peek(s.id)
        if (!cached) {
          done.states.set(
            s,
            new BackendUnavailableError(
              'L3',
              `setState('${s.id}') needs L3 (or the item in L1) and L3 is unreachable; retry later`,
            ),
          )
          continue
        }
        done.states.set(s, cached.state !== state)
        if (cached.state === state) continue
        const item = cached.with({ state })
        this.#l1.set(item)
        out.push({
          kind: 'put',
          id: s.id,
          item,
          options: resolveSubmitOptions(),
          bytes: entryBytes(s.id, item.size),
          waiters: [],
        })
      }
    }
    return out
  }

  /** Appends a flush's L3 mutations to the WAL behind the backlog; false when even the WAL refused (the entries are queued again). */
  async #logBacklog(
    puts: PutEntry[],
    deletes: DeleteEntry[],
    entries: Entry[],
    report: Mutable<FlushReport>,
  ): Promise<boolean> {
    const logged: WalEntry[] = [
      ...puts.map((p): WalEntry => ({ id: p.id, op: 'put', row: p.item })),
      ...deletes.map((d): WalEntry => ({ id: d.id, op: 'delete' })),
    ]
    if (logged.length === 0) return true
    try {
      const records = await this.#wal!.append(logged)
      this.#tracker.add(records, true)
      this.#walRows += records.length
      this.#walPressure = this.#wal!.pressure()
      report.walFallback += logged.length
      this.#scheduleDrain(this.#drainDelay)
      return true
    } catch (walError) {
      // Neither L3 nor the WAL took the batch: queue it again so nothing acknowledged is dropped.
      this.logger.error(
        { error: errorMessage(walError) },
        'WAL append failed too; the batch is kept in memory',
      )
      for (const e of entries) {
        const latest = this.#queue.latest.get(e.id)
        if (latest === e) this.#push(e)
        else latest?.waiters.push(...e.waiters) // a newer write of the id supersedes it
      }
      this.#scheduleDrain(Math.max(this.#drainDelay, 1000))
      return false
    }
  }

  /**
   * Deletes committed straight to L3 while the WAL still holds records not yet acknowledged (`local`
   * writes, perhaps of these ids) are logged too, so a crash before the acknowledgement can never
   * replay an old write over a delete.
   */
  async #tombstones(deletes: DeleteEntry[]): Promise<void> {
    if (deletes.length === 0 || this.#tracker.outstanding === 0) return
    const ids = deletes.map((d) => d.id)
    try {
      const records = await this.#wal!.append(ids.map((id): WalEntry => ({ id, op: 'delete' })))
      this.#tracker.add(records, false)
      this.#walRows += records.length
      for (const r of records) this.#walCommitted(r.seq)
    } catch (error) {
      this.logger.warn(
        { error: errorMessage(error), ids: ids.length },
        'Could not log delete records in the WAL',
      )
    }
  }

  /** Ids a batch of outcomes reports newly created in L3 (stores that do not say: unless the filter has them). */
  #createdIds(outcomes: Iterable<PutOutcome>): string[] {
    const created: string[] = []
    for (const o of outcomes) {
      if (o.status !== 'written' || o.created === false) continue
      if (o.created === true || !this.#filter.filter.mightContain(o.id)) created.push(o.id)
    }
    return created
  }

  /**
   * A committed entry: its waiters settle, and its `local` WAL records are done — or, when a newer
   * write of its id is pending, they ride on that one (the log keeps them until it commits).
   */
  #settle(entry: Entry, value: unknown, error?: Error): void {
    this.#queue.settle(entry)
    const seqs = entry.walSeqs
    if (seqs) {
      entry.walSeqs = undefined
      const newer = this.#queue.latest.get(entry.id)
      if (newer) carryWalSeqs(newer, seqs)
      else for (const seq of seqs) this.#walCommitted(seq)
    }
    for (const w of entry.waiters) {
      if (error) w.reject(error)
      else w.resolve(value as never)
    }
  }

  async #runBulk(bulk: BulkEntry, report: Mutable<FlushReport>): Promise<void> {
    report.bulkOps++
    const l3 = this.#l3!
    let ids: string[]
    try {
      // A bulk delete acts on what L3 holds: everything older than it must be there first.
      if (this.#tracker.backlog || !this.#l3Connected) await this.#drainAll()
      ids = bulk.kind === 'deleteByState' ? await l3.deleteByState(bulk.arg) : await l3.deletePrefix(bulk.arg)
    } catch (error) {
      bulk.waiter.reject(error)
      return
    }
    const ok = await this.#toL2(
      'bulk_delete',
      () => ids.map((id): [string, undefined] => [id, undefined]),
      async (l2) => {
        for (let i = 0; i < ids.length; i += 1000) await l2.deleteBatch(ids.slice(i, i + 1000))
      },
    )
    if (!ok) report.l2Errors += ids.length
    this.#filter.committed([], ids)
    await this.#mirror(ids)
    for (const id of ids) if (!this.#queue.latest.has(id)) this.#l1.delete(id)
    report.cdcEntries += await this.#publish(ids.map((id) => this.#change('DEL', id)))
    report.deletes += ids.length
    bulk.waiter.resolve(ids)
  }

  /**
   * Brings the L2 mirror up to date with L3's tree: first the tree writes L3 reported for the ids of
   * `reported` (in the order L3 made them), then the paths `ids` touch, read from L3. The reported
   * writes go in only in step — the mirror's root still the one they start from (or already the one
   * they end at), checked and written atomically — so writes of several engines reach the mirror in
   * L3's commit order; writes that arrive out of turn, or that a mirror cannot take in step, are
   * replaced by reading their ids' paths from L3 as well.
   */
  async #mirror(
    ids: string[],
    reported?: { tree: readonly MerkleTreeWrites[]; ids: string[] },
  ): Promise<void> {
    const l2 = this.#l2
    const l3 = this.#l3
    if (!l2 || !l3 || !this.config.merkle.enabled || (ids.length === 0 && !reported?.ids.length)) return
    const copy = async () => {
      const fresh =
        reported && !(await copyInStep(l2.merkle, reported.tree)) ? [...reported.ids, ...ids] : ids
      if (fresh.length > 0) await mirrorPaths(l3.merkle, l2.merkle, fresh)
    }
    const status = await copy().then(
      () => 'success',
      (error: unknown) => {
        this.#l2Failed(error, 'merkle_mirror')
        return 'error'
      },
    )
    this.metrics.count(METRIC.merkleOperations, { store: 'redis', operation: 'batch_update', status })
  }

  #change(op: 'PUT' | 'DEL', subject: SyncItem | string): ChangeEntry {
    if (typeof subject === 'string') {
      return {
        op,
        key: subject,
        hash: '',
        meta: {
          contentType: undefined,
          version: undefined,
          updatedAt: Date.now(),
          state: undefined,
          origin: this.config.instanceId,
        },
      }
    }
    return {
      op,
      key: subject.id,
      hash: subject.contentHash,
      data: subject.content,
      meta: {
        contentType: subject.contentType,
        version: subject.version,
        updatedAt: subject.updatedAt,
        state: subject.state,
        origin: this.config.instanceId,
      },
    }
  }

  async #publish(changes: ChangeEntry[]): Promise<number> {
    const cdc: ChangePublisher | undefined = this.#l2 ? this.#backends?.cdc : undefined
    if (!cdc || changes.length === 0) return 0
    const t = performance.now()
    try {
      const published = cdc.publish(changes)
      // The coherence reader passes over what this engine appends instead of reading it back.
      this.#feed?.passOver?.(published)
      await published
      let deletes = 0
      for (const c of changes) if (c.op === 'DEL') deletes++
      if (deletes < changes.length)
        this.metrics.count(METRIC.cdcEntries, { op: 'PUT' }, changes.length - deletes)
      if (deletes > 0) this.metrics.count(METRIC.cdcEntries, { op: 'DEL' }, deletes)
      this.metrics.record(METRIC.operationSeconds, (performance.now() - t) / 1000, {
        tier: 'CDC',
        operation: 'put_batch',
      })
      return changes.length
    } catch (error) {
      this.metrics.count(METRIC.errors, { tier: 'CDC', operation: 'publish', reason: 'backend' })
      this.logger.warn({ error: (error as Error).message }, 'Change-stream publish failed')
      return 0
    }
  }

  #recordBatch(tier: 'L2' | 'L3', puts: PutEntry[], seconds: number, status: 'success' | 'error'): void {
    this.metrics.count(METRIC.operations, { tier, operation: 'batch_write', status })
    this.metrics.record(METRIC.operationSeconds, seconds, { tier, operation: 'batch_write' })
    if (status === 'error' || puts.length === 0) {
      if (status === 'error')
        this.metrics.count(METRIC.errors, { tier, operation: 'batch_write', reason: 'backend' })
      return
    }
    const bytes = puts.reduce((n, p) => n + p.item.size, 0)
    this.metrics.count(METRIC.itemsWritten, { tier }, puts.length)
    this.metrics.count(METRIC.bytesWritten, { tier }, bytes)
    this.metrics.record(METRIC.batchSize, puts.length, { tier })
    this.metrics.record(METRIC.batchBytes, bytes, { tier })
  }

  #deadLetter(id: string, reason: string, source: DeadLetter['source'], seq?: number): void {
    this.#deadLetters.push({ id, reason, at: Date.now(), source, ...(seq === undefined ? {} : { seq }) })
    if (this.#deadLetters.length > MAX_DEAD_LETTERS) this.#deadLetters.shift()
    this.metrics.count(METRIC.errors, {
      tier: 'L3',
      operation: source === 'wal' ? 'wal_drain' : 'batch_write',
      reason: 'rejected',
    })
    this.logger.warn({ id, reason, source, seq }, 'Row isolated as a dead letter')
  }

  /**
   * Rows that could not be stored, with the reason (too long, invalid, an undecodable WAL record):
   * isolated from their batch — the other rows landed — and never retried.
   */
  deadLetters(): readonly DeadLetter[] {
    return [...this.#deadLetters]
  }

  // ── WAL ───────────────────────────────────────────────────────────────────────────────────────

  /**
   * A shadow record whose write committed; the log is acknowledged as far as it can be, once per turn
   * (a flush settles thousands of records: one acknowledgement, one commit).
   */
  #walCommitted(seq: number): void {
    const upto = this.#tracker.done(seq)
    if (upto === undefined) return
    const scheduled = this.#ackUpTo > 0
    this.#ackUpTo = Math.max(this.#ackUpTo, upto)
    if (!scheduled) queueMicrotask(() => this.#ackNow())
  }

  #ackNow(): void {
    const wal = this.#wal!
    const upto = this.#ackUpTo
    this.#ackUpTo = 0
    wal
      .ack(upto)
      .then((n) => {
        this.#walRows = Math.max(0, this.#walRows - n)
        this.#walPressure = wal.pressure()
      })
      .catch((error: unknown) => this.logger.warn({ error: errorMessage(error) }, 'WAL ack failed'))
  }

  async #walAcked(seq: number): Promise<void> {
    const wal = this.#wal!
    const removed = await wal.ack(seq)
    this.#tracker.acked(seq)
    this.#walRows = Math.max(0, this.#walRows - removed)
    this.#walPressure = wal.pressure()
  }

  async #refreshWalStats(): Promise<void> {
    if (!this.#wal) return
    const stats = await this.#wal.stats()
    this.#walRows = stats.rows
    this.#walPressure = this.#wal.pressure()
  }

  /**
   * Drains the backlog on the engine's own timer: a slice at a time between flushes, again at once
   * while rows remain, after a growing delay (capped, the circuit breaker meanwhile failing fast)
   * while L3 does not answer.
   */
  #scheduleDrain(delayMs: number): void {
    if (this.#drainTimer || this.#state === 'ShuttingDown' || this.#state === 'Stopped') return
    this.#drainTimer = setTimeout(() => {
      this.#drainTimer = undefined
      if (this.#state !== 'Ready') {
        this.#scheduleDrain(Math.max(delayMs, 250))
        return
      }
      this.#onChain(() => this.#drainSlice()).then(
        (more) => {
          this.#drainDelay = 0
          if (more) this.#scheduleDrain(0)
        },
        (error: unknown) => {
          this.#drainDelay = Math.min(Math.max(250, this.#drainDelay * 2), DRAIN_MAX_DELAY_MS)
          this.logger.debug(
            { error: errorMessage(error), retry_ms: this.#drainDelay, wal_rows: this.#walRows },
            'WAL drain waits for L3',
          )
          this.#scheduleDrain(this.#drainDelay)
        },
      )
    }, delayMs)
    this.#drainTimer.unref()
  }

  /** Drains for about `DRAIN_SLICE_MS`; resolves with whether backlog remains. On the flush chain. */
  async #drainSlice(): Promise<boolean> {
    // An L3 unreachable at a degraded start is connected here, also with nothing to drain: reads need it.
    const l3 = this.#l3
    if (l3 && !this.#l3Connected) await this.#connectL3Late(l3)
    const until = performance.now() + DRAIN_SLICE_MS
    while (this.#tracker.backlog && performance.now() < until) await this.#drainBatch()
    if (!this.#tracker.backlog) await this.#afterBacklog()
    return this.#tracker.backlog
  }

  /** Drains the whole backlog; resolves with how many records were applied. On the flush chain (or at start). */
  async #drainAll(): Promise<number> {
    let applied = 0
    while (this.#tracker.backlog) applied += await this.#drainBatch()
    await this.#afterBacklog()
    return applied
  }

  async #afterBacklog(): Promise<void> {
    if (!this.#l2RepairWanted || !this.#l2Up) return
    await this.#repairL2().catch((error: unknown) => this.#l2Failed(error, 'merkle_repair'))
  }

  /**
   * Applies the oldest backlog records to L3 in sequence order, in large batches (version-guarded, so
   * replays are harmless): consecutive puts in one call, consecutive deletes in one call. Then the
   * filter and the mirror learn what L3 committed and the records are acknowledged. A row L3 rejects
   * and an undecodable record become dead letters; they never block the drain.
   */
  async #drainBatch(): Promise<number> {
    const wal = this.#wal!
    const l3 = this.#l3!
    if (!this.#l3Connected) await this.#connectL3Late(l3)
    let records: WalRecord[]
    try {
      records = await wal.peek(WAL_DRAIN_BATCH)
    } catch (error) {
      const seq = error instanceof CorruptDataError ? (await wal.stats()).oldestSeq : undefined
      if (seq === undefined) throw error
      this.#deadLetter(`wal seq ${seq}`, errorMessage(error), 'wal', seq)
      await this.#walAcked(seq)
      return 1
    }
    const backlog = records.filter((r) => r.seq <= this.#tracker.backlogUpTo)
    if (backlog.length === 0) {
      this.#tracker.acked(this.#tracker.backlogUpTo)
      return 0
    }
    const t = performance.now()
    const touched: string[] = []
    const created: string[] = []
    const deleted: string[] = []
    for (let i = 0; i < backlog.length; ) {
      const op = backlog[i]!.op
      let j = i + 1
      while (j < backlog.length && backlog[j]!.op === op) j++
      const run = backlog.slice(i, j)
      i = j
      const seqOf = (id: string) => run.find((r) => r.id === id)?.seq
      if (op === 'put') {
        const { results, poison } = await isolate(
          run.map((r) => r.row!),
          (rows) => l3.putBatch(rows),
        )
        for (const o of results) {
          if (o.status === 'written') touched.push(o.id)
          else if (o.status === 'rejected')
            this.#deadLetter(o.id, o.reason ?? 'rejected by L3', 'wal', seqOf(o.id))
        }
        created.push(...this.#createdIds(results))
        for (const { item, error } of poison)
          this.#deadLetter(item.id, errorMessage(error), 'wal', seqOf(item.id))
      } else {
        const ids = run.map((r) => r.id)
        const { results, poison } = await isolate(ids, (part) => l3.deleteBatch(part))
        deleted.push(...results)
        touched.push(...ids)
        for (const { item, error } of poison) this.#deadLetter(item, errorMessage(error), 'wal', seqOf(item))
      }
    }
    this.#filter.committed(created, deleted)
    await this.#mirror(touched)
    // A previous run's records: whether their L2 writes were made is unknown (its memory of missed
    // writes is gone) and the mirror now agrees with L3 whatever L2 holds, so drop them from L2.
    const earlier = backlog.filter((r) => r.seq <= this.#leftoverUpTo).map((r) => r.id)
    if (earlier.length) await this.#dropFromL2('drain', earlier)
    await this.#walAcked(backlog[backlog.length - 1]!.seq)
    this.#l3Healthy = true
    this.metrics.count(
      METRIC.operations,
      { tier: 'WAL', operation: 'drain', status: 'success' },
      backlog.length,
    )
    this.metrics.record(METRIC.operationSeconds, (performance.now() - t) / 1000, {
      tier: 'WAL',
      operation: 'drain',
    })
    if (!this.#tracker.backlog) this.logger.info({ wal_rows: this.#walRows }, 'WAL backlog drained into L3')
    return backlog.length
  }

  async #connectL3Late(l3: L3Store): Promise<void> {
    await l3.connect()
    this.#l3Connected = true
    this.#l3Healthy = true
    this.logger.info('L3 connected after a degraded start')
    this.#backgroundWarmUp()
    // L2 was attached without comparing it with L3: repair it once the backlog is in.
    if (this.#backends?.l2) this.#l2RepairWanted = true
  }

  // ── L2 away and back (SPEC §8, §9) ────────────────────────────────────────────────────────────

  async #connectL2(): Promise<void> {
    const b = this.#backends!
    await b.l2!.connect()
    await b.cdc?.connect?.()
    this.#l2Connected = true
  }

  /** Merkle-guided repair of L2 from L3 (equal branches are never visited); resolves with the ids rewritten or removed. */
  async #repairL2(): Promise<Set<string>> {
    const l2 = this.#backends?.l2
    const l3 = this.#l3
    if (!l2 || !l3 || !this.#l3Connected || !this.config.merkle.enabled) return new Set()
    const d = await repairL2FromL3(l3, l2)
    this.#l2RepairWanted = false
    return new Set([...d.divergent, ...d.localOnly, ...d.remoteOnly])
  }

  /**
   * Runs `work` against L2 when it is attached; when it is away or the work fails, the ids `missed`
   * names are remembered for the repair. Resolves with whether the work was done.
   */
  async #toL2(
    operation: string,
    missed: () => Iterable<[string, number | undefined]>,
    work: (l2: L2Store) => Promise<void>,
  ): Promise<boolean> {
    if (!this.#backends?.l2) return true
    const l2 = this.#l2
    if (!l2) {
      for (const [id, ttl] of missed()) this.#missL2(id, ttl)
      return false
    }
    try {
      await work(l2)
      return true
    } catch (error) {
      this.#l2Failed(error, operation, missed())
      return false
    }
  }

  /** Deletes ids from L2 (a cache: always safe); when L2 is away or fails they are remembered for its repair. */
  #dropFromL2(operation: string, ids: string[]): Promise<boolean> {
    return this.#toL2(
      operation,
      () => ids.map((id): [string, undefined] => [id, undefined]),
      async (l2) => {
        await l2.deleteBatch(ids)
      },
    )
  }

  /** An L2 call failed: counted, logged; an outage marks L2 away, and `missed` ids are remembered for repair. */
  #l2Failed(error: unknown, operation: string, missed?: Iterable<[string, number | undefined]>): void {
    const outage = isOutage(error)
    this.metrics.count(METRIC.errors, { tier: 'L2', operation, reason: outage ? 'unavailable' : 'rejected' })
    let lost = false
    for (const [id, ttl] of missed ?? []) {
      this.#missL2(id, ttl)
      lost = true
    }
    // Writes it missed make L2 stale until repaired, whatever the reason: detach it until then.
    if (outage || lost) this.#l2Down(error)
    else this.logger.warn({ error: errorMessage(error), operation }, 'L2 refused a call')
  }

  /** Remembers an id whose L2 write was missed (L2 is stale for it until the repair). */
  #missL2(id: string, ttl: number | undefined): void {
    if (this.#l2MissedOverflow) return
    this.#l2Missed.set(id, ttl)
    if (this.#l2Missed.size > MAX_L2_MISSED) {
      this.#l2Missed.clear()
      this.#l2MissedOverflow = true
      this.logger.warn(
        { limit: MAX_L2_MISSED },
        'Too many L2 writes missed to remember each; the Merkle repair will restore L2 from L3',
      )
    }
  }

  /** L2 is away: reads go to L3, flushes skip it (remembering what it missed), a probe watches for its return. */
  #l2Down(error: unknown): void {
    if (this.#l2Up)
      this.logger.warn(
        { error: errorMessage(error) },
        'L2 unavailable: reads fall through to L3, missed writes are repaired when it returns',
      )
    this.#l2Up = false
    if (this.#l2Probe || this.#state === 'ShuttingDown' || this.#state === 'Stopped') return
    this.#l2Probe = setInterval(() => void this.#probeL2(), this.config.resilience.probeIntervalMs)
    this.#l2Probe.unref()
  }

  /** One probe of an L2 that went away (its circuit's half-open call); when it answers, it is repaired and attached. */
  async #probeL2(): Promise<void> {
    const l2 = this.#backends?.l2
    if (!l2 || this.#state !== 'Ready' || this.#l2Probing) return
    this.#l2Probing = true
    const timeoutMs = this.config.resilience.l2TimeoutMs
    try {
      if (!this.#l2Connected) await this.#connectL2()
      await this.#l2Guard.run(
        'probe',
        async () => {
          const h = await l2.health(timeoutMs)
          if (!h.ok) throw new BackendUnavailableError('L2', h.error ?? 'health probe failed')
        },
        { timeoutMs, retry: false },
      )
      await this.#onChain(() => this.#recoverL2())
    } catch (error) {
      // The next probe connects again: a client that ended (closed while it was reconnecting) only
      // comes back through connect(); for a client that is up or reconnecting it is a no-op or a wait.
      this.#l2Connected = false
      this.logger.debug({ error: errorMessage(error) }, 'L2 still away')
    } finally {
      this.#l2Probing = false
    }
  }

  /**
   * L2 answers again: a Merkle-guided repair from L3 (every id whose leaf differs, including a
   * restarted, empty Redis), then every remembered id the repair did not cover (L2-only items, state
   * changes, deletes), then L2 is attached again. On the flush chain, so no flush interleaves.
   */
  async #recoverL2(): Promise<void> {
    const l2 = this.#backends?.l2
    if (!l2 || this.#l2Up || this.#state !== 'Ready') return
    const missed = this.#l2Missed
    const overflow = this.#l2MissedOverflow
    this.#l2Missed = new Map()
    this.#l2MissedOverflow = false
    const started = performance.now()
    let repaired: Set<string>
    try {
      repaired = await this.#repairL2()
      if (overflow && repaired.size === 0 && !(this.#l3 && this.config.merkle.enabled))
        this.logger.warn('L2 missed more writes than remembered and has no Merkle tree to repair from')
      const rest = new Map<string, number | undefined>()
      for (const [id, ttl] of missed) if (!repaired.has(id) && !this.#queue.latest.has(id)) rest.set(id, ttl)
      const l3 = this.#l3Connected ? this.#l3 : undefined
      await repairL2Ids(l2, rest, l3, (id) => this.#l1.peek(id))
      for (const id of rest.keys()) repaired.add(id)
    } catch (error) {
      for (const [id, ttl] of missed) if (!this.#l2Missed.has(id)) this.#missL2(id, ttl)
      this.#l2MissedOverflow ||= overflow
      throw error
    }
    this.#l2Up = true
    this.#l2Guard.reset()
    clearInterval(this.#l2Probe)
    this.#l2Probe = undefined
    this.metrics.count(
      METRIC.operations,
      { tier: 'L2', operation: 'repair', status: 'success' },
      repaired.size,
    )
    this.logger.warn(
      { repaired: repaired.size, ms: Math.round(performance.now() - started) },
      'L2 back: repaired from L3 and attached again',
    )
    if (!this.#feed) await this.#startCoherence()
  }

  // ── filter ────────────────────────────────────────────────────────────────────────────────────

  async #snapshotNow(reason: string): Promise<{ bytes: number; entries: number } | undefined> {
    const l3 = this.#l3
    if (!l3 || !this.#wal || !this.#filter.trusted) return undefined
    const root = await l3.merkleRoot()
    const saved = await this.#filter.snapshot(this.#wal, root)
    if (saved)
      this.logger.info(
        { filter_id: 'l3', entry_count: saved.entries, bytes: saved.bytes, reason, merkle_root: root },
        'Cuckoo filter snapshot saved',
      )
    return saved
  }

  /** Takes the snapshot between flushes, so the root it records matches the filter. */
  #snapshotFilter(reason: string): Promise<{ bytes: number; entries: number } | undefined> {
    return this.#onChain(() => this.#snapshotNow(reason)).catch((error: unknown) => {
      this.logger.warn({ error: (error as Error).message }, 'Filter snapshot failed')
      return undefined
    })
  }

  /** Rebuilds the filter from a full keyset scan of L3; emits `warmup` progress events. */
  warmUp(): Promise<WarmUpReport> {
    this.#assertReadable('warmUp')
    const l3 = this.#l3
    if (!l3) return Promise.reject(new InvalidArgumentError('warmUp', 'warmUp needs an L3 store'))
    return this.#filter.warmUp(l3)
  }

  /** Makes the filter trusted: restores it when the snapshot matches L3's root, else rebuilds it. */
  async verifyFilter(): Promise<boolean> {
    this.#assertReadable('verifyFilter')
    const l3 = this.#l3
    if (!l3) return false
    const root = await l3.merkleRoot()
    this.logger.info({ sql_root: root }, 'Verifying L3 filter against SQL merkle root')
    if (!this.#filter.trusted) await this.#filter.warmUp(l3)
    return this.#filter.trusted
  }

  filterStats() {
    return { ...this.#filter.filter.stats(), trust: this.#filter.trust, warming: this.#filter.warming }
  }

  /** False only when the trusted filter says the id is certainly not stored (no network hop). */
  mightExist(id: string): boolean {
    this.#assertReadable('mightExist')
    const pending = this.#queue.latest.get(id)
    if (pending) return pending.kind !== 'delete'
    if (this.#l1.has(id)) return true
    const answer = this.#filter.mightExist(id)
    this.metrics.count(METRIC.filterChecks, { result: answer ? 'maybe' : 'absent' })
    return answer
  }

  /** True only when the id is certainly not stored (the opposite of `mightExist`). */
  definitelyMissing(id: string): boolean {
    return !this.mightExist(id)
  }

  // ── reads ─────────────────────────────────────────────────────────────────────────────────────

  /** L1 → pending writes → L2 → filter → L3 (SPEC §4). `null` when not stored. */
  get(id: string): Promise<SyncItem | null> {
    if (this.#state !== 'Ready') {
      try {
        this.#assertReadable('get')
      } catch (error) {
        return Promise.reject(error)
      }
    }
    const metrics = this.metrics
    const t0 = metrics.timing ? performance.now() : 0
    const hit = this.#backends!.l1.get(id)
    // A hit counts unless a delete or state change of the id is still pending (L1 holds pending puts).
    const pending = hit === undefined ? undefined : this.#queue.latest.get(id)
    if (hit !== undefined && (pending === undefined || (pending.kind === 'put' && pending.item === hit))) {
      metrics.l1Hits++
      if (metrics.timing) metrics.hot(HOT_GET, (performance.now() - t0) / 1000)
      return Promise.resolve(hit)
    }
    this.metrics.l1Misses++
    return this.#getSlow(id, hit)
  }

  async #getSlow(id: string, l1Hit: SyncItem | undefined): Promise<SyncItem | null> {
    const pending = this.#queue.latest.get(id)
    if (pending?.kind === 'put') return pending.item
    if (pending?.kind === 'delete') return null
    validateId(id)
    const item = l1Hit ?? (await this.#readThrough([id], this.#epoch)).get(id) ?? null
    // A state change still in the pipeline is part of what the caller wrote: show it.
    return item && pending?.kind === 'state' ? item.with({ state: pending.state }) : item
  }

  /** Reads ids missing from L1 through L2, the filter and L3, promoting what it finds. */
  async #readThrough(ids: string[], startEpoch: number): Promise<Map<string, SyncItem>> {
    const found = new Map<string, SyncItem>()
    let rest = ids
    const l2 = this.#l2
    if (l2 && rest.length) {
      const t = performance.now()
      try {
        const { items, errors } = ids.length === 1 ? await this.#l2Get(l2, ids[0]!) : await l2.getMany(rest)
        for (const [id, item] of items) {
          found.set(id, item)
          this.#promote(item, startEpoch)
        }
        for (const [id, error] of errors) {
          this.metrics.count(METRIC.errors, { tier: 'L2', operation: 'get', reason: 'corrupt' })
          this.logger.warn({ id, error: error.message }, 'Corrupt L2 value; reading L3 and repairing')
        }
        this.#recordGet('L2', ids.length, items.size, t)
        rest = rest.filter((id) => !items.has(id))
      } catch (error) {
        this.#l2Failed(error, 'get')
      }
    }
    const l3 = this.#l3
    if (l3 && rest.length) {
      rest = rest.filter((id) => {
        if (this.#filter.mightExist(id)) return true
        this.metrics.count(METRIC.filterChecks, { result: 'absent' })
        return false
      })
      if (rest.length) {
        const t = performance.now()
        const { items } = await l3.getMany(rest)
        this.#recordGet('L3', rest.length, items.size, t)
        const backfill: SyncItem[] = []
        for (const [id, item] of items) {
          found.set(id, item)
          if (this.#promote(item, startEpoch)) backfill.push(item)
        }
        if (l2 && backfill.length && this.#l2Up)
          l2.putBatch(backfill).catch((error: unknown) => this.#l2Failed(error, 'backfill'))
      }
    }
    return found
  }

  async #l2Get(
    l2: L2Store,
    id: string,
  ): Promise<{ items: Map<string, SyncItem>; errors: Map<string, Error> }> {
    try {
      const item = await l2.get(id)
      return { items: item ? new Map([[id, item]]) : new Map(), errors: new Map() }
    } catch (error) {
      if (error instanceof CorruptDataError) return { items: new Map(), errors: new Map([[id, error]]) }
      throw error
    }
  }

  /** One batched read of a tier: hits and misses counted per id, and its latency. */
  #recordGet(tier: 'L2' | 'L3', asked: number, found: number, startedAt: number): void {
    if (found) this.metrics.count(METRIC.operations, { tier, operation: 'get', status: 'hit' }, found)
    if (asked > found)
      this.metrics.count(METRIC.operations, { tier, operation: 'get', status: 'miss' }, asked - found)
    this.metrics.record(METRIC.operationSeconds, (performance.now() - startedAt) / 1000, {
      tier,
      operation: 'get',
    })
  }

  /** Puts a value read from L2/L3 into L1 unless a write of that id began after the read did. */
  #promote(item: SyncItem, startEpoch: number): boolean {
    if (this.#queue.latest.has(item.id) || startEpoch < this.#epochFloor) return false
    if ((this.#writtenAt.get(item.id) ?? -1) > startEpoch) return false
    const deletedAt = this.#recentlyDeleted.get(item.id)
    if (deletedAt !== undefined && Date.now() - deletedAt < 2 * this.config.cdc.maxStalenessMs) return false
    if (this.#state === 'Ready') this.#l1.set(item)
    return true
  }

  /** Many ids at once: one L2 round trip and one L3 round trip for what L1 misses. */
  async getMany(ids: readonly string[]): Promise<Map<string, SyncItem>> {
    this.#assertReadable('getMany')
    const out = new Map<string, SyncItem>()
    const misses: string[] = []
    for (const id of ids) {
      const pending = this.#queue.latest.get(id)
      if (pending?.kind === 'put') out.set(id, pending.item)
      else if (pending?.kind === 'delete') continue
      else {
        const hit = this.#l1.get(id)
        if (hit) out.set(id, hit)
        else misses.push(validateId(id))
      }
    }
    if (misses.length)
      for (const [id, item] of await this.#readThrough(misses, this.#epoch)) out.set(id, item)
    return out
  }

  /** Whether the id is stored (or pending), asking the filter before the network. */
  async contains(id: string): Promise<boolean> {
    this.#assertReadable('contains')
    const pending = this.#queue.latest.get(id)
    if (pending) return pending.kind !== 'delete'
    if (this.#l1.has(id)) return true
    validateId(id)
    if (!this.#filter.mightExist(id)) return false
    const l2 = this.#l2
    if (l2 && (await this.#l2Exists(l2, id))) return true
    const l3 = this.#l3
    return l3 ? l3.exists(id) : false
  }

  #l2Exists(l2: L2Store, id: string): Promise<boolean> {
    return l2.exists(id).catch((error: unknown) => {
      this.#l2Failed(error, 'exists')
      return false
    })
  }

  /** True while a write, delete or state change of `id` is queued or being flushed. */
  isPending(id: string): boolean {
    return this.#queue.latest.has(id)
  }

  /** Where an item stands in each tier. */
  async status(id: string): Promise<ItemStatus> {
    this.#assertReadable('status')
    validateId(id)
    const inL1 = this.#l1.has(id)
    const pending = this.#queue.latest.has(id)
    const l2 = this.#l2
    const l3 = this.#l3
    const [inL2, inL3] = await Promise.all([l2 ? this.#l2Exists(l2, id) : false, l3 ? l3.exists(id) : false])
    const stored = l3 ? inL3 : inL2
    return { id, status: pending ? 'Pending' : stored ? 'Synced' : 'Missing', inL1, inL2, inL3 }
  }

  /**
   * The item, or — when it is not stored — the one `make()` returns, submitted with `options`.
   * Concurrent calls for one id in this process share one `make()` (single flight).
   */
  async getOrInsertWith(
    id: string,
    make: () => SyncItem | Promise<SyncItem>,
    options?: SubmitOptions,
  ): Promise<SyncItem> {
    const existing = await this.get(id)
    if (existing) return existing
    const inflight = this.#inflightGets.get(id)
    if (inflight) return inflight
    const run = (async () => {
      try {
        const again = await this.get(id)
        if (again) return again
        const item = await make()
        if (!(item instanceof SyncItem) || item.id !== id) {
          throw new InvalidArgumentError('make', `getOrInsertWith('${id}') must make a SyncItem with that id`)
        }
        await this.submit(item, options)
        return item
      } finally {
        this.#inflightGets.delete(id)
      }
    })()
    this.#inflightGets.set(id, run)
    return run
  }

  // ── state and prefix queries (after the pipeline, so they see every write made before them) ──

  async getByState(state: string, page?: PageOptions): Promise<string[]> {
    validateState(state)
    return (await this.#queried('getByState')).byState(state, page)
  }

  async countByState(state: string): Promise<number> {
    validateState(state)
    return (await this.#queried('countByState')).countByState(state)
  }

  async scanPrefix(prefix: string, page?: PageOptions): Promise<string[]> {
    return (await this.#queried('scanPrefix')).scanPrefix(prefix, page)
  }

  async countPrefix(prefix: string): Promise<number> {
    return (await this.#queried('countPrefix')).countPrefix(prefix)
  }

  async #queried(operation: string): Promise<L3Store> {
    this.#assertReadable(operation)
    const l3 = this.#l3
    if (!l3)
      throw new InvalidArgumentError(operation, `${operation} needs an L3 store (this engine has sql: false)`)
    if (!this.#queue.empty) await this.flush('query')
    else await this.#flushChain
    // Rows still in the WAL backlog belong in the answer: drain them first when L3 answers.
    if (this.#tracker.backlog) await this.#onChain(() => this.#drainAll()).catch(() => undefined)
    return l3
  }

  // ── Merkle ────────────────────────────────────────────────────────────────────────────────────

  /** The L3 root (`null` for an empty tree or an engine without L3). */
  async merkleRoot(): Promise<string | null> {
    this.#assertReadable('merkleRoot')
    return this.#l3 ? this.#l3.merkleRoot() : null
  }

  /** Both roots: they are equal when L2's mirror agrees with L3. */
  async merkleRoots(): Promise<{ l2: string | null; l3: string | null }> {
    this.#assertReadable('merkleRoots')
    const l2 = this.#l2
    const [l2Root, l3Root] = await Promise.all([
      l2 ? diffSource(l2.merkle).rootHash() : null,
      this.#l3 ? this.#l3.merkleRoot() : null,
    ])
    return { l2: l2Root as string | null, l3: l3Root }
  }

  async merkleNode(path: string): Promise<MerkleNode | undefined> {
    this.#assertReadable('merkleNode')
    return (await this.#l3?.merkle.getNodes([path]))?.get(path)
  }

  async merkleChildren(path: string): Promise<ReadonlyMap<string, string>> {
    this.#assertReadable('merkleChildren')
    return (await this.#l3?.merkle.getChildren([path]))?.get(path) ?? new Map()
  }

  /** Ids on which this engine's L3 tree and `remote` disagree, visiting only differing branches. */
  async diffMerkle(remote: MerkleDiffSource): Promise<MerkleDiff> {
    this.#assertReadable('diffMerkle')
    const l3 = this.#l3
    if (!l3) throw new InvalidArgumentError('diffMerkle', 'diffMerkle needs an L3 store')
    return diff(diffSource(l3.merkle), remote)
  }

  /**
   * Recomputes the root from every L3 row and compares it with the stored tree (and the L2 mirror).
   * With `repair`, a mirror that disagrees is repaired from L3.
   */
  async verifyMerkle(options: { repair?: boolean } = {}): Promise<{
    ok: boolean
    computed: string | null
    l3: string | null
    l2: string | null | undefined
    repaired: number
  }> {
    this.#assertReadable('verifyMerkle')
    const l3 = this.#l3
    if (!l3) throw new InvalidArgumentError('verifyMerkle', 'verifyMerkle needs an L3 store')
    await this.#flushChain
    const leaves = []
    for (;;) {
      const page = await l3.scanLeaves(leaves[leaves.length - 1]?.id, 10_000)
      if (page.length === 0) break
      leaves.push(...page)
    }
    const computed = merkleRootOf(leaves)
    const roots = await this.merkleRoots()
    let repaired = 0
    if (options.repair && this.#l2 && roots.l2 !== roots.l3) {
      const d = await repairL2FromL3(l3, this.#l2)
      repaired = d.divergent.length + d.localOnly.length + d.remoteOnly.length
    }
    const ok = computed === roots.l3 && (this.#l2 === undefined || roots.l2 === roots.l3)
    this.metrics.count(METRIC.merkleOperations, {
      store: 'sql',
      operation: 'verify',
      status: ok ? 'success' : 'mismatch',
    })
    return { ok, computed, l3: roots.l3, l2: this.#l2 ? roots.l2 : undefined, repaired }
  }

  // ── coherence across processes (SPEC §10) ─────────────────────────────────────────────────────

  /**
   * A consumer of this engine's change stream (a new Redis connection with its own cursor), for peers
   * that apply or invalidate. `start`: `'latest'` (default), `'earliest'` or a stream id.
   */
  async changes(options: { start?: string } = {}): Promise<ChangeFeed> {
    return this.#changeFeed(options)
  }

  /** A feed on this engine's stream; `skipOrigin` passes over that origin's entries undecoded. */
  async #changeFeed(options: { start?: string; skipOrigin?: string }): Promise<ChangeFeed> {
    this.#assertReadable('changes')
    const redis = this.config.redis
    if (redis === undefined || !('url' in redis)) {
      throw new InvalidArgumentError('changes', 'changes() needs an engine configured with a Redis URL')
    }
    const { RedisChangeFeed } = await import('@sync-engine/redis-tier')
    return new RedisChangeFeed({
      url: redis.url,
      cluster: redis.cluster,
      prefix: redis.prefix,
      commandTimeoutMs: redis.commandTimeoutMs,
      logger: this.logger,
      ...(options.start ? { start: options.start } : {}),
      ...(options.skipOrigin ? { skipOrigin: options.skipOrigin } : {}),
    })
  }

  async #startCoherence(): Promise<void> {
    if (!this.config.cdc.enabled || !this.config.cdc.coherence) return
    try {
      // Its own entries are dropped on arrival (#applyChanges): the feed need not decode them.
      this.#feed = await this.#changeFeed({ skipOrigin: this.config.instanceId })
    } catch (error) {
      this.logger.warn({ error: (error as Error).message }, 'Change-stream coherence is off (no Redis URL)')
      return
    }
    this.#lastFeedOk = Date.now()
    this.#tailing = this.#tail(this.#feed)
  }

  async #stopCoherence(): Promise<void> {
    const feed = this.#feed
    this.#feed = undefined
    this.#feedPaused?.waiter.resolve() // a paused reader wakes up and sees it is done
    if (!feed) return
    await feed.close().catch(() => undefined)
    await this.#tailing?.catch(() => undefined)
  }

  /** Tails the change stream: drops from L1 every id another process changed (SPEC §10). */
  async #tail(feed: ChangeFeed): Promise<void> {
    const { maxStalenessMs } = this.config.cdc
    const blockMs = Math.max(50, Math.min(1000, Math.floor(maxStalenessMs / 2)))
    while (this.#feed === feed) {
      if (this.#feedPaused) {
        await this.#feedPaused.promise
        continue
      }
      let batch: Awaited<ReturnType<ChangeFeed['read']>>
      try {
        batch = await feed.read({ count: 1000, blockMs })
        this.#lastFeedOk = Date.now()
      } catch (error) {
        if (this.#feed !== feed) return
        if (Date.now() - this.#lastFeedOk > maxStalenessMs)
          this.#invalidateAll('stale', (error as Error).message)
        await new Promise((resolve) => setTimeout(resolve, Math.min(250, maxStalenessMs)).unref())
        continue
      }
      if (batch.gap) this.#invalidateAll('gap', 'the cursor fell out of the trimmed stream')
      this.#applyChanges(batch.changes)
    }
  }

  /**
   * Holds this engine's change-stream reader (SPEC §10) until `resumeCoherence()`; a read in progress
   * ends first (within half of `cdc.maxStalenessMs`). Meanwhile L1 is not invalidated, so reads may
   * serve what other processes have since changed. On resume the reader continues from its cursor: it
   * catches up on every change still in the stream, and when the stream was trimmed past the cursor
   * that gap clears L1 and rebuilds the filter. For tests (a reader stuck past the trim point) and
   * maintenance; a no-op for an engine without coherence.
   */
  pauseCoherence(): void {
    this.#feedPaused ??= deferred<void>()
  }

  /** Lets the change-stream reader held by `pauseCoherence()` continue. */
  resumeCoherence(): void {
    const paused = this.#feedPaused
    this.#feedPaused = undefined
    paused?.waiter.resolve()
  }

  #applyChanges(changes: readonly ReceivedChange[]): void {
    const written: string[] = []
    const deleted: string[] = []
    let invalidated = 0
    const now = Date.now()
    for (const [id, at] of this.#recentlyDeleted) {
      if (now - at < 2 * this.config.cdc.maxStalenessMs) break
      this.#recentlyDeleted.delete(id)
    }
    for (const change of changes) {
      if (change.meta.origin === this.config.instanceId) continue
      const id = change.key
      // A slow read that started before this change must not promote the old value.
      this.#writtenAt.set(id, ++this.#epoch)
      if (this.#queue.latest.has(id)) this.#changedWhilePending.add(id)
      else {
        if (this.#l1.delete(id)) invalidated++
        if (change.op === 'DEL') deleted.push(id)
      }
      if (change.op === 'DEL') {
        this.#recentlyDeleted.delete(id) // re-inserted last: the map stays in time order
        this.#recentlyDeleted.set(id, now)
      }
      if (change.op === 'PUT') written.push(id)
    }
    // A put of this engine's may have reached L2 after that delete did (L2 writes are not ordered
    // across processes like L3 commits): delete again. Harmless otherwise: L2 is a cache.
    if (deleted.length) void this.#dropFromL2('coherence_delete', deleted)
    if (written.length) this.#filter.foreign(written)
    if (invalidated)
      this.metrics.count(
        METRIC.operations,
        { tier: 'L1', operation: 'invalidate', status: 'remote' },
        invalidated,
      )
  }

  /**
   * Drops every L1 entry that is not a pending write: after a gap in the change stream, or a
   * disconnection longer than `cdc.maxStalenessMs`, staleness is unknown, so nothing cached is served.
   */
  #invalidateAll(reason: 'gap' | 'stale', detail: string): void {
    const l1 = this.#l1
    const size = l1.size
    l1.clear()
    for (const entry of this.#queue.latest.values()) {
      if (entry.kind === 'put') l1.set(entry.item, { pinned: true })
      this.#changedWhilePending.add(entry.id) // for all it knows, changed elsewhere meanwhile
    }
    this.#epochFloor = ++this.#epoch
    this.#writtenAt.clear()
    this.#filter.distrust(`change stream ${reason}`)
    this.#backgroundWarmUp()
    this.metrics.count(METRIC.operations, { tier: 'L1', operation: 'invalidate', status: reason }, size)
    this.logger.warn(
      { reason, detail, dropped: size },
      'L1 cleared: changes from other processes may have been missed',
    )
  }

  // ── health, metrics, configuration ─────────────────────────────────────────────────────────────

  async health(timeoutMs = 1000): Promise<EngineHealth> {
    const probe = async (
      store:
        | {
            health(t?: number): Promise<{
              ok: boolean
              latencyMs: number
              error?: string
              details?: Readonly<Record<string, unknown>>
            }>
          }
        | undefined,
    ): Promise<TierHealth> => {
      if (!store) return { configured: false, ok: false }
      if (!READABLE.has(this.#state))
        return { configured: true, ok: false, error: `engine is ${this.#state}` }
      const timeout = new Promise<TierHealth>((resolve) =>
        setTimeout(
          () => resolve({ configured: true, ok: false, error: `no answer within ${timeoutMs} ms` }),
          timeoutMs,
        ).unref(),
      )
      const answer = store.health(timeoutMs).then(
        (h): TierHealth => ({
          configured: true,
          ok: h.ok,
          latencyMs: h.latencyMs,
          ...(h.error ? { error: h.error } : {}),
          ...(h.details ? { details: h.details } : {}),
        }),
        (e: unknown): TierHealth => ({ configured: true, ok: false, error: (e as Error).message }),
      )
      return Promise.race([answer, timeout])
    }
    const [l2Probe, l3Probe] = await Promise.all([probe(this.#backends?.l2), probe(this.#l3)])
    const l2: TierHealth = l2Probe.configured
      ? {
          ...l2Probe,
          circuit: this.#l2Guard.circuit,
          attached: this.#l2Up,
          pendingRepairs: this.#l2Missed.size,
        }
      : l2Probe
    const l3: TierHealth = l3Probe.configured ? { ...l3Probe, circuit: this.#l3Guard.circuit } : l3Probe
    const pressure = this.pressure()
    const level = this.pressureLevel()
    const l1 = this.#backends?.l1
    const walStats = this.#wal && READABLE.has(this.#state) ? await this.#wal.stats() : { rows: 0, bytes: 0 }
    return {
      state: this.#state,
      acceptingWrites: this.#state === 'Ready' && pressureRank(level) < CRITICAL,
      pressure,
      level,
      l1: {
        items: l1?.size ?? 0,
        bytes: l1?.bytes ?? 0,
        maxBytes: l1?.maxBytes ?? 0,
        pressure: l1?.pressure() ?? 0,
      },
      l2,
      l3,
      wal: {
        rows: walStats.rows,
        bytes: walStats.bytes,
        pressure: this.#walPressure,
        backlog: this.#tracker.backlog,
      },
      pipeline: { items: this.#queue.count, bytes: this.#queue.bytes },
      filter: {
        trust: this.#filter.trust,
        entries: this.#filter.filter.stats().entries,
        warming: this.#filter.warming,
      },
    }
  }

  #gauges() {
    return {
      l1Items: () => this.#backends?.l1.size ?? 0,
      l1Bytes: () => this.#backends?.l1.bytes ?? 0,
      memoryPressure: () => this.pressure(),
      backpressureLevel: () => pressureRank(this.pressureLevel()),
      filterEntries: () => this.#filter.filter.stats().entries,
      filterLoad: () => this.#filter.filter.stats().loadFactor,
      walPending: () => this.#walRows,
      backends: () => {
        const out: { backend: string; healthy: boolean }[] = []
        if (this.#backends?.l3) out.push({ backend: this.#backends.l3Name ?? 'l3', healthy: this.#l3Healthy })
        if (this.#backends?.l2) out.push({ backend: this.#backends.l2Name ?? 'l2', healthy: this.#l2Up })
        return out
      },
    }
  }

  /**
   * Changes at run time what can change safely (SPEC §14): batch limits, backpressure thresholds,
   * `maxPayloadBytes`, snapshot cadence. Anything else is refused with `InvalidConfigError`.
   */
  configure(partial: Pick<SyncEngineConfig, 'batch' | 'backpressure' | 'maxPayloadBytes' | 'filter'>): void {
    const allowed = new Set(['batch', 'backpressure', 'maxPayloadBytes', 'filter'])
    const refused = Object.keys(partial).filter((k) => !allowed.has(k))
    if (refused.length) {
      throw new InvalidConfigError(
        refused.map((k) => ({
          path: k,
          message: 'cannot change while the engine runs (create a new engine)',
        })),
      )
    }
    if (partial.filter && ('fingerprintBits' in partial.filter || 'initialCapacity' in partial.filter)) {
      throw new InvalidConfigError([
        {
          path: 'filter',
          message: 'only snapshotIntervalMs and snapshotEveryInserts can change while running',
        },
      ])
    }
    const next = resolveConfig({
      maxPayloadBytes: partial.maxPayloadBytes ?? this.config.maxPayloadBytes,
      batch: { ...this.config.batch, ...partial.batch },
      backpressure: { ...this.config.backpressure, ...partial.backpressure },
      filter: { ...this.config.filter, ...partial.filter },
      sql: false,
    })
    Object.assign(this.config, {
      maxPayloadBytes: next.maxPayloadBytes,
      batch: next.batch,
      backpressure: next.backpressure,
      filter: next.filter,
    })
    this.#filter.options.snapshotEveryInserts = next.filter.snapshotEveryInserts
  }
}

/** Appends `value` to the list at `key` (made on first use). */
function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key)
  if (list) list.push(value)
  else map.set(key, [value])
}
