import { type ChildProcess, fork } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { LeafRecord } from '@sync-engine/core'
import { merkleNodesOf, merkleRootOf } from '@sync-engine/merkle'
import { ensureBuilt, requireMysql } from '@sync-engine/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeAdmin, freshDatabase, openStore, sql, type TestDatabase } from './helpers.js'

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..')
const WRITERS = 4
const SHARED = 600
const BATCH = 100

interface Report {
  type: 'done'
  attempted: (LeafRecord & { updatedAt: number })[]
  kept: LeafRecord[]
  deleted: number
  created: string[]
  statuses: string[]
  startedAt: number
  finishedAt: number
}

/** Resolves with the child's next message of `type`; rejects when it exits first. */
function next<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: { type: string }) => {
      if (message.type !== type) return
      child.off('exit', onExit)
      child.off('message', onMessage)
      resolve(message as T)
    }
    const onExit = (code: number | null) => reject(new Error(`writer exited with ${code} before '${type}'`))
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}

let db: TestDatabase
beforeAll(async () => {
  await requireMysql()
  ensureBuilt(packageDir)
  db = await freshDatabase('l3_procs')
  await (await openStore(db)).close()
})
afterAll(async () => {
  await db?.drop()
  await closeAdmin()
})

describe('writers in separate processes', () => {
  it('four processes upserting overlapping ids at once end with the rows and the tree a single writer would leave', async () => {
    const children = Array.from({ length: WRITERS }, (_, w) =>
      fork(join(packageDir, 'test/fixtures/writer.mjs'), [], {
        env: {
          ...process.env,
          MYSQL_TEST_URL: db.url,
          WRITER: String(w),
          SHARED: String(SHARED),
          BATCH: String(BATCH),
        },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    )
    const exits = children.map((c) => new Promise<number | null>((resolve) => c.once('exit', resolve)))
    try {
      await Promise.all(children.map((c) => next(c, 'ready')))
      const reports = children.map((c) => next<Report>(c, 'done'))
      for (const c of children) c.send('go')
      const done = await Promise.all(reports)
      expect(await Promise.all(exits)).toEqual(Array(WRITERS).fill(0))

      // What a single writer would have left: per shared id the greatest (version, updatedAt), plus
      // each writer's odd private ids.
      const expected = new Map<string, LeafRecord & { updatedAt?: number }>()
      for (const report of done) {
        for (const row of report.attempted) {
          const best = expected.get(row.id)
          const newer =
            best === undefined ||
            row.version > best.version ||
            (row.version === best.version && row.updatedAt > (best.updatedAt ?? 0))
          if (newer) expected.set(row.id, row)
        }
        for (const row of report.kept) expected.set(row.id, row)
        expect(report.deleted).toBe(20)
      }

      const store = await openStore(db)
      try {
        const leaves: LeafRecord[] = []
        for (let page = await store.scanLeaves(undefined, 500); page.length > 0; ) {
          leaves.push(...page)
          page = await store.scanLeaves(page[page.length - 1]!.id, 500)
        }
        const strip = ({ id, version, contentHash }: LeafRecord) => ({ id, version, contentHash })
        expect(leaves.length).toBe(SHARED + WRITERS * 20)
        const byId = new Map(leaves.map((l) => [l.id, strip(l)]))
        for (const [id, row] of expected) expect(byId.get(id)).toEqual(strip(row))

        // The stored tree, node for node, is the one computed from the final rows: no stale interior node.
        const [root] = await sql<{ merkle_hash: string }[]>(
          `SELECT merkle_hash FROM \`${db.name}\`.merkle_nodes WHERE path = ''`,
        )
        expect(root?.merkle_hash).toBe(merkleRootOf(leaves))
        expect(root?.merkle_hash).toBe(merkleRootOf([...expected.values()]))
        const nodes = await sql<
          { path: string; merkle_hash: string; object_count: number; is_leaf: number }[]
        >(`SELECT path, merkle_hash, object_count, is_leaf FROM \`${db.name}\`.merkle_nodes`)
        const reference = merkleNodesOf(leaves)
        expect(nodes.length).toBe(reference.size)
        for (const n of nodes) {
          expect(reference.get(n.path)).toEqual({
            path: n.path,
            hash: n.merkle_hash,
            leaf: n.is_leaf === 1,
            count: n.object_count,
          })
        }

        // Exactly one writer created each shared id (an exact existence filter relies on it).
        const created = done.flatMap((r) => r.created).filter((id) => id.startsWith('s.'))
        expect(created.sort()).toEqual([...new Set(created)].sort())
        expect(created.length).toBe(SHARED)
        // The runs overlapped (every writer started before any finished), and rows met newer ones.
        expect(Math.max(...done.map((r) => r.startedAt))).toBeLessThan(
          Math.min(...done.map((r) => r.finishedAt)),
        )
        expect(done.flatMap((r) => r.statuses)).toContain('stale')
      } finally {
        await store.close()
      }
    } finally {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
    }
  }, 90_000)
})
