import { type L3Store, type Logger, silentLogger } from '@sync-engine/core'
import { makeTempDir } from '@sync-engine/testkit'
import { afterEach } from 'vitest'
import { SyncEngine, type SyncEngineConfig } from '../src/index.js'

/** Engines made in a test are shut down and their temp dirs removed after it. */
const live: { engine: SyncEngine; remove?: () => void }[] = []
afterEach(async () => {
  while (live.length) {
    const { engine, remove } = live.pop()!
    await engine.shutdown().catch(() => undefined)
    remove?.()
  }
})

export const quiet: Logger = silentLogger

/** An embedded engine (SQLite L3 + WAL) in a fresh temp dir, or in `dir` to reopen one. */
export function embedded(config: SyncEngineConfig = {}, dir?: string): { engine: SyncEngine; dir: string } {
  const temp = dir === undefined ? makeTempDir('sync-engine') : undefined
  const path = dir ?? temp!.path
  const engine = new SyncEngine({
    sql: `sqlite:${path}/l3.db`,
    wal: { path: `${path}/wal.db` },
    logger: quiet,
    ...config,
  })
  live.push({ engine, ...(temp ? { remove: temp.remove } : {}) })
  return { engine, dir: path }
}

/** Registers an engine made by hand for shutdown after the test. */
export function track(engine: SyncEngine): SyncEngine {
  live.push({ engine })
  return engine
}

/** Wraps an L3 store so a test can count the calls of each method. */
export function counting<T extends L3Store>(store: T): { store: T; calls: Map<string, number> } {
  const calls = new Map<string, number>()
  const proxy = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver)
      if (typeof value !== 'function' || typeof key !== 'string') return value
      return (...args: unknown[]) => {
        calls.set(key, (calls.get(key) ?? 0) + 1)
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
  return { store: proxy, calls }
}

/**
 * Engines over one temp dir, each with its own WAL file, quiet, built from `base()` (read at creation,
 * since service URLs resolve in `beforeAll`) overridden by the call's own config; shut down after the test.
 */
export function engineFactory(
  dir: string,
  base: () => SyncEngineConfig,
): (config?: SyncEngineConfig) => SyncEngine {
  let walCount = 0
  return (config = {}) =>
    track(
      new SyncEngine({ wal: { path: `${dir}/wal-${walCount++}.db` }, logger: quiet, ...base(), ...config }),
    )
}
