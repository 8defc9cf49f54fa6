import { randomUUID } from 'node:crypto'
import type { MeterProvider } from '@opentelemetry/api'
import {
  createConsoleLogger,
  DEFAULT_PRESSURE_THRESHOLDS,
  InvalidConfigError,
  type L1Cache,
  type L2Store,
  type L3Store,
  type Logger,
  MAX_PAYLOAD_BYTES,
  type PressureThresholds,
  type WriteAheadLog,
} from '@sync-engine/core'
import { z } from 'zod'
import type { ResilienceOptions } from './resilience.js'

const MiB = 1024 * 1024

/** Default paths of the embedded mode (no `sql` given): everything under `./.sync-engine/`. */
export const EMBEDDED_DIR = './.sync-engine'
export const DEFAULT_WAL_PATH = './sync_engine_wal.db'

const hasMethods =
  <T>(...methods: string[]) =>
  (value: unknown): value is T =>
    typeof value === 'object' &&
    value !== null &&
    methods.every((m) => typeof (value as Record<string, unknown>)[m] === 'function')

export const isL1 = hasMethods<L1Cache>('get', 'peek', 'set', 'delete', 'pin', 'unpin', 'pressure')
export const isL2 = hasMethods<L2Store>('connect', 'putBatch', 'getMany', 'deleteBatch', 'byState')
export const isL3 = hasMethods<L3Store>(
  'connect',
  'putBatch',
  'getMany',
  'deleteBatch',
  'scanLeaves',
  'merkleRoot',
)
export const isWal = hasMethods<WriteAheadLog>('append', 'peek', 'ack', 'saveSnapshot', 'loadSnapshot')

const positiveInt = z.number().int().positive()
const ratio = z.number().gt(0).lte(1)

const l1Schema = z.union([z.custom<L1Cache>(isL1), z.object({ maxBytes: positiveInt.optional() }).strict()])
const batchSchema = z
  .object({
    maxItems: positiveInt.optional(),
    maxBytes: positiveInt.optional(),
    maxAgeMs: z.number().int().min(0).optional(),
  })
  .strict()
const redisSchema = z.union([
  z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL'),
  z.custom<L2Store>(isL2),
  z
    .object({
      url: z
        .string()
        .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
        .optional(),
      prefix: z.string().optional(),
      commandTimeoutMs: positiveInt.optional(),
      cluster: z.boolean().optional(),
    })
    .strict(),
])
const sqlUrl = z
  .string()
  .regex(/^(mysql|mariadb):\/\/|^sqlite:/, "must start with 'mysql://', 'mariadb://' or 'sqlite:'")
const sqlSchema = z.union([
  z.literal(false),
  sqlUrl,
  z.custom<L3Store>(isL3),
  z.object({ url: sqlUrl.optional(), writeConcurrency: positiveInt.optional() }).strict(),
])
const walSchema = z.union([
  z.custom<WriteAheadLog>(isWal),
  z
    .object({
      path: z.string().min(1).optional(),
      maxRows: positiveInt.optional(),
      maxBytes: positiveInt.optional(),
      sync: z.enum(['full', 'normal']).optional(),
    })
    .strict(),
])
const filterSchema = z
  .object({
    fingerprintBits: z.union([z.literal(8), z.literal(12), z.literal(16)]).optional(),
    initialCapacity: positiveInt.optional(),
    snapshotIntervalMs: z.number().int().min(0).optional(),
    snapshotEveryInserts: z.number().int().min(0).optional(),
  })
  .strict()
const cdcSchema = z
  .object({
    enabled: z.boolean().optional(),
    maxLen: positiveInt.optional(),
    coherence: z.boolean().optional(),
    maxStalenessMs: positiveInt.optional(),
  })
  .strict()
const backpressureSchema = z
  .object({
    warn: ratio.optional(),
    throttle: ratio.optional(),
    critical: ratio.optional(),
    emergency: ratio.optional(),
    shutdown: ratio.optional(),
  })
  .strict()
const resilienceSchema = z
  .object({
    l2TimeoutMs: positiveInt.optional(),
    l2BatchTimeoutMs: positiveInt.optional(),
    l3TimeoutMs: positiveInt.optional(),
    retries: z.number().int().min(0).max(10).optional(),
    retryBaseMs: positiveInt.optional(),
    retryMaxMs: positiveInt.optional(),
    breakerThreshold: positiveInt.optional(),
    halfOpenAfterMs: positiveInt.optional(),
    halfOpenMaxMs: positiveInt.optional(),
    probeIntervalMs: positiveInt.optional(),
  })
  .strict()
const loggerSchema = z.custom<Logger>(
  hasMethods('debug', 'info', 'warn', 'error'),
  'must be a pino-compatible logger (debug, info, warn, error)',
)
const meterProviderSchema = z.custom<MeterProvider>(
  hasMethods('getMeter'),
  'must be an OpenTelemetry MeterProvider',
)

const configSchema = z
  .object({
    instanceId: z.string().min(1).max(64).optional(),
    maxPayloadBytes: positiveInt.max(MAX_PAYLOAD_BYTES).optional(),
    l1: l1Schema.optional(),
    batch: batchSchema.optional(),
    redis: redisSchema.optional(),
    sql: sqlSchema.optional(),
    wal: walSchema.optional(),
    filter: filterSchema.optional(),
    merkle: z.object({ enabled: z.boolean().optional() }).strict().optional(),
    cdc: cdcSchema.optional(),
    backpressure: backpressureSchema.optional(),
    allowDegradedStart: z.boolean().optional(),
    resilience: resilienceSchema.optional(),
    logger: loggerSchema.optional(),
    meterProvider: meterProviderSchema.optional(),
  })
  .strict()

/** What `new SyncEngine(config)` takes (SPEC §14). Every field is optional; unknown keys are an error. */
export type SyncEngineConfig = z.input<typeof configSchema>

export interface RedisOptions {
  url: string
  prefix: string
  commandTimeoutMs: number
  cluster: boolean
}

export interface SqlOptions {
  url: string
  writeConcurrency: number
}

export interface WalOptions {
  path: string
  maxRows: number
  maxBytes: number
  sync: 'full' | 'normal'
}

/** The configuration with every default applied. */
export interface ResolvedConfig {
  instanceId: string
  maxPayloadBytes: number
  l1: L1Cache | { maxBytes: number }
  batch: { maxItems: number; maxBytes: number; maxAgeMs: number }
  /** Absent: no L2. */
  redis: L2Store | RedisOptions | undefined
  /** `false`: no L3 (a cache-only engine, no Merkle). */
  sql: L3Store | SqlOptions | false
  /** True when `sql` was not given and the engine runs on its embedded SQLite default. */
  embedded: boolean
  wal: WriteAheadLog | WalOptions
  filter: {
    fingerprintBits: 8 | 12 | 16
    initialCapacity: number
    snapshotIntervalMs: number
    snapshotEveryInserts: number
  }
  merkle: { enabled: boolean }
  cdc: { enabled: boolean; maxLen: number; coherence: boolean; maxStalenessMs: number }
  backpressure: PressureThresholds
  allowDegradedStart: boolean
  resilience: ResilienceOptions
  logger: Logger
  meterProvider: MeterProvider | undefined
}

function definedOnly<T extends object>(value: T | undefined): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value ?? {}).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>
  }
}

function issuesOf(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join('.')
    let message = issue.message
    if (issue.code === 'unrecognized_keys')
      message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')} (a typo would silently fall back to a default)`
    return { path, message }
  })
}

/** Validates `config` (SPEC §14) and applies every default; `InvalidConfigError` lists every problem. */
export function resolveConfig(config: SyncEngineConfig = {}): ResolvedConfig {
  const parsed = configSchema.safeParse(config)
  if (!parsed.success) throw new InvalidConfigError(issuesOf(parsed.error))
  const c = parsed.data
  const embedded = c.sql === undefined

  let redis: ResolvedConfig['redis']
  if (typeof c.redis === 'string')
    redis = { url: c.redis, prefix: 'sync:', commandTimeoutMs: 1000, cluster: false }
  else if (c.redis === undefined || isL2(c.redis)) redis = c.redis
  else {
    if (c.redis.url === undefined)
      throw new InvalidConfigError([{ path: 'redis.url', message: 'is required when redis is configured' }])
    redis = {
      url: c.redis.url,
      prefix: c.redis.prefix ?? 'sync:',
      commandTimeoutMs: c.redis.commandTimeoutMs ?? 1000,
      cluster: c.redis.cluster ?? false,
    }
  }

  let sql: ResolvedConfig['sql']
  if (c.sql === false || isL3(c.sql)) sql = c.sql
  else if (typeof c.sql === 'string') sql = { url: c.sql, writeConcurrency: 1 }
  else
    sql = {
      url: c.sql?.url ?? `sqlite:${EMBEDDED_DIR}/sync.db`,
      writeConcurrency: c.sql?.writeConcurrency ?? 1,
    }

  const wal: ResolvedConfig['wal'] = isWal(c.wal)
    ? c.wal
    : {
        path: c.wal?.path ?? (embedded ? `${EMBEDDED_DIR}/wal.db` : DEFAULT_WAL_PATH),
        maxRows: c.wal?.maxRows ?? 1_000_000,
        maxBytes: c.wal?.maxBytes ?? 100 * MiB,
        sync: c.wal?.sync ?? 'full',
      }

  const backpressure: PressureThresholds = { ...DEFAULT_PRESSURE_THRESHOLDS, ...definedOnly(c.backpressure) }
  const order = ['warn', 'throttle', 'critical', 'emergency', 'shutdown'] as const
  for (let i = 1; i < order.length; i++) {
    const [lower, upper] = [order[i - 1]!, order[i]!]
    if (!(backpressure[upper] > backpressure[lower])) {
      throw new InvalidConfigError([
        {
          path: `backpressure.${upper}`,
          message: `must be above backpressure.${lower} (${backpressure[lower]})`,
        },
      ])
    }
  }

  const r = c.resilience ?? {}
  const l2TimeoutMs = r.l2TimeoutMs ?? (redis && 'commandTimeoutMs' in redis ? redis.commandTimeoutMs : 1000)
  const resilience: ResilienceOptions = {
    l2TimeoutMs,
    l2BatchTimeoutMs: r.l2BatchTimeoutMs ?? Math.max(5000, 5 * l2TimeoutMs),
    l3TimeoutMs: r.l3TimeoutMs ?? 10_000,
    retries: r.retries ?? 2,
    retryBaseMs: r.retryBaseMs ?? 25,
    retryMaxMs: r.retryMaxMs ?? 1000,
    breakerThreshold: r.breakerThreshold ?? 5,
    halfOpenAfterMs: r.halfOpenAfterMs ?? 250,
    halfOpenMaxMs: r.halfOpenMaxMs ?? 2000,
    probeIntervalMs: r.probeIntervalMs ?? 500,
  }
  if (resilience.retryMaxMs < resilience.retryBaseMs)
    throw new InvalidConfigError([
      { path: 'resilience.retryMaxMs', message: 'must be ≥ resilience.retryBaseMs' },
    ])
  if (resilience.halfOpenMaxMs < resilience.halfOpenAfterMs) {
    throw new InvalidConfigError([
      { path: 'resilience.halfOpenMaxMs', message: 'must be ≥ resilience.halfOpenAfterMs' },
    ])
  }

  return {
    instanceId: c.instanceId ?? randomUUID(),
    maxPayloadBytes: c.maxPayloadBytes ?? MAX_PAYLOAD_BYTES,
    l1: isL1(c.l1) ? c.l1 : { maxBytes: c.l1?.maxBytes ?? 256 * MiB },
    batch: {
      maxItems: c.batch?.maxItems ?? 1000,
      maxBytes: c.batch?.maxBytes ?? MiB,
      maxAgeMs: c.batch?.maxAgeMs ?? 100,
    },
    redis,
    sql,
    embedded,
    wal,
    filter: {
      fingerprintBits: c.filter?.fingerprintBits ?? 16,
      initialCapacity: c.filter?.initialCapacity ?? 100_000,
      snapshotIntervalMs: c.filter?.snapshotIntervalMs ?? 30_000,
      snapshotEveryInserts: c.filter?.snapshotEveryInserts ?? 10_000,
    },
    merkle: { enabled: c.merkle?.enabled ?? true },
    cdc: {
      enabled: c.cdc?.enabled ?? false,
      maxLen: c.cdc?.maxLen ?? 100_000,
      coherence: c.cdc?.coherence ?? true,
      maxStalenessMs: c.cdc?.maxStalenessMs ?? 1000,
    },
    backpressure,
    allowDegradedStart: c.allowDegradedStart ?? false,
    resilience,
    logger: c.logger ?? createConsoleLogger({ level: 'warn' }),
    meterProvider: c.meterProvider,
  }
}

/** What `engine.configure()` may change while running (SPEC §14). */
export const RUNTIME_CONFIGURABLE = [
  'batch',
  'backpressure',
  'maxPayloadBytes',
  'cdc',
  'merkle',
  'filter',
] as const
export { configSchema }
