// The child side of `EngineProcess`: built to `dist/engine-child.js`, forked by the parent. It imports
// the engine module the parent names (anything exporting `SyncEngine` and `SyncItem`, such as the
// built sync-engine), builds one engine from the config it is sent, and answers requests until told
// to shut down or until the parent goes away (then it shuts the engine down and exits).

import { isAbsolute } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createConsoleLogger, type LogLevel, silentLogger } from '@sync-engine/core'
import { childChannel } from '../faults/child-runner.js'
import { seededRandom } from '../faults/random.js'
import type { EngineRequest, ItemInput, ItemView, LoadReport, LoadSpec } from './protocol.js'

/** What the child needs of an item: the `SyncItem` shape. */
interface Item extends Omit<ItemView, 'value'> {
  readonly content: Uint8Array
  json(): unknown
}

/** What the child needs of an engine: the `SyncEngine` shape (optional parts answer "unsupported"). */
interface Engine {
  start(): Promise<unknown>
  shutdown(): Promise<unknown>
  submit(item: Item, options?: unknown): Promise<void>
  submitMany(items: Item[], options?: unknown): Promise<void>
  get(id: string): Promise<Item | null>
  getMany(ids: readonly string[]): Promise<Map<string, Item>>
  delete(id: string): Promise<boolean>
  deleteMany(ids: readonly string[]): Promise<string[]>
  flush(): Promise<unknown>
  health(): Promise<unknown>
  filterStats?(): unknown
  verifyFilter?(): Promise<boolean>
  definitelyMissing?(id: string): boolean
  pauseCoherence?(): void
  resumeCoherence?(): void
  readonly metrics?: { counters(): unknown }
  on?(event: string, listener: (...args: unknown[]) => void): unknown
}

interface EngineModule {
  readonly SyncEngine: new (config: Record<string, unknown>) => Engine
  readonly SyncItem: { fromJson(id: string, value: unknown, options?: Record<string, unknown>): Item }
}

/** Engine events forwarded to the parent. */
const FORWARDED_EVENTS = ['state', 'trust'] as const
const EXIT_GRACE_MS = 5000

let engine: Engine | undefined
let mod: EngineModule | undefined
let name = `engine ${process.pid}`
let stopping: Promise<unknown> | undefined

function view(item: Item | null | undefined): ItemView | null {
  if (!item) return null
  return {
    id: item.id,
    version: item.version,
    updatedAt: item.updatedAt,
    state: item.state,
    contentType: item.contentType,
    contentHash: item.contentHash,
    value: item.contentType === 'json' ? item.json() : item.content,
  }
}

function toItem(input: ItemInput): Item {
  const options: Record<string, unknown> = {}
  if (input.version !== undefined) options.version = input.version
  if (input.state !== undefined) options.state = input.state
  if (input.updatedAt !== undefined) options.updatedAt = input.updatedAt
  return mod!.SyncItem.fromJson(input.id, input.value, options)
}

function running(): Engine {
  if (!engine) throw new Error(`${name}: no engine (the 'start' request failed or was not sent)`)
  return engine
}

function optional<K extends keyof Engine>(key: K): NonNullable<Engine[K]> {
  const value = running()[key]
  if (value === undefined) throw new Error(`${name}: the engine module's SyncEngine has no ${String(key)}()`)
  return (typeof value === 'function' ? value.bind(engine) : value) as NonNullable<Engine[K]>
}

async function start(request: Extract<EngineRequest, { op: 'start' }>): Promise<unknown> {
  if (engine) throw new Error(`${name}: already started`)
  const specifier = isAbsolute(request.engineModule)
    ? pathToFileURL(request.engineModule).href
    : request.engineModule
  mod = (await import(specifier)) as EngineModule
  if (typeof mod.SyncEngine !== 'function' || typeof mod.SyncItem?.fromJson !== 'function')
    throw new Error(`${request.engineModule} exports no SyncEngine and SyncItem`)
  const level = request.logLevel as LogLevel
  const logger =
    level === 'silent' ? silentLogger : createConsoleLogger({ level, bindings: { process: name } })
  if (typeof request.config.instanceId === 'string') name = request.config.instanceId
  const created = new mod.SyncEngine({ logger, ...request.config })
  for (const event of FORWARDED_EVENTS) {
    created.on?.(event, (...args: unknown[]) => channel.send({ $engineEvent: event, args, at: Date.now() }))
  }
  engine = created
  return created.start()
}

async function load(spec: LoadSpec): Promise<LoadReport> {
  const e = running()
  const random = seededRandom(spec.seed ?? 1)
  const batch = spec.batch ?? 50
  const deleteRatio = spec.deleteRatio ?? 0
  const pick = (ids: readonly string[]) => ids[random.int(0, ids.length - 1)]!
  const report = {
    rounds: 0,
    submitted: 0,
    deleted: 0,
    read: 0,
    errors: 0,
    firstError: undefined as string | undefined,
  }
  const failed = (error: unknown) => {
    report.errors++
    report.firstError ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  }
  const deletes: Promise<unknown>[] = []
  const until = Date.now() + spec.durationMs
  let n = 0
  while (Date.now() < until) {
    report.rounds++
    if (spec.writeIds.length) {
      const items: Item[] = []
      for (let k = 0; k < batch; k++) {
        const id = pick(spec.writeIds)
        if (random() < deleteRatio) {
          deletes.push(e.delete(id).catch(failed))
          report.deleted++
          continue
        }
        const version = spec.versionTag === undefined ? 1 : Date.now() * 16 + spec.versionTag
        items.push(toItem({ id, value: { by: name, n: n++ }, version }))
      }
      try {
        await e.submitMany(items)
        report.submitted += items.length
      } catch (error) {
        failed(error)
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
    }
    if (spec.readIds.length) {
      const ids = Array.from({ length: batch }, () => pick(spec.readIds))
      await Promise.all(ids.map((id) => e.get(id).catch(failed)))
      report.read += ids.length
    }
    await new Promise((resolve) => setImmediate(resolve))
  }
  await Promise.all(deletes)
  await e.flush()
  const { firstError, ...counts } = report
  return firstError === undefined ? counts : { ...counts, firstError }
}

async function handle(request: EngineRequest): Promise<unknown> {
  switch (request.op) {
    case 'start':
      return start(request)
    case 'submit':
      return running().submit(toItem(request.item), request.options)
    case 'submitMany':
      return running().submitMany(request.items.map(toItem), request.options)
    case 'get':
      return view(await running().get(request.id))
    case 'getMany': {
      const found = await running().getMany(request.ids)
      return new Map([...found].map(([id, item]) => [id, view(item)!]))
    }
    case 'getEach':
      return Promise.all(request.ids.map(async (id) => view(await running().get(id))))
    case 'delete':
      return running().delete(request.id)
    case 'deleteMany':
      return running().deleteMany(request.ids)
    case 'flush':
      return running().flush()
    case 'health':
      return running().health()
    case 'stats':
      return {
        health: await running().health(),
        filter: optional('filterStats')(),
        counters: optional('metrics').counters(),
      }
    case 'verifyFilter':
      return optional('verifyFilter')()
    case 'definitelyMissing': {
      const missing = optional('definitelyMissing')
      return request.ids.filter((id) => missing(id))
    }
    case 'pauseCoherence':
      return optional('pauseCoherence')()
    case 'resumeCoherence':
      return optional('resumeCoherence')()
    case 'load':
      return load(request.spec)
    case 'shutdown': {
      const report = await stop()
      channel.close()
      return report
    }
    default:
      throw new Error(`${name}: unknown request ${JSON.stringify((request as { op?: unknown }).op)}`)
  }
}

/** Shuts the engine down once; later calls share the first. */
function stop(): Promise<unknown> {
  stopping ??= engine ? engine.shutdown() : Promise.resolve(undefined)
  return stopping
}

const channel = childChannel(async (body) => {
  try {
    return await handle(body as EngineRequest)
  } catch (error) {
    // The parent sees the message only: keep the error's name (BackendUnavailableError, …) in it.
    throw error instanceof Error ? new Error(`${error.name}: ${error.message}`) : error
  }
})

// The parent went away (or asked for shutdown and disconnected): stop the engine, then exit.
process.on('disconnect', () => {
  setTimeout(() => process.exit(0), EXIT_GRACE_MS).unref()
  void stop()
    .catch(() => undefined)
    .finally(() => process.exit(0))
})
