import { writeFileSync } from 'node:fs'
import { arch, cpus, release } from 'node:os'
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
}

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

export interface RunOptions {
  quick: boolean
  /** Only groups whose name contains this string. */
  filter?: string | undefined
}

async function measure(c: BenchCase, quick: boolean) {
  await c.beforeRound?.()
  const bench = new Bench({
    time: quick ? 30 : 400,
    warmupTime: quick ? 10 : 100,
    iterations: quick ? 3 : 10,
  })
  bench.add(c.name, c.fn as () => void)
  const [task] = await bench.run()
  const result = task?.result
  if (!result || !('latency' in result))
    throw new Error(`benchmark '${c.name}' failed: ${JSON.stringify(result)}`)
  const ops = c.opsPerCall ?? 1
  const { latency } = result as { latency: { p50: number; p99: number } }
  return {
    opsPerSec: (1000 / latency.p50) * ops,
    p50Ns: (latency.p50 * 1e6) / ops,
    p99Ns: (latency.p99 * 1e6) / ops,
  }
}

const median = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/**
 * Runs every group: baseline and cases alternate for several rounds (so drift of a noisy machine hits
 * both), and each figure is the median over rounds; the ratio is case ÷ baseline ops/s.
 */
export async function runGroups(groups: BenchGroup[], options: RunOptions): Promise<BenchResult[]> {
  const rounds = options.quick ? 1 : 5
  const results: BenchResult[] = []
  for (const group of groups) {
    if (options.filter && !group.name.includes(options.filter)) continue
    await group.setup?.()
    try {
      const all = [group.baseline, ...group.cases]
      const samples = new Map(all.map((c) => [c.name, [] as Awaited<ReturnType<typeof measure>>[]]))
      for (let r = 0; r < rounds; r++) {
        for (const c of all) samples.get(c.name)!.push(await measure(c, options.quick))
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
      printGroup(group.name, rows)
      results.push(...rows)
    } finally {
      await group.teardown?.()
    }
  }
  return results
}

const fmtOps = (n: number) =>
  n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(1)
const fmtNs = (n: number) =>
  n >= 1e6 ? `${(n / 1e6).toFixed(2)} ms` : n >= 1e3 ? `${(n / 1e3).toFixed(2)} µs` : `${n.toFixed(0)} ns`

function printGroup(name: string, rows: BenchResult[]) {
  console.log(`\n## ${name}`)
  console.log('| case | ops/s | p50 | p99 | ratio vs baseline | target |')
  console.log('|---|---:|---:|---:|---:|---:|')
  for (const r of rows) {
    const ok = r.target === undefined ? '' : `${r.ratio >= r.target ? '✅' : '❌'} ≥ ${r.target}×`
    const isBase = r.name === r.baseline
    console.log(
      `| ${r.name}${isBase ? ' (baseline)' : ''} | ${fmtOps(r.opsPerSec)} | ${fmtNs(r.p50Ns)} | ${fmtNs(r.p99Ns)} | ${isBase ? '1.00×' : `${r.ratio.toFixed(2)}×`} | ${ok} |`,
    )
  }
}

export function machineInfo() {
  const cpu = cpus()[0]
  return {
    node: process.version,
    cpu: cpu ? `${cpu.model} × ${cpus().length}` : 'unknown',
    os: `${process.platform} ${release()} ${arch()}`,
  }
}

export function writeResults(path: string, results: BenchResult[], quick: boolean) {
  writeFileSync(
    path,
    `${JSON.stringify({ machine: machineInfo(), quick, date: new Date().toISOString(), results }, null, 2)}\n`,
  )
}
