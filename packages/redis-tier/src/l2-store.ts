import {
  BackendUnavailableError,
  CorruptDataError,
  checkId,
  checkState,
  type GetManyResult,
  type HealthProbe,
  InvalidArgumentError,
  type ItemRecord,
  type L2PutOptions,
  type L2Store,
  type PageOptions,
  type PutOutcome,
  SyncItem,
  validateId,
  validateState,
} from '@sync-engine/core'
import { decodeDocument, decodeModuleDocument, documentSize, fitsJsonModule } from './codec.js'
import {
  type Arg,
  backendError,
  type Command,
  isReplyError,
  RedisConnection,
  type Reply,
  scriptCommand,
  withTimeout,
} from './connection.js'
import { KeyLayout } from './keys.js'
import { RedisMerkleNodeStore } from './merkle-mirror.js'
import {
  type JsonMode,
  type RedisClient,
  type RedisL2StoreOptions,
  resolveConnectionOptions,
  resolveJsonMode,
} from './options.js'
import { MUTATE, putArguments, READ, SCRIPTS } from './scripts.js'

/** Items per EVALSHA of the write script, and bytes of documents per call (a script blocks Redis). */
const ITEMS_PER_SCRIPT = 100
const BYTES_PER_SCRIPT = 1024 * 1024
/**
 * Items, and bytes of documents, encoded and sent together by `putBatch` (the next chunk is encoded
 * while Redis runs this one).
 */
const WRITE_CHUNK = 1000
const WRITE_CHUNK_BYTES = 4 * 1024 * 1024
/** Chunks of one `putBatch` in flight at once. */
const WRITE_WINDOW = 3
/** Ids read per round of `byState`. */
const STATE_PAGE = 1000

/** One item of a write-script call: its key and id, and for a put the record and how it is stored. */
interface Mutation {
  readonly key: string
  readonly id: string
  readonly record?: ItemRecord
  /** A RedisJSON document (else a string). */
  readonly json?: boolean
}

type Op = 'p' | 'd'

/** What the write script did to one key: written/existed, and the state it held before. */
interface MutationResult {
  readonly done: boolean
  readonly old: string | null
}

const HEX64 = /^[0-9a-f]{64}$/

/** Why a record cannot be stored, or `undefined` when it is fine. `SyncItem`s are valid by construction. */
function recordProblem(record: ItemRecord): string | undefined {
  if (record === null || typeof record !== 'object') return 'not an item record'
  // A SyncItem validated all of this when it was made, and its fields are read-only.
  if (record instanceof SyncItem) return undefined
  const idProblem = checkId(record.id)
  if (idProblem) return idProblem.message
  const stateProblem = checkState(record.state)
  if (stateProblem) return stateProblem.message
  if (!Number.isSafeInteger(record.version) || record.version < 1) return 'version must be an integer ≥ 1'
  if (!Number.isSafeInteger(record.updatedAt) || record.updatedAt < 0) {
    return 'updatedAt must be an integer number of epoch ms ≥ 0'
  }
  if (record.contentType !== 'json' && record.contentType !== 'binary')
    return "contentType must be 'json' or 'binary'"
  if (!(record.content instanceof Uint8Array)) return 'content must be a Uint8Array'
  if (typeof record.contentHash !== 'string' || !HEX64.test(record.contentHash)) {
    return 'contentHash must be 64 lower-case hex characters'
  }
  try {
    // Rebuilding checks the hash against the bytes, the type against the content and the metadata.
    const item = SyncItem.fromRecord(record, { verifyHash: true })
    if (item.contentType === 'json') item.json()
  } catch (e) {
    return (e as Error).message
  }
  return undefined
}

function checkTtl(ttlSeconds: unknown): number {
  if (ttlSeconds === undefined) return 0
  if (typeof ttlSeconds !== 'number' || !Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1) {
    throw new InvalidArgumentError(
      'ttlSeconds',
      `ttlSeconds must be a whole number of seconds ≥ 1, got ${String(ttlSeconds)}`,
    )
  }
  return ttlSeconds
}

function checkIds(ids: readonly string[]): void {
  if (!Array.isArray(ids)) throw new InvalidArgumentError('ids', 'ids must be an array of ids')
  for (const id of ids) validateId(id)
}

function wrongType(key: string, error: Error): CorruptDataError {
  return new CorruptDataError(key, `the key holds a value this tier did not write (${error.message})`, {
    cause: error,
  })
}

/**
 * The L2 shared cache on Redis (SPEC §5.1): guarded writes through one Lua script, item documents,
 * state sets, TTLs, the Merkle mirror (`merkle`), on a single server or a Redis Cluster.
 */
export class RedisL2Store implements L2Store {
  readonly name: string
  readonly keys: KeyLayout
  readonly merkle: RedisMerkleNodeStore
  readonly #conn: RedisConnection
  readonly #jsonOption: JsonMode
  #json: 'module' | 'string' | undefined
  #serverVersion: string | undefined

  constructor(options: RedisL2StoreOptions = {}) {
    const resolved = resolveConnectionOptions(options, ['json'])
    this.#jsonOption = resolveJsonMode(options.json)
    this.#conn = new RedisConnection(resolved)
    this.keys = new KeyLayout(resolved.prefix)
    this.name = `redis ${this.#conn.describe()}`
    this.merkle = new RedisMerkleNodeStore(this.#conn, this.keys)
  }

  /** The ioredis client (share it with a `RedisChangePublisher`, or for your own commands). */
  get client(): RedisClient {
    return this.#conn.client
  }

  /** How JSON items are stored, known after `connect()`. */
  get jsonMode(): 'module' | 'string' | undefined {
    return this.#json
  }

  /** Connects, detects the JSON module once and loads the scripts. */
  async connect(): Promise<void> {
    await this.#conn.connect()
    const [commandInfo, info] = await this.#conn.run('connect', () =>
      Promise.all([
        this.#conn.client.call('COMMAND', 'INFO', 'JSON.SET') as Promise<unknown[]>,
        this.#conn.client.info('server'),
      ]),
    )
    const hasModule = Array.isArray(commandInfo) && commandInfo[0] != null
    if (this.#jsonOption === 'module' && !hasModule) {
      throw new InvalidArgumentError(
        'options.json',
        "options.json is 'module', but the server has no JSON module (COMMAND INFO JSON.SET is empty)",
      )
    }
    this.#json = this.#jsonOption === 'auto' ? (hasModule ? 'module' : 'string') : this.#jsonOption
    this.#serverVersion = /redis_version:([^\r\n]+)/.exec(info)?.[1]
    await this.#conn.loadScripts(SCRIPTS)
  }

  async close(): Promise<void> {
    await this.#conn.close()
  }

  async health(timeoutMs = this.#conn.timeoutMs): Promise<HealthProbe> {
    const started = performance.now()
    const details = {
      target: this.#conn.describe(),
      cluster: this.#conn.isCluster,
      prefix: this.keys.prefix,
      json: this.#json ?? 'not connected',
      jsonModule: this.#json === 'module',
      serverVersion: this.#serverVersion,
    }
    try {
      await withTimeout(this.#conn.client.ping(), timeoutMs, 'redis ping')
      return { ok: true, latencyMs: performance.now() - started, details }
    } catch (e) {
      return { ok: false, latencyMs: performance.now() - started, error: (e as Error).message, details }
    }
  }

  async putBatch(items: readonly ItemRecord[], options: L2PutOptions = {}): Promise<PutOutcome[]> {
    this.#requireConnected()
    if (!Array.isArray(items))
      throw new InvalidArgumentError('items', 'items must be an array of item records')
    const ttl = checkTtl(options.ttlSeconds)
    const outcomes: PutOutcome[] = new Array(items.length)
    const module = this.#json === 'module'
    const sent: Promise<void>[] = []
    // Encode and send one chunk at a time: Redis runs a chunk's scripts while the next is encoded.
    // At most WRITE_WINDOW chunks are in flight, so a huge batch never queues past the command timeout.
    let i = 0
    while (i < items.length) {
      if (sent.length >= WRITE_WINDOW) await sent[sent.length - WRITE_WINDOW]
      const writes: Mutation[] = []
      const at: number[] = []
      let bytes = 0
      for (; i < items.length && writes.length < WRITE_CHUNK && bytes < WRITE_CHUNK_BYTES; i++) {
        const record = items[i]!
        const problem = recordProblem(record)
        if (problem !== undefined) {
          outcomes[i] = { id: String(record?.id), status: 'rejected', reason: problem }
          continue
        }
        bytes += documentSize(record)
        writes.push({
          key: this.keys.item(record.id),
          id: record.id,
          record,
          json: module && fitsJsonModule(record),
        })
        at.push(i)
      }
      const done = this.#mutate('p', writes, ttl).then((results) => {
        results.forEach((result, k) => {
          const id = writes[k]!.id
          outcomes[at[k]!] =
            result instanceof Error
              ? { id, status: 'rejected', reason: result.message }
              : { id, status: result.done ? 'written' : 'stale' }
        })
      })
      done.catch(() => {}) // awaited below; this only keeps an early failure from going unhandled
      sent.push(done)
    }
    await Promise.all(sent)
    return outcomes
  }

  async get(id: string): Promise<SyncItem | undefined> {
    this.#requireConnected()
    validateId(id)
    if (this.#json === 'module') {
      const [result] = await this.#readModule([id])
      if (result instanceof Error) throw result
      return result
    }
    const key = this.keys.item(id)
    let raw: Buffer | null
    try {
      raw = await this.#conn.client.getBuffer(key)
    } catch (e) {
      throw isReplyError(e) ? wrongType(key, e) : backendError(e, 'get', this.#conn.timeoutMs)
    }
    return raw === null ? undefined : decodeDocument(raw, id, key)
  }

  async getMany(ids: readonly string[]): Promise<GetManyResult> {
    this.#requireConnected()
    checkIds(ids)
    const unique = [...new Set(ids)]
    const results =
      this.#json === 'module'
        ? await this.#readModule(unique)
        : (
            await this.#conn.exec(
              unique.map((id) => {
                const key = this.keys.item(id)
                return { key, name: 'GET', args: [key], buffer: true }
              }),
            )
          ).map(([error, raw], i) => this.#decodeString(unique[i]!, error, raw))
    const items = new Map<string, SyncItem>()
    const errors = new Map<string, Error>()
    results.forEach((result, i) => {
      if (result instanceof Error) errors.set(unique[i]!, result)
      else if (result !== undefined) items.set(unique[i]!, result)
    })
    return { items, errors }
  }

  async exists(id: string): Promise<boolean> {
    this.#requireConnected()
    validateId(id)
    return (await this.#conn.run('exists', () => this.#conn.client.exists(this.keys.item(id)))) === 1
  }

  async deleteBatch(ids: readonly string[]): Promise<string[]> {
    this.#requireConnected()
    checkIds(ids)
    const deletes = ids.map((id) => ({ key: this.keys.item(id), id }))
    const results = await this.#mutate('d', deletes, 0)
    const existed: string[] = []
    results.forEach((result, i) => {
      if (result instanceof Error) throw backendError(result, 'delete', this.#conn.timeoutMs)
      if (result.done) existed.push(ids[i]!)
    })
    return existed
  }

  /**
   * Ids tagged `state`, ascending by byte order (a sorted set read by lex range). Members whose item
   * expired, was deleted or moved to another state are dropped from the set as they are met.
   */
  async byState(state: string, page: PageOptions = {}): Promise<string[]> {
    this.#requireConnected()
    validateState(state)
    const { afterId, limit } = page
    if (afterId !== undefined && typeof afterId !== 'string') {
      throw new InvalidArgumentError('afterId', 'afterId must be a string')
    }
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) {
      throw new InvalidArgumentError('limit', `limit must be an integer ≥ 1, got ${String(limit)}`)
    }
    const key = this.keys.state(state)
    const want = limit ?? Number.POSITIVE_INFINITY
    const out: string[] = []
    let after = afterId
    while (out.length < want) {
      const count = Math.min(STATE_PAGE, want - out.length)
      const min = after === undefined ? '-' : `(${after}`
      const ids = await this.#conn.run('byState', () =>
        this.#conn.client.zrangebylex(key, min, '+', 'LIMIT', 0, count),
      )
      if (ids.length === 0) break
      const states = await this.#states(ids)
      const gone: string[] = []
      ids.forEach((id, i) => {
        ;(states[i] === state ? out : gone).push(id)
      })
      if (gone.length > 0) await this.#conn.run('byState cleanup', () => this.#conn.client.zrem(key, ...gone))
      if (ids.length < count) break
      after = ids[ids.length - 1]
    }
    return out
  }

  #requireConnected(): void {
    if (this.#json === undefined) {
      throw new BackendUnavailableError('redis', `${this.name} is not connected: call connect() first`)
    }
  }

  #decodeString(id: string, error: Error | null, raw: unknown): SyncItem | undefined | Error {
    const key = this.keys.item(id)
    if (error) return wrongType(key, error)
    if (raw === null || raw === undefined) return undefined
    try {
      return decodeDocument(raw as Buffer, id, key)
    } catch (e) {
      return e as Error
    }
  }

  /** Reads through the READ script (any key type: strings and RedisJSON documents). */
  async #readModule(ids: readonly string[]): Promise<(SyncItem | undefined | Error)[]> {
    const replies = await this.#readScript(ids, 'value', true)
    return replies.map((reply, i) => {
      const id = ids[i]!
      const key = this.keys.item(id)
      if (reply instanceof Error) return wrongType(key, reply)
      if (reply === null) return undefined
      const [kind, value] = reply as [Buffer, Buffer]
      try {
        switch (kind.toString()) {
          case 's':
            return decodeDocument(value, id, key)
          case 'j':
            return decodeModuleDocument(value.toString('utf8'), id, key)
          default:
            return new CorruptDataError(key, `the key holds a ${value.toString()}, not an item`)
        }
      } catch (e) {
        return e as Error
      }
    })
  }

  /** The stored state of each id (`null` when it holds no readable item). */
  async #states(ids: readonly string[]): Promise<(string | null)[]> {
    const replies = await this.#readScript(ids, 'state', false)
    return replies.map((reply) => (typeof reply === 'string' ? reply : null))
  }

  /** Runs READ over `ids`, one call per slot group; one answer (or error) per id. */
  async #readScript(ids: readonly string[], what: 'value' | 'state', buffer: boolean): Promise<unknown[]> {
    const keys = ids.map((id) => this.keys.item(id))
    const calls = this.#conn.scriptCalls(keys, () => 1, ITEMS_PER_SCRIPT, BYTES_PER_SCRIPT)
    const replies = await this.#conn.exec(
      calls.map((call) =>
        scriptCommand(
          READ,
          call.map((i) => keys[i]!),
          [what],
          buffer,
        ),
      ),
    )
    return this.#spread(calls, replies, ids.length, (value, k) => (value as unknown[])[k] ?? null)
  }

  /**
   * Runs the write script over `ops` (one call per ≤ 100 keys of one slot) and, on a cluster, keeps
   * the state sets with separate commands (they live in other slots than the items).
   */
  async #mutate(op: Op, ops: readonly Mutation[], ttl: number): Promise<(MutationResult | Error)[]> {
    if (ops.length === 0) return []
    const keys = ops.map((m) => m.key)
    const calls = this.#conn.scriptCalls(
      keys,
      (i) => {
        const record = ops[i]!.record
        return record === undefined ? 0 : documentSize(record)
      },
      ITEMS_PER_SCRIPT,
      BYTES_PER_SCRIPT,
    )
    const sets = this.#conn.isCluster ? '' : this.keys.statePrefix
    const commands = calls.map((call) => {
      const argv: Arg[] = [op, sets, ttl, this.keys.prefixBytes]
      if (op === 'p') {
        const records = call.map((i) => ops[i]!.record!)
        argv.push(...putArguments(records, (k) => ops[call[k]!]!.json === true))
      }
      return scriptCommand(
        MUTATE,
        call.map((i) => keys[i]!),
        argv,
      )
    })
    const replies = await this.#conn.exec(commands)
    const results = this.#spread(calls, replies, ops.length, (value, k) => {
      const reply = value as [statuses: string, ...olds: (string | null)[]]
      return { done: reply[0].charCodeAt(k) === 49, old: reply[k + 1] ?? null }
    })
    if (this.#conn.isCluster) await this.#syncStateSets(ops, results)
    return results
  }

  /** Cluster only: ZREM from the old state's set and ZADD to the new one, one command per set key. */
  async #syncStateSets(
    ops: readonly Mutation[],
    results: readonly (MutationResult | Error)[],
  ): Promise<void> {
    const add = new Map<string, string[]>()
    const remove = new Map<string, string[]>()
    const push = (map: Map<string, string[]>, state: string, id: string) => {
      const list = map.get(state)
      if (list) list.push(id)
      else map.set(state, [id])
    }
    ops.forEach((m, i) => {
      const result = results[i]!
      if (result instanceof Error) return
      const state = m.record?.state
      if (state !== undefined && result.done) push(add, state, m.id)
      if (result.old !== null && (state === undefined || (result.done && result.old !== state)))
        push(remove, result.old, m.id)
    })
    const commands: Command[] = []
    const chunked = (map: Map<string, string[]>, name: string, args: (id: string) => Arg[]) => {
      for (const [state, ids] of map) {
        const key = this.keys.state(state)
        for (let at = 0; at < ids.length; at += 1000) {
          commands.push({ key, name, args: [key, ...ids.slice(at, at + 1000).flatMap(args)] })
        }
      }
    }
    chunked(remove, 'ZREM', (id) => [id])
    chunked(add, 'ZADD', (id) => [0, id])
    const replies = await this.#conn.exec(commands)
    for (const [error] of replies) if (error) throw backendError(error, 'state sets', this.#conn.timeoutMs)
  }

  /** Maps per-call replies back to per-key answers; a call's error reply becomes each of its keys' answer. */
  #spread<T>(
    calls: readonly number[][],
    replies: readonly Reply[],
    size: number,
    pick: (value: unknown, k: number) => T,
  ): (T | Error)[] {
    const out: (T | Error)[] = new Array(size)
    calls.forEach((call, c) => {
      const [error, value] = replies[c]!
      call.forEach((i, k) => {
        out[i] = error ?? pick(value, k)
      })
    })
    return out
  }
}
