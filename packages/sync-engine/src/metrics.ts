import type { Attributes, Histogram, Meter, MeterProvider, ObservableResult } from '@opentelemetry/api'
import { createNoopMeter } from '@opentelemetry/api'
import { lazyMeter, METRIC } from '@sync-engine/core'

/** Metrics of this package beyond SPEC §11's list. */
export const ENGINE_METRIC = {
  /** Backpressure level changes, labelled `from` and `to`. */
  backpressureTransitions: 'sync_engine_backpressure_transitions_total',
  /** Circuit breaker state changes, labelled `backend` (`L2`/`L3`) and `state`. */
  circuitTransitions: 'sync_engine_circuit_transitions_total',
} as const

type CounterName =
  | typeof ENGINE_METRIC.backpressureTransitions
  | typeof ENGINE_METRIC.circuitTransitions
  | typeof METRIC.operations
  | typeof METRIC.bytesWritten
  | typeof METRIC.itemsWritten
  | typeof METRIC.errors
  | typeof METRIC.filterChecks
  | typeof METRIC.merkleOperations
  | typeof METRIC.cdcEntries

type HistogramName =
  | typeof METRIC.operationSeconds
  | typeof METRIC.batchSize
  | typeof METRIC.batchBytes
  | typeof METRIC.flushSeconds
  | typeof METRIC.startupSeconds
  | typeof METRIC.startupTotalSeconds

const COUNTERS: Record<CounterName, string> = {
  [METRIC.operations]: 'Operations by tier, operation and outcome',
  [METRIC.bytesWritten]: 'Content bytes written, by tier',
  [METRIC.itemsWritten]: 'Items written, by tier',
  [METRIC.errors]: 'Errors, by tier, operation and reason',
  [METRIC.filterChecks]: 'Cuckoo filter checks, by result',
  [METRIC.merkleOperations]: 'Merkle tree operations, by store, operation and status',
  [METRIC.cdcEntries]: 'Change-stream entries appended, by op',
  [ENGINE_METRIC.backpressureTransitions]: 'Backpressure level changes, by from and to level',
  [ENGINE_METRIC.circuitTransitions]: 'Circuit breaker state changes, by backend and state',
}

const HISTOGRAMS: Record<HistogramName, { description: string; unit: string }> = {
  [METRIC.operationSeconds]: { description: 'Operation latency', unit: 's' },
  [METRIC.batchSize]: { description: 'Items per flushed batch', unit: '{item}' },
  [METRIC.batchBytes]: { description: 'Content bytes per flushed batch', unit: 'By' },
  [METRIC.flushSeconds]: { description: 'Whole flush duration', unit: 's' },
  [METRIC.startupSeconds]: { description: 'Startup phase duration', unit: 's' },
  [METRIC.startupTotalSeconds]: { description: 'Startup duration', unit: 's' },
}

/** Current values the gauges read when a reader collects. */
export interface GaugeSources {
  l1Items(): number
  l1Bytes(): number
  memoryPressure(): number
  backpressureLevel(): number
  filterEntries(): number
  filterLoad(): number
  walPending(): number
  backends(): { backend: string; healthy: boolean }[]
}

const NOOP_METER_CLASS = createNoopMeter().constructor

/** Hot-path latencies are buffered in a typed array and handed to the histogram in bulk. */
const HOT_BUFFER = 4096
const HOT_ATTRS = [
  { tier: 'L1', operation: 'get' },
  { tier: 'L1', operation: 'submit' },
] as const
export const HOT_GET = 0
export const HOT_SUBMIT = 1

/**
 * The engine's metrics (SPEC §11). Counters are plain fields exported through observable
 * instruments, so the hot path pays an addition, not an SDK call; histograms are SDK instruments,
 * fed in bulk for the hot path. The meter is taken on `register()` (engine start), never at import.
 */
export class EngineMetrics {
  readonly #counters = new Map<string, { name: CounterName; attributes: Attributes; value: number }>()
  readonly #histograms = new Map<HistogramName, Histogram>()
  readonly #hot = HOT_ATTRS.map(() => ({ values: new Float64Array(HOT_BUFFER), length: 0 }))
  readonly #meter: () => Meter
  #registered = false
  /** Hot counters (L1 get hit/miss, submits): plain fields. */
  l1Hits = 0
  l1Misses = 0
  submits = 0
  l1BytesWritten = 0
  /**
   * Whether hot-path latencies are measured at all: false while the meter is a no-op (no provider
   * registered when the engine started), so an unobserved engine does not pay for the clock reads.
   */
  timing = false

  constructor(provider?: MeterProvider) {
    this.#meter = lazyMeter(provider)
  }

  /** Adds to a counter (not for the hot path: it builds a key). */
  count(name: CounterName, attributes: Attributes, by = 1): void {
    const key = `${name}|${JSON.stringify(attributes)}`
    const entry = this.#counters.get(key)
    if (entry) entry.value += by
    else this.#counters.set(key, { name, attributes, value: by })
  }

  /** Records one histogram value. */
  record(name: HistogramName, value: number, attributes: Attributes = {}): void {
    if (!this.#registered) return
    this.#histogram(name).record(value, attributes)
  }

  /** Records an L1 latency in seconds (hot path: a typed-array write). */
  hot(kind: typeof HOT_GET | typeof HOT_SUBMIT, seconds: number): void {
    const buffer = this.#hot[kind]!
    buffer.values[buffer.length++] = seconds
    if (buffer.length === HOT_BUFFER) this.#drainHot()
  }

  #histogram(name: HistogramName): Histogram {
    let h = this.#histograms.get(name)
    if (!h) {
      const { description, unit } = HISTOGRAMS[name]
      h = this.#meter().createHistogram(name, { description, unit })
      this.#histograms.set(name, h)
    }
    return h
  }

  #drainHot(): void {
    if (!this.#registered) {
      for (const b of this.#hot) b.length = 0
      return
    }
    const histogram = this.#histogram(METRIC.operationSeconds)
    this.#hot.forEach((buffer, kind) => {
      const attrs = HOT_ATTRS[kind]!
      for (let i = 0; i < buffer.length; i++) histogram.record(buffer.values[i]!, attrs)
      buffer.length = 0
    })
  }

  /** A snapshot of every counter (for tests, health and the demo). */
  counters(): { name: string; attributes: Attributes; value: number }[] {
    return [...this.#hotCounters(), ...[...this.#counters.values()].map((c) => ({ ...c }))]
  }

  #hotCounters() {
    return [
      {
        name: METRIC.operations,
        attributes: { tier: 'L1', operation: 'get', status: 'hit' },
        value: this.l1Hits,
      },
      {
        name: METRIC.operations,
        attributes: { tier: 'L1', operation: 'get', status: 'miss' },
        value: this.l1Misses,
      },
      {
        name: METRIC.operations,
        attributes: { tier: 'L1', operation: 'submit', status: 'success' },
        value: this.submits,
      },
      { name: METRIC.bytesWritten, attributes: { tier: 'L1' }, value: this.l1BytesWritten },
    ].filter((c) => c.value > 0)
  }

  /** Creates the observable instruments; called once when the engine starts. */
  register(gauges: GaugeSources): void {
    if (this.#registered) return
    this.#registered = true
    const meter = this.#meter()
    this.timing = meter.constructor !== NOOP_METER_CLASS
    for (const [name, description] of Object.entries(COUNTERS) as [CounterName, string][]) {
      meter.createObservableCounter(name, { description }).addCallback((result) => {
        // Collection is the moment to hand buffered hot-path latencies to their histogram.
        if (name === METRIC.operations) this.#drainHot()
        for (const c of this.#hotCounters()) if (c.name === name) result.observe(c.value, c.attributes)
        for (const c of this.#counters.values()) if (c.name === name) result.observe(c.value, c.attributes)
      })
    }
    const gauge = (name: string, description: string, read: (r: ObservableResult) => void) =>
      meter.createObservableGauge(name, { description }).addCallback(read)
    gauge(METRIC.l1Items, 'Items in L1', (r) => r.observe(gauges.l1Items()))
    gauge(METRIC.l1Bytes, 'Bytes accounted in L1', (r) => r.observe(gauges.l1Bytes()))
    gauge(METRIC.memoryPressure, 'Memory pressure (0–1+)', (r) => r.observe(gauges.memoryPressure()))
    gauge(METRIC.backpressureLevel, 'Backpressure level (0 Normal … 5 Shutdown)', (r) =>
      r.observe(gauges.backpressureLevel()),
    )
    gauge(METRIC.filterEntries, 'Cuckoo filter entries', (r) =>
      r.observe(gauges.filterEntries(), { filter: 'L3' }),
    )
    gauge(METRIC.filterLoad, 'Cuckoo filter load factor', (r) =>
      r.observe(gauges.filterLoad(), { filter: 'L3' }),
    )
    gauge(METRIC.walPending, 'Rows waiting in the write-ahead log', (r) => r.observe(gauges.walPending()))
    gauge(METRIC.backendHealthy, 'Backend health (1 healthy, 0 not)', (r) => {
      for (const b of gauges.backends()) r.observe(b.healthy ? 1 : 0, { backend: b.backend })
    })
  }
}
