import { CuckooFilter } from '@sync-engine/cuckoo-filter'
import bloomFilters from 'bloom-filters'
import type { BenchCase, BenchGroup } from '../harness.js'

// bloom-filters is CommonJS with getter exports: Node's ESM loader only sees its default export.
const BloomFiltersCuckoo = bloomFilters.CuckooFilter
type BloomFiltersCuckoo = InstanceType<typeof BloomFiltersCuckoo>

/**
 * The cuckoo filter at 1M ids against bloom-filters' CuckooFilter (3.0.4), both with 16-bit
 * fingerprints, 4-slot buckets and 500 kicks. bloom-filters gets as many buckets as our presized table
 * (2^19), so both run at the same load. Keys are generated outside the timed functions.
 */
export default function cuckooFilterSuite({ quick }: { quick: boolean }): BenchGroup[] {
  const n = quick ? 20_000 : 1_000_000
  /** Lookups / inserts per measured call; inserts: a tenth of the fill, so ten calls go from empty to n ids. */
  const lookupBatch = quick ? 2_000 : 10_000
  const insertBatch = n / 10
  const label = quick ? `${n / 1000}k` : `${n / 1_000_000}M`

  const present = Array.from({ length: n }, (_, i) => `user.profile.${i}`)
  const absent = Array.from({ length: n }, (_, i) => `user.profile.${n + i}`)
  // Half present, half absent, interleaved pseudo-randomly (fixed order, same for every case).
  const probes: string[] = []
  let x = 0x9e3779b9
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    probes.push(x & 1 ? present[(x >>> 1) % n]! : absent[(x >>> 1) % n]!)
  }
  for (const s of [...present, ...absent]) s.charCodeAt(0) // flatten the strings before timing

  const presized = () => new CuckooFilter({ initialCapacity: n })
  const grown = () => new CuckooFilter() // default initialCapacity 100 000: chains tables on the way
  const buckets = 2 ** Math.ceil(Math.log2(n / (4 * 0.9)))
  const bloom = () => new BloomFiltersCuckoo(buckets, 4, 4, 500)

  let oursPresized: CuckooFilter | undefined
  let oursGrown: CuckooFilter | undefined
  let theirs: BloomFiltersCuckoo | undefined
  let snapshot: Uint8Array | undefined

  const lookups = (name: string, has: () => (id: string) => boolean): BenchCase => {
    let at = 0
    return {
      name,
      opsPerCall: lookupBatch,
      fn: () => {
        const probe = has()
        let hits = 0
        for (let i = 0; i < lookupBatch; i++) {
          if (probe(probes[at]!)) hits++
          at = at + 1 === n ? 0 : at + 1
        }
        return hits
      },
    }
  }

  /** Inserts the next tenth of the ids; after the last tenth starts again on a fresh filter. */
  const inserts = <F>(name: string, make: () => F, add: (f: F, id: string) => unknown): BenchCase => {
    let filter = make()
    let at = 0
    return {
      name,
      opsPerCall: insertBatch,
      beforeRound: () => {
        filter = make()
        at = 0
      },
      fn: () => {
        if (at === n) {
          filter = make()
          at = 0
        }
        for (let i = 0; i < insertBatch; i++) add(filter, present[at++]!)
        return filter
      },
    }
  }

  return [
    {
      name: `cuckoo-filter: lookups at ${label} ids (half present)`,
      setup: () => {
        oursPresized = presized()
        oursGrown = grown()
        theirs = bloom()
        for (const id of present) {
          oursPresized.add(id)
          oursGrown.add(id)
          if (!theirs.add(id)) throw new Error('bloom-filters CuckooFilter refused an insert')
        }
      },
      teardown: () => {
        theirs = undefined
      },
      baseline: lookups('bloom-filters CuckooFilter.has', () => (id) => theirs!.has(id)),
      cases: [
        lookups(
          'CuckooFilter.mightContain (presized, 1 table)',
          () => (id) => oursPresized!.mightContain(id),
        ),
        lookups('CuckooFilter.mightContain (grown from 100k)', () => (id) => oursGrown!.mightContain(id)),
      ],
      targets: {
        'CuckooFilter.mightContain (presized, 1 table)': 10,
        'CuckooFilter.mightContain (grown from 100k)': 10,
      },
    },
    {
      name: `cuckoo-filter: inserts, empty to ${label} ids`,
      baseline: inserts('bloom-filters CuckooFilter.add', bloom, (f, id) => f.add(id)),
      cases: [
        inserts('CuckooFilter.add (presized)', presized, (f, id) => f.add(id)),
        inserts('CuckooFilter.add (grows from 100k)', grown, (f, id) => f.add(id)),
      ],
      targets: { 'CuckooFilter.add (presized)': 10, 'CuckooFilter.add (grows from 100k)': 10 },
    },
    {
      name: `cuckoo-filter: snapshot of ${label} ids (export / import, CRC-32 included)`,
      setup: () => {
        oursPresized ??= presized()
        if (oursPresized.size === 0) oursPresized.addMany(present)
        snapshot = oursPresized.export()
      },
      teardown: () => {
        oursPresized = undefined
        oursGrown = undefined
        snapshot = undefined
      },
      baseline: { name: 'copy the same bytes (Uint8Array.slice)', fn: () => snapshot!.slice() },
      cases: [
        { name: 'CuckooFilter.export', fn: () => oursPresized!.export() },
        { name: 'CuckooFilter.import', fn: () => CuckooFilter.import(snapshot!) },
      ],
    },
  ]
}
