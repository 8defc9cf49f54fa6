import { join } from 'node:path'
import type { L3Store } from '@sync-engine/core'
import { makeTempDir } from '@sync-engine/testkit'
import { afterAll } from 'vitest'
import { SqliteL3Store, type SqliteL3StoreOptions } from '../src/index.js'

/** A temp folder for this test file, removed after it; `file()` names a fresh database in it. */
export function tempFiles(label: string) {
  const dir = makeTempDir(`sqlite-tier-${label}`)
  afterAll(() => dir.remove())
  let n = 0
  return {
    dir: dir.path,
    file: (name = `db${++n}`) => join(dir.path, `${name}.db`),
  }
}

/** A connected store on a fresh file of `files`. */
export async function openStore(
  path: string,
  options: Omit<SqliteL3StoreOptions, 'path' | 'url'> = {},
): Promise<SqliteL3Store> {
  const store = new SqliteL3Store({ path, ...options })
  await store.connect()
  return store
}

/** Every leaf of a store, through its keyset scan. */
export async function leavesOf(store: L3Store) {
  const out = []
  for (;;) {
    const page = await store.scanLeaves(out[out.length - 1]?.id, 500)
    if (page.length === 0) return out
    out.push(...page)
  }
}
