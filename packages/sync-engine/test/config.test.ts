import { InvalidConfigError } from '@sync-engine/core'
import { describe, expect, it } from 'vitest'
import { resolveConfig } from '../src/config.js'

function issues(config: unknown): string[] {
  try {
    resolveConfig(config as never)
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidConfigError)
    return (error as InvalidConfigError).issues.map((i) => `${i.path}: ${i.message}`)
  }
  return []
}

describe('configuration (SPEC §14)', () => {
  it('has the documented defaults, embedded when sql is absent', () => {
    const c = resolveConfig()
    expect(c.embedded).toBe(true)
    expect(c.sql).toEqual({ url: 'sqlite:./.sync-engine/sync.db', writeConcurrency: 1 })
    expect(c.wal).toEqual({
      path: './.sync-engine/wal.db',
      maxRows: 1_000_000,
      maxBytes: 100 * 1024 * 1024,
      sync: 'full',
    })
    expect(c.redis).toBeUndefined()
    expect(c.batch).toEqual({ maxItems: 1000, maxBytes: 1024 * 1024, maxAgeMs: 100 })
    expect(c.l1).toEqual({ maxBytes: 256 * 1024 * 1024 })
    expect(c.filter).toEqual({
      fingerprintBits: 16,
      initialCapacity: 100_000,
      snapshotIntervalMs: 30_000,
      snapshotEveryInserts: 10_000,
    })
    expect(c.cdc).toEqual({ enabled: false, maxLen: 100_000, coherence: true, maxStalenessMs: 1000 })
    expect(c.backpressure).toEqual({
      warn: 0.7,
      throttle: 0.8,
      critical: 0.9,
      emergency: 0.95,
      shutdown: 0.98,
    })
    expect(c.maxPayloadBytes).toBe(16 * 1024 * 1024)
    expect(c.instanceId).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('takes URLs as shorthands and puts the WAL at its SPEC default with a configured L3', () => {
    const c = resolveConfig({ redis: 'redis://127.0.0.1:6379', sql: 'mysql://root@127.0.0.1:3306/test' })
    expect(c.embedded).toBe(false)
    expect(c.redis).toEqual({
      url: 'redis://127.0.0.1:6379',
      prefix: 'sync:',
      commandTimeoutMs: 1000,
      cluster: false,
    })
    expect(c.sql).toEqual({ url: 'mysql://root@127.0.0.1:3306/test', writeConcurrency: 1 })
    expect((c.wal as { path: string }).path).toBe('./sync_engine_wal.db')
    expect(resolveConfig({ sql: false }).sql).toBe(false)
  })

  it('refuses unknown keys, so a typo never falls back to a default silently', () => {
    expect(issues({ batchh: {} })).toEqual([expect.stringMatching(/unknown key 'batchh'/)])
    expect(issues({ batch: { maxItem: 5 } })).toEqual([
      expect.stringMatching(/^batch: unknown key 'maxItem'/),
    ])
  })

  it('names every problem with its path', () => {
    const found = issues({
      batch: { maxItems: 0 },
      redis: 'http://x',
      sql: 'postgres://x',
      filter: { fingerprintBits: 10 },
    })
    expect(found.join('\n')).toMatch(/batch\.maxItems/)
    expect(found.join('\n')).toMatch(/redis/)
    expect(found.join('\n')).toMatch(/sql/)
    expect(found.join('\n')).toMatch(/filter\.fingerprintBits/)
    expect(issues({ backpressure: { throttle: 0.6 } })).toEqual([
      expect.stringMatching(/backpressure\.throttle: must be above backpressure\.warn/),
    ])
    expect(issues({ redis: { prefix: 'x:' } })).toEqual(['redis.url: is required when redis is configured'])
    expect(issues({ maxPayloadBytes: 17 * 1024 * 1024 })).toEqual([expect.stringMatching(/maxPayloadBytes/)])
    expect(issues({ logger: { info: () => {} } })).toEqual([
      expect.stringMatching(/logger: must be a pino-compatible logger/),
    ])
  })
})
