import { describe, expect, it } from 'vitest'
import {
  BackpressureError,
  DEFAULT_PRESSURE_THRESHOLDS,
  InvalidArgumentError,
  pressureLevel,
  redactUrl,
  resolveSubmitOptions,
  SubmitOptions,
  SyncEngineError,
  validatePressureThresholds,
  WalFullError,
} from '../src/index.js'

describe('SubmitOptions', () => {
  it('defaults: every tier, memory durability', () => {
    expect(resolveSubmitOptions()).toEqual({
      l2: true,
      l2TtlSeconds: undefined,
      l3: true,
      state: undefined,
      durability: 'memory',
    })
  })

  it('presets', () => {
    expect(SubmitOptions.cache(60)).toEqual({ l2: true, l2TtlSeconds: 60, l3: false })
    expect(SubmitOptions.durable()).toEqual({ l2: false, l3: true })
    expect(SubmitOptions.local()).toEqual({ durability: 'local' })
    expect(SubmitOptions.groundTruth()).toEqual({ durability: 'ground-truth' })
    expect(resolveSubmitOptions(SubmitOptions.cache(5))).toMatchObject({
      l2: true,
      l3: false,
      l2TtlSeconds: 5,
    })
    expect(resolveSubmitOptions(SubmitOptions.durable())).toMatchObject({
      l2: false,
      l3: true,
      durability: 'memory',
    })
  })

  it.each([
    [{ l2TtlSeconds: 0 }, /whole number of seconds ≥ 1/],
    [{ l2TtlSeconds: 1.5 }, /whole number/],
    [{ l2: false, l2TtlSeconds: 10 }, /l2 is false/],
    [{ l3: false, durability: 'local' }, /needs the L3 write/],
    [{ durability: 'disk' }, /durability must be one of memory, local, ground-truth/],
    [{ l2: 'yes' }, /l2 must be a boolean/],
    [{ state: '' }, /state must not be empty/],
    [{ ttl: 5 }, /unknown submit option 'ttl'/],
  ])('refuses %j', (options, message) => {
    expect(() => resolveSubmitOptions(options as SubmitOptions)).toThrow(message)
  })

  it('refuses a bad TTL in the cache preset', () => {
    expect(() => SubmitOptions.cache(-1)).toThrow(InvalidArgumentError)
  })
})

describe('pressure levels (SPEC §9)', () => {
  it.each([
    [0, 'Normal'],
    [0.69, 'Normal'],
    [0.7, 'Warn'],
    [0.8, 'Throttle'],
    [0.9, 'Critical'],
    [0.95, 'Emergency'],
    [0.98, 'Shutdown'],
    [1.5, 'Shutdown'],
  ])('%d → %s', (p, level) => {
    expect(pressureLevel(p)).toBe(level)
  })

  it('validates thresholds', () => {
    expect(validatePressureThresholds({ ...DEFAULT_PRESSURE_THRESHOLDS })).toEqual(
      DEFAULT_PRESSURE_THRESHOLDS,
    )
    expect(() => validatePressureThresholds({ ...DEFAULT_PRESSURE_THRESHOLDS, throttle: 0.6 })).toThrow(
      /backpressure.throttle/,
    )
  })
})

describe('redactUrl', () => {
  it.each([
    ['redis://u:secret@h:6379/0', 'redis://u:***@h:6379/0'],
    ['mysql://root:p%40ss@127.0.0.1:3306/test', 'mysql://root:***@127.0.0.1:3306/test'],
    ['redis://:onlypass@localhost:6379', 'redis://:***@localhost:6379'],
    ['mysql://root@127.0.0.1:3306/test', 'mysql://root@127.0.0.1:3306/test'],
    ['redis://h:6379?password=x&db=1', 'redis://h:6379?password=***&db=1'],
    ['sqlite:./data/sync.db', 'sqlite:./data/sync.db'],
    ['not a url user:pw@host', 'not a url user:pw@host'],
    ['//user:pw@host/x', '//user:***@host/x'],
  ])('%s → %s', (input, expected) => {
    expect(redactUrl(input)).toBe(expected)
  })
})

describe('errors', () => {
  it('carry stable codes and their facts', () => {
    const bp = new BackpressureError('Critical', 250)
    expect(bp).toBeInstanceOf(SyncEngineError)
    expect(bp.code).toBe('BACKPRESSURE')
    expect(bp.name).toBe('BackpressureError')
    expect(bp.retryAfterMs).toBe(250)
    expect(bp.message).toMatch(/Critical.*250 ms/)
    const full = new WalFullError(11, 5, 10, 100)
    expect(full.code).toBe('WAL_FULL')
    expect(full.message).toMatch(/11\/10 rows/)
  })
})
