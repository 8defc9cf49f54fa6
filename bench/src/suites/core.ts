import { canonicalJson, SyncItem, sha256Hex } from '@sync-engine/core'
import type { BenchGroup } from '../harness.js'

/** What it costs to make an item: canonical JSON vs plain JSON.stringify of the same value. */
export default function coreSuite({ quick }: { quick: boolean }): BenchGroup[] {
  const n = quick ? 100 : 1000
  const values = Array.from({ length: n }, (_, i) => ({
    name: `user ${i}`,
    role: i % 3 ? 'user' : 'admin',
    n: i,
    tags: ['a', 'b'],
  }))
  return [
    {
      name: 'core: item construction (1000 small JSON values)',
      baseline: { name: 'JSON.stringify', fn: () => values.map((v) => JSON.stringify(v)), opsPerCall: n },
      cases: [
        { name: 'canonicalJson', fn: () => values.map((v) => canonicalJson(v)), opsPerCall: n },
        {
          name: 'SyncItem.fromJson',
          fn: () => values.map((v, i) => SyncItem.fromJson(`user.${i}`, v)),
          opsPerCall: n,
        },
        {
          name: 'SyncItem.fromJson + contentHash',
          fn: () => values.map((v, i) => SyncItem.fromJson(`user.${i}`, v).contentHash),
          opsPerCall: n,
        },
        {
          name: 'sha256Hex of the JSON',
          fn: () => values.map((v) => sha256Hex(JSON.stringify(v))),
          opsPerCall: n,
        },
      ],
    },
  ]
}
