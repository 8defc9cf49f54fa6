import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { arch, cpus, release, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { silentLogger } from '@sync-engine/core'
import Database from 'better-sqlite3'
import { Redis } from 'ioredis'
import mysql from 'mysql2/promise'
import { SyncEngine, type SyncEngineConfig } from 'sync-engine'
import { Bench } from 'tinybench'

/** One measured thing. `fn` may do `opsPerCall` operations per call (use it for sub-µs operations). */
export interface BenchCase {
  name: string
  fn: () => unknown
  /** Operations one call of `fn` performs (default 1). */
  opsPerCall?: number
  /** Runs before every measured round of this case (not timed). */
  beforeRound?: () => unknown
}

/** A baseline and the cases measured against it, in the same process, interleaved. */
export interface BenchGroup {
  name: string
  baseline: BenchCase
  cases: BenchCase[]
  /** Minimum ratio (case ops/s ÷ baseline ops/s) each case aims for, by case name. Printed, never enforced. */
  targets?: Record<string, number>
  /** Whole-group setup/teardown (connections, data). */
  setup?: () => unknown
  teardown?: () => unknown
  /** Measured rounds (default 3, quick 1); the figures are medians over rounds. */
  rounds?: number
  /** Minimum calls of each fast case per round (default 3, quick 1); slow cases: `slowCalls`. */
  minCalls?: number
  /** Untimed calls before the first round (default 1, quick 0). */
  warmupCalls?: number
  /** Timed calls of each slow case (> 100 ms a call) per round (default 1, quick 1). */
  slowCalls?: number
  /** What the figures include and leave out; printed under the table and kept in the JSON. */
  note?: string
}

/** A figure that is not a rate (bytes per item, a one-off duration). */
export interface Measurement {
  name: string
  value: number
  unit: string
}

/**
 * Figures measured by a function rather than timed by the harness (memory, for instance): `measure`
 * runs once per round and the median of each figure is kept; ratios are against `baseline`.
 */
export interface MeasureGroup {
  kind: 'measure'
  name: string
  /** The name of the measurement the others are divided by. */
  baseline: string
  measure: () => Measurement[] | Promise<Measurement[]>
  setup?: () => unknown
  teardown?: () => unknown
  rounds?: number
  targets?: Record<string, number>
  note?: string
}

export type AnyGroup = BenchGroup | MeasureGroup

/** What a suite file in `src/suites/` default-exports. */
export type Suite = (options: { quick: boolean }) => AnyGroup[] | Promise<AnyGroup[]>

export interface BenchResult {
  group: string
  name: string
  opsPerSec: number
  p50Ns: number
  p99Ns: number
  baseline: string
  ratio: number
  target?: number
}

export interface MeasurementResult {
  group: string
  name: string
  value: number
  unit: string
  baseline: string
  ratio: number
  target?: number
}

export interface RunResults {
  results: BenchResult[]
  measurements: MeasurementResult[]
  /** Group name → note. */
  notes: Record<string, string>
  /** Group names in the order they ran. */
  groups: string[]
}

export interface RunOptions {
  quick: boolean
  /** Only groups whose name contains this string. */
  filter?: string | undefined
}

/** A call slower than this is timed `slowCalls` times per round, after one untimed call of its own. */
const SLOW_CALL_MS = 100

/**
 * One round of one case. The first round warms up with `warmupCalls` untimed calls (plus tinybench's
 * own 100 ms warm-up for fast calls); a case whose calls take more than SLOW_CALL_MS is then timed
 * over `slowCalls` calls (or as many as fit in 400 ms) per round, each round after one untimed call,
 * so multi-second cases cost a handful of calls, not dozens.
 */
async function measure(
  c: BenchCase,
  quick: boolean,
  minCalls: number,
  warmupCalls: number,
  slowCalls: number,
  state: { slow?: boolean; async?: boolean },
) {
  if (!quick && state.slow === true) {
    // A slow call (a 100k-row flush) allocates hundreds of MB, so each round of one starts from a
    // collected heap (no garbage of the case that ran before it, baselines included) and then runs one
    // untimed call of its own: the timed call sees the steady state of a running service — its own
    // kind of garbage to collect, and the JIT's work intact. A collection right before the timed call
    // would drop the hidden classes no live object uses any more and the optimized code built on them
    // (V8 then re-optimizes it during the call): ~150 functions a call for the engine's 10k-item flush,
    // which cost it ~40 % more Node CPU than its steady state.
    globalThis.gc?.()
    await c.fn()
  }
  await c.beforeRound?.()
  if (state.async === undefined) {
    // tinybench calls a function that is not an `async function` once, untimed and never awaited,
    // to learn whether it returns a promise: that call would run beside the timed ones. So a case
    // returning a promise is handed over as an `async function` (found by one awaited call here).
    const first = c.fn()
    state.async = typeof (first as PromiseLike<unknown> | undefined)?.then === 'function'
    await first
  }
  if (!quick && state.slow === undefined) {
    for (let i = 0; i < warmupCalls; i++) {
      const t0 = performance.now()
      await c.fn()
      if (performance.now() - t0 > SLOW_CALL_MS) state.slow = true
    }
  }
  const fast = !quick && state.slow !== true
  const bench = new Bench({
    time: quick ? 10 : 400,
    iterations: fast ? minCalls : slowCalls,
    warmup: fast && warmupCalls > 0,
    warmupTime: 100,
    warmupIterations: 1,
    throws: true,
  })
  const fn = c.fn
  bench.add(
    c.name,
    state.async
      ? async () => {
          await fn()
        }
      : (fn as () => void),
  )
  const [task] = await bench.run()
  const result = task?.result
  if (!result || !('latency' in result))
    throw new Error(`benchmark '${c.name}' failed: ${JSON.stringify(result)}`)
  const ops = c.opsPerCall ?? 1
  const { latency } = result as { latency: { p50: number; p99: number } }
  state.slow = latency.p50 > SLOW_CALL_MS
  return {
    opsPerSec: (1000 / latency.p50) * ops,
    p50Ns: (latency.p50 * 1e6) / ops,
    p99Ns: (latency.p99 * 1e6) / ops,
  }
}

export const median = (values: readonly number[]) => {
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

const isMeasure = (group: AnyGroup): group is MeasureGroup => 'kind' in group && group.kind === 'measure'

/**
 * Runs every group: baseline and cases alternate for several rounds (so drift of a noisy machine hits
 * both), and each figure is the median over rounds; the ratio is case ÷ baseline ops/s.
 */
export async function runGroups(groups: AnyGroup[], options: RunOptions): Promise<RunResults> {
  const out: RunResults = { results: [], measurements: [], notes: {}, groups: [] }
  for (const group of groups) {
    if (options.filter && !group.name.includes(options.filter)) continue
    const rounds = options.quick ? 1 : (group.rounds ?? 3)
    const started = performance.now()
    let failure: { error: unknown } | undefined
    try {
      // Inside the try: a setup that fails half-way still gets its teardown (databases, prefixes).
      await group.setup?.()
      out.groups.push(group.name)
      if (isMeasure(group)) out.measurements.push(...(await runMeasureGroup(group, rounds)))
      else out.results.push(...(await runBenchGroup(group, rounds, options.quick)))
      if (group.note) {
        out.notes[group.name] = group.note
        console.log(`\n${group.note}`)
      }
    } catch (error) {
      failure = { error }
    }
    try {
      await group.teardown?.()
    } catch (error) {
      if (failure) console.error(`teardown of '${group.name}' failed too: ${(error as Error).message}`)
      else failure = { error }
    }
    globalThis.gc?.()
    if (failure) throw failure.error
    console.log(`(${((performance.now() - started) / 1000).toFixed(1)} s)`)
  }
  return out
}

async function runBenchGroup(group: BenchGroup, rounds: number, quick: boolean): Promise<BenchResult[]> {
  const all = [group.baseline, ...group.cases]
  const minCalls = quick ? 1 : (group.minCalls ?? 3)
  const warmupCalls = quick ? 0 : (group.warmupCalls ?? 1)
  const slowCalls = quick ? 1 : (group.slowCalls ?? 1)
  const samples = new Map(all.map((c) => [c.name, [] as Awaited<ReturnType<typeof measure>>[]]))
  const states = new Map(all.map((c) => [c.name, {} as { slow?: boolean; async?: boolean }]))
  for (let r = 0; r < rounds; r++) {
    for (const c of all)
      samples
        .get(c.name)!
        .push(await measure(c, quick, minCalls, warmupCalls, slowCalls, states.get(c.name)!))
  }
  const summary = (name: string) => {
    const s = samples.get(name)!
    return {
      opsPerSec: median(s.map((x) => x.opsPerSec)),
      p50Ns: median(s.map((x) => x.p50Ns)),
      p99Ns: median(s.map((x) => x.p99Ns)),
    }
  }
  const base = summary(group.baseline.name)
  const rows: BenchResult[] = all.map((c) => {
    const s = summary(c.name)
    const target = group.targets?.[c.name]
    return {
      group: group.name,
      name: c.name,
      ...s,
      baseline: group.baseline.name,
      ratio: s.opsPerSec / base.opsPerSec,
      ...(target === undefined ? {} : { target }),
    }
  })
  console.log(`\n${renderBenchTable(group.name, rows)}`)
  return rows
}

async function runMeasureGroup(group: MeasureGroup, rounds: number): Promise<MeasurementResult[]> {
  const samples = new Map<string, { unit: string; values: number[] }>()
  for (let r = 0; r < rounds; r++) {
    for (const m of await group.measure()) {
      const s = samples.get(m.name) ?? { unit: m.unit, values: [] }
      s.values.push(m.value)
      samples.set(m.name, s)
    }
  }
  const base = samples.get(group.baseline)
  if (!base) throw new Error(`measure group '${group.name}' produced no '${group.baseline}' figure`)
  const baseValue = median(base.values)
  const rows: MeasurementResult[] = [...samples].map(([name, s]) => {
    const target = group.targets?.[name]
    const value = median(s.values)
    return {
      group: group.name,
      name,
      value,
      unit: s.unit,
      baseline: group.baseline,
      ratio: value / baseValue,
      ...(target === undefined ? {} : { target }),
    }
  })
  console.log(`\n${renderMeasureTable(group.name, rows)}`)
  return rows
}

// ── tables ──────────────────────────────────────────────────────────────────────────────────────

const fmtOps = (n: number) =>
  n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(1)
const fmtNs = (n: number) =>
  n >= 1e9
    ? `${(n / 1e9).toFixed(2)} s`
    : n >= 1e6
      ? `${(n / 1e6).toFixed(2)} ms`
      : n >= 1e3
        ? `${(n / 1e3).toFixed(2)} µs`
        : `${n.toFixed(0)} ns`
const fmtTarget = (ratio: number, target: number | undefined) =>
  target === undefined ? '' : `${ratio >= target ? '✅' : '❌'} ≥ ${target}×`
const fmtRatio = (ratio: number) => `${ratio >= 100 ? ratio.toFixed(0) : ratio.toFixed(2)}×`

export function renderBenchTable(group: string, rows: readonly BenchResult[]): string {
  const lines = [
    `### ${group}`,
    '',
    '| case | ops/s | p50 | p99 | ratio vs baseline | target |',
    '|---|---:|---:|---:|---:|---:|',
  ]
  for (const r of rows) {
    const isBase = r.name === r.baseline
    lines.push(
      `| ${r.name}${isBase ? ' (baseline)' : ''} | ${fmtOps(r.opsPerSec)} | ${fmtNs(r.p50Ns)} | ${fmtNs(r.p99Ns)} | ${isBase ? '1.00×' : fmtRatio(r.ratio)} | ${fmtTarget(r.ratio, r.target)} |`,
    )
  }
  return lines.join('\n')
}

const fmtValue = (value: number, unit: string) =>
  unit === 'ms' ? fmtNs(value * 1e6) : `${value >= 100 ? value.toFixed(0) : value.toFixed(2)} ${unit}`

export function renderMeasureTable(group: string, rows: readonly MeasurementResult[]): string {
  const lines = [
    `### ${group}`,
    '',
    '| figure | value | ratio vs baseline | target |',
    '|---|---:|---:|---:|',
  ]
  for (const r of rows) {
    const isBase = r.name === r.baseline
    lines.push(
      `| ${r.name}${isBase ? ' (baseline)' : ''} | ${fmtValue(r.value, r.unit)} | ${isBase ? '1.00×' : fmtRatio(r.ratio)} | ${fmtTarget(r.ratio, r.target)} |`,
    )
  }
  return lines.join('\n')
}

// ── the machine and its servers ─────────────────────────────────────────────────────────────────

export const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379'
export const MYSQL_URL = process.env.MYSQL_URL || 'mysql://root@127.0.0.1:3306/test'

export interface MachineInfo {
  node: string
  cpu: string
  memory: string
  os: string
  redis: string
  mariadb: string
  sqlite: string
}

export function machineInfo(): Pick<MachineInfo, 'node' | 'cpu' | 'memory' | 'os'> {
  const cpu = cpus()[0]
  return {
    node: process.version,
    cpu: cpu ? `${cpu.model} × ${cpus().length}` : 'unknown',
    memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
    os: `${process.platform} ${release()} ${arch()}`,
  }
}

const unavailable = (error: unknown) => `unavailable (${(error as Error).message})`

/** The versions of the servers the suites talk to: Redis INFO, MariaDB `VERSION()`, SQLite's library. */
export async function serverVersions(): Promise<Pick<MachineInfo, 'redis' | 'mariadb' | 'sqlite'>> {
  const redis = await (async () => {
    const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000 })
    try {
      await client.connect()
      return /redis_version:(\S+)/.exec(await client.info('server'))?.[1] ?? 'unknown'
    } catch (error) {
      return unavailable(error)
    } finally {
      client.disconnect()
    }
  })()
  const mariadb = await (async () => {
    try {
      const conn = await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 2000 })
      try {
        const [rows] = await conn.query('SELECT VERSION() AS v')
        return String((rows as { v: string }[])[0]?.v)
      } finally {
        await conn.end()
      }
    } catch (error) {
      return unavailable(error)
    }
  })()
  const db = new Database(':memory:')
  const sqlite = (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v
  db.close()
  return { redis, mariadb, sqlite }
}

// ── private server fixtures (never shared with tests or another run) ────────────────────────────

const token = () => randomBytes(4).toString('hex')

/** A Redis key prefix no test and no other run uses; `sweep` deletes every key under it. */
export function privateRedisPrefix(label: string) {
  const prefix = `bench:${label}:${token()}:`
  return {
    prefix,
    async sweep() {
      const client = new Redis(REDIS_URL)
      try {
        let cursor = '0'
        do {
          const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5000)
          cursor = next
          if (keys.length > 0) await client.unlink(...keys)
        } while (cursor !== '0')
      } finally {
        client.disconnect()
      }
    },
  }
}

/** `CREATE DATABASE bench_<label>_<random>`; `drop` removes it. */
export async function privateDatabase(label: string) {
  const name = `bench_${label}_${token()}`
  const admin = await mysql.createConnection({ uri: MYSQL_URL })
  try {
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`)
  } finally {
    await admin.end()
  }
  const url = new URL(MYSQL_URL)
  url.pathname = `/${name}`
  return {
    name,
    url: url.toString(),
    async drop() {
      const conn = await mysql.createConnection({ uri: MYSQL_URL })
      try {
        await conn.query(`DROP DATABASE IF EXISTS \`${name}\``)
      } finally {
        await conn.end()
      }
    },
  }
}

// ── results file and BENCHMARKS.md ──────────────────────────────────────────────────────────────

export interface ResultsFile extends RunResults {
  machine: MachineInfo
  quick: boolean
  date: string
}

/**
 * Writes the results file. A filtered run merges into what the file already holds: groups it
 * measured replace their earlier figures, the others stay (with the date of the file's last write).
 */
export function writeResults(
  path: string,
  run: RunResults,
  machine: MachineInfo,
  quick: boolean,
  merge: boolean,
) {
  let file: ResultsFile = { machine, quick, date: new Date().toISOString(), ...run }
  if (merge && existsSync(path)) {
    const old = readResults(path)
    const fresh = new Set([...run.results, ...run.measurements].map((r) => r.group))
    file = {
      ...file,
      results: [...old.results.filter((r) => !fresh.has(r.group)), ...run.results],
      measurements: [...(old.measurements ?? []).filter((r) => !fresh.has(r.group)), ...run.measurements],
      notes: { ...old.notes, ...run.notes },
      // Groups measured again keep their place; new ones go where they ran relative to the others.
      groups: mergeOrder(old.groups, run.groups),
    }
  }
  writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`)
  return file
}

/** `old` with the names of `fresh` it lacks inserted after their predecessor in `fresh`. */
function mergeOrder(old: readonly string[], fresh: readonly string[]): string[] {
  const order = [...old]
  fresh.forEach((name, i) => {
    if (order.includes(name)) return
    const after = i > 0 ? order.indexOf(fresh[i - 1]!) : -1
    order.splice(after + 1, 0, name)
  })
  return order
}

export function readResults(path: string): ResultsFile {
  const file = JSON.parse(readFileSync(path, 'utf8')) as Partial<ResultsFile>
  const groups = [...new Set([...(file.results ?? []), ...(file.measurements ?? [])].map((r) => r.group))]
  return { measurements: [], notes: {}, ...file, groups: file.groups ?? groups } as ResultsFile
}

export const TABLE_START = '<!-- bench:results:start (generated by `pnpm bench`; edit around it) -->'
export const TABLE_END = '<!-- bench:results:end -->'

/** The generated section of BENCHMARKS.md: the machine block and one table per group. */
export function renderResults(file: ResultsFile): string {
  const m = file.machine
  const lines = [
    `Measured ${file.date.slice(0, 16).replace('T', ' ')} UTC on ${m.cpu}, ${m.memory ?? '?'} RAM, ${m.os};`,
    `Node ${m.node}, Redis ${m.redis}, MariaDB ${m.mariadb}, SQLite ${m.sqlite}.`,
    '',
    '### Every target at a glance',
    '',
    '| group | case | ratio | target |',
    '|---|---|---:|---:|',
  ]
  for (const group of file.groups)
    for (const r of [...file.results, ...file.measurements])
      if (r.group === group && r.target !== undefined)
        lines.push(`| ${group} | ${r.name} | ${fmtRatio(r.ratio)} | ${fmtTarget(r.ratio, r.target)} |`)
  for (const group of file.groups) {
    const rows = file.results.filter((r) => r.group === group)
    lines.push(
      '',
      rows.length
        ? renderBenchTable(group, rows)
        : renderMeasureTable(
            group,
            file.measurements.filter((r) => r.group === group),
          ),
    )
    const note = file.notes[group]
    if (note) lines.push('', `*${note}*`)
  }
  return lines.join('\n')
}

/** Replaces the generated section of `mdPath` (between the markers) with the tables of `file`. */
export function writeMarkdown(mdPath: string, file: ResultsFile) {
  const md = readFileSync(mdPath, 'utf8')
  const start = md.indexOf(TABLE_START)
  const end = md.indexOf(TABLE_END)
  if (start < 0 || end < start) throw new Error(`${mdPath} lacks the markers ${TABLE_START} … ${TABLE_END}`)
  const section = `${TABLE_START}\n\n${renderResults(file)}\n\n${TABLE_END}`
  writeFileSync(mdPath, md.slice(0, start) + section + md.slice(end + TABLE_END.length))
}

// ── engines on private fixtures ─────────────────────────────────────────────────────────────────

export interface EngineFixtureOptions {
  /** L2: Redis under a private prefix (default), under a given prefix (shared, not swept), or none. */
  redis?: false | { prefix: string }
  /** L3: a private MariaDB database (default), a SQLite file in the fixture's dir, or as given. */
  sql?: 'mariadb' | 'sqlite' | SyncEngineConfig['sql']
  /** Anything else the engine takes. */
  config?: Omit<SyncEngineConfig, 'redis' | 'sql'>
}

/**
 * A started engine on fixtures of its own: a private MariaDB database (or a SQLite file), a private
 * Redis prefix, a WAL in a temp dir. `close` shuts the engine down and removes what it created.
 */
export async function engineFixture(label: string, options: EngineFixtureOptions = {}) {
  const dir = mkdtempSync(join(tmpdir(), `bench-${label}-`))
  const own = options.redis === undefined ? privateRedisPrefix(label) : undefined
  const prefix = options.redis === false ? undefined : (options.redis?.prefix ?? own!.prefix)
  const sql = options.sql ?? 'mariadb'
  const db = sql === 'mariadb' ? await privateDatabase(label.replace(/\W/g, '_')) : undefined
  const engine = new SyncEngine({
    ...(prefix === undefined ? {} : { redis: { url: REDIS_URL, prefix } }),
    sql: db ? db.url : sql === 'sqlite' ? `sqlite:${dir}/l3.db` : sql,
    wal: { path: join(dir, 'wal.db') },
    logger: silentLogger,
    ...options.config,
  })
  await engine.start()
  return {
    engine,
    dir,
    /** The private database's URL (when the fixture made one). */
    dbUrl: db?.url,
    redisPrefix: prefix,
    async close() {
      await engine.shutdown().catch(() => undefined)
      await own?.sweep()
      await db?.drop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export type EngineFixture = Awaited<ReturnType<typeof engineFixture>>
