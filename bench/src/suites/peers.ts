import { type L3Store, silentLogger } from '@sync-engine/core'
import { L1MemoryCache } from '@sync-engine/l1-cache'
import { MysqlL3Store } from '@sync-engine/mysql-tier'
import { BentoCache, bentostore } from 'bentocache'
import { memoryDriver } from 'bentocache/drivers/memory'
import { redisDriver } from 'bentocache/drivers/redis'
import { Redis } from 'ioredis'
import { LRUCache } from 'lru-cache'
import { type SubmitOptions, SyncItem } from 'sync-engine'

type Durability = NonNullable<SubmitOptions['durability']>

import { benchIds, benchItems, benchValues, cycle, inRandomOrder } from '../data.js'
import {
  type BenchCase,
  type BenchGroup,
  type EngineFixture,
  engineFixture,
  privateDatabase,
  privateRedisPrefix,
  REDIS_URL,
} from '../harness.js'

/**
 * The engine through its public async API against bentocache 1.6.1 (memory L1 + Redis L2, its
 * defaults otherwise: values serialized in L1) and raw clients, on the same realistic data:
 * - an L1 hit vs bentocache's tiered L1-hit `get` (and lru-cache behind `await`, for reference);
 * - `submit` per durability level vs bentocache's tiered `set` (which awaits Redis), one awaited at a
 *   time and 1000 in flight;
 * - the get of an absent id with a trusted filter vs an untrusted one (an L3 round trip);
 * - an L2 hit (L1 miss) vs a raw ioredis GET of the same key.
 * Engines run on Redis + a private MariaDB database; ids and values come from `data.ts`.
 */
export default function peersSuite({ quick }: { quick: boolean }): BenchGroup[] {
  return [l1Hit(quick), sequentialWrites(quick), concurrentWrites(quick), absentGet(quick), l2Hit(quick)]
}

/** Operations per timed call for calls of about a microsecond. */
const FAST = 1000

/** A case that awaits `op` on `perCall` keys taken in turn from `keys`. */
function sequential<K>(
  name: string,
  keys: readonly K[],
  perCall: number,
  op: (key: K) => Promise<unknown>,
): BenchCase {
  const next = cycle(keys)
  return {
    name,
    opsPerCall: perCall,
    fn: async () => {
      for (let i = 0; i < perCall; i++) await op(next())
    },
  }
}

/** A case that starts `op` on `perCall` keys at once and awaits them all. */
function inFlight<K>(
  name: string,
  keys: readonly K[],
  perCall: number,
  op: (key: K) => Promise<unknown>,
): BenchCase {
  const next = cycle(keys)
  return {
    name,
    opsPerCall: perCall,
    fn: () => Promise.all(Array.from({ length: perCall }, () => op(next()))),
  }
}

/**
 * bentocache with its tiered store: memory L1 sized to hold every id (its driver keeps 1000 items by
 * default, which would turn a 10k-id read loop into Redis round trips), Redis L2 under a private
 * prefix, no bus (one process).
 */
function bentocache(label: string) {
  const redis = privateRedisPrefix(label)
  const connection = new Redis(REDIS_URL)
  const bento = new BentoCache({
    default: 'tiered',
    stores: {
      tiered: bentostore()
        .useL1Layer(memoryDriver({ maxItems: 1_000_000, maxSize: '1gb' }))
        .useL2Layer(redisDriver({ connection, prefix: `${redis.prefix}bento` })),
    },
  })
  return {
    bento,
    async close() {
      await bento.disconnectAll()
      connection.disconnect()
      await redis.sweep()
    },
  }
}

/** One id space and its values, shared by the engine and the peer in a group. */
function dataset(n: number, seed: number) {
  const ids = benchIds(n, seed)
  const values = benchValues(n, seed)
  const valueById = new Map(ids.map((id, i) => [id, values[i]!]))
  return { ids, values, valueById, order: inRandomOrder(ids, seed) }
}

function l1Hit(quick: boolean): BenchGroup {
  const n = quick ? 1000 : 10_000
  const { ids, values, valueById, order } = dataset(n, 1)
  let fx: EngineFixture | undefined
  let peer: ReturnType<typeof bentocache> | undefined
  const lru = new LRUCache<string, object>({ max: n * 2 })
  return {
    name: `peers: L1 get hit, ${n / 1000}k ids in random order (async API)`,
    setup: async () => {
      fx = await engineFixture('peers-l1')
      await fx.engine.submitMany(benchItems(ids, 1))
      await fx.engine.flush()
      peer = bentocache('peers-l1')
      for (let i = 0; i < n; i++) {
        await peer.bento.set({ key: ids[i]!, value: values[i] })
        lru.set(ids[i]!, values[i]!)
      }
      for (const id of ids) if (!(await fx.engine.get(id))) throw new Error(`engine lost ${id}`)
    },
    teardown: async () => {
      await fx?.close()
      await peer?.close()
    },
    baseline: sequential('bentocache tiered get (L1 hit)', order, FAST, (id) => peer!.bento.get({ key: id })),
    cases: [
      sequential('engine.get (L1 hit)', order, FAST, (id) => fx!.engine.get(id)),
      sequential('engine.get + item.json() (same output as bentocache)', order, FAST, async (id) =>
        (await fx!.engine.get(id))!.json(),
      ),
      sequential(
        'await lru-cache get (reference)',
        order,
        FAST,
        async (id) => lru.get(id) ?? valueById.get(id),
      ),
    ],
    targets: { 'engine.get (L1 hit)': 1 },
    note: 'engine.get returns the stored SyncItem (bytes + metadata); bentocache returns the value, parsed from its serialized L1 copy (its default). The lru-cache row is the floor of a Map-like cache behind an await; the ≥ 0.5× target against it is the `engine:` group.',
  }
}

/**
 * The write cases of a group, on one engine (Redis + MariaDB + Merkle): `submit` of an item made in
 * the timed call from the caller's value (as bentocache's set takes a value) at every durability
 * level, and of a prebuilt item (the engine's own share of the cost).
 */
function writeCases(
  name: (item: string, durability: Durability) => string,
  fx: () => EngineFixture,
  make: typeof sequential,
  data: ReturnType<typeof dataset>,
  perCall: Record<Durability, number>,
): BenchCase[] {
  const flushFirst = async () => {
    await fx().engine.flush()
  }
  const submit = (durability: Durability, item: (id: string) => SyncItem) => {
    const options: SubmitOptions = { durability }
    return (id: string) => fx().engine.submit(item(id), options)
  }
  const fromValue = (id: string) => SyncItem.fromJson(id, data.valueById.get(id))
  const prebuilt = new Map<string, SyncItem>()
  const built = (id: string) => prebuilt.get(id)!
  const cases = (['memory', 'local', 'ground-truth'] as const).map((durability) =>
    make(
      name('SyncItem.fromJson(…)', durability),
      data.order,
      perCall[durability],
      submit(durability, fromValue),
    ),
  )
  const engineOnly = make(
    name('prebuilt item', 'memory'),
    data.order,
    perCall.memory,
    submit('memory', built),
  )
  const buildFirst = async () => {
    // Made anew each round, so they are newer than what the other cases wrote (never stale).
    for (const id of data.order) prebuilt.set(id, fromValue(id))
    await flushFirst()
  }
  return [...cases, { ...engineOnly, beforeRound: buildFirst }].map((c) => ({
    beforeRound: flushFirst,
    ...c,
  }))
}

function sequentialWrites(quick: boolean): BenchGroup {
  const n = quick ? 1000 : 10_000
  const data = dataset(n, 2)
  const { valueById, order } = data
  let fx: EngineFixture | undefined
  let peer: ReturnType<typeof bentocache> | undefined
  const cases = writeCases(
    (item, d) => `await engine.submit(${item}), durability ${d}`,
    () => fx!,
    sequential,
    data,
    {
      memory: FAST,
      local: 20,
      'ground-truth': 5,
    },
  )
  return {
    name: 'peers: writes, one awaited at a time',
    setup: async () => {
      fx = await engineFixture('peers-seq')
      peer = bentocache('peers-seq')
    },
    teardown: async () => {
      await fx?.close()
      await peer?.close()
    },
    baseline: sequential('await bentocache tiered set (awaits Redis)', order, 100, (id) =>
      peer!.bento.set({ key: id, value: valueById.get(id) }),
    ),
    cases,
    targets: { [cases[0]!.name]: 20 },
    note: "The engine's calls include making the SyncItem from the value (canonical JSON, UTF-8), as bentocache's set serializes the value it is given; the prebuilt row leaves that out. memory: in L1 and queued (flushed behind, in batches, in the same process: the flush work that lands during a round is part of its time); local: also group-committed to the SQLite WAL (synchronous=FULL, one fsync per commit: awaited one at a time, every write is its own commit); ground-truth: resolved once MariaDB committed it (awaited one at a time, every write waits for its own flush). bentocache's set resolves once Redis acknowledged the SET; it has no durable tier.",
  }
}

function concurrentWrites(quick: boolean): BenchGroup {
  const n = quick ? 2000 : 10_000
  const data = dataset(n, 3)
  const { valueById, order } = data
  let fx: EngineFixture | undefined
  let peer: ReturnType<typeof bentocache> | undefined
  const batch = 1000
  const cases = writeCases(
    (item, d) => `engine.submit(${item}) ×1000 in flight, durability ${d}`,
    () => fx!,
    inFlight,
    data,
    {
      memory: batch,
      local: batch,
      'ground-truth': batch,
    },
  )
  return {
    name: 'peers: writes, 1000 in flight (Promise.all)',
    setup: async () => {
      fx = await engineFixture('peers-par')
      peer = bentocache('peers-par')
    },
    teardown: async () => {
      await fx?.close()
      await peer?.close()
    },
    baseline: inFlight('bentocache tiered set ×1000 in flight', order, batch, (id) =>
      peer!.bento.set({ key: id, value: valueById.get(id) }),
    ),
    cases,
    minCalls: 2,
    note: 'A server handling many requests at once: 1000 writes started together, then awaited. local commits them to the WAL in one group; ground-truth waits for the batch flush (MariaDB commit with the Merkle tree, then Redis).',
  }
}

/** An L3 store that never lets the filter warm up: its key scan fails, so the filter stays untrusted. */
function withoutKeyScan(store: L3Store): L3Store {
  return new Proxy(store, {
    get(target, key) {
      if (key === 'scanIds') return () => Promise.reject(new Error('bench: no key scan (untrusted filter)'))
      const value = Reflect.get(target, key, target) as unknown
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

function absentGet(quick: boolean): BenchGroup {
  const n = quick ? 2000 : 20_000
  const stored = benchIds(n, 4)
  const absent = inRandomOrder(benchIds(n, 5), 5)
  let trusted: EngineFixture | undefined
  let untrusted: EngineFixture | undefined
  let drop: (() => Promise<void>) | undefined
  return {
    name: `peers: get of an absent id (${n / 1000}k stored, L1 + MariaDB, no L2)`,
    setup: async () => {
      const db = await privateDatabase('peers_absent')
      drop = db.drop
      trusted = await engineFixture('peers-absent', { redis: false, sql: db.url })
      await trusted.engine.submitMany(benchItems(stored, 4))
      await trusted.engine.flush()
      await trusted.engine.warmUp()
      const l3 = new MysqlL3Store({ url: db.url, logger: silentLogger })
      untrusted = await engineFixture('peers-absent', { redis: false, sql: withoutKeyScan(l3) })
      if (
        untrusted.engine.filterStats().trust !== 'Untrusted' ||
        trusted.engine.filterStats().trust !== 'Trusted'
      )
        throw new Error('bench: filters are not in the states this group compares')
    },
    teardown: async () => {
      await trusted?.close()
      await untrusted?.close()
      await drop?.()
    },
    baseline: sequential('engine.get, untrusted filter (MariaDB round trip)', absent, 20, async (id) => {
      if ((await untrusted!.engine.get(id)) !== null) throw new Error(`${id} should be absent`)
    }),
    cases: [
      sequential('engine.get, trusted filter (no round trip)', absent, FAST, async (id) => {
        if ((await trusted!.engine.get(id)) !== null) throw new Error(`${id} should be absent`)
      }),
    ],
    targets: { 'engine.get, trusted filter (no round trip)': 20 },
    note: "Both engines read the same private MariaDB database. With L2 configured an absent get still asks Redis first (L1 → pending → L2 → filter → L3), so the filter saves the L3 query, not the L2 one; contains()/mightExist() ask the filter first. The untrusted engine's L3 is wrapped so its key scan fails and its filter never warms up.",
  }
}

/** An L1 that keeps only pinned (pending) writes: every read of a stored id misses L1. */
class PendingOnlyL1 extends L1MemoryCache {
  override set(item: SyncItem, options?: Parameters<L1MemoryCache['set']>[1]): void {
    if (options?.pinned) super.set(item, options)
  }
}

function l2Hit(quick: boolean): BenchGroup {
  const n = quick ? 1000 : 10_000
  const ids = benchIds(n, 6)
  const order = inRandomOrder(ids, 6)
  let writer: EngineFixture | undefined
  let reader: EngineFixture | undefined
  let raw: Redis | undefined
  return {
    name: 'peers: L2 hit (L1 miss) vs a raw ioredis GET',
    setup: async () => {
      writer = await engineFixture('peers-l2')
      await writer.engine.submitMany(benchItems(ids, 6))
      await writer.engine.flush()
      reader = await engineFixture('peers-l2', {
        redis: { prefix: writer.redisPrefix! },
        sql: writer.dbUrl!,
        config: { l1: new PendingOnlyL1({ maxBytes: 64 * 1024 * 1024 }) },
      })
      raw = new Redis(REDIS_URL)
      const sample = await raw.getBuffer(`${writer.redisPrefix}${ids[0]}`)
      if (!sample) throw new Error('bench: the engine does not store items at prefix + id any more')
    },
    teardown: async () => {
      raw?.disconnect()
      await reader?.close()
      await writer?.close()
    },
    baseline: sequential('raw ioredis GET (same key)', order, 20, (id) =>
      raw!.getBuffer(`${writer!.redisPrefix}${id}`),
    ),
    cases: [
      sequential('engine.get, L1 miss → Redis hit', order, 20, async (id) => {
        if (!(await reader!.engine.get(id))) throw new Error(`${id} missing`)
      }),
    ],
    note: 'The reader engine shares the writer’s Redis prefix and MariaDB database; its L1 keeps pending writes only, so every get goes to Redis (GET, document decode, hash check, SyncItem). The store-level figure is the `redis-tier: get of a hit` group.',
  }
}
