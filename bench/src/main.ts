import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { type BenchGroup, machineInfo, runGroups, writeResults } from './harness.js'

/**
 * `pnpm bench [--quick] [--filter NAME]`: runs every suite in `src/suites/` (each default-exports a
 * function returning its groups), prints a table per group and writes `results/latest.json`.
 * `--quick` is a smoke run that checks the harness and the suites work; its times mean nothing.
 */
const args = process.argv.slice(2)
const quick = args.includes('--quick')
const filterAt = args.indexOf('--filter')
const filter = filterAt >= 0 ? args[filterAt + 1] : undefined

const here = dirname(fileURLToPath(import.meta.url))
const suiteDir = join(here, 'suites')
const info = machineInfo()
console.log(`# sync-engine benchmarks${quick ? ' (quick smoke run: times are not meaningful)' : ''}`)
console.log(`node ${info.node} · ${info.cpu} · ${info.os}`)

const groups: BenchGroup[] = []
for (const file of readdirSync(suiteDir)
  .filter((f) => f.endsWith('.ts'))
  .sort()) {
  const mod = (await import(pathToFileURL(join(suiteDir, file)).href)) as {
    default: (o: { quick: boolean }) => BenchGroup[] | Promise<BenchGroup[]>
  }
  groups.push(...(await mod.default({ quick })))
}
const results = await runGroups(groups, { quick, filter })
writeResults(join(here, '..', 'results', quick ? 'quick.json' : 'latest.json'), results, quick)
console.log(`\n${results.length} figures written to bench/results/${quick ? 'quick' : 'latest'}.json`)
