import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { sha256Hex } from '@sync-engine/core'
import {
  applyMerkleBatch,
  leafHash,
  MemoryMerkleNodeStore,
  type MerkleOp,
  merkleRootOf,
  PathMerkleTree,
} from '@sync-engine/merkle'
import type { BenchGroup, MeasureGroup } from '../harness.js'

/**
 * The path Merkle tree (SPEC §6) on realistic ids `tenant{0..999}.{kind}.{7 digits}` (3 segments;
 * fan-out 1000 at the root, 10 per tenant, ~100 per kind):
 * - a 1000-leaf batch (a flush) applied to a 1M-leaf tree (quick: 10k), against the floor of hashing
 *   those 1000 leaves; the build of the tree and a from-scratch root are timed once and printed;
 * - building a tree from scratch (100k leaves; quick: 10k), against the from-scratch reference
 *   `merkleRootOf` of the same leaves.
 */
export default function merkleSuite({ quick }: { quick: boolean }): (BenchGroup | MeasureGroup)[] {
  return [
    applyGroup(quick ? 10_000 : 1_000_000),
    buildGroup(quick ? 10_000 : 100_000),
    ownProcessGroup(quick ? 10_000 : 1_000_000),
  ]
}

const CHILD = fileURLToPath(new URL('../child/merkle-tree.mjs', import.meta.url))

/**
 * The absolute targets (a 1000-leaf batch on a 1M-leaf tree ≤ 20 ms, a 1M build ≤ 5 s),
 * timed in a process that loads only core and merkle: in this shared process, modules other suites
 * load (ioredis among them) made the same code 1.7–2× slower.
 */
function ownProcessGroup(n: number): MeasureGroup {
  const run = promisify(execFile)
  return {
    kind: 'measure',
    name: `merkle: a ${n.toLocaleString('en')}-leaf tree in a process of its own`,
    baseline: 'merkleRootOf from scratch (ms)',
    rounds: 3,
    note:
      'Each round runs bench/src/child/merkle-tree.mjs in a new Node process (only @sync-engine/core and ' +
      '@sync-engine/merkle loaded): the build of the tree with PathMerkleTree.apply, the from-scratch ' +
      'merkleRootOf of the same leaves (the baseline), and the median of 100 batches of 1000 updates. ' +
      'Targets (issue 3): a batch ≤ 20 ms, a 1M build ≤ 5 s. Medians of the rounds; ratios are against ' +
      'the from-scratch root.',
    measure: async () => {
      const { stdout } = await run(process.execPath, [CHILD, String(n), '100'], { maxBuffer: 1 << 20 })
      const t = JSON.parse(stdout) as { buildMs: number; scratchMs: number; batchP50Ms: number }
      return [
        { name: 'merkleRootOf from scratch (ms)', value: t.scratchMs, unit: 'ms' },
        { name: 'PathMerkleTree.apply, build (ms)', value: t.buildMs, unit: 'ms' },
        { name: 'PathMerkleTree.apply, 1000-update batch p50 (ms)', value: t.batchP50Ms, unit: 'ms' },
      ]
    },
  }
}

const KINDS = ['user', 'order', 'session', 'cart', 'invoice', 'config', 'device', 'event', 'note', 'task']
const BATCH = 1000

/** The i-th id: tenants round-robin, then kinds, then a 7-digit number unique within its kind. */
function idOf(i: number): string {
  return `tenant${i % 1000}.${KINDS[Math.floor(i / 1000) % 10]}.${1_000_000 + Math.floor(i / 10_000) * 7}`
}

/** A pool of content hashes, as a flush would bring. */
const CONTENT = Array.from({ length: 4096 }, (_, i) => sha256Hex(`content ${i}`))

/** Deterministic pseudo-random integers below `n` (LCG), so runs are comparable. */
function random(seed: number) {
  let s = seed >>> 0
  return (n: number) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0
    return s % n
  }
}

type MutableUpsert = { op: 'upsert'; id: string; version: number; contentHash: string }

function upserts(ids: readonly string[], version: number): MutableUpsert[] {
  return ids.map((id, i) => ({ op: 'upsert', id, version, contentHash: CONTENT[i % CONTENT.length]! }))
}

function applyGroup(n: number): BenchGroup {
  const tree = new PathMerkleTree()
  const pick = random(42)
  // Pre-made batches of 1000 random existing ids; each call bumps their version, so every call is
  // a real update of 1000 leaves (an unchanged leaf would be skipped).
  const batches: MutableUpsert[][] = []
  let round = 1
  const nextBatch = () => {
    const batch = batches[round % batches.length]!
    round++
    for (const op of batch) {
      op.version = round
      op.contentHash = CONTENT[pick(CONTENT.length)]!
    }
    return batch
  }
  // A mixed flush: 700 updates, 150 new ids, 150 deletes of ids added by an earlier call.
  let fresh = 0
  const added: string[] = []
  const nextMixedBatch = (): MerkleOp[] => {
    const ops: MerkleOp[] = nextBatch().slice(0, 700)
    for (let i = 0; i < 150; i++) {
      const id = `${idOf(pick(n)).replace(/\.\d+$/, '')}.new${fresh++}`
      added.push(id)
      ops.push({ op: 'upsert', id, version: 1, contentHash: CONTENT[pick(CONTENT.length)]! })
    }
    for (const id of added.splice(0, added.length > 300 ? 150 : 0)) ops.push({ op: 'delete', id })
    return ops
  }

  return {
    name: `merkle: apply a ${BATCH}-leaf batch to a ${n.toLocaleString('en')}-leaf tree`,
    setup: () => {
      const ids = Array.from({ length: n }, (_, i) => idOf(i))
      const ops = upserts(ids, 1)
      const t0 = performance.now()
      tree.apply(ops)
      const built = performance.now() - t0
      const t1 = performance.now()
      const root = merkleRootOf(ops)
      const scratch = performance.now() - t1
      if (root !== tree.root()) throw new Error('incremental root differs from the from-scratch root')
      console.log(
        `\n(merkle) built ${n.toLocaleString('en')} leaves with PathMerkleTree.apply in ${built.toFixed(0)} ms; ` +
          `merkleRootOf from scratch: ${scratch.toFixed(0)} ms; ${tree.store.size.toLocaleString('en')} nodes`,
      )
      for (let b = 0; b < 64; b++) {
        const picked = Array.from({ length: BATCH }, () => ids[pick(n)]!)
        batches.push(upserts(picked, 1))
      }
    },
    baseline: {
      name: `leafHash × ${BATCH} (hashing the batch's leaves only)`,
      fn: () => {
        for (const op of nextBatch()) leafHash(op.id, op.version, op.contentHash)
      },
    },
    cases: [
      { name: `PathMerkleTree.apply (${BATCH} updates)`, fn: () => tree.apply(nextBatch()) },
      {
        name: `applyMerkleBatch, async over MemoryMerkleNodeStore (${BATCH} updates)`,
        fn: () => applyMerkleBatch(tree.store, nextBatch()),
      },
      {
        name: 'PathMerkleTree.apply (700 updates, 150 new ids, 150 deletes)',
        fn: () => tree.apply(nextMixedBatch()),
      },
    ],
  }
}

function buildGroup(n: number): BenchGroup {
  const ops = upserts(
    Array.from({ length: n }, (_, i) => idOf(i * 7)),
    1,
  )
  return {
    name: `merkle: build a tree of ${n.toLocaleString('en')} leaves from scratch`,
    baseline: {
      name: 'merkleRootOf (from-scratch reference, root only)',
      fn: () => merkleRootOf(ops),
      opsPerCall: n,
    },
    cases: [
      { name: 'PathMerkleTree.apply (one batch)', fn: () => new PathMerkleTree().apply(ops), opsPerCall: n },
      {
        name: 'applyMerkleBatch, async over a new MemoryMerkleNodeStore',
        fn: () => applyMerkleBatch(new MemoryMerkleNodeStore(), ops),
        opsPerCall: n,
      },
    ],
  }
}
