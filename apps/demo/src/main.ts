import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import {
  AggregationTemporality,
  DataPointType,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics'
import { createConsoleLogger, SyncEngine, type SyncEngineConfig, SyncItem } from 'sync-engine'

/**
 * The basic-usage walkthrough (the seed capture in shared/seed/), section by section, with this
 * engine's real numbers. No configuration: embedded (SQLite L3 in a temp folder, no L2). With
 * REDIS_URL / MYSQL_URL (or --redis / --mysql) it uses those servers.
 */
const { values: flags } = parseArgs({
  options: { redis: { type: 'string' }, mysql: { type: 'string' }, help: { type: 'boolean' } },
})
if (flags.help) {
  console.log(
    'usage: sync-engine-demo [--redis redis://127.0.0.1:6379] [--mysql mysql://root@127.0.0.1:3306/test]',
  )
  process.exit(0)
}
const redisUrl = flags.redis ?? process.env.REDIS_URL
const mysqlUrl = flags.mysql ?? process.env.MYSQL_URL

const SAMPLES: [string, unknown][] = [
  ['user.alice', { name: 'Alice', role: 'admin' }],
  ['user.bob', { name: 'Bob', role: 'user' }],
  ['user.carol', { name: 'Carol', role: 'user' }],
  ['config.app', { theme: 'dark', version: '2.0' }],
  ['stats.daily', { requests: 42000, latency_p99: 12 }],
]

class PullReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE })
  }
  protected override async onForceFlush() {}
  protected override async onShutdown() {}
}

const say = (line = '') => console.log(line)
const us = (ms: number) => `${(ms * 1000).toFixed(3)}µs`
const box = (text: string) => {
  const width = 63
  const pad = width - text.length
  say(`╔${'═'.repeat(width)}╗`)
  say(`║${' '.repeat(Math.floor(pad / 2))}${text}${' '.repeat(Math.ceil(pad / 2))}║`)
  say(`╚${'═'.repeat(width)}╝`)
}

async function main(): Promise<void> {
  box('sync-engine: Basic Usage Example')
  say()
  const dir = mkdtempSync(join(tmpdir(), 'sync-engine-demo-'))
  const walPath = join(dir, 'sync_engine_wal.db')
  const reader = new PullReader()
  const meterProvider = new MeterProvider({ readers: [reader] })
  const logger = createConsoleLogger({ level: 'info', write: (line) => console.log(line) })
  const config: SyncEngineConfig = {
    sql: mysqlUrl ?? `sqlite:${join(dir, 'sync.db')}`,
    wal: { path: walPath },
    logger,
    meterProvider,
    ...(redisUrl ? { redis: { url: redisUrl, prefix: 'sync:' }, cdc: { enabled: true } } : {}),
  }
  const tiers = [
    'L1 memory',
    redisUrl ? `L2 Redis (${redisUrl})` : 'no L2 (set REDIS_URL or --redis to add Redis)',
    mysqlUrl
      ? `L3 MySQL/MariaDB (${mysqlUrl.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@')})`
      : `L3 SQLite (embedded, ${dir})`,
  ]

  // A fresh process compiles each code path on its first call: run them once on a throwaway
  // embedded engine (its own files, no metrics), so the timings below are the steady state.
  const coldMs = await warmUp(dir)

  say('📦 Configuring sync-engine...')
  const engine = new SyncEngine(config)
  say(`   Tiers: ${tiers.join(' · ')}`)
  say(`   (warm-up on a throwaway engine: its first submit + get took ${us(coldMs)} while V8 compiled them)`)
  say(`   State: ${engine.state}`)
  say()

  say('🚀 Starting engine (connecting to backends)...')
  await engine.start()
  say(`   ✅ Engine ready! State: ${engine.state}`)
  say()

  // A clean slate for the demo's own ids, so two runs in a row print the same shape.
  const ids = SAMPLES.map(([id]) => id)
  await engine.deleteMany(ids)
  await engine.flush()

  say('📝 Creating 5 sample entries...')
  say('   ⏱️  Timing each await to showcase L1 speed')
  const submitTimes: number[] = []
  for (const [id, value] of SAMPLES) {
    const item = SyncItem.fromJson(id, value)
    const t = performance.now()
    await engine.submit(item)
    const ms = performance.now() - t
    submitTimes.push(ms)
    say(`   └─ Submitted: ${id} → ${item.text()} (${us(ms)})`)
  }
  const submitAvg = submitTimes.reduce((a, b) => a + b, 0) / submitTimes.length
  say(`   ⚡ Submit avg: ${us(submitAvg)} (L1 memory write, non-blocking)`)
  say()

  say('💾 Flushing to backends...')
  const flush = await engine.flush()
  say(
    `   ✅ Flush complete! (${flush.l3Written} to L3, ${flush.l2Written} to L2, ${flush.durationMs.toFixed(1)} ms)`,
  )
  say()

  say('🔍 Checking existence...')
  say(`   └─ definitelyMissing('user.alice'): ${engine.definitelyMissing('user.alice')}`)
  say(`   └─ mightExist('user.alice'): ${engine.mightExist('user.alice')}`)
  say(`   └─ contains('user.alice'): ${await engine.contains('user.alice')}`)
  say(`   └─ definitelyMissing('user.nobody'): ${engine.definitelyMissing('user.nobody')}`)
  say(`   └─ contains('user.nobody'): ${await engine.contains('user.nobody')}`)
  say()

  say('📖 Fetching entries back (with timing)...')
  say('   ⏱️  These should hit the L1 cache (microseconds!)')
  const getTimes: number[] = []
  for (const id of ids) {
    const t = performance.now()
    const item = await engine.get(id)
    const ms = performance.now() - t
    getTimes.push(ms)
    say(`   └─ ${id} (v${item?.version}) → ${item?.text()} (${us(ms)})`)
  }
  say(`   ⚡ Get avg: ${us(getTimes.reduce((a, b) => a + b, 0) / getTimes.length)} (L1 cache hit)`)
  say()

  const health = await engine.health()
  const filter = engine.filterStats()
  const roots = await engine.merkleRoots()
  say('📊 Engine Metrics:')
  say('   ┌─ L1 Cache (Memory)')
  say(`   │  └─ Entries: ${health.l1.items}`)
  say(`   │  └─ Size: ${health.l1.bytes} bytes`)
  say(`   │  └─ Pressure: ${(health.l1.pressure * 100).toFixed(1)}%`)
  say('   ├─ L3 Cuckoo Filter (before verify)')
  say(`   │  └─ Entries: ${filter.entries}/${filter.capacity}`)
  say(`   │  └─ Trust: ${filter.trust}`)
  say('   ├─ Merkle Trees')
  say(`   │  └─ Redis (L2): ${redisUrl ? (roots.l2 ?? '(empty)') : '(no L2 configured)'}`)
  say(`   │  └─ SQL (L3):   ${roots.l3 ?? '(empty)'}`)
  if (!redisUrl) say('   │  └─ ✅ L3 root computed; add Redis to compare a mirror against it.')
  else if (roots.l2 === roots.l3) say('   │  └─ ✅ Roots match! Data is in sync.')
  else say('   │  └─ ❌ Roots differ! L2 is out of sync with L3.')
  say()

  say('🔐 Verifying L3 filter against SQL merkle...')
  const verified = await engine.verifyFilter()
  say(`   └─ Verified: ${verified} → Trust: ${engine.filterStats().trust}`)
  say()

  say('📋 Item Status:')
  for (const id of ids) {
    const s = await engine.status(id)
    say(`   └─ ${id}: ${s.status} { in_l1: ${s.inL1}, in_l2: ${s.inL2}, in_l3: ${s.inL3} }`)
  }
  say()

  say('📈 Raw Metrics (OTEL export format):')
  const { resourceMetrics } = await reader.collect()
  printMetrics(resourceMetrics)
  say()

  say('🛑 Shutting down...')
  const report = await engine.shutdown()
  say(
    `   ✅ Shutdown complete! State: ${engine.state} (${report.flushed} flushed on the way out, ${report.durationMs.toFixed(1)} ms)`,
  )
  await meterProvider.shutdown()
  say()

  say('🧹 Cleaning up WAL file...')
  for (const suffix of ['', '-wal', '-shm']) rmSync(walPath + suffix, { force: true })
  say(`   └─ Removed: ${walPath}`)
  say('   ✅ WAL cleanup complete!')
  say()

  say(
    `💡 Data remains in ${[redisUrl && 'Redis', mysqlUrl ? 'MySQL/MariaDB' : 'SQLite'].filter(Boolean).join(' and ')} - inspect with:`,
  )
  if (redisUrl) {
    const json = health.l2.details?.json === true
    say(
      json
        ? "   └─ Redis:  redis-cli JSON.GET sync:user.alice '$.payload'"
        : '   └─ Redis:  redis-cli GET sync:user.alice',
    )
    say('   └─ Redis:  redis-cli XRANGE sync:__se:cdc - + COUNT 5      (the change stream)')
  }
  if (mysqlUrl) {
    say('   └─ MySQL:  SELECT id, version, payload FROM sync_items;')
    say("   └─ Query:  SELECT * FROM sync_items WHERE JSON_EXTRACT(payload, '$.name') = 'Alice';")
    say("   └─ Merkle: SELECT path, merkle_hash FROM merkle_nodes WHERE parent_path = '';")
  } else {
    const db = join(dir, 'sync.db')
    say(`   └─ SQLite: sqlite3 ${db} "SELECT id, version, payload FROM sync_items;"`)
    say(
      `   └─ Query:  sqlite3 ${db} "SELECT id FROM sync_items WHERE json_extract(payload, '$.name') = 'Alice';"`,
    )
    say(`   └─ Remove: rm -r ${dir}`)
  }
  say()
  box('Example complete!')
}

async function warmUp(dir: string): Promise<number> {
  const scratch = join(dir, 'warmup')
  const engine = new SyncEngine({
    sql: `sqlite:${join(scratch, 'l3.db')}`,
    wal: { path: join(scratch, 'wal.db') },
  })
  await engine.start()
  const t = performance.now()
  await engine.submit(SyncItem.fromJson('demo.warmup', { warm: true }))
  await engine.get('demo.warmup')
  const ms = performance.now() - t
  await engine.flush()
  await engine.shutdown()
  rmSync(scratch, { recursive: true, force: true })
  return ms
}

function labels(attributes: Record<string, unknown>): string {
  const entries = Object.entries(attributes)
  return entries.length ? `{${entries.map(([k, v]) => `${k}=${String(v)}`).join(',')}}` : ''
}

function printMetrics(rm: ResourceMetrics): void {
  const counters: string[] = []
  const gauges: string[] = []
  const histograms: string[] = []
  for (const scope of rm.scopeMetrics) {
    for (const metric of scope.metrics) {
      const name = metric.descriptor.name
      for (const point of metric.dataPoints) {
        const key = `${name}${labels(point.attributes)}`
        if (metric.dataPointType === DataPointType.SUM) counters.push(`${key} = ${point.value as number}`)
        else if (metric.dataPointType === DataPointType.GAUGE)
          gauges.push(`${key} = ${(point.value as number).toFixed(2)}`)
        else if (metric.dataPointType === DataPointType.HISTOGRAM) {
          const h = point.value as { count: number; sum?: number; min?: number; max?: number }
          const sum = h.sum ?? 0
          histograms.push(
            `${key}\n   │     count=${h.count} sum=${sum.toFixed(4)} avg=${(h.count ? sum / h.count : 0).toFixed(4)} min=${(h.min ?? 0).toFixed(4)} max=${(h.max ?? 0).toFixed(4)}`,
          )
        }
      }
    }
  }
  const section = (title: string, lines: string[], last: boolean) => {
    say(`   ${last ? '└' : lines === counters ? '┌' : '├'}─ ${title}`)
    for (const line of lines) say(`   │  └─ ${line}`)
  }
  section('Counters (cumulative)', counters, false)
  section('Gauges (current value)', gauges, false)
  section('Histograms (distributions)', histograms, true)
}

// No process.exit on success: the demo ends because the engine closed every handle and timer.
main().catch((error: unknown) => {
  console.error(`\n❌ Demo failed: ${(error as Error).stack ?? String(error)}`)
  process.exitCode = 1
})
