import { InvalidArgumentError } from '@sync-engine/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  CuckooFilter,
  type CuckooFilterOptions,
  DEFAULT_OPTIONS,
  hashPair,
  STASH_LIMIT,
} from '../src/index.js'
import { fcParams, hex, ids } from './helpers.js'

const BITS = [8, 12, 16] as const

const optionsArb = fc.record({
  fingerprintBits: fc.constantFrom(...BITS),
  initialCapacity: fc.integer({ min: 1, max: 64 }),
  seed: fc.nat({ max: 0xffffffff }),
  maxLoad: fc.constantFrom(0.5, 0.9, 0.99),
  maxKicks: fc.constantFrom(0, 3, 500),
  growthFactor: fc.constantFrom(2, 4),
})

const idArb = fc.oneof(
  fc.string({ minLength: 1, maxLength: 24 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }),
  fc.nat({ max: 5000 }).map((n) => `user.${n}`),
)

function expectFound(filter: CuckooFilter, list: Iterable<string>) {
  const missed = [...list].filter((id) => !filter.mightContain(id))
  expect(missed).toEqual([])
}

describe('CuckooFilter: no false negatives', () => {
  it('finds every added id, with duplicates, through growth, stash and export/import', () => {
    fc.assert(
      fc.property(optionsArb, fc.array(idArb, { maxLength: 1500 }), (options, list) => {
        const filter = new CuckooFilter(options)
        filter.addMany(list)
        expectFound(filter, list)
        const stats = filter.stats()
        expect(stats.entries).toBe(list.length)
        expect(filter.size).toBe(list.length)
        const copy = CuckooFilter.import(filter.export())
        expectFound(copy, list)
        expect(copy.stats()).toEqual(stats)
        expect(hex(copy.export())).toBe(hex(filter.export()))
      }),
      fcParams(0xf11e, 150),
    )
  })

  it('keeps every remaining id through any interleaving of adds and removes of added ids (multiset model)', () => {
    // A small pool, 8-bit fingerprints and tiny tables: ids share fingerprints and bucket pairs across
    // chained tables, the case where removing from the wrong table would cause a false negative.
    const op = fc.record({
      remove: fc.boolean(),
      id: fc.nat({ max: 299 }),
      reload: fc.integer({ min: 0, max: 60 }),
    })
    fc.assert(
      fc.property(
        optionsArb.map((o) => ({ ...o, fingerprintBits: 8 as const })),
        fc.array(op, { minLength: 1, maxLength: 1200 }),
        (options, ops) => {
          let filter = new CuckooFilter(options)
          const model = new Map<string, number>()
          let total = 0
          for (const { remove, id: n, reload } of ops) {
            const id = `p.${n}`
            const count = model.get(id) ?? 0
            if (remove && count > 0) {
              expect(filter.remove(id)).toBe(true)
              model.set(id, count - 1)
              total--
            } else if (!remove) {
              filter.add(id)
              model.set(id, count + 1)
              total++
            }
            if (reload === 0) filter = CuckooFilter.import(filter.export())
          }
          expect(filter.size).toBe(total)
          expectFound(
            filter,
            [...model].filter(([, c]) => c > 0).map(([id]) => id),
          )
        },
      ),
      fcParams(0xde1e7e, 150),
    )
  })

  it('an id added 1000 times needs 1000 removes, and does not make the filter grow', () => {
    for (const bits of BITS) {
      const filter = new CuckooFilter({ fingerprintBits: bits, initialCapacity: 1000 })
      filter.addMany(ids(500))
      for (let i = 0; i < 1000; i++) filter.add('hot')
      const stats = filter.stats()
      expect(stats.entries).toBe(1500)
      expect(stats.tables).toBe(1)
      expect(stats.stashed).toBeGreaterThan(0)
      for (let i = 0; i < 999; i++) expect(filter.remove('hot')).toBe(true)
      expect(filter.mightContain('hot')).toBe(true)
      expect(filter.remove('hot')).toBe(true)
      expect(filter.stats()).toMatchObject({ entries: 500, stashed: 0 })
      expectFound(filter, ids(500))
    }
  })

  it('stashes homeless fingerprints instead of dropping them, and grows when the stash fills', () => {
    // No relocation and a load limit of 0.99: inserts into full bucket pairs go to the stash.
    const filter = new CuckooFilter({ initialCapacity: 200, maxKicks: 0, maxLoad: 0.99, fingerprintBits: 12 })
    const list = ids(5000, 'stash')
    let sawStash = false
    for (const id of list) {
      filter.add(id)
      sawStash ||= filter.stats().stashed > 0
    }
    expect(sawStash).toBe(true)
    expectFound(filter, list)
    const copy = CuckooFilter.import(filter.export())
    expectFound(copy, list)
    for (const id of list.slice(0, 4000)) expect(copy.remove(id)).toBe(true)
    expectFound(copy, list.slice(4000))
    expect(copy.size).toBe(1000)
    expect(STASH_LIMIT).toBeGreaterThan(0)
  })
})

describe('CuckooFilter: remove', () => {
  it('removing an id the filter does not match returns false and leaves the bytes identical', () => {
    fc.assert(
      fc.property(
        optionsArb,
        fc.array(idArb, { maxLength: 800 }),
        fc.array(idArb, { maxLength: 200 }),
        (options, list, others) => {
          const filter = new CuckooFilter(options)
          filter.addMany(list)
          const before = filter.export()
          for (const id of others) {
            if (!filter.mightContain(id)) expect(filter.remove(id)).toBe(false)
          }
          expect(hex(filter.export())).toBe(hex(before))
        },
      ),
      fcParams(0xab5e17, 100),
    )
  })

  it('delete/has/size are aliases of remove/mightContain/entries', () => {
    const filter = new CuckooFilter()
    filter.add('a')
    filter.add('b')
    expect(filter.has('a')).toBe(true)
    expect(filter.size).toBe(2)
    expect(filter.delete('a')).toBe(true)
    expect(filter.has('a')).toBe(false)
    expect(filter.delete('a')).toBe(false)
    expect(filter.size).toBe(1)
  })
})

describe('CuckooFilter: false-positive rate at 1M ids', () => {
  // Theory: a lookup reads 2 buckets × 4 slots per table, each holding a fingerprint with probability α
  // (the table's load) that equals the probe's with probability 1/(2^f − 1):
  // FPR = 1 − Π_tables (1 − 1/(2^f − 1))^(2·4·α).
  const theory = (bits: number, alphas: number[]) =>
    1 - alphas.reduce((p, a) => p * (1 - 1 / (2 ** bits - 1)) ** (8 * a), 1)

  for (const bits of BITS) {
    it(`${bits}-bit fingerprints, one table at 95% load: within 1.5× of theory`, () => {
      const filter = new CuckooFilter({ fingerprintBits: bits, initialCapacity: 1_000_000, maxLoad: 0.96 })
      for (let i = 0; i < 1_000_000; i++) filter.add(`key.${i}`)
      const stats = filter.stats()
      expect(stats.tables).toBe(1)
      expect(stats.stashed).toBe(0)
      expect(stats.loadFactor).toBeCloseTo(1_000_000 / 2 ** 20, 9)
      const expected = theory(bits, [stats.loadFactor])
      expect(stats.falsePositiveRate).toBeCloseTo(expected, 12)
      const probes = bits === 16 ? 2_000_000 : 1_000_000
      let hits = 0
      for (let i = 0; i < probes; i++) if (filter.mightContain(`probe.${i}`)) hits++
      const measured = hits / probes
      expect(measured).toBeLessThanOrEqual(expected * 1.5)
      expect(measured).toBeGreaterThanOrEqual(expected / 1.5)
      for (let i = 0; i < 1_000_000; i += 7)
        if (!filter.mightContain(`key.${i}`)) throw new Error(`lost key.${i}`)
    })
  }

  it('16-bit, grown from the default capacity (chained tables): within 1.5× of theory', () => {
    const filter = new CuckooFilter()
    for (let i = 0; i < 1_000_000; i++) filter.add(`key.${i}`)
    const stats = filter.stats()
    expect(stats.tables).toBeGreaterThan(1)
    expect(stats.expansions).toBe(stats.tables - 1)
    let hits = 0
    for (let i = 0; i < 2_000_000; i++) if (filter.mightContain(`probe.${i}`)) hits++
    expect(hits / 2_000_000).toBeLessThanOrEqual(stats.falsePositiveRate * 1.5)
    expect(hits / 2_000_000).toBeGreaterThanOrEqual(stats.falsePositiveRate / 1.5)
  })
})

describe('CuckooFilter: growth and stats', () => {
  it('chains larger tables when the newest passes maxLoad', () => {
    const filter = new CuckooFilter({ initialCapacity: 100, growthFactor: 4 })
    const first = filter.stats()
    // 100 ids at 0.9 load need ceil(100 / 3.6) = 28 buckets → 32 buckets, 128 slots.
    expect(first).toMatchObject({
      entries: 0,
      capacity: 128,
      loadFactor: 0,
      expansions: 0,
      tables: 1,
      bytes: 256,
    })
    filter.addMany(ids(115)) // floor(128 × 0.9) = 115 fit in the first table
    expect(filter.stats().tables).toBe(1)
    filter.add('one more')
    expect(filter.stats()).toMatchObject({ entries: 116, capacity: 128 + 512, expansions: 1, tables: 2 })
  })

  it('reports bytes per width: 4, 6 and 8 bytes per bucket', () => {
    for (const [bits, perBucket] of [
      [8, 4],
      [12, 6],
      [16, 8],
    ] as const) {
      const stats = new CuckooFilter({ initialCapacity: 3600, fingerprintBits: bits }).stats()
      expect(stats.capacity).toBe(4096)
      expect(stats.bytes).toBe(1024 * perBucket)
      expect(stats.fingerprintBits).toBe(bits)
    }
  })

  it('clear() empties it back to one table of the initial size, deterministically', () => {
    const filter = new CuckooFilter({ initialCapacity: 50 })
    const empty = filter.export()
    filter.addMany(ids(1000))
    expect(filter.stats().tables).toBeGreaterThan(1)
    filter.clear()
    expect(filter.stats()).toMatchObject({ entries: 0, expansions: 0, tables: 1, capacity: 64 })
    expect(filter.mightContain('id.1')).toBe(false)
    expect(hex(filter.export())).toBe(hex(empty))
  })

  it('is deterministic: the same adds give the same bytes, also across export/import', () => {
    fc.assert(
      fc.property(
        optionsArb,
        fc.array(idArb, { maxLength: 600 }),
        fc.array(idArb, { maxLength: 600 }),
        (options, a, b) => {
          const one = new CuckooFilter(options)
          const two = new CuckooFilter(options)
          one.addMany(a)
          two.addMany(a)
          const three = CuckooFilter.import(two.export())
          one.addMany(b)
          three.addMany(b)
          expect(hex(three.export())).toBe(hex(one.export()))
        },
      ),
      fcParams(0x5eed, 60),
    )
  })

  it('the seed changes where ids go', () => {
    const a = new CuckooFilter({ seed: 1, initialCapacity: 100 })
    const b = new CuckooFilter({ seed: 2, initialCapacity: 100 })
    a.addMany(ids(50))
    b.addMany(ids(50))
    expect(hex(a.export())).not.toBe(hex(b.export()))
  })
})

describe('CuckooFilter: hashing is part of the format', () => {
  it('hashPair is pinned (changing it needs a new hash-function id in the format)', () => {
    expect(hashPair('')).toEqual([4132819332, 2017196267])
    expect(hashPair('a')).toEqual([559030216, 1726773067])
    expect(hashPair('user.alice')).toEqual([2712254487, 699195134])
    expect(hashPair('user.alice', 1)).toEqual([655969663, 690282329])
    expect(hashPair('uk.nhs.patient.123')).toEqual([2602180679, 959325318])
    expect(hashPair('日本語😀', 42)).toEqual([322901853, 2734477620])
    expect(hashPair('x'.repeat(255), 0xffffffff)).toEqual([3898274359, 582122832])
  })

  it('export bytes are pinned for a small filter', () => {
    const filter = new CuckooFilter({ initialCapacity: 4, fingerprintBits: 8 })
    for (const id of ['a', 'b', 'c', 'user.alice', 'user.bob', 'a']) filter.add(id)
    expect(hex(filter.export())).toBe(
      '53454346010008044c000000000000000102010000000000f4010000040000005c7e1ddf00000000cdccccccccccec3f' +
        '0100000006000000000000000000000017ff1c17b4b400006a22db77',
    )
  })
})

describe('CuckooFilter: options', () => {
  it('fills defaults (also for undefined fields)', () => {
    expect(new CuckooFilter().options).toEqual(DEFAULT_OPTIONS)
    expect(new CuckooFilter({ seed: undefined, fingerprintBits: undefined }).options).toEqual(DEFAULT_OPTIONS)
    expect(DEFAULT_OPTIONS).toEqual({
      initialCapacity: 100_000,
      fingerprintBits: 16,
      seed: 0,
      maxLoad: 0.9,
      maxKicks: 500,
      growthFactor: 2,
    })
  })

  const bad: [string, unknown][] = [
    ['options', null],
    ['options', 'big'],
    ['options', [1]],
    ['options.size', { size: 10 }],
    ['options.fingerprintBits', { fingerprintBits: 10 }],
    ['options.fingerprintBits', { fingerprintBits: '16' }],
    ['options.initialCapacity', { initialCapacity: 0 }],
    ['options.initialCapacity', { initialCapacity: null }],
    ['options.seed', { seed: null }],
    ['options.initialCapacity', { initialCapacity: 1.5 }],
    ['options.initialCapacity', { initialCapacity: 2 ** 32 }],
    ['options.initialCapacity', { initialCapacity: Number.NaN }],
    ['options.seed', { seed: -1 }],
    ['options.seed', { seed: 2 ** 32 }],
    ['options.seed', { seed: 0.5 }],
    ['options.maxLoad', { maxLoad: 0 }],
    ['options.maxLoad', { maxLoad: 1 }],
    ['options.maxLoad', { maxLoad: Number.NaN }],
    ['options.maxKicks', { maxKicks: -1 }],
    ['options.maxKicks', { maxKicks: 10_001 }],
    ['options.growthFactor', { growthFactor: 3 }],
    ['options.growthFactor', { growthFactor: 1 }],
  ]
  for (const [argument, options] of bad) {
    it(`refuses ${JSON.stringify(options) ?? String(options)} with InvalidArgumentError(${argument})`, () => {
      let error: unknown
      try {
        new CuckooFilter(options as CuckooFilterOptions)
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(InvalidArgumentError)
      expect((error as InvalidArgumentError).argument).toBe(argument)
      expect((error as InvalidArgumentError).code).toBe('INVALID_ARGUMENT')
    })
  }

  it('refuses ids that are not strings', () => {
    const filter = new CuckooFilter()
    for (const call of [
      () => filter.add(1 as unknown as string),
      () => filter.mightContain(undefined as unknown as string),
      () => filter.remove(null as unknown as string),
    ]) {
      expect(call).toThrow(InvalidArgumentError)
    }
  })
})
