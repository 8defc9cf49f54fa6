// Builds a path Merkle tree of N leaves and applies 1000-leaf update batches to it, in a process of
// its own (only @sync-engine/core and @sync-engine/merkle loaded), and prints the timings as JSON.
// Run by the merkle suite: in the shared bench process, modules other suites load (ioredis among
// them) made these timings 1.7–2× slower.
import { sha256Hex } from '@sync-engine/core'
import { merkleRootOf, PathMerkleTree } from '@sync-engine/merkle'

const n = Number(process.argv[2] ?? 1_000_000)
const batches = Number(process.argv[3] ?? 100)
const KINDS = ['user', 'order', 'session', 'cart', 'invoice', 'config', 'device', 'event', 'note', 'task']
const idOf = (i) =>
  `tenant${i % 1000}.${KINDS[Math.floor(i / 1000) % 10]}.${1_000_000 + Math.floor(i / 10_000) * 7}`
const CONTENT = Array.from({ length: 4096 }, (_, i) => sha256Hex(`content ${i}`))
const ids = Array.from({ length: n }, (_, i) => idOf(i))
const ops = ids.map((id, i) => ({ op: 'upsert', id, version: 1, contentHash: CONTENT[i % CONTENT.length] }))

const tree = new PathMerkleTree()
let t0 = performance.now()
tree.apply(ops)
const buildMs = performance.now() - t0
t0 = performance.now()
const root = merkleRootOf(ops)
const scratchMs = performance.now() - t0
if (root !== tree.root()) throw new Error('incremental root differs from the from-scratch root')

let seed = 42
const pick = (m) => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
  return seed % m
}
const times = []
for (let b = 0; b < batches + 10; b++) {
  const batch = Array.from({ length: 1000 }, () => ({
    op: 'upsert',
    id: ids[pick(n)],
    version: b + 2,
    contentHash: CONTENT[pick(CONTENT.length)],
  }))
  t0 = performance.now()
  tree.apply(batch)
  if (b >= 10) times.push(performance.now() - t0) // the first 10 warm up
}
times.sort((a, b) => a - b)
console.log(JSON.stringify({ buildMs, scratchMs, batchP50Ms: times[times.length >> 1] }))
