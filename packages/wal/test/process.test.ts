/**
 * Tests that need a real child process: the process exits on its own (with or without `close()`),
 * and SIGKILL at random moments loses nothing acknowledged and never leaves half a group.
 *
 * The children are plain `.mjs` fixtures that import the package's built `dist/` (no TypeScript
 * loader needed). Turbo's `test` task builds only the package's dependencies, so `beforeAll` runs
 * `tsup` here when `dist/index.js` is missing or older than any file in `src/`.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { bytesEqual, type WalEntry, type WalRecord } from '@sync-engine/core'
import { ensureBuilt } from '@sync-engine/testkit'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SqliteWal } from '../src/index.js'
import { groupEntries, groupOf, prng } from './fixtures/records.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const packageDir = join(here, '..')
const fixture = (name: string) => join(here, 'fixtures', name)

interface ChildResult {
  code: number | null
  signal: NodeJS.Signals | null
  lines: string[]
}

/** Runs a fixture; `killAt` decides, from each stdout line (or `spawn`), when to SIGKILL it. */
function runChild(args: string[], killAfterMs?: (line: string) => number | undefined): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    const lines: string[] = []
    let buffered = ''
    const guard = setTimeout(() => child.kill('SIGKILL'), 20_000)
    const maybeKill = (line: string) => {
      const delay = killAfterMs?.(line)
      if (delay !== undefined) setTimeout(() => child.kill('SIGKILL'), delay)
    }
    maybeKill('spawn')
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8')
      const parts = buffered.split('\n')
      buffered = parts.pop()!
      for (const line of parts) {
        lines.push(line)
        maybeKill(line)
      }
    })
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(guard)
      resolve({ code, signal, lines })
    })
  })
}

let dir: string
beforeAll(() => {
  ensureBuilt(packageDir)
  dir = mkdtempSync(join(tmpdir(), 'wal-process-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('process lifetime', () => {
  for (const mode of ['close', 'leave-open']) {
    it(`a process that opens, appends and ${mode === 'close' ? 'closes' : 'does not close'} exits by itself`, async () => {
      const path = join(dir, `exit-${mode}.db`)
      const result = await runChild([fixture('open-and-exit.mjs'), path, mode])
      expect(result).toEqual({ code: 0, signal: null, lines: ['ok'] })
      const wal = new SqliteWal({ path })
      const [record] = await wal.peek(10)
      expect(record).toMatchObject({ id: 'exit.test', op: 'put' })
      await wal.close()
    })
  }
})

/** What the parent knows after each run; the invariant is checked against the file after every kill. */
interface Model {
  /** Groups whose append was acknowledged (or found complete after an earlier crash): group → seqs. */
  acknowledged: Map<number, { first: number; last: number }>
  /** Every record with seq ≤ this is gone (acks that were acknowledged). */
  ackedUpTo: number
  nextGroup: number
  /** Groups found committed although the child was killed before reporting them (all runs). */
  committedUnreported: number
}

function expectEntry(record: WalRecord, entry: WalEntry): void {
  expect([record.id, record.op]).toEqual([entry.id, entry.op])
  if (entry.row === undefined) {
    expect(record.row).toBeUndefined()
    return
  }
  const { row } = record
  expect(row).toBeDefined()
  const meta = (r: typeof entry.row) => [
    r.version,
    r.updatedAt,
    r.contentType,
    r.contentHash,
    r.state,
    r.batchId,
  ]
  expect(meta(row!)).toEqual(meta(entry.row))
  expect(bytesEqual(row!.content, entry.row.content), `content of ${entry.id}`).toBe(true)
}

/** Rows and bytes as the table really holds them, read through a separate connection. */
function tableTotals(path: string) {
  const db = new Database(path, { readonly: true })
  try {
    return db
      .prepare(
        'SELECT count(*) AS rows, coalesce(sum(length(CAST(id AS BLOB)) + coalesce(length(row), 0)), 0) AS bytes FROM wal_queue',
      )
      .get() as { rows: number; bytes: number }
  } finally {
    db.close()
  }
}

/**
 * Reopens the log after a kill and checks it against the child's report: nothing acknowledged lost
 * (content bytes equal), every group all-or-nothing, only the group in flight may appear unreported,
 * an ack is all-or-nothing, and stats equal the table. Returns the model for the next run.
 */
async function verify(path: string, seed: number, model: Model, lines: string[], firstGroup: number) {
  const acknowledged = new Map(model.acknowledged)
  let ackedUpTo = model.ackedUpTo
  let ackInFlight: number | undefined
  let lastReported = firstGroup - 1
  let committedUnreported = model.committedUnreported
  for (const line of lines) {
    const [word, a, b, c] = line.split(' ')
    if (word === 'put') {
      acknowledged.set(Number(a), { first: Number(b), last: Number(c) })
      lastReported = Number(a)
    } else if (word === 'ack-begin') ackInFlight = Number(a)
    else if (word === 'ack-end') {
      ackedUpTo = Number(a)
      ackInFlight = undefined
    }
  }

  const wal = new SqliteWal({ path })
  const stats = await wal.stats()
  const records = await wal.peek(stats.rows + 1)
  await wal.close()
  expect(tableTotals(path)).toEqual({ rows: stats.rows, bytes: stats.bytes })
  expect(records.length).toBe(stats.rows)

  // An ack is all-or-nothing: the one in flight either removed everything up to its seq or nothing.
  expect(records.filter((r) => r.seq <= ackedUpTo)).toEqual([])
  if (ackInFlight !== undefined) {
    const upto = ackInFlight
    if (!records.some((r) => r.seq <= upto)) ackedUpTo = upto
  }

  const present = new Map<number, WalRecord[]>()
  for (const r of records) present.set(groupOf(r.id), [...(present.get(groupOf(r.id)) ?? []), r])
  for (const [group, seqs] of acknowledged) {
    if (seqs.last <= ackedUpTo) {
      acknowledged.delete(group)
      continue
    }
    expect(
      present.has(group),
      `acknowledged group ${group} (seq ${seqs.first}–${seqs.last}) is missing`,
    ).toBe(true)
  }
  const newest = Math.max(0, ...[...acknowledged.values()].map((s) => s.last))
  for (const [group, found] of present) {
    const entries = groupEntries(seed, group)
    expect(found.length, `group ${group} is incomplete`).toBe(entries.length)
    for (const [i, record] of found.entries()) expectEntry(record, entries[i]!)
    const first = found[0]!.seq
    const last = found.at(-1)!.seq
    expect(last - first + 1, `group ${group} is not contiguous`).toBe(found.length)
    const known = acknowledged.get(group)
    if (known) expect({ first, last }).toEqual(known)
    else {
      // Committed but killed before it could report: only the group that was in flight.
      expect(group).toBe(lastReported + 1)
      expect(first).toBeGreaterThan(newest)
      acknowledged.set(group, { first, last })
      committedUnreported++
    }
  }
  const seen = [lastReported, ...acknowledged.keys()]
  return { acknowledged, ackedUpTo, nextGroup: Math.max(...seen) + 1, committedUnreported }
}

describe('crash safety (SIGKILL at random moments)', () => {
  const seed = Number(process.env.SYNC_ENGINE_TEST_SEED ?? 20_261_126)
  const runs = 24

  it(`keeps every acknowledged group and never half a group over ${runs} kills`, async () => {
    console.log(`crash test seed: ${seed} (set SYNC_ENGINE_TEST_SEED to replay)`)
    const rand = prng(seed)
    const path = join(dir, 'crash', 'wal.db')
    let model: Model = { acknowledged: new Map(), ackedUpTo: 0, nextGroup: 0, committedUnreported: 0 }
    let writingRuns = 0
    let groupsReported = 0
    let killedDuringAck = 0
    for (let run = 0; run < runs; run++) {
      const firstGroup = model.nextGroup
      // Most kills land while groups are being written (a few ms after the k-th acknowledged group,
      // so they hit appends, acks and commits at random points); some land during startup and open.
      const early = rand() < 0.2
      const afterGroups = 1 + Math.floor(rand() * 8)
      const delay = Math.floor(rand() * (early ? 150 : 15))
      let puts = 0
      const result = await runChild(
        [fixture('crash-writer.mjs'), path, String(seed), String(firstGroup)],
        (line) => {
          if (early) return line === 'spawn' ? delay : undefined
          if (line.startsWith('put')) puts++
          return line.startsWith('put') && puts === afterGroups ? delay : undefined
        },
      )
      if (!early) writingRuns++
      expect(result.signal, `run ${run}: the child ended on its own: ${result.lines.join(' | ')}`).toBe(
        'SIGKILL',
      )
      groupsReported += result.lines.filter((l) => l.startsWith('put')).length
      if (result.lines.at(-1)?.startsWith('ack-begin')) killedDuringAck++
      model = await verify(path, seed, model, result.lines, firstGroup)
    }
    console.log(
      `${runs} kills: ${writingRuns} while writing, ${killedDuringAck} during an ack; ` +
        `${groupsReported} groups acknowledged, ${model.committedUnreported} found committed but unreported`,
    )
    expect(writingRuns).toBeGreaterThan(runs / 2)
  })
})
