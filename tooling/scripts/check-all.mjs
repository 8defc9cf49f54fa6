#!/usr/bin/env node
// Runs every check CI runs, in order, without stopping at the first failure, then prints one
// summary line: `N passed, N failed`. Each static check (lint, build, type-check, package check)
// and the benchmark smoke run counts as one test; every vitest test counts as one. Exit code 0 only when nothing failed.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'

const root = new URL('../..', import.meta.url).pathname
const workspaces = ['packages', 'apps']
  .flatMap((dir) =>
    existsSync(join(root, dir)) ? readdirSync(join(root, dir)).map((name) => join(root, dir, name)) : [],
  )
  .filter((dir) => existsSync(join(dir, 'package.json')))

function run(label, command, args) {
  console.log(`\n▶ ${label}: ${command} ${args.join(' ')}`)
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: process.env })
  const ok = result.status === 0
  console.log(`${ok ? '✔' : '✘'} ${label}`)
  return ok
}

for (const dir of workspaces) rmSync(join(dir, '.test-results'), { recursive: true, force: true })

const checks = [
  ['lint (biome)', 'pnpm', ['exec', 'biome', 'ci', '--colors=off', '.']],
  ['build', 'pnpm', ['turbo', 'run', 'build', '--output-logs=errors-only']],
  ['typecheck', 'pnpm', ['turbo', 'run', 'typecheck', '--output-logs=errors-only']],
  ['publint + attw', 'pnpm', ['turbo', 'run', 'check:package', '--output-logs=errors-only']],
  ['tests', 'pnpm', ['turbo', 'run', 'test', '--continue', '--concurrency=2']],
  // A smoke run of every benchmark suite: it checks the harness and suites work, never their times.
  ['bench smoke (pnpm bench --quick)', 'pnpm', ['bench', '--quick']],
]
const failedChecks = []
let passed = 0
for (const [label, command, args] of checks) {
  const ok = run(label, command, args)
  if (label === 'tests') continue // counted per test below
  if (ok) passed++
  else failedChecks.push(label)
}

let failed = failedChecks.length
const missing = []
for (const dir of workspaces) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
  if (!pkg.scripts?.test) continue
  const report = join(dir, '.test-results', 'vitest.json')
  if (!existsSync(report)) {
    missing.push(pkg.name)
    failed++
    continue
  }
  const json = JSON.parse(readFileSync(report, 'utf8'))
  passed += json.numPassedTests
  failed += json.numFailedTests
  // A file that failed to load has no failed test of its own: count it once.
  for (const file of json.testResults ?? []) {
    if (file.status === 'failed' && !(file.assertionResults ?? []).some((a) => a.status === 'failed'))
      failed++
  }
  if (json.numTotalTests === 0) {
    console.log(`✘ ${pkg.name} ran no test`)
    failed++
  }
}
if (failedChecks.length) console.log(`\nfailed checks: ${failedChecks.join(', ')}`)
if (missing.length)
  console.log(`no test report (the test task crashed or was not run): ${missing.join(', ')}`)
console.log(`\n${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
