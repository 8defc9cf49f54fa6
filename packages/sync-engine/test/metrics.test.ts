import {
  AggregationTemporality,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics'
import { METRIC, SyncItem, silentLogger } from '@sync-engine/core'
import { makeTempDir } from '@sync-engine/testkit'
import { describe, expect, it } from 'vitest'
import { SyncEngine } from '../src/index.js'
import { embedded } from './helpers.js'
import { servicesFor } from './services.js'

class PullReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE })
  }
  protected override async onForceFlush() {}
  protected override async onShutdown() {}
}

type Point = { name: string; attributes: Record<string, unknown>; value: unknown }

function points(rm: ResourceMetrics): Point[] {
  return rm.scopeMetrics.flatMap((s) =>
    s.metrics.flatMap((m) =>
      m.dataPoints.map((p) => ({ name: m.descriptor.name, attributes: p.attributes, value: p.value })),
    ),
  )
}

describe('metrics (SPEC §11)', () => {
  it('exports every named metric through the configured provider, with values that match the run', async () => {
    const reader = new PullReader()
    const provider = new MeterProvider({ readers: [reader] })
    const { engine } = embedded({ meterProvider: provider })
    await engine.start()
    const seed = [
      SyncItem.fromJson('user.alice', { name: 'Alice', role: 'admin' }),
      SyncItem.fromJson('user.bob', { name: 'Bob', role: 'user' }),
      SyncItem.fromJson('user.carol', { name: 'Carol', role: 'user' }),
      SyncItem.fromJson('config.app', { theme: 'dark', version: '2.0' }),
      SyncItem.fromJson('stats.daily', { requests: 42000, latency_p99: 12 }),
    ]
    for (const item of seed) await engine.submit(item)
    await engine.flush()
    for (const item of seed) await engine.get(item.id)
    engine.definitelyMissing('user.nobody')
    const { resourceMetrics, errors } = await reader.collect()
    expect(errors).toEqual([])
    const all = points(resourceMetrics)
    const find = (name: string, attrs: Record<string, unknown> = {}) =>
      all.find((p) => p.name === name && Object.entries(attrs).every(([k, v]) => p.attributes[k] === v))
    expect(find(METRIC.bytesWritten, { tier: 'L1' })?.value).toBe(156)
    expect(find(METRIC.bytesWritten, { tier: 'L3' })?.value).toBe(156)
    expect(find(METRIC.itemsWritten, { tier: 'L3' })?.value).toBe(5)
    expect(find(METRIC.operations, { tier: 'L1', operation: 'submit', status: 'success' })?.value).toBe(5)
    expect(find(METRIC.operations, { tier: 'L1', operation: 'get', status: 'hit' })?.value).toBe(5)
    expect(find(METRIC.operations, { tier: 'L3', operation: 'batch_write', status: 'success' })?.value).toBe(
      1,
    )
    expect(find(METRIC.l1Items)?.value).toBe(5)
    expect(find(METRIC.walPending)?.value).toBe(0)
    expect(find(METRIC.backendHealthy, { backend: 'sqlite' })?.value).toBe(1)
    const submitSeconds = find(METRIC.operationSeconds, { tier: 'L1', operation: 'submit' })?.value as {
      count: number
    }
    expect(submitSeconds.count).toBe(5)
    const batch = find(METRIC.batchSize, { tier: 'L3' })?.value as { count: number; sum: number }
    expect(batch).toMatchObject({ count: 1, sum: 5 })
    expect(find(METRIC.startupTotalSeconds)).toBeDefined()
    expect(find(METRIC.startupSeconds, { phase: 'sql_connect' })).toBeDefined()
    // Every name SPEC §11 lists that this run exercised (no L2, no CDC: those appear with Redis).
    const names = new Set(all.map((p) => p.name))
    for (const name of [
      METRIC.operations,
      METRIC.operationSeconds,
      METRIC.bytesWritten,
      METRIC.itemsWritten,
      METRIC.batchSize,
      METRIC.batchBytes,
      METRIC.flushSeconds,
      METRIC.backendHealthy,
      METRIC.l1Items,
      METRIC.l1Bytes,
      METRIC.memoryPressure,
      METRIC.backpressureLevel,
      METRIC.filterEntries,
      METRIC.filterLoad,
      METRIC.filterChecks,
      METRIC.walPending,
      METRIC.startupSeconds,
      METRIC.startupTotalSeconds,
    ])
      expect(names, name).toContain(name)
    for (const p of all) expect(Object.values(p.attributes)).not.toContain('user.alice')
    await provider.shutdown()
  })

  it('counts the change-stream entries of a flush by op (Redis + MariaDB)', async () => {
    const services = await servicesFor('metrics_cdc')
    const temp = makeTempDir('metrics-cdc')
    const reader = new PullReader()
    const provider = new MeterProvider({ readers: [reader] })
    const engine = new SyncEngine({
      sql: services.mysqlUrl,
      redis: { url: services.redisUrl, prefix: services.prefix },
      cdc: { enabled: true },
      wal: { path: `${temp.path}/wal.db` },
      logger: silentLogger,
      meterProvider: provider,
    })
    try {
      await engine.start()
      await engine.submitMany(['a', 'b', 'c'].map((id) => SyncItem.fromJson(`cdc.${id}`, { id })))
      await engine.flush()
      await engine.delete('cdc.a')
      await engine.flush()
      const { resourceMetrics } = await reader.collect()
      const entries = points(resourceMetrics).filter((p) => p.name === METRIC.cdcEntries)
      expect(Object.fromEntries(entries.map((p) => [p.attributes.op, p.value]))).toEqual({ PUT: 3, DEL: 1 })
    } finally {
      await engine.shutdown()
      await provider.shutdown()
      await services.drop()
      temp.remove()
    }
  })
})
