import { InvalidArgumentError } from '@sync-engine/core'
import { describe, expect, it } from 'vitest'
import { seededRandom } from '../src/index.js'

describe('seededRandom', () => {
  it('is deterministic per seed and differs between seeds (high bits included)', () => {
    const take = (seed: number) => {
      const r = seededRandom(seed)
      return Array.from({ length: 8 }, () => r())
    }
    expect(take(42)).toEqual(take(42))
    expect(take(42)).not.toEqual(take(43))
    expect(take(2 ** 40 + 1)).not.toEqual(take(1))
    expect(seededRandom(7).seed).toBe(7)
  })

  it('stays in range and spreads evenly', () => {
    const r = seededRandom(20261126)
    const buckets = new Array<number>(10).fill(0)
    for (let i = 0; i < 20_000; i++) {
      const x = r()
      expect(x >= 0 && x < 1).toBe(true)
      buckets[Math.floor(x * 10)]!++
    }
    for (const count of buckets) expect(Math.abs(count - 2000)).toBeLessThan(200)
    const ints = new Set<number>()
    for (let i = 0; i < 1000; i++) {
      const n = r.int(-2, 2)
      expect(Number.isInteger(n) && n >= -2 && n <= 2).toBe(true)
      ints.add(n)
    }
    expect([...ints].sort((a, b) => a - b)).toEqual([-2, -1, 0, 1, 2])
    for (let i = 0; i < 1000; i++) {
      const x = r.between(5, 6)
      expect(x >= 5 && x < 6).toBe(true)
    }
    expect(r.between(3, 3)).toBe(3)
  })

  it('rejects bad seeds and ranges with InvalidArgumentError', () => {
    expect(() => seededRandom(1.5)).toThrow(InvalidArgumentError)
    expect(() => seededRandom(Number.NaN)).toThrow(InvalidArgumentError)
    const r = seededRandom(1)
    expect(() => r.between(2, 1)).toThrow(InvalidArgumentError)
    expect(() => r.between(0, Number.POSITIVE_INFINITY)).toThrow(InvalidArgumentError)
    expect(() => r.int(0, 1.5)).toThrow(InvalidArgumentError)
  })
})
