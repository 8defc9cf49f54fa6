import { BackendUnavailableError, SyncItem } from '@sync-engine/core'
import { merkleRootOf } from '@sync-engine/merkle'
import { MysqlL3Store } from '@sync-engine/mysql-tier'
import { FaultProxy, testSeed } from '@sync-engine/testkit'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, it } from 'vitest'
import { SyncEngine } from '../src/index.js'
import { eventually } from './fixtures/faults.js'
import { quiet, track } from './helpers.js'
import { servicesForFile } from './services.js'

// Model-based test (SPEC §13): random sequences of submit / delete / setState / deletePrefix / flush /
// restart / L2 cut / L3 cut run against one engine on MariaDB and Redis (each behind testkit's fault
// proxy) and against a plain Map. After healing and flushing, L3 holds exactly the model, both Merkle
// roots (L3 and the Redis mirror) equal the model's, and every get returns the model's item.
// 200 sequences in CI, in LANES concurrent lanes (each its own seed, proxies, tables and prefixes: the
// sequences mostly wait on I/O); MODEL_RUNS=5000 for a longer run. A failure prints the lane's seed and
// the fast-check path: FC_SEED=<seed> FC_PATH=<path> replays exactly that sequence.

const SEED = testSeed()
const RUNS = Number(process.env.MODEL_RUNS || 200)
const PATH = process.env.FC_PATH || undefined
/** Concurrent lanes; one when replaying a path. */
const LANES = PATH ? 1 : 4
const IDS = ['a.1', 'a.2', 'a.3', 'b.1', 'b.2', 'b.3'] as const
const STATES = ['default', 'hot'] as const

type Op =
  | { op: 'submit'; id: string; value: number; durability: 'memory' | 'local' | 'ground-truth' }
  | { op: 'delete'; id: string }
  | { op: 'setState'; id: string; state: string }
  | { op: 'deletePrefix'; prefix: 'a.' | 'b.' }
  | { op: 'flush' }
  | { op: 'restart' }
  | { op: 'cutL2' }
  | { op: 'healL2' }
  | { op: 'cutL3' }
  | { op: 'healL3' }

const id = fc.constantFrom(...IDS)
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('submit' as const),
      id,
      value: fc.nat(99),
      durability: fc.constantFrom('memory' as const, 'local' as const, 'ground-truth' as const),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), id }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('setState' as const), id, state: fc.constantFrom(...STATES) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('deletePrefix' as const),
      prefix: fc.constantFrom('a.' as const, 'b.' as const),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ op: 'flush' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'restart' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'cutL2' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'healL2' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'cutL3' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'healL3' as const }) },
)

const file = servicesForFile('model')

/** A lane: its own fault proxies in front of MariaDB and Redis, and its own run counter. */
interface Lane {
  readonly index: number
  readonly mysql: FaultProxy
  readonly redis: FaultProxy
  runs: number
}
const lanes: Lane[] = []

beforeAll(async () => {
  const mysql = new URL(file.services.mysqlUrl)
  const redis = new URL(file.services.redisUrl)
  for (let index = 0; index < LANES; index++) {
    lanes.push({
      index,
      mysql: await FaultProxy.start({ target: { host: mysql.hostname, port: Number(mysql.port || 3306) } }),
      redis: await FaultProxy.start({ target: { host: redis.hostname, port: Number(redis.port || 6379) } }),
      runs: 0,
    })
  }
})
afterAll(async () => {
  for (const lane of lanes) await Promise.all([lane.mysql.close(), lane.redis.close()])
})

/** One sequence's world: its own tables, Redis prefix and WAL; engines built on it through the proxies. */
function world(lane: Lane) {
  const run = `${lane.index}_${lane.runs++}`
  const { mysql: mysqlProxy, redis: redisProxy } = lane
  const table = `items_${run}`
  const merkleTable = `merkle_${run}`
  const store = (url: string) =>
    new MysqlL3Store({ url, table, merkleTable, logger: quiet, retries: 0, queryTimeoutMs: 5000 })
  const engine = () =>
    track(
      new SyncEngine({
        instanceId: `model-${run}`,
        sql: store(mysqlProxy.url(file.services.mysqlUrl)),
        redis: {
          url: redisProxy.url('redis'),
          prefix: `${file.services.prefix}m${run}:`,
          commandTimeoutMs: 200,
        },
        wal: { path: `${file.temp.path}/wal-${run}.db` },
        cdc: { enabled: true, maxStalenessMs: 300 },
        batch: { maxAgeMs: 5 },
        filter: { snapshotIntervalMs: 0 },
        allowDegradedStart: true,
        resilience: {
          l2TimeoutMs: 200,
          l3TimeoutMs: 2000,
          retries: 0,
          retryBaseMs: 5,
          retryMaxMs: 20,
          breakerThreshold: 2,
          halfOpenAfterMs: 20,
          halfOpenMaxMs: 50,
          probeIntervalMs: 20,
        },
        logger: quiet,
      }),
    )
  return { engine, direct: () => store(file.services.mysqlUrl) }
}

const leafOf = (item: SyncItem) => ({ id: item.id, version: item.version, contentHash: item.contentHash })
const show = (item: SyncItem | null | undefined) =>
  item ? `v${item.version} ${item.contentHash.slice(0, 8)} ${item.state}` : 'absent'

/** Runs one sequence; throws (with what differed) when the engine and the model disagree. */
async function runSequence(lane: Lane, ops: readonly Op[]): Promise<void> {
  const { engine: make, direct } = world(lane)
  const { mysql: mysqlProxy, redis: redisProxy } = lane
  const model = new Map<string, SyncItem>()
  let version = 0
  let l3Cut = false
  const trace: string[] = []
  const fail = (what: string) => {
    throw new Error(`${what}\n  after: ${trace.join(' → ')}`)
  }
  let engine = make()
  await engine.start()
  try {
    for (const o of ops) {
      trace.push(o.op === 'submit' ? `submit ${o.id}=${o.value} (${o.durability})` : JSON.stringify(o))
      switch (o.op) {
        case 'submit': {
          const item = SyncItem.fromJson(o.id, { value: o.value }, { version: ++version })
          await engine.submit(item, { durability: o.durability })
          model.set(o.id, item)
          break
        }
        case 'delete': {
          const existed = await engine.delete(o.id)
          if (existed && !model.has(o.id)) fail(`delete('${o.id}') said it existed; the model has no such id`)
          model.delete(o.id)
          break
        }
        case 'setState': {
          const before = model.get(o.id)
          let changed: boolean
          try {
            changed = await engine.setState(o.id, o.state)
          } catch (error) {
            // Refused while L3 is away (the item not in L1): nothing changed.
            if (error instanceof BackendUnavailableError) break
            throw error
          }
          const expected = before !== undefined && before.state !== o.state
          if (changed !== expected)
            fail(`setState('${o.id}', '${o.state}') → ${changed}, the model says ${expected}`)
          if (before && expected) model.set(o.id, before.with({ state: o.state }))
          break
        }
        case 'deletePrefix': {
          let deleted: string[]
          try {
            deleted = await engine.deletePrefix(o.prefix)
          } catch (error) {
            if (l3Cut || error instanceof BackendUnavailableError) break // L3 away: nothing deleted
            throw error
          }
          const expected = [...model.keys()].filter((k) => k.startsWith(o.prefix)).sort()
          if (JSON.stringify([...deleted].sort()) !== JSON.stringify(expected))
            fail(
              `deletePrefix('${o.prefix}') deleted ${JSON.stringify(deleted)}, the model has ${JSON.stringify(expected)}`,
            )
          for (const k of expected) model.delete(k)
          break
        }
        case 'flush':
          await engine.flush()
          break
        case 'restart':
          await engine.shutdown()
          engine = make()
          await engine.start()
          break
        case 'cutL2':
          redisProxy.cut()
          break
        case 'healL2':
          redisProxy.heal()
          break
        case 'cutL3':
          mysqlProxy.cut()
          l3Cut = true
          break
        case 'healL3':
          mysqlProxy.heal()
          l3Cut = false
          break
      }
    }

    // Heal, flush, and wait until L2 is attached again and the WAL backlog is in L3.
    redisProxy.heal()
    mysqlProxy.heal()
    const e = engine
    try {
      await eventually(async () => {
        await e.flush()
        await e.countPrefix('a.').catch(() => undefined) // drains a backlog when L3 answers
        const h = await e.health()
        return h.l2.attached === true && !h.wal.backlog && h.l3.ok && h.pipeline.items === 0
      }, 10_000)
    } catch {
      fail(`the engine did not recover: ${JSON.stringify(await e.health())}`)
    }

    // L3 equals the model.
    const store = direct()
    await store.connect()
    try {
      const { items } = await store.getMany([...IDS])
      for (const k of IDS) {
        const want = model.get(k)
        const got = items.get(k)
        if (show(got) !== show(want)) fail(`L3 ${k}: ${show(got)}, the model has ${show(want)}`)
      }
    } finally {
      await store.close()
    }
    // Both roots equal the model's (a reconnecting Redis may refuse the first reads: retried).
    const root = merkleRootOf([...model.values()].map(leafOf))
    let roots: { l2: string | null; l3: string | null } | string = 'never read'
    await eventually(async () => {
      roots = await e.merkleRoots().catch((error: unknown) => String(error))
      return typeof roots !== 'string' && roots.l3 === root && roots.l2 === root
    }, 5000).catch(() => fail(`roots: ${JSON.stringify(roots)}, the model's ${root}`))
    // Every get returns the model's item.
    for (const k of IDS) {
      const got = await e.get(k)
      const want = model.get(k)
      if (show(got) !== show(want)) fail(`get('${k}'): ${show(got)}, the model has ${show(want)}`)
    }
  } finally {
    redisProxy.heal()
    mysqlProxy.heal()
    await engine.shutdown().catch(() => undefined)
  }
}

/** Runs `runs` sequences on one lane; rejects with the seed and path that reproduce a failure. */
async function runLane(lane: Lane, seed: number, runs: number): Promise<void> {
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 12 }), (ops) => runSequence(lane, ops)),
      { seed, numRuns: runs, ...(PATH ? { path: PATH } : {}) },
    )
  } catch (error) {
    const path = /path: ?"([^"]*)"/.exec((error as Error).message)?.[1]
    throw new Error(
      `model test failed — reproduce with FC_SEED=${seed}${path ? ` FC_PATH=${path}` : ''}\n${(error as Error).message}`,
      { cause: error },
    )
  }
}

describe(`model-based: the engine against a Map (${RUNS} sequences, seed ${SEED})`, () => {
  it(
    'after any sequence of writes, restarts and cuts, once healed and flushed: L3 = model, both roots = the model root, every get = model',
    async () => {
      const results = await Promise.allSettled(
        lanes.map((lane) => runLane(lane, SEED + lane.index, Math.ceil(RUNS / LANES))),
      )
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
      if (failed) throw failed.reason
    },
    Math.max(120_000, RUNS * 2000),
  )
})
