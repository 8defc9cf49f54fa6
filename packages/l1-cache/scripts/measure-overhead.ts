/**
 * Measures the heap one cache entry costs beyond its id and content bytes, to justify
 * `L1_ENTRY_OVERHEAD_BYTES`. Run from the repo root:
 *   node --expose-gc --import tsx packages/l1-cache/scripts/measure-overhead.ts
 * (tsx comes with the bench package: `cd bench && node --expose-gc --import tsx ../packages/l1-cache/scripts/measure-overhead.ts`).
 */
import { SyncItem, utf8ByteLength } from '@sync-engine/core'
import { L1_ENTRY_OVERHEAD_BYTES, L1MemoryCache } from '../src/index.js'

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with node --expose-gc')

function used(): number {
  gc?.()
  gc?.()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

function measure(n: number, contentBytes: number, hashed: boolean): number {
  const cache = new L1MemoryCache({ maxBytes: Number.MAX_SAFE_INTEGER })
  let payload = 0
  const before = used()
  for (let i = 0; i < n; i++) {
    const id = `user.profile.${i}`
    const content = new Uint8Array(contentBytes).fill(0x61)
    const item = SyncItem.fromBytes(id, content)
    if (hashed) void item.contentHash
    cache.set(item)
    payload += utf8ByteLength(id) + contentBytes
  }
  const perEntry = (used() - before - payload) / n
  if (cache.size !== n) throw new Error('lost entries')
  return perEntry
}

const n = 200_000
console.log(
  `node ${process.version}; ${n} entries per row; L1_ENTRY_OVERHEAD_BYTES = ${L1_ENTRY_OVERHEAD_BYTES}`,
)
console.log('| content bytes | hash computed | heap per entry beyond id + content |')
console.log('|---:|:---:|---:|')
for (const size of [16, 100, 1000, 10_000]) {
  for (const hashed of [false, true]) {
    const count = size >= 10_000 ? n / 10 : n
    console.log(`| ${size} | ${hashed ? 'yes' : 'no'} | ${measure(count, size, hashed).toFixed(0)} B |`)
  }
}
