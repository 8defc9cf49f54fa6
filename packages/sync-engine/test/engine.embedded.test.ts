import {
  EngineNotReadyError,
  EngineStoppedError,
  InvalidArgumentError,
  InvalidIdError,
  PayloadTooLargeError,
  SubmitOptions,
  SyncItem,
} from '@sync-engine/core'
import { merkleRootOf } from '@sync-engine/merkle'
import { SqliteL3Store } from '@sync-engine/sqlite-tier'
import { makeTempDir } from '@sync-engine/testkit'
import { describe, expect, it } from 'vitest'
import { SyncEngine } from '../src/index.js'
import { counting, embedded, quiet, track } from './helpers.js'

const user = (i: number, extra: Record<string, unknown> = {}, version = 1) =>
  SyncItem.fromJson(`user.${String(i).padStart(6, '0')}`, { name: `User ${i}`, n: i, ...extra }, { version })

describe('lifecycle (SPEC §8)', () => {
  it('walks the states and refuses calls outside Ready', async () => {
    const { engine } = embedded()
    const states: string[] = []
    engine.on('state', (s) => states.push(s))
    expect(engine.state).toBe('Created')
    await expect(engine.get('a')).rejects.toBeInstanceOf(EngineNotReadyError)
    await expect(engine.submit(user(1))).rejects.toBeInstanceOf(EngineNotReadyError)
    const report = await engine.start()
    expect(engine.state).toBe('Ready')
    expect(states).toEqual(['Connecting', 'DrainingWal', 'SyncingRedis', 'WarmingUp', 'Ready'])
    expect(report.phases).toHaveProperty('sql_connect')
    await expect(engine.start()).rejects.toThrow(/already called/)
    await engine.shutdown()
    expect(engine.state).toBe('Stopped')
    await expect(engine.submit(user(1))).rejects.toBeInstanceOf(EngineStoppedError)
    await expect(engine.get('a')).rejects.toBeInstanceOf(EngineStoppedError)
    await expect(engine.start()).rejects.toBeInstanceOf(EngineStoppedError)
    expect(await engine.shutdown()).toBeDefined()
  })

  it('validates input with typed errors and keeps what is stored', async () => {
    const { engine } = embedded({ maxPayloadBytes: 1024 })
    await engine.start()
    await engine.submit(user(1))
    await expect(engine.submit({ id: 'x' } as never)).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(engine.submit(SyncItem.fromBytes('big', new Uint8Array(2048)))).rejects.toBeInstanceOf(
      PayloadTooLargeError,
    )
    await expect(engine.submit(user(2), { durability: 'disk' } as never)).rejects.toThrow(/durability/)
    await expect(engine.get('bad..id')).rejects.toBeInstanceOf(InvalidIdError)
    await expect(engine.delete('')).rejects.toBeInstanceOf(InvalidIdError)
    await engine.flush()
    expect((await engine.get(user(1).id))?.json()).toMatchObject({ n: 1 })
  })
})

describe('write pipeline and read path (embedded SQLite)', () => {
  it('flushes 20 000 items: all readable from L3 alone, byte for byte, root equal to an in-memory computation', async () => {
    const { engine, dir } = embedded()
    await engine.start()
    const items = Array.from({ length: 20_000 }, (_, i) => user(i, { tags: ['a', i % 7] }))
    await engine.submitMany(items)
    const report = await engine.flush()
    expect(report.l3Written + (await engine.flush()).l3Written).toBeLessThanOrEqual(20_000)
    const root = await engine.merkleRoot()
    expect(root).toBe(
      merkleRootOf(items.map((i) => ({ id: i.id, version: i.version, contentHash: i.contentHash }))),
    )
    await engine.shutdown()

    const store = new SqliteL3Store({ url: `sqlite:${dir}/l3.db`, logger: quiet })
    await store.connect()
    try {
      expect(await store.count()).toBe(20_000)
      const { items: found } = await store.getMany(items.map((i) => i.id))
      for (const item of items)
        expect(Buffer.from(found.get(item.id)!.content).equals(Buffer.from(item.content))).toBe(true)
      expect(await store.merkleRoot()).toBe(root)
    } finally {
      await store.close()
    }
  })

  it('shutdown right after 5 000 submits flushes them all', async () => {
    const { engine, dir } = embedded()
    await engine.start()
    for (let i = 0; i < 5000; i++) void engine.submit(user(i))
    const report = await engine.shutdown()
    expect(report.flushed).toBe(5000)
    const again = embedded({}, dir).engine
    await again.start()
    expect(await again.countPrefix('user.')).toBe(5000)
  })

  it('a delete issued while an older write is pending never lets the item come back', async () => {
    const { engine } = embedded()
    await engine.start()
    await engine.submit(user(1, { v: 'old' }))
    const deleted = engine.delete(user(1).id)
    expect(await engine.get(user(1).id)).toBeNull()
    expect(await deleted).toBe(true)
    await engine.flush()
    expect(await engine.get(user(1).id)).toBeNull()
    expect(await engine.contains(user(1).id)).toBe(false)
    expect((await engine.status(user(1).id)).status).toBe('Missing')
  })

  it('an older version submitted after a newer one never replaces it in L3', async () => {
    const { engine, dir } = embedded()
    await engine.start()
    await engine.submit(user(1, { v: 'new' }, 5))
    await engine.flush()
    await engine.submit(user(1, { v: 'old' }, 3))
    const report = await engine.flush()
    expect(report.l3Stale).toBe(1)
    // The stale write left L1 too: every reader now sees L3's newer row.
    expect((await engine.get(user(1).id))?.json()).toMatchObject({ v: 'new' })
    await engine.shutdown()
    const again = embedded({}, dir).engine
    await again.start()
    expect((await again.get(user(1).id))?.version).toBe(5)
  })

  it('keeps read-your-writes for pending items even after L1 eviction', async () => {
    const { engine } = embedded({
      l1: { maxBytes: 64 * 1024 },
      batch: { maxAgeMs: 60_000, maxItems: 100_000, maxBytes: 64 * 1024 * 1024 },
    })
    await engine.start()
    const items = Array.from({ length: 50 }, (_, i) =>
      SyncItem.fromJson(`doc.${i}`, { pad: 'x'.repeat(500), i }),
    )
    for (const item of items) await engine.submit(item)
    for (const item of items) expect((await engine.get(item.id))?.contentHash).toBe(item.contentHash)
  })

  it('reports item status across tiers', async () => {
    const { engine } = embedded()
    await engine.start()
    await engine.submit(user(1))
    expect(await engine.status(user(1).id)).toMatchObject({ status: 'Pending', inL1: true, inL3: false })
    await engine.flush()
    expect(await engine.status(user(1).id)).toEqual({
      id: user(1).id,
      status: 'Synced',
      inL1: true,
      inL2: false,
      inL3: true,
    })
    expect((await engine.status('user.nobody')).status).toBe('Missing')
  })

  it('getOrInsertWith runs one factory per id in the process', async () => {
    const { engine } = embedded()
    await engine.start()
    let made = 0
    const make = async () => {
      made++
      await new Promise((r) => setTimeout(r, 10))
      return SyncItem.fromJson('lazy.1', { made })
    }
    const results = await Promise.all(
      Array.from({ length: 10 }, () => engine.getOrInsertWith('lazy.1', make)),
    )
    expect(made).toBe(1)
    expect(new Set(results.map((r) => r.contentHash)).size).toBe(1)
    await expect(engine.getOrInsertWith('lazy.2', () => SyncItem.fromJson('other', 1))).rejects.toThrow(
      /must make a SyncItem with that id/,
    )
  })

  it('durability levels: local resolves once in the WAL, ground-truth once in L3', async () => {
    const { engine, dir } = embedded({ batch: { maxAgeMs: 60_000 } })
    await engine.start()
    await engine.submit(user(1), SubmitOptions.local())
    expect((await engine.health()).wal.rows).toBeGreaterThanOrEqual(1)
    await engine.submit(user(2), SubmitOptions.groundTruth())
    const store = new SqliteL3Store({ url: `sqlite:${dir}/l3.db`, logger: quiet })
    await store.connect()
    try {
      expect(await store.exists(user(2).id)).toBe(true)
    } finally {
      await store.close()
    }
    await engine.flush()
    await new Promise((r) => setTimeout(r, 20))
    expect((await engine.health()).wal.rows).toBe(0)
  })
})

describe('state and prefix API (through the pipeline)', () => {
  it('setState, getByState, countByState, deleteByState', async () => {
    const { engine } = embedded()
    await engine.start()
    await engine.submitMany([user(1), user(2), user(3)], { state: 'hot' })
    expect(await engine.countByState('hot')).toBe(3)
    expect(await engine.setState(user(1).id, 'cold')).toBe(true)
    expect(await engine.setState(user(1).id, 'cold')).toBe(false)
    expect(await engine.getByState('cold')).toEqual([user(1).id])
    expect((await engine.get(user(1).id))?.state).toBe('cold')
    const deleted = await engine.deleteByState('hot')
    expect(deleted.sort()).toEqual([user(2).id, user(3).id])
    expect(await engine.get(user(2).id)).toBeNull()
    expect(await engine.countByState('hot')).toBe(0)
  })

  it('a flush of more than batch.maxItems entries writes L3 in id-ordered batches of at most maxItems', async () => {
    const temp = makeTempDir('batches')
    const store = new SqliteL3Store({ url: `sqlite:${temp.path}/l3.db`, logger: quiet })
    const batches: string[][] = []
    const putBatch = store.putBatch.bind(store)
    store.putBatch = (rows) => {
      batches.push(rows.map((r) => r.id))
      return putBatch(rows)
    }
    const engine = track(
      new SyncEngine({
        sql: store,
        wal: { path: `${temp.path}/wal.db` },
        logger: quiet,
        batch: { maxItems: 300, maxAgeMs: 60_000 },
      }),
    )
    try {
      await engine.start()
      const items = Array.from({ length: 1000 }, (_, i) => user((i * 7919) % 1000))
      await engine.submitMany(items)
      const gone = engine.deletePrefix('user.0001')
      await engine.flush()
      expect((await gone).length).toBe(100)
      expect(batches.length).toBeGreaterThanOrEqual(4)
      for (const batch of batches) {
        expect(batch.length).toBeLessThanOrEqual(300)
        expect(batch).toEqual([...batch].sort())
      }
      expect(batches.flat().sort()).toEqual(items.map((i) => i.id).sort())
      // The deletePrefix queued after the writes acted on them, all batches committed first.
      expect(await engine.countPrefix('user.0001')).toBe(0)
      expect(await engine.countPrefix('user.')).toBe(900)
      expect((await engine.verifyMerkle()).ok).toBe(true)
    } finally {
      await engine.shutdown()
      temp.remove()
    }
  })

  it('deletePrefix acts after earlier writes and before later ones, keeping the Merkle root right', async () => {
    const { engine } = embedded()
    await engine.start()
    await engine.submitMany([
      SyncItem.fromJson('t1.a', 1),
      SyncItem.fromJson('t1.b', 2),
      SyncItem.fromJson('t2.a', 3),
    ])
    const gone = engine.deletePrefix('t1.')
    await engine.submit(SyncItem.fromJson('t1.c', 4))
    expect((await gone).sort()).toEqual(['t1.a', 't1.b'])
    expect(await engine.scanPrefix('t1.')).toEqual(['t1.c'])
    expect(await engine.get('t1.a')).toBeNull()
    const leaves = ['t1.c', 't2.a'].map((id, i) => SyncItem.fromJson(id, [4, 3][i]))
    expect(await engine.merkleRoot()).toBe(
      merkleRootOf(leaves.map((i) => ({ id: i.id, version: 1, contentHash: i.contentHash }))),
    )
    expect((await engine.verifyMerkle()).ok).toBe(true)
  })
})

describe('existence filter (SPEC §7)', () => {
  it('with a trusted filter, 10 000 absent ids make zero L3 reads', async () => {
    const temp = makeTempDir('filter')
    const { store, calls } = counting(new SqliteL3Store({ url: `sqlite:${temp.path}/l3.db`, logger: quiet }))
    const engine = track(new SyncEngine({ sql: store, wal: { path: `${temp.path}/wal.db` }, logger: quiet }))
    try {
      await engine.start()
      await engine.submitMany(Array.from({ length: 1000 }, (_, i) => user(i)))
      await engine.flush()
      expect(await engine.verifyFilter()).toBe(true)
      const before = (calls.get('get') ?? 0) + (calls.get('getMany') ?? 0) + (calls.get('exists') ?? 0)
      let found = 0
      for (let i = 0; i < 10_000; i++) if (await engine.get(`absent.${i}`)) found++
      const after = (calls.get('get') ?? 0) + (calls.get('getMany') ?? 0) + (calls.get('exists') ?? 0)
      expect(found).toBe(0)
      // Deterministic ids and a seeded filter: not one of these 10 000 is a false positive, so L3 is never asked.
      expect(after - before).toBe(0)
      expect(engine.definitelyMissing('absent.1')).toBe(true)
      expect(engine.mightExist(user(5).id)).toBe(true)
    } finally {
      await engine.shutdown()
      temp.remove()
    }
  })

  it('restores a trusted filter from its snapshot only when the L3 root still matches', async () => {
    const { engine, dir } = embedded()
    await engine.start()
    await engine.submitMany([user(1), user(2)])
    await engine.flush()
    await engine.verifyFilter()
    const report = await engine.shutdown()
    expect(report.filterSnapshot?.entries).toBe(2)
    const second = embedded({}, dir).engine
    expect((await second.start()).filter).toBe('restored')
    expect(second.filterStats().trust).toBe('Trusted')
    await second.submit(user(3))
    await second.shutdown()
    // Change L3 behind the engines' back: the snapshot no longer matches, so it is not trusted.
    const store = new SqliteL3Store({ url: `sqlite:${dir}/l3.db`, logger: quiet })
    await store.connect()
    await store.putBatch([user(99)])
    await store.close()
    const third = embedded({}, dir).engine
    expect((await third.start()).filter).toBe('stale')
    await third.warmUp()
    expect(third.mightExist(user(99).id)).toBe(true)
  })
})
