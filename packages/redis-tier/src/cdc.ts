import {
  type AppendedRun,
  BackendUnavailableError,
  type ChangeBatch,
  type ChangeEntry,
  type ChangeFeed,
  type ChangeMeta,
  type ChangePublisher,
  CorruptDataError,
  InvalidArgumentError,
  type Logger,
  type ReceivedChange,
  validateId,
} from '@sync-engine/core'
import { keptBytes } from './codec.js'
import { backendError, RedisConnection, scriptCommand, withTimeout } from './connection.js'
import { KeyLayout } from './keys.js'
import {
  bad,
  integerOption,
  type RedisClient,
  type RedisConnectionOptions,
  resolveConnectionOptions,
} from './options.js'
import { Packer } from './packer.js'
import { APPEND_CHANGES } from './scripts.js'

/** Default `MAXLEN ~` of the stream (SPEC §14 `cdc.maxLen`). */
export const DEFAULT_CDC_MAX_LEN = 100_000

export interface RedisChangePublisherOptions extends RedisConnectionOptions {
  /** Approximate length the stream is trimmed to on every append (`MAXLEN ~`). Default 100 000. */
  readonly maxLen?: number | undefined
}

/** The `meta` field: JSON with snake_case keys, absent values left out (a template: the hot path). */
function encodeMeta(meta: ChangeMeta): string {
  let json = '{'
  if (meta.contentType !== undefined) json += `"content_type":${JSON.stringify(meta.contentType)},`
  if (meta.version !== undefined) json += `"version":${JSON.stringify(meta.version)},`
  json += `"updated_at":${JSON.stringify(meta.updatedAt)},`
  if (meta.state !== undefined) json += `"state":${JSON.stringify(meta.state)},`
  return `${json}"origin":${JSON.stringify(meta.origin)}}`
}

/** Appends `entry` to an APPEND_CHANGES blob (op, key, hash, data, meta), validated. */
function packEntry(entry: ChangeEntry, index: number, out: Packer): void {
  const where = `entries[${index}]`
  if (entry === null || typeof entry !== 'object')
    throw new InvalidArgumentError(where, `${where} must be a change entry`)
  if (entry.op !== 'PUT' && entry.op !== 'DEL') {
    throw new InvalidArgumentError(
      `${where}.op`,
      `${where}.op must be 'PUT' or 'DEL', got ${JSON.stringify(entry.op)}`,
    )
  }
  validateId(entry.key)
  if (typeof entry.hash !== 'string')
    throw new InvalidArgumentError(`${where}.hash`, `${where}.hash must be a string`)
  if (entry.meta === null || typeof entry.meta !== 'object' || typeof entry.meta.origin !== 'string') {
    throw new InvalidArgumentError(`${where}.meta`, `${where}.meta must be change metadata with an origin`)
  }
  if (entry.op === 'PUT' && !(entry.data instanceof Uint8Array)) {
    throw new InvalidArgumentError(`${where}.data`, `${where}.data must be the content bytes of a PUT`)
  }
  out.byte(entry.op === 'PUT' ? 0 : 1)
  out.text(entry.key, 2)
  out.text(entry.hash, 4)
  out.bytes(entry.op === 'PUT' ? entry.data! : EMPTY)
  out.text(encodeMeta(entry.meta), 4)
}

const EMPTY = new Uint8Array(0)

/** Entries and bytes per APPEND_CHANGES call: Redis runs a script to its end before anything else. */
const APPEND_ENTRIES = 1000
const APPEND_BYTES = 4 * 1024 * 1024
/** About the bytes of an entry in a blob besides its data (lengths, op, key, hash, meta). */
const ENTRY_BYTES = 256

/**
 * Appends change entries to the stream `{prefix}__se:cdc` (SPEC §10): one
 * `XADD key MAXLEN ~ maxLen * op … key … hash … [data …] meta …` per entry, `data` as raw bytes, run
 * by a script that takes up to 1000 entries a call.
 */
export class RedisChangePublisher implements ChangePublisher {
  readonly keys: KeyLayout
  readonly maxLen: number
  readonly #conn: RedisConnection

  constructor(options: RedisChangePublisherOptions = {}) {
    const resolved = resolveConnectionOptions(options, ['maxLen'])
    this.maxLen = integerOption('maxLen', options.maxLen, DEFAULT_CDC_MAX_LEN, 1)
    this.#conn = new RedisConnection(resolved)
    this.keys = new KeyLayout(resolved.prefix)
  }

  /** Connects the client (a no-op for a caller's client that is already connected). */
  async connect(): Promise<void> {
    await this.#conn.connect()
    await this.#conn.loadScripts([APPEND_CHANGES])
  }

  async close(): Promise<void> {
    await this.#conn.close()
  }

  /**
   * Appends `entries` in order; answers the stream ids each script call's entries landed between
   * (see `RedisChangeFeed.passOver`).
   */
  async publish(entries: readonly ChangeEntry[]): Promise<AppendedRun[]> {
    if (!Array.isArray(entries)) throw new InvalidArgumentError('entries', 'entries must be an array')
    if (entries.length === 0) return []
    const key = this.keys.cdc
    // Validated whole before anything is sent: a bad entry appends nothing.
    const blobs: Buffer[] = []
    // Sized for the entries to come (up to a call's worth), so a blob is seldom copied as it grows.
    const room = (from: number) => {
      let bytes = 0
      for (let i = from; i < entries.length && i < from + APPEND_ENTRIES && bytes < APPEND_BYTES; i++)
        bytes += ENTRY_BYTES + (entries[i]?.data?.byteLength ?? 0)
      return bytes
    }
    let blob = new Packer(room(0))
    let count = 0
    entries.forEach((entry, i) => {
      if (count === APPEND_ENTRIES || blob.length > APPEND_BYTES) {
        blobs.push(blob.done())
        blob = new Packer(room(i))
        count = 0
      }
      packEntry(entry, i, blob)
      count++
    })
    blobs.push(blob.done())
    const replies = await this.#conn.exec(
      blobs.map((packed) => scriptCommand(APPEND_CHANGES, [key], [this.maxLen, packed])),
    )
    return replies.map(([error, value]) => {
      if (error) throw new CorruptDataError(key, `cannot append to the change stream: ${error.message}`)
      return value as [first: string, last: string]
    })
  }
}

/** Runs a feed keeps to pass over (see `RedisChangeFeed.passOver`). */
const MAX_RUNS = 10_000

/** Where a feed keeps its cursor between runs. */
export interface ChangeCursorStore {
  load(): Promise<string | undefined>
  save(cursor: string): Promise<void>
}

/** A cursor store in the Redis key `{prefix}__se:cdc:cursor:{name}`, through `client`. */
export function redisCursorStore(
  client: RedisClient,
  { prefix = 'sync:', name }: { prefix?: string; name: string },
): ChangeCursorStore {
  if (typeof name !== 'string' || name === '')
    throw new InvalidArgumentError('name', 'a cursor name must be a non-empty string')
  const key = new KeyLayout(prefix).cursor(name)
  return {
    load: async () => (await client.get(key)) ?? undefined,
    save: async (cursor) => {
      await client.set(key, cursor)
    },
  }
}

export interface RedisChangeFeedOptions extends RedisConnectionOptions {
  /**
   * Where to start when `cursorStore` has no cursor: `'latest'` (changes after the first read; the
   * default), `'earliest'` (everything the stream still holds) or a stream id (`'1700000000000-0'`).
   */
  readonly start?: 'earliest' | 'latest' | string | undefined
  /** Persists the cursor: loaded at the first read; saved when the next read starts and on close. */
  readonly cursorStore?: ChangeCursorStore | undefined
  /**
   * An origin whose entries this feed passes over without decoding them (the cursor still moves past
   * them): an engine's own writes, which its coherence reader would drop anyway.
   */
  readonly skipOrigin?: string | undefined
}

const STREAM_ID = /^(\d+)-(\d+)$/
const ORIGIN = '0-0'

function compareIds(a: string, b: string): number {
  const x = STREAM_ID.exec(a)
  const y = STREAM_ID.exec(b)
  if (!x || !y) return a < b ? -1 : a > b ? 1 : 0
  const ms = BigInt(x[1]!) - BigInt(y[1]!)
  const diff = ms === 0n ? BigInt(x[2]!) - BigInt(y[2]!) : ms
  return diff < 0n ? -1 : diff > 0n ? 1 : 0
}

/** A flat `[name, value, …]` reply as a map. */
function fieldMap<T>(flat: readonly unknown[]): Map<string, T> {
  const map = new Map<string, T>()
  for (let i = 0; i + 1 < flat.length; i += 2) map.set(String(flat[i]), flat[i + 1] as T)
  return map
}

type StreamEntry = [id: Buffer, fields: Buffer[]]

/**
 * True when changes after `cursor` may have been trimmed away before they were read: the oldest
 * entry the stream still holds is newer than the cursor (its own entry is gone), or an entry after
 * the cursor was deleted. Conservative: when exactly the cursor's own entry was trimmed and its
 * successor is still there, it reports a gap too. From `0-0` (the beginning): a gap when the stream
 * ever dropped an entry (Redis ≥ 7 counts `entries-added`; 6.2 cannot tell and reports none).
 */
function hasGap(info: readonly unknown[] | null, cursor: string): boolean {
  if (info === null) return cursor !== ORIGIN
  const fields = fieldMap<unknown>(info)
  if (cursor === ORIGIN) {
    const added = Number(fields.get('entries-added'))
    return Number.isFinite(added) && added > Number(fields.get('length'))
  }
  const entry = fields.get('first-entry') as unknown[] | null | undefined
  const first = String(fields.get('recorded-first-entry-id') ?? (Array.isArray(entry) ? entry[0] : ORIGIN))
  if (first !== ORIGIN && compareIds(first, cursor) > 0) return true
  const maxDeleted = fields.get('max-deleted-entry-id')
  return maxDeleted !== undefined && maxDeleted !== null && compareIds(String(maxDeleted), cursor) > 0
}

/**
 * A consumer of the change stream with its own cursor (SPEC §10). It reads on a DEDICATED connection
 * (blocking reads never share the command connection): each `read` first takes, in one MULTI, the
 * stream's info and the entries after the cursor, so the gap check and the entries agree; when there
 * are none it blocks up to `blockMs` for new ones. `close()` drops the connection, so a blocked read
 * resolves at once with no changes.
 */
export class RedisChangeFeed implements ChangeFeed {
  readonly keys: KeyLayout
  readonly #conn: RedisConnection
  readonly #store: ChangeCursorStore | undefined
  readonly #logger: Logger
  readonly #skipTail: Buffer | undefined
  #cursor: string
  #saved: string | undefined
  #started = false
  /** Runs to pass over (`passOver`), by first id; none of them overlap. */
  #runs: AppendedRun[] = []
  /** Set by the first `passOver`: a blocked read then takes one entry, not a batch (see `#read`). */
  #passing = false
  /** Publishes in flight given to `passOver`, awaited before a read. */
  readonly #pending = new Set<Promise<void>>()
  #closed = false
  #reading = false

  constructor(options: RedisChangeFeedOptions = {}) {
    const resolved = resolveConnectionOptions(options, ['start', 'cursorStore', 'skipOrigin'])
    const start = options.start ?? 'latest'
    if (start !== 'latest' && start !== 'earliest' && !STREAM_ID.test(start)) {
      bad(
        'start',
        `must be 'latest', 'earliest' or a stream id like '1700000000000-0', got ${JSON.stringify(start)}`,
      )
    }
    const store = options.cursorStore
    if (store !== undefined && (typeof store.load !== 'function' || typeof store.save !== 'function')) {
      bad('cursorStore', 'must have load() and save(cursor)')
    }
    const skip = options.skipOrigin
    if (skip !== undefined && (typeof skip !== 'string' || skip === ''))
      bad('skipOrigin', 'must be a non-empty string')
    // encodeMeta writes the origin last: a meta of that origin ends with these bytes, and no valid meta
    // of another origin does (a `"` inside a JSON string is escaped).
    this.#skipTail = skip === undefined ? undefined : Buffer.from(`,"origin":${JSON.stringify(skip)}}`)
    this.#store = store
    this.#cursor = start === 'latest' ? '$' : start === 'earliest' ? ORIGIN : start
    this.#conn = new RedisConnection(resolved, 'blocking')
    this.keys = new KeyLayout(resolved.prefix)
    this.#logger = resolved.logger
  }

  /** The id of the last entry read (`'$'` until the first read of a feed that starts at `'latest'`). */
  get cursor(): string {
    return this.#cursor
  }

  /**
   * Entries in `runs` (what a `RedisChangePublisher.publish` of this process answered) are never
   * returned: a read that reaches a run moves the cursor past it without reading it, so a coherence
   * reader does not read back every entry its own process appended. Runs the cursor has passed are
   * ignored; at most 10 000 are kept (past that, entries are read and returned as usual). Given the
   * promise of a publish still in flight, the next read first waits for it: a reader woken by its
   * own publish does not read that publish back before its reply arrived.
   */
  passOver(runs: readonly AppendedRun[] | PromiseLike<unknown>): void {
    if (!Array.isArray(runs)) {
      // A publish in flight: the next read waits for it (its failure only means nothing to pass over).
      this.#passing = true
      const pending: Promise<void> = Promise.resolve(runs as PromiseLike<unknown>)
        .then((landed) => {
          if (Array.isArray(landed)) this.passOver(landed)
        })
        .catch(() => undefined)
        .finally(() => this.#pending.delete(pending))
      this.#pending.add(pending)
      return
    }
    for (const run of runs as readonly AppendedRun[]) {
      if (!Array.isArray(run) || !STREAM_ID.test(run[0]) || !STREAM_ID.test(run[1])) {
        throw new InvalidArgumentError(
          'runs',
          `${JSON.stringify(run)} is not a [first, last] pair of stream ids`,
        )
      }
      if (this.#runs.length >= MAX_RUNS) return
      this.#passing = true
      const at = this.#runs.length
      this.#runs.push(run)
      if (at > 0 && compareIds(this.#runs[at - 1]![0], run[0]) > 0) {
        this.#runs.sort((a, b) => compareIds(a[0], b[0]))
      }
    }
  }

  async read({ count = 100, blockMs = 0 }: { count?: number; blockMs?: number } = {}): Promise<ChangeBatch> {
    integerOption('count', count, 100, 1)
    integerOption('blockMs', blockMs, 0, 0)
    if (this.#closed) throw new BackendUnavailableError('redis', 'the change feed is closed')
    if (this.#reading) throw new InvalidArgumentError('read', 'a change feed reads one batch at a time')
    this.#reading = true
    try {
      // The whole read is bounded: the block, plus the command timeout for each round trip.
      return await withTimeout(
        this.#read(count, blockMs),
        blockMs + 4 * this.#conn.timeoutMs,
        'change feed read',
      )
    } catch (e) {
      if (this.#closed) return { changes: [], gap: false, cursor: this.#cursor }
      throw backendError(e, 'change feed read', this.#conn.timeoutMs)
    } finally {
      this.#reading = false
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    try {
      await this.#persist()
    } finally {
      await this.#conn.close()
    }
  }

  async #read(count: number, blockMs: number): Promise<ChangeBatch> {
    await this.#start()
    await this.#persist()
    if (this.#pending.size > 0) await Promise.all(this.#pending)
    while (this.#runs.length > 0 && compareIds(this.#runs[0]![1], this.#cursor) <= 0) this.#runs.shift()
    const run = this.#runs[0]
    if (run !== undefined && compareIds(run[0], this.#cursor) <= 0) {
      // The cursor is inside a run: pass over the rest of it, unread.
      this.#runs.shift()
      this.#cursor = run[1]
      return { changes: [], gap: false, cursor: this.#cursor }
    }
    const key = this.keys.cdc
    const client = this.#conn.client
    const multi = client.multi().call('XINFO', 'STREAM', key)
    // Before a run: only the entries between the cursor and the run.
    if (run) multi.xrangeBuffer(key, `(${this.#cursor}`, `(${run[0]}`, 'COUNT', count)
    else multi.xreadBuffer('COUNT', count, 'STREAMS', key, this.#cursor)
    const results = await multi.exec()
    if (!results) throw new BackendUnavailableError('redis', 'change feed read: transaction aborted')
    const [[infoError, info], [readError, read]] = results as [
      [Error | null, unknown],
      [Error | null, unknown],
    ]
    if (readError) throw readError
    if (infoError && !/no such key/i.test(infoError.message)) throw infoError
    const gap = hasGap(infoError ? null : (info as unknown[]), this.#cursor)
    let entries = run ? (read as StreamEntry[]) : this.#entriesOf(read)
    if (!run && entries.length === 0 && blockMs > 0 && !this.#closed) {
      // A feed that passes over runs wakes up for one entry: the wake-up is most often this process's
      // own publish, whose run is known by the next read.
      entries = this.#entriesOf(
        await client.xreadBuffer(
          'COUNT',
          this.#passing ? 1 : count,
          'BLOCK',
          blockMs,
          'STREAMS',
          key,
          this.#cursor,
        ),
      )
    }
    const changes: ReceivedChange[] = []
    for (const [id, fields] of entries) {
      const streamId = id.toString()
      this.#cursor = streamId
      const change = this.#decode(streamId, fields)
      if (change) changes.push(change)
    }
    if (run && entries.length < count) {
      // Everything before the run was read: the run itself is passed over.
      this.#runs.shift()
      this.#cursor = run[1]
    }
    return { changes, gap, cursor: this.#cursor }
  }

  /** Loads a persisted cursor, else resolves `'latest'` to the stream's last id (`0-0` when empty). */
  async #start(): Promise<void> {
    if (this.#started) return
    await this.#conn.connect()
    const stored = this.#store ? await this.#store.load() : undefined
    if (stored !== undefined) {
      if (!STREAM_ID.test(stored))
        throw new CorruptDataError(
          'change feed cursor store',
          `cursor ${JSON.stringify(stored)} is not a stream id`,
        )
      this.#cursor = stored
    } else if (this.#cursor === '$') {
      try {
        const info = fieldMap<unknown>(
          (await this.#conn.client.call('XINFO', 'STREAM', this.keys.cdc)) as unknown[],
        )
        this.#cursor = String(info.get('last-generated-id') ?? ORIGIN)
      } catch (e) {
        if (!(e instanceof Error && /no such key/i.test(e.message))) throw e
        this.#cursor = ORIGIN
      }
    }
    this.#saved = stored ?? this.#cursor
    this.#started = true
  }

  /** Saves the cursor of the batch handed out last (the caller is done with it when it reads again). */
  async #persist(): Promise<void> {
    if (!this.#store || !this.#started || this.#saved === this.#cursor) return
    await this.#store.save(this.#cursor)
    this.#saved = this.#cursor
  }

  #entriesOf(reply: unknown): StreamEntry[] {
    if (!Array.isArray(reply) || reply.length === 0) return []
    return ((reply[0] as [Buffer, StreamEntry[]])[1] ?? []) as StreamEntry[]
  }

  /** One entry as a change; entries this package did not write are logged and skipped. */
  #decode(streamId: string, flat: Buffer[]): ReceivedChange | undefined {
    let op: string | undefined
    let key: Buffer | undefined
    let hash: Buffer | undefined
    let data: Buffer | undefined
    let metaBytes: Buffer | undefined
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const value = flat[i + 1]!
      switch (flat[i]!.toString('latin1')) {
        case 'op':
          op = value.toString('latin1')
          break
        case 'key':
          key = value
          break
        case 'hash':
          hash = value
          break
        case 'data':
          data = value
          break
        case 'meta':
          metaBytes = value
      }
    }
    const tail = this.#skipTail
    if (tail && metaBytes && metaBytes.length >= tail.length) {
      if (metaBytes.compare(tail, 0, tail.length, metaBytes.length - tail.length) === 0) return undefined
    }
    try {
      if ((op !== 'PUT' && op !== 'DEL') || key === undefined) throw new Error('no op/key')
      const raw = JSON.parse(metaBytes?.toString('utf8') ?? 'null') as Record<string, unknown>
      if (raw === null || typeof raw !== 'object' || typeof raw.origin !== 'string')
        throw new Error('no meta')
      const contentType =
        raw.content_type === 'json' || raw.content_type === 'binary' ? raw.content_type : undefined
      const meta: ChangeMeta = {
        contentType,
        version: typeof raw.version === 'number' ? raw.version : undefined,
        updatedAt: typeof raw.updated_at === 'number' ? raw.updated_at : 0,
        state: typeof raw.state === 'string' ? raw.state : undefined,
        origin: raw.origin,
      }
      const change: ReceivedChange = {
        op,
        key: key.toString('utf8'),
        hash: hash?.toString() ?? '',
        meta,
        streamId,
      }
      return data === undefined ? change : { ...change, data: keptBytes(data) }
    } catch (e) {
      this.#logger.warn(
        { streamId, reason: (e as Error).message },
        'skipping a change stream entry this feed cannot read',
      )
      return undefined
    }
  }
}
