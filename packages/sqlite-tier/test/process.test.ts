/**
 * Tests that need real child processes: two writers sharing one file at the same time, and a process
 * that exits on its own after using the store. The children are plain `.mjs` fixtures importing the
 * package's built `dist/`; `beforeAll` runs `tsup` when `dist/index.js` is missing or older than `src/`
 * (turbo's `test` task builds only the dependencies).
 */
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { merkleRootOf } from '@sync-engine/merkle'
import { ensureBuilt, sameItem } from '@sync-engine/testkit'
import Database from 'better-sqlite3'
import { beforeAll, describe, expect, it } from 'vitest'
import { expectedRows } from './fixtures/rows.mjs'
import { leavesOf, openStore, tempFiles } from './helpers.js'

const here = dirname(fileURLToPath(import.meta.url))
const packageDir = join(here, '..')
const fixture = (name: string) => join(here, 'fixtures', name)
const files = tempFiles('process')

interface Child {
  /** Resolves when the child printed `ready`. */
  ready: Promise<void>
  /** Writes a line to the child's stdin. */
  send(line: string): void
  /** Resolves with the exit code and stdout once the child ended (killed after 50 s). */
  done: Promise<{ code: number | null; out: string }>
}

function start(args: string[]): Child {
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] })
  let out = ''
  let markReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => {
    markReady = resolve
  })
  const guard = setTimeout(() => child.kill('SIGKILL'), 50_000)
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8')
    if (out.startsWith('ready\n')) markReady()
  })
  const done = new Promise<{ code: number | null; out: string }>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(guard)
      markReady()
      resolve({ code, out })
    })
  })
  return { ready, done, send: (line) => child.stdin.end(`${line}\n`) }
}

beforeAll(() => ensureBuilt(packageDir))

describe('several processes', () => {
  it('two writers on overlapping ids at once end with the rows and root a single writer would make', async () => {
    const path = files.file('shared')
    // Both connect, then start writing together on one signal.
    const children = [0, 1].map((w) => start([fixture('writer.mjs'), path, String(w)]))
    await Promise.all(children.map((c) => c.ready))
    for (const c of children) c.send('go')
    const results = await Promise.all(children.map((c) => c.done))
    const spans = results.map((r) => {
      expect(r.code).toBe(0)
      const match = /done (\d+) (\d+) (\d+) (\d+)/.exec(r.out)
      expect(match, r.out).not.toBeNull()
      return { start: Number(match![3]), end: Number(match![4]) }
    })
    // The precondition of the test: the two writers really ran at the same time.
    expect(spans[0]!.start < spans[1]!.end && spans[1]!.start < spans[0]!.end).toBe(true)
    const store = await openStore(path)
    const expected = expectedRows(2)
    expect(await store.count()).toBe(expected.size)
    const { items } = await store.getMany([...expected.keys()])
    for (const [id, row] of expected) expect(sameItem(items.get(id), row), id).toBe(true)
    const leaves = await leavesOf(store)
    expect(await store.merkleRoot()).toBe(merkleRootOf(leaves))
    expect(await store.merkleRoot()).toBe(merkleRootOf([...expected.values()]))
    await store.close()
  })

  it('waits for the switch to WAL while another process holds the lock it needs (a new file opened by two at once)', async () => {
    // A file still in rollback-journal mode, its RESERVED lock held by another connection: SQLite
    // answers the WAL switch with SQLITE_BUSY at once there, without calling the busy handler.
    const path = files.file('wal-switch')
    const holder = new Database(path)
    holder.exec('CREATE TABLE other (a)')
    holder.exec('BEGIN IMMEDIATE')
    holder.exec('INSERT INTO other VALUES (1)')
    const child = start([fixture('connect.mjs'), path, '10000'])
    // The child connects right after `ready`; the lock stays held a while longer (failing without the
    // wait took ~10 ms).
    await child.ready
    await new Promise((resolve) => setTimeout(resolve, 200))
    holder.exec('COMMIT')
    holder.close()
    expect(await child.done).toEqual({ code: 0, out: 'ready\nconnected\n' })
  })

  it('a process exits by itself after using the store, closed or not', async () => {
    for (const mode of ['close', 'leave-open']) {
      const path = files.file(`exit-${mode}`)
      const result = await start([fixture('open-and-exit.mjs'), path, mode]).done
      expect(result).toEqual({ code: 0, out: 'ok\n' })
      const store = await openStore(path)
      expect((await store.get('exit.test'))?.json()).toEqual({ mode })
      await store.close()
    }
  })
})
