import { merkleRootOf } from '@sync-engine/merkle'
import { jsonItem, requireMysql, testSeed } from '@sync-engine/testkit'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MysqlL3Store } from '../src/store.js'
import { closeAdmin, freshDatabase, openStore, sql, type TestDatabase } from './helpers.js'

// Ids that nest (`a` is also the parent of `a.b`), share prefixes, and need escaping or multi-byte UTF-8.
const IDS = ['a', 'a.b', 'a.b.c', 'a.b.c.d', 'a.c', 'ab', 'b', 'b.x.y', 'c.1', 'c.2', 'é.ü', '%._', 'p_1']
const STATES = ['s1', 's2']
const PREFIXES = ['a', 'a.b', 'b.', 'c', 'é', '%', 'p_', 'zz']

interface Row {
  id: string
  version: number
  updatedAt: number
  value: number
  state: string
}

type Op =
  | { kind: 'put'; rows: Row[] }
  | { kind: 'delete'; ids: string[] }
  | { kind: 'deleteByState'; state: string }
  | { kind: 'deletePrefix'; prefix: string }
  | { kind: 'setState'; ids: string[]; state: string }

const row = fc.record({
  id: fc.constantFrom(...IDS),
  version: fc.integer({ min: 1, max: 4 }),
  updatedAt: fc.integer({ min: 1, max: 3 }),
  value: fc.integer({ min: 0, max: 3 }),
  state: fc.constantFrom(...STATES),
})
const ids = fc.subarray(IDS, { minLength: 1 })
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('put' as const),
      rows: fc.array(row, { minLength: 1, maxLength: 12 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), ids }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('deleteByState' as const), state: fc.constantFrom(...STATES) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('deletePrefix' as const),
      prefix: fc.constantFrom(...PREFIXES),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('setState' as const), ids, state: fc.constantFrom(...STATES) }),
  },
)

const newer = (a: Row, b: Row | undefined) =>
  b === undefined || a.version > b.version || (a.version === b.version && a.updatedAt >= b.updatedAt)
const item = (r: Row) =>
  jsonItem(r.id, { value: r.value }, { version: r.version, updatedAt: r.updatedAt, state: r.state })

/** Applies `o` to the model and to the store; checks the store's answer against the model's. */
async function step(store: MysqlL3Store, model: Map<string, Row>, o: Op): Promise<void> {
  const sorted = (list: string[]) => [...list].sort()
  switch (o.kind) {
    case 'put': {
      const winners = new Map<string, number>()
      o.rows.forEach((r, i) => {
        const w = winners.get(r.id)
        if (w === undefined || newer(r, o.rows[w])) winners.set(r.id, i)
      })
      const expected = o.rows.map((r, i) => {
        if (winners.get(r.id) !== i) return 'stale'
        const stored = model.get(r.id)
        if (!newer(r, stored)) return 'stale'
        model.set(r.id, r)
        return 'written'
      })
      expect((await store.putBatch(o.rows.map(item))).map((x) => x.status)).toEqual(expected)
      return
    }
    case 'delete': {
      const existed = o.ids.filter((id) => model.delete(id))
      expect(await store.deleteBatch(o.ids)).toEqual(existed)
      return
    }
    case 'deleteByState': {
      const gone = [...model.values()].filter((r) => r.state === o.state).map((r) => r.id)
      for (const id of gone) model.delete(id)
      expect(sorted(await store.deleteByState(o.state))).toEqual(sorted(gone))
      return
    }
    case 'deletePrefix': {
      const gone = [...model.keys()].filter((id) => id.startsWith(o.prefix))
      for (const id of gone) model.delete(id)
      expect(sorted(await store.deletePrefix(o.prefix))).toEqual(sorted(gone))
      return
    }
    case 'setState': {
      const changed = o.ids.filter((id) => {
        const r = model.get(id)
        if (!r || r.state === o.state) return false
        model.set(id, { ...r, state: o.state })
        return true
      })
      expect(await store.setState(o.ids, o.state)).toEqual(changed)
      return
    }
  }
}

let db: TestDatabase
/** The same database through a store that runs its (small) batches on one connection, and one that overlaps every batch. */
const stores: { inline?: MysqlL3Store; overlapped?: MysqlL3Store } = {}
beforeAll(async () => {
  await requireMysql()
  db = await freshDatabase('l3_prop')
  stores.inline = await openStore(db)
  // Half the ids in a partition of their own, so routing and multi-table merges are exercised too.
  await stores.inline.registerPartition('a.', 'a_items')
  await stores.inline.registerPartition('c', 'c_items')
  stores.overlapped = await openStore(db, { overlapMinRows: 1 })
})
afterAll(async () => {
  await stores.inline?.close()
  await stores.overlapped?.close()
  await db?.drop()
  await closeAdmin()
})

describe('Merkle root under random operations', () => {
  const seed = testSeed()
  it.each(['inline', 'overlapped'] as const)(
    `%s: equals merkleRootOf(rows) after every operation, and rows equal the model (seed ${seed}, FC_SEED to change)`,
    async (kind) => {
      const store = stores[kind]!
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 8 }), async (ops) => {
          for (const table of ['sync_items', 'a_items', 'c_items', 'merkle_nodes']) {
            await sql(`DELETE FROM \`${db.name}\`.\`${table}\``)
          }
          const model = new Map<string, Row>()
          for (const o of ops) {
            await step(store, model, o)
            const expected = [...model.values()].map((r) => ({
              id: r.id,
              version: r.version,
              contentHash: item(r).contentHash,
            }))
            expect(await store.merkleRoot()).toBe(merkleRootOf(expected))
          }
          const leaves = await store.scanLeaves(undefined, 100)
          expect(leaves.map((l) => l.id)).toEqual(
            [...model.keys()].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))),
          )
          for (const r of model.values()) expect((await store.get(r.id))?.state).toBe(r.state)
        }),
        { seed, numRuns: 25 },
      )
    },
  )
})
