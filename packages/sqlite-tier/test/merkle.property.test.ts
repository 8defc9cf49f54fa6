import { rmSync } from 'node:fs'
import { SyncItem } from '@sync-engine/core'
import { type MerkleLeaf, merkleRootOf } from '@sync-engine/merkle'
import { testSeed } from '@sync-engine/testkit'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { SqliteL3Store } from '../src/index.js'
import { leavesOf, tempFiles } from './helpers.js'

const files = tempFiles('property')
const seed = testSeed()
console.log(`merkle.property: fast-check seed ${seed} (set FC_SEED to change it)`)

// Nested ids, so ids are also parents of other ids (leaf slots `id.`) and interior nodes come and go.
const IDS = ['a', 'a.b', 'a.b.c', 'a.b.c.d', 'a.c', 'b', 'b.a', 'é', 'é.x', 'z.0']
const PREFIXES = ['a', 'a.', 'a.b', 'b', 'é', 'q']
const STATES = ['s1', 's2']
const PARTITIONS: [string, string][] = [
  ['a.b', 'part_ab'],
  ['é', 'part_e'],
  ['b.', 'part_b'],
]

type Op =
  | { kind: 'put'; rows: { id: string; version: number; updatedAt: number; value: number; state: string }[] }
  | { kind: 'delete'; ids: string[] }
  | { kind: 'deleteByState'; state: string }
  | { kind: 'deletePrefix'; prefix: string }
  | { kind: 'setState'; ids: string[]; state: string }
  | { kind: 'partition'; index: number }

const id = fc.constantFrom(...IDS)
const state = fc.constantFrom(...STATES)
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('put' as const),
      rows: fc.array(
        fc.record({
          id,
          version: fc.integer({ min: 1, max: 3 }),
          updatedAt: fc.integer({ min: 0, max: 2 }),
          value: fc.integer({ min: 0, max: 3 }),
          state,
        }),
        { minLength: 1, maxLength: 8 },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('delete' as const), ids: fc.array(id, { maxLength: 4 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('deleteByState' as const), state }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('deletePrefix' as const),
      prefix: fc.constantFrom(...PREFIXES),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('setState' as const),
      ids: fc.array(id, { maxLength: 4 }),
      state,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('partition' as const), index: fc.nat(PARTITIONS.length - 1) }),
  },
)

interface ModelRow {
  version: number
  updatedAt: number
  contentHash: string
  state: string
}

/** What L3 must hold after `op`, computed from the plain rules: the newest (version, updatedAt) wins. */
function applyToModel(model: Map<string, ModelRow>, o: Op, items: SyncItem[]): void {
  switch (o.kind) {
    case 'put':
      for (const item of items) {
        const old = model.get(item.id)
        if (
          !old ||
          item.version > old.version ||
          (item.version === old.version && item.updatedAt >= old.updatedAt)
        ) {
          model.set(item.id, { ...item, contentHash: item.contentHash })
        }
      }
      return
    case 'delete':
      for (const i of o.ids) model.delete(i)
      return
    case 'deleteByState':
      for (const [i, row] of model) if (row.state === o.state) model.delete(i)
      return
    case 'deletePrefix':
      for (const i of model.keys()) if (i.startsWith(o.prefix)) model.delete(i)
      return
    case 'setState':
      for (const i of o.ids) {
        const row = model.get(i)
        if (row) row.state = o.state
      }
      return
    case 'partition':
      return
  }
}

async function applyToStore(store: SqliteL3Store, o: Op, items: SyncItem[]): Promise<void> {
  if (o.kind === 'put') await store.putBatch(items)
  else if (o.kind === 'delete') await store.deleteBatch(o.ids)
  else if (o.kind === 'deleteByState') await store.deleteByState(o.state)
  else if (o.kind === 'deletePrefix') await store.deletePrefix(o.prefix)
  else if (o.kind === 'setState') await store.setState(o.ids, o.state)
  else await store.registerPartition(...PARTITIONS[o.index]!)
}

const leavesOfModel = (model: Map<string, ModelRow>): MerkleLeaf[] =>
  [...model].map(([i, row]) => ({ id: i, version: row.version, contentHash: row.contentHash }))

describe('Merkle root after random operations', () => {
  it('equals merkleRootOf(the rows) after every step and after a reopen', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 20 }), async (ops) => {
        const path = files.file()
        let store = new SqliteL3Store({ path, sync: 'normal' })
        await store.connect()
        const model = new Map<string, ModelRow>()
        try {
          for (const o of ops) {
            const items =
              o.kind === 'put'
                ? o.rows.map((r) =>
                    SyncItem.fromJson(
                      r.id,
                      { v: r.value },
                      { version: r.version, updatedAt: r.updatedAt, state: r.state },
                    ),
                  )
                : []
            await applyToStore(store, o, items)
            applyToModel(model, o, items)
            const leaves = await leavesOf(store)
            expect(leaves).toEqual(
              leavesOfModel(model).sort((x, y) => Buffer.compare(Buffer.from(x.id), Buffer.from(y.id))),
            )
            expect(await store.merkleRoot()).toBe(merkleRootOf(leavesOfModel(model)))
            for (const [i, row] of model) expect((await store.get(i))?.state).toBe(row.state)
          }
          await store.close()
          store = new SqliteL3Store({ path, sync: 'normal' })
          await store.connect()
          expect(await store.merkleRoot()).toBe(merkleRootOf(leavesOfModel(model)))
        } finally {
          await store.close()
          for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true })
        }
      }),
      { seed, numRuns: 60 },
    )
  })
})
