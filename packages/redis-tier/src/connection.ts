import {
  BackendUnavailableError,
  type Logger,
  redactUrl,
  SyncEngineError,
  TimeoutError,
} from '@sync-engine/core'
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis'
import type { RedisClient, ResolvedConnectionOptions } from './options.js'
import type { LuaScript } from './scripts.js'
import { keySlot } from './slot.js'

export type Arg = string | Buffer | number

/** One command of a batch. Every key of one command must share the slot of `key` (Redis Cluster). */
export interface Command {
  /** The key the command is routed by. */
  readonly key: string
  readonly name: string
  readonly args: readonly Arg[]
  /** Answer bulk strings as Buffers. */
  readonly buffer?: boolean
  /** Set for EVALSHA commands (`args[0]` is the SHA): re-sent as EVAL on NOSCRIPT. */
  readonly script?: LuaScript
}

/** A command's answer: a Redis error reply (WRONGTYPE, …) or its value. */
export type Reply = [error: Error | null, value: unknown]

/** Commands per pipeline (SPEC §4: explicit pipelines of ~1000 commands). */
export const PIPELINE_COMMANDS = 1000
/** Pipelines of one `exec` in flight at once. */
const PIPELINES_IN_FLIGHT = 4
/**
 * At most this many commands go out one by one instead of as a pipeline: ioredis copies a pipeline's
 * commands into one buffer before writing it (each already a buffer of its own when an argument is
 * binary), which for the few multi-megabyte script calls of a flush is a second copy of every byte.
 * Many small commands still go as a pipeline: one write instead of one per command.
 */
const DIRECT_COMMANDS = 8

/** `EVALSHA script.sha numkeys …keys …argv` for one slot's keys. */
export function scriptCommand(
  script: LuaScript,
  keys: readonly string[],
  argv: readonly Arg[],
  buffer = false,
): Command {
  return { key: keys[0]!, name: 'EVALSHA', args: [script.sha, keys.length, ...keys, ...argv], script, buffer }
}

/** Errors Redis answers that mean "not now" rather than "this command is wrong". */
const TRANSIENT_REPLY = /^(CLUSTERDOWN|LOADING|TRYAGAIN|MASTERDOWN|BUSY|READONLY)\b/

/** True for a Redis error reply about the command or its data (WRONGTYPE, NOSCRIPT, …). */
export function isReplyError(error: unknown): error is Error {
  return error instanceof Error && error.name === 'ReplyError' && !TRANSIENT_REPLY.test(error.message)
}

/** Maps a client error to core's typed errors: `TimeoutError`, else `BackendUnavailableError`. */
export function backendError(error: unknown, operation: string, timeoutMs: number): SyncEngineError {
  if (error instanceof SyncEngineError) return error
  const message = error instanceof Error ? error.message : String(error)
  if (/command timed out/i.test(message)) return new TimeoutError(`redis ${operation}`, timeoutMs)
  return new BackendUnavailableError('redis', `${operation}: ${message}`, { cause: error })
}

/** Resolves `promise`, or rejects with `TimeoutError` after `ms` (the timer never holds the process). */
export function withTimeout<T>(promise: Promise<T>, ms: number, operation: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(operation, ms)), ms)
    timer.unref()
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Reconnect delay: 50 ms doubling up to a 2 s cap, forever (the client heals when Redis returns). */
function backoff(times: number): number {
  return Math.min(50 * 2 ** Math.min(times, 6), 2000)
}

function createClient(options: ResolvedConnectionOptions, blocking: boolean): RedisClient {
  const timeouts = blocking
    ? { blockingTimeout: options.commandTimeoutMs }
    : { commandTimeout: options.commandTimeoutMs }
  const common = {
    maxRetriesPerRequest: 1,
    connectTimeout: Math.max(options.commandTimeoutMs, 1000),
    ...timeouts,
  }
  if (!options.cluster) {
    return new Redis(options.url, {
      ...common,
      lazyConnect: true,
      enableOfflineQueue: false,
      retryStrategy: backoff,
    } satisfies RedisOptions)
  }
  const url = new URL(options.url)
  return new Cluster([{ host: url.hostname, port: Number(url.port || 6379) }], {
    lazyConnect: true,
    enableOfflineQueue: false,
    clusterRetryStrategy: backoff,
    slotsRefreshTimeout: Math.max(options.commandTimeoutMs, 1000),
    redisOptions: {
      ...common,
      ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
      ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
      ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
    },
  } satisfies ClusterOptions)
}

/** A dedicated copy of a caller's client for blocking reads (no command timeout, a blocking one). */
function duplicateClient(client: RedisClient, timeoutMs: number): RedisClient {
  if (client instanceof Cluster) {
    const redisOptions = { ...client.options.redisOptions, blockingTimeout: timeoutMs }
    delete redisOptions.commandTimeout
    return client.duplicate(undefined, { lazyConnect: true, redisOptions } as Parameters<
      Cluster['duplicate']
    >[1])
  }
  return client.duplicate({ lazyConnect: true, commandTimeout: undefined, blockingTimeout: timeoutMs })
}

/**
 * One ioredis client and the batch machinery every part of the tier shares: pipelines of at most
 * `PIPELINE_COMMANDS` commands, grouped per cluster node (so no pipeline mixes nodes and no command
 * mixes slots), EVALSHA with an EVAL fallback, and errors mapped to core's types.
 */
export class RedisConnection {
  readonly client: RedisClient
  readonly isCluster: boolean
  readonly options: ResolvedConnectionOptions
  readonly #owned: boolean
  readonly #logger: Logger
  #down = false
  /** Set when a failed connect() stopped the client (ioredis may still say 'reconnecting'). */
  #stopped = false

  constructor(options: ResolvedConnectionOptions, role: 'commands' | 'blocking' = 'commands') {
    this.options = options
    this.#logger = options.logger
    if (options.client === undefined) {
      this.client = createClient(options, role === 'blocking')
      this.#owned = true
    } else if (role === 'blocking') {
      this.client = duplicateClient(options.client, options.commandTimeoutMs)
      this.#owned = true
    } else {
      this.client = options.client
      this.#owned = false
    }
    this.isCluster = this.client instanceof Cluster
    if (this.#owned) {
      this.client.on('error', (error: Error) => {
        if (this.#down) return
        this.#down = true
        this.#logger.warn(
          { err: error.message, target: this.describe() },
          'redis connection lost; reconnecting',
        )
      })
      this.client.on('ready', () => {
        if (!this.#down) return
        this.#down = false
        this.#logger.info({ target: this.describe() }, 'redis connection back')
      })
    }
  }

  /** Where this connection points, password redacted. */
  describe(): string {
    if (this.options.client !== undefined) return this.isCluster ? 'cluster (caller client)' : 'caller client'
    return `${this.isCluster ? 'cluster ' : ''}${redactUrl(this.options.url)}`
  }

  get timeoutMs(): number {
    return this.options.commandTimeoutMs
  }

  /** Connects (or waits for a reconnecting client), bounded by the connect timeout. */
  async connect(): Promise<void> {
    const client = this.client
    if (client.status === 'ready') return
    const ms = Math.max(this.timeoutMs, 1000) * 2
    try {
      if (this.#stopped || client.status === 'wait' || client.status === 'end' || client.status === 'close') {
        this.#stopped = false
        await withTimeout(client.connect(), ms, `redis connect to ${this.describe()}`)
      } else {
        await withTimeout(
          new Promise<void>((resolve) => client.once('ready', () => resolve())),
          ms,
          `redis connect to ${this.describe()}`,
        )
      }
    } catch (e) {
      // A client that never connected stops retrying in the background; the next connect() starts over.
      if (this.#owned) {
        this.client.disconnect()
        this.#stopped = true
      }
      const reason = e instanceof Error ? e.message : String(e)
      throw new BackendUnavailableError('redis', `cannot connect to ${this.describe()}: ${reason}`, {
        cause: e,
      })
    }
  }

  /**
   * Closes the client if this package created it (a caller's client is left alone), and resolves
   * once it has ended, so a `connect()` right after starts afresh.
   */
  async close(): Promise<void> {
    if (!this.#owned) return
    const client = this.client
    const ended =
      this.#stopped || client.status === 'wait' || client.status === 'end'
        ? Promise.resolve()
        : new Promise<void>((resolve) => client.once('end', () => resolve()))
    client.disconnect()
    await withTimeout(ended, 1000, 'redis close').catch(() => {})
  }

  /** Runs one client call, mapping transport errors; Redis error replies are rethrown as they are. */
  async run<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call()
    } catch (e) {
      if (isReplyError(e)) throw e
      throw backendError(e, operation, this.timeoutMs)
    }
  }

  /** SCRIPT LOAD on every master, so EVALSHA hits the first time. */
  async loadScripts(scripts: readonly LuaScript[]): Promise<void> {
    const nodes: Redis[] = this.client instanceof Cluster ? this.client.nodes('master') : [this.client]
    await this.run('script load', () =>
      Promise.all(nodes.flatMap((node) => scripts.map((s) => node.script('LOAD', s.source)))),
    )
  }

  /**
   * Sends `commands` and answers one reply per command, in order. Pipelines of up to 1000 commands,
   * one group per cluster node, all in flight at once; `atomic` wraps each group in MULTI/EXEC
   * (one transaction on a single server; per node, not across nodes, on a cluster — there it is a
   * plain pipeline, since a transaction cannot span slots). Throws `BackendUnavailableError` /
   * `TimeoutError` when Redis cannot be reached; Redis error replies come back in the replies.
   */
  async exec(commands: readonly Command[], { atomic = false } = {}): Promise<Reply[]> {
    const replies: Reply[] = new Array(commands.length)
    if (commands.length === 0) return replies
    await this.#send(
      commands,
      commands.map((_, i) => i),
      replies,
      atomic,
      false,
    )
    const missing: number[] = []
    for (let i = 0; i < commands.length; i++) {
      const error = replies[i]![0]
      if (error && commands[i]!.script && error.message.startsWith('NOSCRIPT')) missing.push(i)
    }
    if (missing.length > 0) await this.#send(commands, missing, replies, atomic, true)
    return replies
  }

  /** The cluster slot of `key`; 0 on a single server (everything is one group there). */
  slotOf(key: string): number {
    return this.isCluster ? keySlot(key) : 0
  }

  /**
   * Splits key indices into script calls, in order: one slot's keys a call (Redis Cluster), at most
   * `maxKeys` keys and about `maxBytes` of `weight` a call, and no key twice in one call (a script
   * may defer its writes to the end of the call).
   */
  scriptCalls(
    keys: readonly string[],
    weight: (i: number) => number,
    maxKeys: number,
    maxBytes: number,
  ): number[][] {
    const bySlot = new Map<number, number[]>()
    for (let i = 0; i < keys.length; i++) {
      const slot = this.slotOf(keys[i]!)
      const group = bySlot.get(slot)
      if (group) group.push(i)
      else bySlot.set(slot, [i])
    }
    const calls: number[][] = []
    for (const group of bySlot.values()) {
      let call: number[] = []
      let bytes = 0
      const inCall = new Set<string>()
      for (const i of group) {
        const full = call.length === maxKeys || bytes + weight(i) > maxBytes
        if (call.length > 0 && (full || inCall.has(keys[i]!))) {
          calls.push(call)
          call = []
          bytes = 0
          inCall.clear()
        }
        call.push(i)
        inCall.add(keys[i]!)
        bytes += weight(i)
      }
      if (call.length > 0) calls.push(call)
    }
    return calls
  }

  async #send(
    commands: readonly Command[],
    indices: number[],
    replies: Reply[],
    atomic: boolean,
    useEval: boolean,
  ): Promise<void> {
    const transaction = atomic && !this.isCluster
    const chunks: number[][] = []
    for (const group of this.#groups(commands, indices)) {
      const size = transaction ? group.length : PIPELINE_COMMANDS
      for (let at = 0; at < group.length; at += size) chunks.push(group.slice(at, at + size))
    }
    // A few pipelines in flight: enough to keep Redis busy, few enough that none waits behind the
    // others past the command timeout.
    let next = 0
    const worker = async () => {
      while (next < chunks.length)
        await this.#pipeline(commands, chunks[next++]!, replies, transaction, useEval)
    }
    await Promise.all(Array.from({ length: Math.min(PIPELINES_IN_FLIGHT, chunks.length) }, worker))
  }

  #groups(commands: readonly Command[], indices: number[]): number[][] {
    if (!(this.client instanceof Cluster)) return [indices]
    const slots = this.client.slots
    const byNode = new Map<string, number[]>()
    for (const i of indices) {
      const node = slots[keySlot(commands[i]!.key)]?.join(';') ?? ''
      const group = byNode.get(node)
      if (group) group.push(i)
      else byNode.set(node, [i])
    }
    return [...byNode.values()]
  }

  async #pipeline(
    commands: readonly Command[],
    indices: number[],
    replies: Reply[],
    transaction: boolean,
    useEval: boolean,
  ): Promise<void> {
    const direct = !transaction && !this.isCluster && indices.length <= DIRECT_COMMANDS
    const pipeline = direct ? undefined : transaction ? this.client.multi() : this.client.pipeline()
    const sent: Promise<[Error | null, unknown]>[] = []
    for (const i of indices) {
      const command = commands[i]!
      const args =
        useEval && command.script ? [command.script.source, ...command.args.slice(1)] : command.args
      const name = useEval && command.script ? 'EVAL' : command.name
      if (pipeline) {
        if (command.buffer) pipeline.callBuffer(name, ...args)
        else pipeline.call(name, ...args)
        continue
      }
      const reply = command.buffer ? this.client.callBuffer(name, ...args) : this.client.call(name, ...args)
      sent.push(
        reply.then(
          (value): [null, unknown] => [null, value],
          (error: Error): [Error, null] => [error, null],
        ),
      )
    }
    const operation = `${commands[indices[0]!]!.script?.name ?? commands[indices[0]!]!.name} ×${indices.length}`
    let results: [Error | null, unknown][] | null
    try {
      results = pipeline ? await pipeline.exec() : await Promise.all(sent)
    } catch (e) {
      throw backendError(e, operation, this.timeoutMs)
    }
    if (!results) throw new BackendUnavailableError('redis', `${operation}: transaction aborted`)
    for (let k = 0; k < indices.length; k++) {
      const reply = results[k] ?? [new Error('no reply'), null]
      if (reply[0] && !isReplyError(reply[0])) throw backendError(reply[0], operation, this.timeoutMs)
      replies[indices[k]!] = reply
    }
  }
}
