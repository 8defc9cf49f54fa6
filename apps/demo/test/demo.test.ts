import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { requireMysql, requireRedis, serviceUrls } from '@sync-engine/testkit'
import { beforeAll, describe, expect, it } from 'vitest'

const here = dirname(fileURLToPath(import.meta.url))
const main = join(here, '..', 'dist', 'main.js')

beforeAll(() => {
  // The demo runs as users run it: the built script in a child process.
  if (!existsSync(main)) {
    const build = spawnSync('npx', ['tsup'], { cwd: join(here, '..'), encoding: 'utf8' })
    if (build.status !== 0) throw new Error(`building the demo failed:\n${build.stderr}`)
  }
})

function runDemo(env: Record<string, string>): { out: string; status: number | null } {
  const clean = { ...process.env }
  delete clean.REDIS_URL
  delete clean.MYSQL_URL
  const run = spawnSync(process.execPath, [main], {
    env: { ...clean, ...env },
    encoding: 'utf8',
    timeout: 90_000,
  })
  return { out: `${run.stdout}${run.stderr}`, status: run.status }
}

const SECTIONS = [
  'sync-engine: Basic Usage Example',
  '📦 Configuring sync-engine...',
  'State: Created',
  '🚀 Starting engine',
  'Engine ready! State: Ready',
  '📝 Creating 5 sample entries...',
  '⚡ Submit avg:',
  '💾 Flushing to backends...',
  '🔍 Checking existence...',
  "contains('user.alice'): true",
  "definitelyMissing('user.nobody'): true",
  '📖 Fetching entries back',
  '⚡ Get avg:',
  '📊 Engine Metrics:',
  '🔐 Verifying L3 filter against SQL merkle...',
  'Verified: true → Trust: Trusted',
  '📋 Item Status:',
  '📈 Raw Metrics (OTEL export format):',
  'sync_engine_bytes_written_total{tier=L1} = 156',
  'sync_engine_bytes_written_total{tier=L3} = 156',
  '🛑 Shutting down...',
  'Shutdown complete! State: Stopped',
  '🧹 Cleaning up WAL file...',
  '💡 Data remains in',
  'Example complete!',
]

function averages(out: string): { submit: number; get: number } {
  const submit = Number(/Submit avg: ([\d.]+)µs/.exec(out)?.[1])
  const get = Number(/Get avg: ([\d.]+)µs/.exec(out)?.[1])
  return { submit, get }
}

describe('apps/demo', () => {
  it('runs embedded with no configuration, twice in a row, and exits by itself', () => {
    for (let run = 0; run < 2; run++) {
      const { out, status } = runDemo({})
      expect(status, out).toBe(0)
      let at = 0
      for (const section of SECTIONS) {
        const found = out.indexOf(section, at)
        expect(found, `section '${section}' missing or out of order`).toBeGreaterThanOrEqual(0)
        at = found
      }
      expect(out).toMatch(/L3 SQLite \(embedded/)
      expect(out).toMatch(/no L2/)
      for (const id of ['user.alice', 'user.bob', 'user.carol', 'config.app', 'stats.daily']) {
        expect(out).toContain(`${id}: Synced { in_l1: true, in_l2: false, in_l3: true }`)
      }
      const { submit, get } = averages(out)
      expect(submit).toBeGreaterThan(0)
      expect(get).toBeGreaterThan(0)
    }
  })

  it('runs against this machine’s Redis and MariaDB with both Merkle roots equal', async () => {
    const { redisUrl, mysqlUrl } = serviceUrls()
    await requireRedis(redisUrl)
    await requireMysql(mysqlUrl)
    for (let run = 0; run < 2; run++) {
      const { out, status } = runDemo({ REDIS_URL: redisUrl, MYSQL_URL: mysqlUrl })
      expect(status, out).toBe(0)
      expect(out).toContain('✅ Roots match! Data is in sync.')
      const l2 = /Redis \(L2\): ([0-9a-f]{64})/.exec(out)?.[1]
      const l3 = /SQL \(L3\): +([0-9a-f]{64})/.exec(out)?.[1]
      expect(l2).toBeDefined()
      expect(l2).toBe(l3)
      for (const id of ['user.alice', 'user.bob', 'user.carol', 'config.app', 'stats.daily']) {
        expect(out).toContain(`${id}: Synced { in_l1: true, in_l2: true, in_l3: true }`)
      }
      expect(out).toContain('sync_engine_bytes_written_total{tier=L2} = 156')
      expect(out).toContain('sync_engine_cdc_entries_total{op=PUT} = 5')
      expect(out).toContain('sync_engine_backend_healthy{backend=redis} = 1.00')
      expect(out).toContain('sync_engine_backend_healthy{backend=mysql} = 1.00')
    }
  })
})
