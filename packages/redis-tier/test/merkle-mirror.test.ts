import { sha256Hex } from '@sync-engine/core'
import { applyMerkleBatch, MemoryMerkleNodeStore, type MerkleOp, merkleRootOf } from '@sync-engine/merkle'
import { requireRedis, testSeed } from '@sync-engine/testkit'
import fc from 'fast-check'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RedisL2Store } from '../src/index.js'
import { deletePrefix, openStore, rawClient, redisUrl } from './helpers.js'

let admin: Redis
beforeAll(async () => {
  await requireRedis(redisUrl)
  admin = await rawClient()
})
afterAll(() => admin.disconnect())

async function withStore<T>(run: (store: RedisL2Store) => Promise<T>): Promise<T> {
  const store = await openStore('mirror')
  try {
    return await run(store)
  } finally {
    await store.close()
    await deletePrefix(admin, store.keys.prefix)
  }
}

/** Every key of the store's Merkle mirror. */
const mirrorKeys = (store: RedisL2Store) =>
  admin.keys(`${store.keys.merklePrefix.replace(/[*?[\]\\]/g, '\\$&')}*`)

// Ids from a small alphabet of segments, so batches hit shared parents, ids that are also parents
// (`a` and `a.b`), and segments named like the node's own fields.
const segment = fc.constantFrom('a', 'b', 'hash', 'count', 'leaf', 'c:x', 'é', '1')
const id = fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => s.join('.'))
const op: fc.Arbitrary<MerkleOp> = fc.oneof(
  fc.record({
    op: fc.constant('upsert' as const),
    id,
    version: fc.integer({ min: 1, max: 3 }),
    contentHash: fc.constantFrom('x', 'y', 'z').map((c) => sha256Hex(c)),
  }),
  fc.record({ op: fc.constant('delete' as const), id }),
)

describe('Redis Merkle mirror', () => {
  it('gives the same nodes and root as the in-memory store for the same batches', async () => {
    const seed = testSeed()
    console.log(`merkle mirror property seed: ${seed}`)
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(op, { maxLength: 12 }), { minLength: 1, maxLength: 6 }), (batches) =>
        withStore(async (store) => {
          const memory = new MemoryMerkleNodeStore()
          const model = new Map<string, MerkleOp & { op: 'upsert' }>()
          for (const batch of batches) {
            const a = await applyMerkleBatch(memory, batch)
            const b = await applyMerkleBatch(store.merkle, batch)
            for (const o of batch) o.op === 'upsert' ? model.set(o.id, o) : model.delete(o.id)
            expect(b.root).toBe(a.root)
            expect(await store.merkle.root()).toBe(merkleRootOf(model.values()))
          }
          // Node for node, and nothing more in Redis (deleted nodes are deleted there too).
          const expected = [...memory.nodes()]
          const got = await store.merkle.getNodes(expected.map((n) => n.path))
          for (const node of expected) expect(got.get(node.path)).toEqual(node)
          const keys = await mirrorKeys(store)
          expect(keys.length).toBe(memory.size)
          const parents = expected.filter((n) => !n.leaf).map((n) => n.path)
          const [mine, theirs] = await Promise.all([
            store.merkle.getChildren(parents),
            memory.getChildren(parents),
          ])
          for (const p of parents)
            expect(Object.fromEntries(mine.get(p)!)).toEqual(Object.fromEntries(theirs.get(p)!))
        }),
      ),
      { seed, numRuns: 25 },
    )
  })

  it('keeps a parent of 2500 children (several script calls, long field lists) equal to memory', async () => {
    await withStore(async (store) => {
      const memory = new MemoryMerkleNodeStore()
      const ops = (n: number, from = 0): MerkleOp[] =>
        Array.from({ length: n }, (_, i) => ({
          op: 'upsert',
          id: `wide.${from + i}`,
          version: 1,
          contentHash: sha256Hex(String(i)),
        }))
      const gone: MerkleOp[] = Array.from({ length: 1200 }, (_, i) => ({ op: 'delete', id: `wide.${i}` }))
      for (const batch of [ops(2500), [...gone, ...ops(300, 5000)]]) {
        const a = await applyMerkleBatch(memory, batch)
        expect((await applyMerkleBatch(store.merkle, batch)).root).toBe(a.root)
      }
      const [mine, theirs] = await Promise.all([store.merkle.children('wide'), memory.getChildren(['wide'])])
      expect(mine.size).toBe(1600)
      expect(Object.fromEntries(mine)).toEqual(Object.fromEntries(theirs.get('wide')!))
    })
  })

  it('writes in step: a tree update goes in only while the mirror holds the root it started from (or ends at)', async () => {
    await withStore(async (store) => {
      const source = new MemoryMerkleNodeStore()
      const batch = (from: number, n: number, version = 1): MerkleOp[] =>
        Array.from({ length: n }, (_, i) => ({
          op: 'upsert',
          id: `step.t${(from + i) % 5}.${from + i}`,
          version,
          contentHash: sha256Hex(`${from + i}:${version}`),
        }))
      // Three updates of the source, each copied by a mirror in turn; 1500 nodes make several script calls.
      const first = await applyMerkleBatch(source, batch(0, 1500))
      const second = await applyMerkleBatch(source, batch(0, 700, 2))
      const third = await applyMerkleBatch(source, [{ op: 'delete', id: 'step.t0.0' }, ...batch(2000, 10)])
      expect(first.previousRoot).toBeNull()
      expect(second.previousRoot).toBe(first.root)
      expect(third.previousRoot).toBe(second.root)
      const inStep = (u: typeof first) => store.merkle.writeNodesInStep(u.changes, u.previousRoot, u.root)
      // Out of turn: refused, and nothing written.
      expect(await inStep(second)).toBe(false)
      expect(await store.merkle.root()).toBeNull()
      expect(await mirrorKeys(store)).toEqual([])
      expect(await inStep(first)).toBe(true)
      expect(await inStep(third)).toBe(false)
      expect(await store.merkle.root()).toBe(first.root)
      expect(await inStep(second)).toBe(true)
      // Already in (the mirror holds the root it ends at): taken again, harmlessly.
      expect(await inStep(second)).toBe(true)
      expect(await inStep(third)).toBe(true)
      expect(await store.merkle.root()).toBe(third.root)
      const expected = [...source.nodes()]
      const got = await store.merkle.getNodes(expected.map((n) => n.path))
      for (const node of expected) expect(got.get(node.path)).toEqual(node)
      expect((await mirrorKeys(store)).length).toBe(source.size)
    })
  })

  it('lays nodes out as hashes: hash/count/leaf fields plus one c:{segment} field per child', async () => {
    await withStore(async (store) => {
      const h = (c: string) => c.repeat(64)
      await store.merkle.writeNodes({
        upsert: [
          { path: '', hash: h('a'), leaf: false, count: 2 },
          { path: 'x', hash: h('b'), leaf: false, count: 2 },
          { path: 'x.hash', hash: h('c'), leaf: true, count: 1 },
          { path: 'x.', hash: h('d'), leaf: true, count: 1 },
        ],
        delete: [],
      })
      expect(await admin.hgetall(store.keys.merkle('x'))).toEqual({
        hash: h('b'),
        count: '2',
        leaf: '0',
        'c:hash': h('c'),
        'c:': h('d'),
      })
      expect(await admin.hgetall(store.keys.merkle(''))).toEqual({
        hash: h('a'),
        count: '2',
        leaf: '0',
        'c:x': h('b'),
      })
      expect(await store.merkle.children('x')).toEqual(
        new Map([
          ['hash', h('c')],
          ['', h('d')],
        ]),
      )
      expect((await store.merkle.node('x.hash'))?.leaf).toBe(true)
    })
  })

  it('answers CorruptDataError for a node that is not what the mirror wrote', async () => {
    await withStore(async (store) => {
      await admin.hset(store.keys.merkle('bad'), 'hash', 'zz', 'count', '1', 'leaf', '1')
      await expect(store.merkle.getNodes(['bad'])).rejects.toThrow(/not 64 hex/)
      await admin.set(store.keys.merkle('str'), 'x')
      await expect(store.merkle.getChildren(['str'])).rejects.toThrow(/corrupt data/)
    })
  })
})
