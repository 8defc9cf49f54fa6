import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import {
  machineInfo,
  type RunResults,
  readResults,
  runGroups,
  type Suite,
  serverVersions,
  writeMarkdown,
  writeResults,
} from './harness.js'

/**
 * `pnpm bench [--quick] [--filter NAME] [--markdown]`: runs every suite in `src/suites/` (each
 * default-exports a function returning its groups), prints a table per group, writes
 * `results/latest.json` and the results section of BENCHMARKS.md at the repository root.
 * - `--quick` is a smoke run that checks the harness and the suites work; its times mean nothing, it
 *   writes `results/quick.json` only.
 * - `--filter NAME` runs the groups whose name contains NAME and merges their figures into latest.json.
 * - `--markdown` runs nothing: it rewrites BENCHMARKS.md's results section from latest.json.
 */
const args = process.argv.slice(2)
const quick = args.includes('--quick')
const filterAt = args.indexOf('--filter')
const filter = filterAt >= 0 ? args[filterAt + 1] : undefined

const here = dirname(fileURLToPath(import.meta.url))
const latest = join(here, '..', 'results', 'latest.json')
const benchmarksMd = join(here, '..', '..', 'BENCHMARKS.md')

if (args.includes('--markdown')) {
  writeMarkdown(benchmarksMd, readResults(latest))
  console.log('BENCHMARKS.md results section rewritten from bench/results/latest.json')
  process.exit(0)
}

const started = performance.now()
const machine = { ...machineInfo(), ...(await serverVersions()) }
console.log(`# sync-engine benchmarks${quick ? ' (quick smoke run: times are not meaningful)' : ''}`)
console.log(
  `node ${machine.node} · ${machine.cpu} · ${machine.memory} · ${machine.os} · redis ${machine.redis} · mariadb ${machine.mariadb} · sqlite ${machine.sqlite}`,
)

const suiteDir = join(here, 'suites')
const run: RunResults = { results: [], measurements: [], notes: {}, groups: [] }
// One suite at a time: a suite builds its fixtures when it is called (the cuckoo filter's 2M ids are
// ~190 MB), and they are released and collected before the next one is built, so no group runs with
// another suite's data in the heap (it made every major GC of an unrelated group several times dearer).
for (const file of readdirSync(suiteDir)
  .filter((f) => f.endsWith('.ts'))
  .sort()) {
  const mod = (await import(pathToFileURL(join(suiteDir, file)).href)) as { default: Suite }
  const part = await runGroups(await mod.default({ quick }), { quick, filter })
  run.results.push(...part.results)
  run.measurements.push(...part.measurements)
  run.groups.push(...part.groups)
  Object.assign(run.notes, part.notes)
  globalThis.gc?.()
}
const figures = run.results.length + run.measurements.length
const minutes = ((performance.now() - started) / 60_000).toFixed(1)
if (quick) {
  writeResults(join(here, '..', 'results', 'quick.json'), run, machine, true, false)
  console.log(`\n${figures} figures written to bench/results/quick.json in ${minutes} min`)
} else {
  const file = writeResults(latest, run, machine, false, filter !== undefined)
  writeMarkdown(benchmarksMd, file)
  console.log(`\n${figures} figures written to bench/results/latest.json and BENCHMARKS.md in ${minutes} min`)
}
// Suites close what they open; a handle a peer library keeps must not hold the run open.
process.exit(0)
