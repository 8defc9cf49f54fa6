import { DEFAULT_PRESSURE_THRESHOLDS, InvalidArgumentError } from '@sync-engine/core'
import { describe, expect, it } from 'vitest'
import {
  DEFAULT_EVICT_AT_OF_WARN,
  DEFAULT_EVICT_TO_OF_EVICT_AT,
  DEFAULT_L1_MAX_BYTES,
  L1MemoryCache,
  type L1MemoryCacheOptions,
} from '../src/index.js'

describe('options', () => {
  it('defaults: 256 MiB, core thresholds, eviction just below Warn', () => {
    const cache = new L1MemoryCache()
    expect(cache.maxBytes).toBe(DEFAULT_L1_MAX_BYTES)
    expect(DEFAULT_L1_MAX_BYTES).toBe(256 * 1024 * 1024)
    expect(cache.thresholds).toEqual(DEFAULT_PRESSURE_THRESHOLDS)
    expect(cache.evictAt).toBeCloseTo(0.679, 10)
    expect(cache.evictTo).toBeCloseTo(0.679 * 0.98, 10)
    expect(cache.evictAt).toBeLessThan(DEFAULT_PRESSURE_THRESHOLDS.warn)
  })

  it('derives evictAt from a custom warn threshold and evictTo from evictAt', () => {
    const cache = new L1MemoryCache({ thresholds: { warn: 0.5 } })
    expect(cache.thresholds).toEqual({ ...DEFAULT_PRESSURE_THRESHOLDS, warn: 0.5 })
    expect(cache.evictAt).toBeCloseTo(0.5 * DEFAULT_EVICT_AT_OF_WARN, 10)
    expect(cache.evictTo).toBeCloseTo(0.5 * DEFAULT_EVICT_AT_OF_WARN * DEFAULT_EVICT_TO_OF_EVICT_AT, 10)
    const explicit = new L1MemoryCache({ evictAt: 1, evictTo: 0.5 })
    expect([explicit.evictAt, explicit.evictTo]).toEqual([1, 0.5])
  })

  const refused: [string, unknown, string, RegExp][] = [
    ['options null', null, 'options', /options must be an object/],
    ['unknown option', { maxbytes: 10 }, 'options', /unknown options key 'maxbytes'/],
    ['maxBytes 0', { maxBytes: 0 }, 'maxBytes', /maxBytes must be an integer ≥ 1, got 0/],
    ['maxBytes fractional', { maxBytes: 1.5 }, 'maxBytes', /got 1.5/],
    ['maxBytes string', { maxBytes: '1024' }, 'maxBytes', /got '1024'/],
    ['maxBytes NaN', { maxBytes: Number.NaN }, 'maxBytes', /got NaN/],
    ['thresholds not an object', { thresholds: 0.7 }, 'thresholds', /thresholds must be an object/],
    ['unknown threshold', { thresholds: { warning: 0.5 } }, 'thresholds', /unknown thresholds key 'warning'/],
    ['warn above throttle', { thresholds: { warn: 0.85 } }, 'thresholds.throttle', /^thresholds\.throttle/],
    ['warn zero', { thresholds: { warn: 0 } }, 'thresholds.warn', /^thresholds\.warn must be a number/],
    ['evictAt zero', { evictAt: 0 }, 'evictAt', /evictAt must be a number in \(0, 1\], got 0/],
    ['evictAt above 1', { evictAt: 1.2 }, 'evictAt', /got 1.2/],
    [
      'evictTo at evictAt',
      { evictAt: 0.6, evictTo: 0.6 },
      'evictTo',
      /evictTo must be a number in \(0, evictAt = 0.6\)/,
    ],
    ['evictTo above default evictAt', { evictTo: 0.9 }, 'evictTo', /evictAt = 0.679/],
    [
      'clock without methods',
      { clock: { now: () => 0 } },
      'clock',
      /clock must have now\(\) and monotonic\(\)/,
    ],
  ]
  for (const [name, options, argument, message] of refused) {
    it(`refuses ${name} with InvalidArgumentError('${argument}')`, () => {
      let caught: unknown
      try {
        new L1MemoryCache(options as L1MemoryCacheOptions)
      } catch (error) {
        caught = error
      }
      expect(caught).toBeInstanceOf(InvalidArgumentError)
      expect((caught as InvalidArgumentError).argument).toBe(argument)
      expect((caught as Error).message).toMatch(message)
      expect((caught as InvalidArgumentError).code).toBe('INVALID_ARGUMENT')
    })
  }
})
