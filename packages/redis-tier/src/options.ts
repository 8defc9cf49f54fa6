import { InvalidArgumentError, type Logger, silentLogger } from '@sync-engine/core'
import { Cluster, Redis } from 'ioredis'

/** An ioredis client: a single server (`Redis`) or a `Cluster`. */
export type RedisClient = Redis | Cluster

/** How JSON items are stored: RedisJSON documents (`module`), strings (`string`), or detect (`auto`). */
export type JsonMode = 'auto' | 'module' | 'string'

/** How to reach Redis; shared by the store, the change publisher and the change feed. */
export interface RedisConnectionOptions {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://`). Default `redis://127.0.0.1:6379`. */
  readonly url?: string | undefined
  /**
   * Your own ioredis client (`Redis` or `Cluster`) instead of `url`. It is used as it is (its own
   * timeouts and queue settings) and never closed by this package.
   */
  readonly client?: RedisClient | undefined
  /** Treat `url` as a seed node of a Redis Cluster. Default false. */
  readonly cluster?: boolean | undefined
  /** Prefix of every key (SPEC §5.1). Default `'sync:'`. */
  readonly prefix?: string | undefined
  /** Per-command timeout of the clients this package creates, in ms. Default 1000. */
  readonly commandTimeoutMs?: number | undefined
  /** pino-compatible logger; default: silent. */
  readonly logger?: Logger | undefined
}

export interface RedisL2StoreOptions extends RedisConnectionOptions {
  /** Default `'auto'`: RedisJSON documents when the server has the JSON module, strings otherwise. */
  readonly json?: JsonMode | undefined
}

export interface ResolvedConnectionOptions {
  readonly url: string
  readonly client: RedisClient | undefined
  readonly cluster: boolean
  readonly prefix: string
  readonly commandTimeoutMs: number
  readonly logger: Logger
}

export const DEFAULTS = Object.freeze({
  url: 'redis://127.0.0.1:6379',
  prefix: 'sync:',
  commandTimeoutMs: 1000,
  json: 'auto' as JsonMode,
})

const CONNECTION_KEYS = ['url', 'client', 'cluster', 'prefix', 'commandTimeoutMs', 'logger']

export function bad(name: string, message: string): never {
  throw new InvalidArgumentError(`options.${name}`, `options.${name} ${message}`)
}

/** Refuses anything but a plain object, and unknown keys (a typo must not fall back to a default). */
export function checkKeys(options: unknown, known: readonly string[]): Record<string, unknown> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError('options', 'options must be an object')
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) bad(key, `is not an option (known: ${known.join(', ')})`)
  }
  return options as Record<string, unknown>
}

export function integerOption(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    bad(name, `must be an integer ≥ ${min}, got ${String(value)}`)
  }
  return value
}

/** Validates the connection part of any options object; `extra` names the caller's own keys. */
export function resolveConnectionOptions(
  options: RedisConnectionOptions,
  extra: readonly string[] = [],
): ResolvedConnectionOptions {
  const o = checkKeys(options, [...CONNECTION_KEYS, ...extra])
  const { url, client, cluster = false, prefix = DEFAULTS.prefix, logger = silentLogger } = o
  if (url !== undefined && client !== undefined) bad('url', 'and options.client exclude each other')
  if (url !== undefined) {
    if (typeof url !== 'string' || !/^rediss?:\/\//.test(url)) {
      bad('url', `must be a redis:// or rediss:// URL, got ${JSON.stringify(url)}`)
    }
  }
  if (client !== undefined && !(client instanceof Redis) && !(client instanceof Cluster)) {
    bad('client', 'must be an ioredis Redis or Cluster instance')
  }
  if (typeof cluster !== 'boolean') bad('cluster', `must be a boolean, got ${typeof cluster}`)
  if (typeof prefix !== 'string' || /[\u0000-\u001f\u007f]/.test(prefix)) {
    bad('prefix', `must be a string without control characters, got ${JSON.stringify(prefix)}`)
  }
  if (typeof logger !== 'object' || logger === null || typeof (logger as Logger).warn !== 'function') {
    bad('logger', 'must be a pino-compatible logger')
  }
  return {
    url: (url as string | undefined) ?? DEFAULTS.url,
    client: client as RedisClient | undefined,
    cluster,
    prefix,
    commandTimeoutMs: integerOption('commandTimeoutMs', o.commandTimeoutMs, DEFAULTS.commandTimeoutMs, 1),
    logger: logger as Logger,
  }
}

export function resolveJsonMode(value: unknown): JsonMode {
  if (value === undefined) return DEFAULTS.json
  if (value !== 'auto' && value !== 'module' && value !== 'string') {
    bad('json', `must be 'auto', 'module' or 'string', got ${JSON.stringify(value)}`)
  }
  return value
}
