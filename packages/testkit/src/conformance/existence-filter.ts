import type { ExistenceFilter, ExistenceFilterStats } from '@sync-engine/core'
import { describe, expect, it } from 'vitest'

export interface ExistenceFilterSuiteOptions {
  /** Rebuilds a filter from `export()` bytes (e.g. `CuckooFilter.import`); enables the round-trip tests. */
  importer?: (bytes: Uint8Array) => ExistenceFilter
  /**
   * Ids the larger tests add (default 20 000). Give the factory a smaller initial capacity than this to
   * exercise growth.
   */
  ids?: number
  /** Largest acceptable false-positive rate for ids never added, measured at `ids` entries (default 0.05). */
  maxFalsePositiveRate?: number
}

/**
 * The contract of an `ExistenceFilter` (core's tiers.ts, SPEC §7), run against a fresh filter from
 * `factory` in every test: no false negatives (added ids are always found, also after other ids are
 * removed and after growth), remove of added ids, duplicates counted, a bounded false-positive rate,
 * sane stats, and — with `importer` — a lossless, deterministic `export()`.
 */
export function describeExistenceFilter(
  name: string,
  factory: () => ExistenceFilter,
  options: ExistenceFilterSuiteOptions = {},
): void {
  const n = options.ids ?? 20_000
  const maxFpr = options.maxFalsePositiveRate ?? 0.05
  const ids = (count: number, prefix = 'item') => Array.from({ length: count }, (_, i) => `${prefix}.${i}`)
  const expectAllFound = (filter: ExistenceFilter, list: readonly string[]) => {
    const missed = list.filter((id) => !filter.mightContain(id))
    expect(missed.slice(0, 10), `${missed.length} added ids not found`).toEqual([])
  }
  const expectSaneStats = (stats: ExistenceFilterStats, entries: number) => {
    expect(stats.entries).toBe(entries)
    expect(Number.isInteger(stats.capacity) && stats.capacity >= stats.entries).toBe(true)
    expect(stats.loadFactor).toBeGreaterThanOrEqual(0)
    expect(stats.loadFactor).toBeLessThanOrEqual(1)
    if (stats.capacity > 0) expect(stats.loadFactor).toBeCloseTo(stats.entries / stats.capacity, 9)
    expect(Number.isInteger(stats.fingerprintBits) && stats.fingerprintBits > 0).toBe(true)
    expect(Number.isInteger(stats.bytes) && stats.bytes > 0).toBe(true)
    expect(Number.isInteger(stats.expansions) && stats.expansions >= 0).toBe(true)
  }

  describe(`ExistenceFilter conformance: ${name}`, () => {
    it('a fresh filter holds nothing and finds nothing', () => {
      const filter = factory()
      expectSaneStats(filter.stats(), 0)
      expect(ids(1000, 'never').filter((id) => filter.mightContain(id))).toEqual([])
    })

    it('finds every added id (no false negatives), awkward ids included', () => {
      const filter = factory()
      // Valid ids (SPEC §3.1) that stress hashing: one character, case, non-ASCII, astral, 255 bytes.
      const awkward = [
        'a',
        'A',
        'é',
        'e\u0301',
        '日本語',
        '😀',
        'a.b.c',
        'x'.repeat(255),
        'with space',
        '%_\\',
      ]
      const list = [...ids(n), ...awkward]
      for (const id of list) filter.add(id)
      expectAllFound(filter, list)
      expectSaneStats(filter.stats(), list.length)
    })

    it('grows past its initial capacity without losing ids', () => {
      const filter = factory()
      const list = ids(n * 3, 'grow')
      for (const id of list) filter.add(id)
      expectAllFound(filter, list)
      const stats = filter.stats()
      expectSaneStats(stats, list.length)
    })

    it('removes added ids, and the other ids stay found', () => {
      const filter = factory()
      const list = ids(n)
      for (const id of list) filter.add(id)
      const gone = list.filter((_, i) => i % 3 === 0)
      const kept = list.filter((_, i) => i % 3 !== 0)
      for (const id of gone) expect(filter.remove(id)).toBe(true)
      expectAllFound(filter, kept)
      expectSaneStats(filter.stats(), kept.length)
      const stillMatched = gone.filter((id) => filter.mightContain(id)).length
      expect(stillMatched / gone.length).toBeLessThanOrEqual(maxFpr)
    })

    it('removing every added id empties it', () => {
      const filter = factory()
      const list = ids(2000)
      for (const id of list) filter.add(id)
      for (const id of list) expect(filter.remove(id)).toBe(true)
      expect(filter.stats().entries).toBe(0)
      expect(list.filter((id) => filter.mightContain(id))).toEqual([])
    })

    it('counts duplicates: an id added twice survives one remove', () => {
      const filter = factory()
      filter.add('twice')
      filter.add('twice')
      filter.add('once')
      expect(filter.stats().entries).toBe(3)
      expect(filter.remove('twice')).toBe(true)
      expect(filter.mightContain('twice')).toBe(true)
      expect(filter.remove('twice')).toBe(true)
      expect(filter.mightContain('once')).toBe(true)
      expect(filter.stats().entries).toBe(1)
    })

    it('an id added many times is still found until removed as often', () => {
      const filter = factory()
      for (let i = 0; i < 100; i++) filter.add('hot')
      for (const id of ids(500)) filter.add(id)
      for (let i = 0; i < 99; i++) {
        expect(filter.remove('hot')).toBe(true)
        expect(filter.mightContain('hot')).toBe(true)
      }
      expect(filter.remove('hot')).toBe(true)
      expectAllFound(filter, ids(500))
      expect(filter.stats().entries).toBe(500)
    })

    it('remove of an id it does not match returns false and changes nothing', () => {
      const filter = factory()
      for (const id of ids(1000)) filter.add(id)
      const before = filter.stats()
      const exported = options.importer ? filter.export() : undefined
      for (const id of ids(1000, 'absent')) {
        if (!filter.mightContain(id)) expect(filter.remove(id)).toBe(false)
      }
      expect(filter.stats()).toEqual(before)
      if (exported) expect(filter.export()).toEqual(exported)
    })

    it(`keeps false positives at most ${maxFpr} at ${n} ids`, () => {
      const filter = factory()
      for (const id of ids(n)) filter.add(id)
      const probes = ids(n, 'probe')
      const rate = probes.filter((id) => filter.mightContain(id)).length / probes.length
      expect(rate).toBeLessThanOrEqual(maxFpr)
    })

    it('export() returns bytes, the same bytes for the same state', () => {
      const filter = factory()
      for (const id of ids(500)) filter.add(id)
      const a = filter.export()
      expect(a).toBeInstanceOf(Uint8Array)
      expect(a.length).toBeGreaterThan(0)
      expect(filter.export()).toEqual(a)
    })

    if (options.importer) {
      const importer = options.importer

      it('export → import keeps every answer and the stats', () => {
        const filter = factory()
        const list = ids(n, 'rt')
        for (const id of list) filter.add(id)
        const quarter = Math.floor(n / 4)
        for (const id of list.slice(0, quarter)) filter.remove(id)
        const copy = importer(filter.export())
        expectAllFound(copy, list.slice(quarter))
        const probes = ids(5000, 'probe')
        expect(probes.map((id) => copy.mightContain(id))).toEqual(probes.map((id) => filter.mightContain(id)))
        expect(copy.stats()).toEqual(filter.stats())
        expect(copy.export()).toEqual(filter.export())
      })

      it('an empty filter round-trips', () => {
        const copy = importer(factory().export())
        expectSaneStats(copy.stats(), 0)
        expect(copy.mightContain('anything')).toBe(false)
      })

      it('an imported filter keeps working: adds, removes, growth', () => {
        const filter = factory()
        for (const id of ids(1000)) filter.add(id)
        const copy = importer(filter.export())
        const more = ids(n * 2, 'more')
        for (const id of more) copy.add(id)
        for (const id of ids(500)) expect(copy.remove(id)).toBe(true)
        expectAllFound(copy, [...ids(1000).slice(500), ...more])
        expectSaneStats(copy.stats(), 500 + more.length)
      })

      it('refuses bytes that are not an export', () => {
        expect(() => importer(new Uint8Array(0))).toThrow()
        expect(() => importer(new TextEncoder().encode('definitely not a filter'))).toThrow()
        const bytes = factory().export()
        expect(() => importer(bytes.subarray(0, bytes.length - 1))).toThrow()
      })
    }
  })
}
