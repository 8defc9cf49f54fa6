import {
  BackendUnavailableError,
  CorruptDataError,
  InvalidArgumentError,
  InvalidIdError,
  InvalidStateError,
  SyncItem,
  sha256Hex,
  utf8Encode,
} from '@sync-engine/core'
import { AWKWARD_IDS, binaryItem, jsonItem, rawRecord, requireRedis, sameItem } from '@sync-engine/testkit'
import type { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { RedisL2Store } from '../src/index.js'
import { deletePrefix, openStore, rawClient, redisUrl } from './helpers.js'

let admin: Redis
let store: RedisL2Store
beforeAll(async () => {
  await requireRedis(redisUrl)
  admin = await rawClient()
})
afterAll(() => admin.disconnect())
beforeEach(async () => {
  store = await openStore('store')
})
afterEach(async () => {
  await store.close()
  await deletePrefix(admin, store.keys.prefix)
})

const key = (id: string) => store.keys.item(id)

describe('documents as stored in Redis', () => {
  it('a JSON item is a JSON document whose payload is the canonical text, numbers untouched', async () => {
    const text = '{"big":12345678901234567890,"e":1e+21,"f":0.1,"neg":-0,"s":"é\\"x"}'
    const item = SyncItem.fromText('doc.1', text, {
      version: 3,
      updatedAt: 1234,
      state: 'hot',
      batchId: 'b1',
    })
    await store.putBatch([item])
    const raw = await admin.get(key('doc.1'))
    expect(JSON.parse(raw!)).toMatchObject({
      version: 3,
      timestamp: 1234,
      state: 'hot',
      payload_hash: item.contentHash,
      audit: { batch: 'b1' },
    })
    expect(raw!.endsWith(`"payload":${text}}`)).toBe(true)
    expect(Buffer.from((await store.get('doc.1'))!.content).toString()).toBe(text)
  })

  it('keeps non-canonical JSON bytes exactly as given', async () => {
    const item = SyncItem.fromText('ws', '{ "b" : 1,\n  "a" : [ 1 , 2 ] }')
    await store.putBatch([item])
    expect(sameItem(await store.get('ws'), item)).toBe(true)
    expect(JSON.parse((await admin.get(key('ws')))!).payload).toEqual({ b: 1, a: [1, 2] })
  })

  it('a binary item holds its raw bytes, never a JSON array of numbers', async () => {
    const item = binaryItem('blob')
    await store.putBatch([item])
    const raw = (await admin.getBuffer(key('blob')))!
    expect(raw.subarray(raw.length - 257, raw.length - 1).equals(Buffer.from(item.content))).toBe(true)
    expect(raw.toString('latin1')).toContain('"content_type":"binary"')
    expect(raw.toString('latin1')).not.toContain('[0,1,2')
    const back = await store.get('blob')
    expect(back?.contentType).toBe('binary')
    expect(sameItem(back, item)).toBe(true)
  })

  it('round-trips metadata: version, timestamp, state and the audit block', async () => {
    const item = jsonItem(
      'meta',
      { x: 1 },
      {
        version: 9_007_199_254_740_991,
        updatedAt: 1_700_000_000_123,
        state: 'ünï "quoted" \\ state',
        traceParent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        homeInstanceId: 'node-a',
        batchId: 'batch-7',
      },
    )
    await store.putBatch([item])
    const back = (await store.get('meta'))!
    expect(back.version).toBe(item.version)
    expect(back.updatedAt).toBe(item.updatedAt)
    expect(back.state).toBe(item.state)
    expect(back.traceParent).toBe(item.traceParent)
    expect(back.homeInstanceId).toBe('node-a')
    expect(back.batchId).toBe('batch-7')
    expect(await store.byState(item.state)).toEqual(['meta'])
  })
})

describe('guarded writes', () => {
  it('writes an equal (version, timestamp) again, refuses an older timestamp at the same version', async () => {
    await store.putBatch([jsonItem('g', { v: 1 }, { version: 2, updatedAt: 100 })])
    const [same] = await store.putBatch([jsonItem('g', { v: 2 }, { version: 2, updatedAt: 100 })])
    expect(same?.status).toBe('written')
    const [older] = await store.putBatch([jsonItem('g', { v: 3 }, { version: 2, updatedAt: 99 })])
    expect(older?.status).toBe('stale')
    const [newer] = await store.putBatch([jsonItem('g', { v: 4 }, { version: 3, updatedAt: 1 })])
    expect(newer?.status).toBe('written')
    expect((await store.get('g'))?.json()).toEqual({ v: 4 })
  })

  it('applies repeats of one id in one batch in order, state sets included', async () => {
    const outcomes = await store.putBatch([
      jsonItem('dup', { v: 2 }, { version: 2, state: 'a' }),
      jsonItem('other', [0], { state: 'a' }),
      jsonItem('dup', { v: 1 }, { version: 1, state: 'b' }),
      jsonItem('dup', { v: 3 }, { version: 3, state: 'c' }),
    ])
    expect(outcomes.map((o) => o.status)).toEqual(['written', 'written', 'stale', 'written'])
    expect((await store.get('dup'))?.json()).toEqual({ v: 3 })
    expect(await store.byState('a')).toEqual(['other'])
    expect(await store.byState('b')).toEqual([])
    expect(await store.byState('c')).toEqual(['dup'])
    expect(await admin.zrange(store.keys.state('a'), '0', '-1')).toEqual(['other'])
  })

  it('refuses only the older items of a batch mixing older and newer versions, over many script calls', async () => {
    // 250 ids stored at version 5 (state 'old'); the batch spans several calls of the write script.
    const ids = Array.from({ length: 250 }, (_, i) => `mix.${i}`)
    await store.putBatch(
      ids.map((id) => jsonItem(id, { v: 'stored' }, { version: 5, updatedAt: 500, state: 'old' })),
    )
    // Per id, by i % 5: older version, same version with an older timestamp, the same (version,
    // timestamp), newer timestamp, newer version — the first two are refused, the rest written.
    const shapes = [
      { version: 4, updatedAt: 900 },
      { version: 5, updatedAt: 499 },
      { version: 5, updatedAt: 500 },
      { version: 5, updatedAt: 501 },
      { version: 6, updatedAt: 1 },
    ]
    const batch = ids.map((id, i) => jsonItem(id, { v: i }, { ...shapes[i % 5]!, state: 'new' }))
    const outcomes = await store.putBatch([
      ...batch.slice(0, 100),
      rawRecord('bad', { version: 0 }),
      ...batch.slice(100),
    ])
    const stale = (i: number) => i % 5 < 2
    expect(outcomes.map((o) => o.id)).toEqual([...ids.slice(0, 100), 'bad', ...ids.slice(100)])
    expect(outcomes[100]?.status).toBe('rejected')
    const statuses = [...outcomes.slice(0, 100), ...outcomes.slice(101)].map((o) => o.status)
    expect(statuses).toEqual(ids.map((_, i) => (stale(i) ? 'stale' : 'written')))
    const { items } = await store.getMany(ids)
    ids.forEach((id, i) => {
      const item = items.get(id)!
      if (stale(i)) expect([item.version, item.updatedAt, item.json()]).toEqual([5, 500, { v: 'stored' }])
      else expect(sameItem(item, batch[i]!)).toBe(true)
    })
    const sorted = (list: string[]) => list.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    expect(await store.byState('old')).toEqual(sorted(ids.filter((_, i) => stale(i))))
    expect(await store.byState('new')).toEqual(sorted(ids.filter((_, i) => !stale(i))))
    expect(await admin.zcard(store.keys.state('old'))).toBe(100)
  })

  it('packs JSON and binary documents, audit blocks and several states into one call, byte for byte', async () => {
    // Bytes that could confuse a split of the packed documents: braces, quotes, newlines, NUL, a header.
    const tricky = utf8Encode('}{"version":9,"timestamp":9,"state":"x"}\n\u0000"\\')
    const items = [
      SyncItem.fromBytes('p.tricky', tricky, { state: 'ab' }),
      SyncItem.fromBytes('p.empty', new Uint8Array(0), { state: 'é "q" \\' }),
      binaryItem('p.every', { state: 'ab', version: 9_007_199_254_740_991, updatedAt: 1 }),
      jsonItem(
        'p.json',
        { s: 'ü😀', n: [1, 2] },
        {
          state: 'é "q" \\',
          batchId: 'b',
          traceParent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        },
      ),
      SyncItem.fromText('p.text', '{ "spaced" : true }', { state: 'plain', homeInstanceId: 'h' }),
    ]
    const outcomes = await store.putBatch(items)
    expect(outcomes.map((o) => o.status)).toEqual(items.map(() => 'written'))
    for (const item of items) {
      const back = await store.get(item.id)
      expect(sameItem(back, item), item.id).toBe(true)
      expect([back?.batchId, back?.traceParent, back?.homeInstanceId]).toEqual([
        item.batchId,
        item.traceParent,
        item.homeInstanceId,
      ])
    }
    expect(await store.byState('ab')).toEqual(['p.every', 'p.tricky'])
    expect(await store.byState('é "q" \\')).toEqual(['p.empty', 'p.json'])
    expect(await store.byState('plain')).toEqual(['p.text'])
    // The packed bytes are the very document a single write stores.
    const raw = (await admin.getBuffer(key('p.tricky')))!
    expect(raw.subarray(raw.length - tricky.length - 1, raw.length - 1).equals(Buffer.from(tricky))).toBe(
      true,
    )
  })

  it('splits documents over the per-call byte limit and applies a TTL to every one', async () => {
    const big = (i: number) =>
      SyncItem.fromBytes(`big.${i}`, new Uint8Array(600_000).fill(i), { state: 'big' })
    const items = Array.from({ length: 5 }, (_, i) => big(i))
    const outcomes = await store.putBatch([...items, jsonItem('small', [1])], { ttlSeconds: 100 })
    expect(outcomes.every((o) => o.status === 'written')).toBe(true)
    for (const item of items) {
      expect(sameItem(await store.get(item.id), item)).toBe(true)
      expect(await admin.ttl(key(item.id))).toBeGreaterThan(90)
    }
    expect(await admin.ttl(key('small'))).toBeGreaterThan(90)
    expect(await store.byState('big')).toEqual(items.map((item) => item.id))
  })

  it('guards an item whose header is longer than the first 96 bytes it reads (long escaped state)', async () => {
    const state = '"\\'.repeat(8) // 16 bytes, 32 once escaped: a 101-byte header with these numbers
    const big = { version: 9_007_199_254_740_990, updatedAt: 9_007_199_254_740_990, state }
    await store.putBatch([jsonItem('long', { v: 1 }, big)])
    expect((await admin.getrange(key('long'), 0, 255)).indexOf(',"payload_hash"')).toBeGreaterThan(96)
    const [older] = await store.putBatch([
      jsonItem('long', { v: 2 }, { ...big, updatedAt: big.updatedAt - 1 }),
    ])
    expect(older?.status).toBe('stale')
    const [newer] = await store.putBatch([
      jsonItem('long', { v: 3 }, { ...big, version: big.version + 1, state: 's' }),
    ])
    expect(newer?.status).toBe('written')
    expect(await store.byState(state)).toEqual([]) // the old state was read from the long header
    expect(await store.byState('s')).toEqual(['long'])
  })

  it('overwrites a corrupt or foreign value (a write repairs it)', async () => {
    await admin.set(key('bad'), 'garbage')
    await admin.rpush(key('list'), 'x')
    const outcomes = await store.putBatch([jsonItem('bad', [1]), jsonItem('list', [2])])
    expect(outcomes.map((o) => o.status)).toEqual(['written', 'written'])
    expect((await store.get('list'))?.json()).toEqual([2])
  })

  it('rejects bad records alone and writes the rest of the batch', async () => {
    const good = jsonItem('ok', [1])
    const outcomes = await store.putBatch([
      rawRecord('bad hash', { contentHash: '0'.repeat(64) }),
      good,
      rawRecord('__se:reserved'),
      rawRecord('v0', { version: 0 }),
      rawRecord('not json', { content: utf8Encode('{nope'), contentHash: sha256Hex('{nope') }),
      rawRecord('plain'),
    ])
    expect(outcomes.map((o) => o.status)).toEqual([
      'rejected',
      'written',
      'rejected',
      'rejected',
      'rejected',
      'written',
    ])
    expect(outcomes[2]?.reason).toMatch(/reserved/)
    expect(sameItem(await store.get('ok'), good)).toBe(true)
  })

  it('keeps an item without TTL persistent after a TTL write is replaced', async () => {
    await store.putBatch([jsonItem('t', [1])], { ttlSeconds: 100 })
    expect(await admin.ttl(key('t'))).toBeGreaterThan(90)
    await store.putBatch([jsonItem('t', [2])])
    expect(await admin.ttl(key('t'))).toBe(-1)
  })

  it('falls back to EVAL when the server forgot the script (NOSCRIPT)', async () => {
    await admin.script('FLUSH')
    expect((await store.putBatch([jsonItem('ns', [1])]))[0]?.status).toBe('written')
    expect(await store.byState('default')).toEqual(['ns'])
  })

  it('writes large batches over many script calls and pipelines, never queueing past its timeout', async () => {
    const quick = new RedisL2Store({ url: redisUrl, prefix: store.keys.prefix, commandTimeoutMs: 1000 })
    await quick.connect()
    const items = Array.from({ length: 20_000 }, (_, i) =>
      jsonItem(`bulk.${i}`, { i }, { state: `s${i % 3}` }),
    )
    const outcomes = await quick.putBatch(items)
    expect(outcomes.filter((o) => o.status === 'written')).toHaveLength(20_000)
    expect((await quick.getMany(items.map((i) => i.id))).items.size).toBe(20_000)
    await quick.close()
    const s1 = items.filter((_, i) => i % 3 === 1).map((item) => item.id)
    s1.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    expect(await store.byState('s1', { limit: 5 })).toEqual(s1.slice(0, 5))
    expect(await store.byState('s1', { afterId: s1[2]!, limit: 1500 })).toEqual(s1.slice(3, 1503))
  })
})

describe('corrupt values', () => {
  const cases: [string, (k: string) => Promise<unknown>][] = [
    ['garbage', (k) => admin.set(k, 'not a document')],
    [
      'truncated JSON',
      (k) => admin.set(k, '{"version":1,"timestamp":1,"state":"default","payload_hash":"ab'),
    ],
    ['a wrong type', async (k) => admin.unlink(k).then(() => admin.rpush(k, 'x'))],
    ['an altered payload', async (k) => admin.set(k, (await admin.get(k))!.replace('"v":1', '"v":2'))],
    ['a document without payload', (k) => admin.set(k, '{"version":1,"timestamp":1,"state":"default"}')],
    [
      'a bad version',
      async (k) => admin.set(k, (await admin.get(k))!.replace('"version":1', '"version":-4')),
    ],
  ]
  for (const [what, tamper] of cases) {
    it(`answers CorruptDataError for ${what}, and getMany still answers the others`, async () => {
      await store.putBatch([jsonItem('c.bad', { v: 1 }), jsonItem('c.good', { v: 1 })])
      await tamper(key('c.bad'))
      await expect(store.get('c.bad')).rejects.toBeInstanceOf(CorruptDataError)
      const { items, errors } = await store.getMany(['c.bad', 'c.good', 'c.none'])
      expect([...items.keys()]).toEqual(['c.good'])
      expect(errors.get('c.bad')).toBeInstanceOf(CorruptDataError)
      expect((errors.get('c.bad') as CorruptDataError).location).toBe(key('c.bad'))
    })
  }
})

describe('ids and keys', () => {
  it('keeps ids with spaces, colons, *, {} and unicode apart, and lists them by state in byte order', async () => {
    const ids = [...AWKWARD_IDS, 'a b', 'a:b', 'a*', '{a}', '{a}.b', '*', '😀', 'é', 'z']
    await store.putBatch(ids.map((id, i) => jsonItem(id, { i }, { state: 'awk' })))
    for (const [i, id] of ids.entries()) expect((await store.get(id))?.json()).toEqual({ i })
    const sorted = [...ids].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    expect(await store.byState('awk')).toEqual(sorted)
    expect(await store.byState('awk', { afterId: sorted[3]!, limit: 4 })).toEqual(sorted.slice(4, 8))
    expect((await store.deleteBatch(['a*', '*'])).sort()).toEqual(['*', 'a*'])
    expect(await store.exists('a')).toBe(false)
    expect(await store.exists('a b')).toBe(true)
  })

  it('ids that look like engine keys never touch the engine namespace', async () => {
    const ids = ['__se', '_se:state:default', 'se:merkle:', '__SE:cdc', 'x.__se:cdc', 'state:default']
    await store.putBatch(ids.map((id) => jsonItem(id, [id])))
    await store.merkle.writeNodes({
      upsert: [{ path: '', hash: 'a'.repeat(64), leaf: false, count: 1 }],
      delete: [],
    })
    const engineKeys = await admin.keys(`${store.keys.engine}*`)
    expect(engineKeys.sort()).toEqual([store.keys.merkle(''), store.keys.state('default')].sort())
    for (const id of ids) expect((await store.get(id))?.json()).toEqual([id])
  })

  it('refuses invalid ids and states with typed errors', async () => {
    await expect(store.get('__se:cdc')).rejects.toBeInstanceOf(InvalidIdError)
    await expect(store.getMany(['ok', ''])).rejects.toBeInstanceOf(InvalidIdError)
    await expect(store.deleteBatch(['a..b'])).rejects.toBeInstanceOf(InvalidIdError)
    await expect(store.byState('')).rejects.toBeInstanceOf(InvalidStateError)
    await expect(store.byState('s', { limit: 0 })).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(store.putBatch([jsonItem('x', 1)], { ttlSeconds: 0.5 })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
  })
})

describe('state sets', () => {
  it('drops expired, deleted and foreign members lazily, and pages past them', async () => {
    await store.putBatch([jsonItem('s.1', [1], { state: 'q' }), jsonItem('s.3', [3], { state: 'q' })])
    await store.putBatch([jsonItem('s.2', [2], { state: 'q' })], { ttlSeconds: 1 })
    await admin.zadd(store.keys.state('q'), '0', 's.0') // a member with no item behind it
    await admin.unlink(key('s.2')) // as if it expired
    expect(await store.byState('q', { limit: 2 })).toEqual(['s.1', 's.3'])
    expect(await admin.zrange(store.keys.state('q'), '0', '-1')).toEqual(['s.1', 's.3'])
  })
})

describe('options, connection and health', () => {
  it('refuses bad options with InvalidArgumentError naming the option', () => {
    expect(() => new RedisL2Store({ url: 'http://x' })).toThrow(/options\.url/)
    expect(() => new RedisL2Store({ commandTimeoutMs: 0 })).toThrow(/options\.commandTimeoutMs/)
    expect(() => new RedisL2Store({ json: 'yes' as never })).toThrow(/options\.json/)
    expect(() => new RedisL2Store({ prefx: 'a' } as never)).toThrow(/options\.prefx is not an option/)
    expect(() => new RedisL2Store({ url: redisUrl, client: admin })).toThrow(InvalidArgumentError)
  })

  it("refuses json: 'module' on a server without the JSON module", async () => {
    const s = new RedisL2Store({ url: redisUrl, json: 'module' })
    await expect(s.connect()).rejects.toThrow(/no JSON module/)
    await s.close()
  })

  it('reports the storage mode in health() and fails calls before connect()', async () => {
    const health = await store.health(2000)
    expect(health.ok).toBe(true)
    expect(health.details).toMatchObject({
      json: 'string',
      jsonModule: false,
      cluster: false,
      prefix: store.keys.prefix,
    })
    expect(String(health.details?.serverVersion)).toMatch(/^\d+\.\d+/)
    const idle = new RedisL2Store({ url: redisUrl })
    await expect(idle.get('x')).rejects.toBeInstanceOf(BackendUnavailableError)
    await idle.close()
  })

  it('uses a caller client as it is and leaves it open on close()', async () => {
    const s = new RedisL2Store({ client: admin, prefix: store.keys.prefix })
    await s.connect()
    await s.putBatch([jsonItem('shared', [1])])
    await s.close()
    expect(await admin.exists(key('shared'))).toBe(1)
  })
})
