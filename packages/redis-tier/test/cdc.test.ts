import type { ChangeEntry, ChangeMeta } from '@sync-engine/core'
import { BackendUnavailableError, InvalidArgumentError } from '@sync-engine/core'
import { requireRedis, uniquePrefix } from '@sync-engine/testkit'
import type { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  type ChangeCursorStore,
  RedisChangeFeed,
  RedisChangePublisher,
  redisCursorStore,
} from '../src/index.js'
import { deletePrefix, rawClient, redisUrl } from './helpers.js'

let admin: Redis
let prefix: string
let publisher: RedisChangePublisher
const feeds: RedisChangeFeed[] = []
beforeAll(async () => {
  await requireRedis(redisUrl)
  admin = await rawClient()
})
afterAll(() => admin.disconnect())
beforeEach(async () => {
  prefix = uniquePrefix('cdc')
  publisher = new RedisChangePublisher({ url: redisUrl, prefix, maxLen: 50 })
  await publisher.connect()
})
afterEach(async () => {
  await Promise.all(feeds.splice(0).map((f) => f.close()))
  await publisher.close()
  await deletePrefix(admin, prefix)
})

const meta = (over: Partial<ChangeMeta> = {}): ChangeMeta => ({
  contentType: 'json',
  version: 1,
  updatedAt: 1_700_000_000_000,
  state: 'default',
  origin: 'node-a',
  ...over,
})
const put = (key: string, data = new TextEncoder().encode(`{"k":"${key}"}`)): ChangeEntry => ({
  op: 'PUT',
  key,
  hash: 'ab'.repeat(32),
  data,
  meta: meta(),
})
const del = (key: string): ChangeEntry => ({
  op: 'DEL',
  key,
  hash: '',
  meta: meta({ contentType: undefined, version: undefined, state: undefined }),
})
const feed = (options: ConstructorParameters<typeof RedisChangeFeed>[0] = {}) => {
  const f = new RedisChangeFeed({ url: redisUrl, prefix, ...options })
  feeds.push(f)
  return f
}

describe('change stream', () => {
  it('writes the fields of SPEC §10, data as raw bytes', async () => {
    const bytes = new Uint8Array([0, 1, 2, 250, 255])
    await publisher.publish([put('bin.1', bytes), del('gone')])
    const entries = await admin.xrangeBuffer(`${prefix}__se:cdc`, '-', '+')
    expect(entries).toHaveLength(2)
    const fields = (i: number) => {
      const flat = entries[i]![1]
      return Object.fromEntries(
        Array.from({ length: flat.length / 2 }, (_, k) => [flat[2 * k]!.toString(), flat[2 * k + 1]!]),
      )
    }
    expect(Object.keys(fields(0))).toEqual(['op', 'key', 'hash', 'data', 'meta'])
    expect(fields(0).data!.equals(Buffer.from(bytes))).toBe(true)
    expect(JSON.parse(fields(0).meta!.toString())).toEqual({
      content_type: 'json',
      version: 1,
      updated_at: 1_700_000_000_000,
      state: 'default',
      origin: 'node-a',
    })
    expect(Object.keys(fields(1))).toEqual(['op', 'key', 'hash', 'meta'])
  })

  it('keeps unicode keys, hashes and metadata byte for byte (the entries travel packed as one blob)', async () => {
    const entry: ChangeEntry = {
      ...put('naïve.ключ.🙂 "q"'),
      hash: 'é'.repeat(300),
      meta: meta({ state: 'état', origin: 'node-"ü"' }),
    }
    await publisher.publish([entry, del('ид.2')])
    const [first, second] = (await admin.xrange(`${prefix}__se:cdc`, '-', '+')).map(([, fields]) => fields)
    expect(first!.slice(0, 6)).toEqual(['op', 'PUT', 'key', 'naïve.ключ.🙂 "q"', 'hash', 'é'.repeat(300)])
    expect(JSON.parse(first![9]!)).toMatchObject({ state: 'état', origin: 'node-"ü"' })
    expect(second!.slice(0, 4)).toEqual(['op', 'DEL', 'key', 'ид.2'])
  })

  it('appends a large batch whole and in order, over several script calls and after SCRIPT FLUSH', async () => {
    const big = new RedisChangePublisher({ url: redisUrl, prefix, maxLen: 100_000 })
    await big.connect()
    try {
      const batch = Array.from({ length: 2500 }, (_, i) => (i % 7 === 3 ? del(`id.${i}`) : put(`id.${i}`)))
      batch[10] = put('empty.binary', new Uint8Array(0))
      await admin.script('FLUSH')
      await big.publish(batch)
      const entries = await admin.xrangeBuffer(`${prefix}__se:cdc`, '-', '+')
      const fields = entries.map(([, flat]) =>
        flat
          .filter((_, k) => k % 2 === 0)
          .map(String)
          .join(','),
      )
      expect(entries.map(([, flat]) => `${flat[1]} ${flat[3]}`)).toEqual(batch.map((e) => `${e.op} ${e.key}`))
      expect(fields).toEqual(
        batch.map((e) => (e.op === 'PUT' ? 'op,key,hash,data,meta' : 'op,key,hash,meta')),
      )
      // A bad entry anywhere in a batch appends nothing of it.
      const bad = [put('fine.1'), { ...put('fine.2'), hash: 7 as never }]
      await expect(big.publish(bad)).rejects.toBeInstanceOf(InvalidArgumentError)
      expect(await admin.xlen(`${prefix}__se:cdc`)).toBe(2500)
    } finally {
      await big.close()
    }
  })

  it("skipOrigin passes over that origin's entries and returns every other, cursor past both", async () => {
    const from = (origin: string, key: string, state = 'default'): ChangeEntry => ({
      ...put(key),
      meta: meta({ origin, state }),
    })
    await publisher.publish([
      from('me', 'mine.1'),
      from('ame', 'theirs.1'),
      from('other', 'theirs.2', ',"origin":"me"}'),
      from('me', 'mine.2'),
      from('me"', 'theirs.3'),
    ])
    const f = feed({ start: 'earliest', skipOrigin: 'me' })
    const batch = await f.read({ count: 10 })
    expect(batch.changes.map((c) => c.key)).toEqual(['theirs.1', 'theirs.2', 'theirs.3'])
    expect(batch.changes[1]!.meta.state).toBe(',"origin":"me"}')
    const last = await admin.xrevrange(`${prefix}__se:cdc`, '+', '-', 'COUNT', 1)
    expect(batch.cursor).toBe(last[0]![0])
    expect((await f.read({ count: 10 })).changes).toEqual([])
    expect(() => new RedisChangeFeed({ skipOrigin: '' })).toThrow(/options\.skipOrigin/)
  })

  it('passOver: entries in the runs a publish answered are never returned, those around them are', async () => {
    const other = new RedisChangePublisher({ url: redisUrl, prefix, maxLen: 50 })
    await other.connect()
    try {
      await other.publish([put('theirs.1')])
      const mine = await publisher.publish([put('mine.1'), put('mine.2'), put('mine.3')])
      await other.publish([put('theirs.2'), put('theirs.3')])
      const more = await publisher.publish([put('mine.4')])
      await other.publish([put('theirs.4')])
      const ids = (await admin.xrange(`${prefix}__se:cdc`, '-', '+')).map(([id]) => id)
      expect(mine).toEqual([[ids[1], ids[3]]])
      expect(more).toEqual([[ids[6], ids[6]]])

      // No skipOrigin: the runs alone keep the entries out, whatever order they are given in.
      const f = feed({ start: 'earliest' })
      f.passOver([...more, ...mine])
      const keys: string[] = []
      for (let i = 0; i < 8; i++) keys.push(...(await f.read({ count: 2 })).changes.map((c) => c.key))
      expect(keys).toEqual(['theirs.1', 'theirs.2', 'theirs.3', 'theirs.4'])
      expect(f.cursor).toBe(ids.at(-1))

      // A cursor already inside a run moves past the rest of it.
      const g = feed({ start: 'earliest' })
      expect((await g.read({ count: 3 })).changes.map((c) => c.key)).toEqual(['theirs.1', 'mine.1', 'mine.2'])
      g.passOver(mine)
      expect(await g.read({ count: 3 })).toEqual({ changes: [], gap: false, cursor: ids[3] })
      expect((await g.read({ count: 3 })).changes.map((c) => c.key)).toEqual([
        'theirs.2',
        'theirs.3',
        'mine.4',
      ])

      // A feed that passes over runs wakes up for one entry (when it was blocked by then), then reads
      // the rest: nothing is lost or repeated.
      const h = feed({ start: 'latest' })
      h.passOver(mine)
      await h.read()
      const blocked = h.read({ count: 10, blockMs: 5000 })
      await new Promise((r) => setTimeout(r, 100))
      await other.publish([put('late.1'), put('late.2')])
      const woke = (await blocked).changes.map((c) => c.key)
      expect(woke[0]).toBe('late.1')
      const rest = (await h.read({ count: 10 })).changes.map((c) => c.key)
      expect([...woke, ...rest]).toEqual(['late.1', 'late.2'])

      // A publish still in flight: the next read waits for it and passes over what it appended; a
      // failed one passes over nothing.
      const k = feed({ start: 'latest' })
      await k.read()
      k.passOver(Promise.reject(new Error('publish failed')))
      const inFlight = publisher.publish([put('mine.5'), put('mine.6')])
      k.passOver(inFlight)
      const batch = await k.read({ count: 10 })
      const [[, last]] = (await inFlight) as [[string, string]]
      expect(batch).toEqual({ changes: [], gap: false, cursor: last })

      expect(() => f.passOver([['1-0', 'x'] as const])).toThrow(InvalidArgumentError)
    } finally {
      await other.close()
    }
  })

  it('a feed from "earliest" reads everything in order, then only what is new', async () => {
    await publisher.publish([put('a'), put('b'), del('a')])
    const f = feed({ start: 'earliest' })
    const first = await f.read({ count: 2 })
    expect(first.changes.map((c) => `${c.op} ${c.key}`)).toEqual(['PUT a', 'PUT b'])
    expect(first.gap).toBe(false)
    expect(first.cursor).toBe(first.changes[1]!.streamId)
    const second = await f.read({ count: 10 })
    expect(second.changes.map((c) => `${c.op} ${c.key}`)).toEqual(['DEL a'])
    expect(second.changes[0]!.data).toBeUndefined()
    expect(second.changes[0]!.meta).toEqual({
      contentType: undefined,
      version: undefined,
      updatedAt: 1_700_000_000_000,
      state: undefined,
      origin: 'node-a',
    })
    expect((await f.read()).changes).toEqual([])
  })

  it('a feed from "latest" sees only changes published after its first read, and blocks for them', async () => {
    await publisher.publish([put('old')])
    const f = feed()
    expect(f.cursor).toBe('$')
    expect((await f.read()).changes).toEqual([])
    const pending = f.read({ blockMs: 5000 })
    await new Promise((r) => setTimeout(r, 100))
    await publisher.publish([put('new')])
    const batch = await pending
    expect(batch.changes.map((c) => c.key)).toEqual(['new'])
    expect(batch.changes[0]!.data && new TextDecoder().decode(batch.changes[0]!.data)).toBe('{"k":"new"}')
  })

  it('reports a gap when its cursor fell out of the trimmed stream', async () => {
    await publisher.publish([put('first')])
    const f = feed({ start: 'earliest' })
    expect((await f.read()).gap).toBe(false)
    // maxLen 50 with MAXLEN ~: publish well past it so whole nodes are trimmed away.
    for (let i = 0; i < 6; i++)
      await publisher.publish(Array.from({ length: 100 }, (_, k) => put(`bulk.${i}.${k}`)))
    expect(await admin.xlen(`${prefix}__se:cdc`)).toBeLessThan(601)
    const batch = await f.read({ count: 10 })
    expect(batch.gap).toBe(true)
    expect(batch.changes.length).toBe(10)
    // Caught up with the oldest entry still held: no gap any more.
    expect((await f.read({ count: 10 })).gap).toBe(false)
    // A new feed asking for everything learns that history was trimmed.
    expect((await feed({ start: 'earliest' }).read()).gap).toBe(true)
  })

  it('close() ends a blocked read at once, and later reads fail with a typed error', async () => {
    const f = feed()
    await f.read()
    const pending = f.read({ blockMs: 10_000 })
    await new Promise((r) => setTimeout(r, 100))
    const started = Date.now()
    await f.close()
    const batch = await pending
    expect(batch.changes).toEqual([])
    expect(Date.now() - started).toBeLessThan(5000) // generous: the read blocks for 10 s
    await expect(f.read()).rejects.toBeInstanceOf(BackendUnavailableError)
  })

  it('persists its cursor when the next read starts and on close, and resumes from it', async () => {
    const saved: string[] = []
    const memory: ChangeCursorStore = {
      load: async () => saved[saved.length - 1],
      save: async (cursor) => {
        saved.push(cursor)
      },
    }
    await publisher.publish([put('a'), put('b'), put('c')])
    const f = feed({ start: 'earliest', cursorStore: memory })
    const one = await f.read({ count: 1 })
    expect(saved).toEqual([])
    await f.read({ count: 1 })
    expect(saved).toEqual([one.cursor])
    await f.close()
    expect(saved).toHaveLength(2)
    const again = feed({ start: 'earliest', cursorStore: memory })
    expect((await again.read()).changes.map((c) => c.key)).toEqual(['c'])
  })

  it('keeps a cursor in a Redis key through redisCursorStore', async () => {
    await publisher.publish([put('a'), put('b')])
    const store = redisCursorStore(admin, { prefix, name: 'peer-1' })
    const f = feed({ start: 'earliest', cursorStore: store })
    const batch = await f.read({ count: 1 })
    await f.close()
    expect(await admin.get(`${prefix}__se:cdc:cursor:peer-1`)).toBe(batch.cursor)
    const again = feed({ cursorStore: store })
    expect((await again.read()).changes.map((c) => c.key)).toEqual(['b'])
  })

  it('skips entries it cannot read instead of wedging', async () => {
    await admin.xadd(`${prefix}__se:cdc`, '*', 'foo', 'bar')
    await publisher.publish([put('ok')])
    const f = feed({ start: 'earliest' })
    expect((await f.read()).changes.map((c) => c.key)).toEqual(['ok'])
  })

  it('refuses bad entries and options with typed errors', async () => {
    await expect(publisher.publish([{ ...put('x'), op: 'SET' as never }])).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
    await expect(
      publisher.publish([{ ...put('x'), data: undefined } as unknown as ChangeEntry]),
    ).rejects.toThrow(/data/)
    await expect(publisher.publish([put('__se:x')])).rejects.toThrow(/reserved/)
    expect(() => new RedisChangeFeed({ start: 'yesterday' })).toThrow(/options\.start/)
    expect(() => new RedisChangePublisher({ maxLen: 0 })).toThrow(/options\.maxLen/)
    await expect(feed().read({ count: 0 })).rejects.toBeInstanceOf(InvalidArgumentError)
  })
})
