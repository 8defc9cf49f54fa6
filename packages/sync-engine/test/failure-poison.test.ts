import {
  CorruptDataError,
  RowRejectedError,
  SubmitOptions,
  SyncItem,
  utf8ByteLength,
  type WalRecord,
} from '@sync-engine/core'
import { SqliteL3Store } from '@sync-engine/sqlite-tier'
import { makeTempDir, seededRandom, testSeed } from '@sync-engine/testkit'
import { SqliteWal } from '@sync-engine/wal'
import { afterEach, describe, expect, it } from 'vitest'
import { SyncEngine } from '../src/index.js'
import { faultyL3, rawItem } from './fixtures/faults.js'
import { quiet, track } from './helpers.js'

// SPEC §9: one bad row (too long, wrong type) is isolated and reported, never poisons its batch or the drain.

const dirs: (() => void)[] = []
afterEach(() => {
  while (dirs.length) dirs.pop()!()
})
function tempDir(): string {
  const t = makeTempDir('failure-poison')
  dirs.push(t.remove)
  return t.path
}

const SEED = testSeed()
const good = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => SyncItem.fromJson(`${prefix}.${String(i).padStart(5, '0')}`, { i }))
const longId = `poison.${'x'.repeat(293)}` // 300 UTF-8 bytes: over the 255 of SPEC §3.1

/** A WAL as a crashed engine would leave it: `rows`, with the raw record at a seeded position. */
async function walWithPoison(dir: string, rows: SyncItem[]): Promise<{ at: number }> {
  const at = seededRandom(SEED).int(0, rows.length)
  const entries = rows.map((row) => ({ id: row.id, op: 'put' as const, row }))
  entries.splice(at, 0, { id: longId, op: 'put', row: rawItem(longId, { poison: true }) })
  const wal = new SqliteWal({ path: `${dir}/wal.db` })
  await wal.append(entries)
  await wal.close()
  return { at }
}

describe('poison rows (SPEC §9, seed printed)', () => {
  it(`a 300-byte id appended straight to the WAL lands in deadLetters(); the rest of its batch lands in L3 (seed ${SEED})`, async () => {
    expect(utf8ByteLength(longId)).toBe(300)
    const dir = tempDir()
    const rows = good('poison.wal', 200)
    await walWithPoison(dir, rows)
    const engine = track(
      new SyncEngine({ sql: `sqlite:${dir}/l3.db`, wal: { path: `${dir}/wal.db` }, logger: quiet }),
    )
    const report = await engine.start()
    expect(report.walReplayed).toBe(201)
    expect(engine.deadLetters()).toEqual([
      expect.objectContaining({ id: longId, source: 'wal', reason: expect.stringMatching(/255|long/) }),
    ])
    expect(await engine.countPrefix('poison.wal.')).toBe(200)
    expect((await engine.getMany(rows.map((r) => r.id))).size).toBe(200)
    expect((await engine.health()).wal).toMatchObject({ rows: 0, backlog: false })
  })

  it(`a store that refuses the whole statement for one row (MySQL strict mode): the batch is split until the row stands alone (seed ${SEED})`, async () => {
    const dir = tempDir()
    const rows = good('poison.split', 2000)
    const { at } = await walWithPoison(dir, rows)
    const faulty = faultyL3(new SqliteL3Store({ url: `sqlite:${dir}/l3.db`, logger: quiet }))
    faulty.refuseRow = (row) =>
      utf8ByteLength(row.id) > 255 ? "Data too long for column 'id' at row 1" : undefined
    const engine = track(new SyncEngine({ sql: faulty.store, wal: { path: `${dir}/wal.db` }, logger: quiet }))
    await engine.start()
    const dead = engine.deadLetters()
    expect(dead).toHaveLength(1)
    expect(dead[0]).toMatchObject({ id: longId, source: 'wal', seq: at + 1 })
    expect(dead[0]!.reason).toMatch(/Data too long/)
    expect(await engine.countPrefix('poison.split.')).toBe(2000)
    // Halving finds one bad row among 2001 in about 2·log2(2001) calls, not one call per row.
    expect(faulty.calls.get('putBatch')).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(2001)) + 1)
  })

  it('a row the store refuses in a flush becomes a dead letter; the others are written, the bad one leaves L1', async () => {
    const dir = tempDir()
    const faulty = faultyL3(new SqliteL3Store({ url: `sqlite:${dir}/l3.db`, logger: quiet }))
    faulty.refuseRow = (row) =>
      row.id === 'poison.flush.00013' ? 'CONSTRAINT check_payload failed' : undefined
    const engine = track(new SyncEngine({ sql: faulty.store, wal: { path: `${dir}/wal.db` }, logger: quiet }))
    await engine.start()
    const rows = good('poison.flush', 100)
    await engine.submitMany(rows)
    const report = await engine.flush()
    expect(report).toMatchObject({ l3Written: 99, l3Rejected: 1, walFallback: 0 })
    expect(engine.deadLetters()).toEqual([
      expect.objectContaining({ id: 'poison.flush.00013', source: 'flush' }),
    ])
    expect(await engine.countPrefix('poison.flush.')).toBe(99)
    expect(await engine.get('poison.flush.00013')).toBeNull()
    expect((await engine.health()).wal.rows).toBe(0)

    // A ground-truth submit of a refused row is not committed: it rejects, naming the row and why.
    const refused = await engine
      .submit(SyncItem.fromJson('poison.flush.00013', { again: true }), SubmitOptions.groundTruth())
      .catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(RowRejectedError)
    expect(refused).toMatchObject({ id: 'poison.flush.00013', reason: expect.stringMatching(/CONSTRAINT/) })
    await engine.submit(SyncItem.fromJson('poison.flush.ok', { fine: true }), SubmitOptions.groundTruth())
    expect((await engine.status('poison.flush.ok')).inL3).toBe(true)
  })

  it('an undecodable WAL record is reported with its seq and skipped; the drain goes on', async () => {
    const dir = tempDir()
    const rows = good('poison.corrupt', 30)
    const inner = new SqliteWal({ path: `${dir}/wal.db` })
    const records = await inner.append(rows.map((row) => ({ id: row.id, op: 'put' as const, row })))
    const badSeq = records[10]!.seq
    let skipped = false
    // The log's own contract: an undecodable record ends the batch before it, and is thrown once oldest.
    const wal = new Proxy(inner, {
      get(target, key) {
        if (key !== 'peek') {
          const value: unknown = Reflect.get(target, key, target)
          return typeof value === 'function' ? value.bind(target) : value
        }
        return async (limit: number): Promise<WalRecord[]> => {
          const out = await target.peek(limit)
          const cut = out.findIndex((r) => r.seq === badSeq)
          if (cut > 0 || skipped) return cut > 0 ? out.slice(0, cut) : out
          if (cut === 0) {
            skipped = true
            throw new CorruptDataError(`${target.path} (seq ${badSeq})`, 'undecodable row: checksum mismatch')
          }
          return out
        }
      },
    })
    const engine = track(new SyncEngine({ sql: `sqlite:${dir}/l3.db`, wal, logger: quiet }))
    await engine.start()
    expect(engine.deadLetters()).toEqual([
      expect.objectContaining({ id: `wal seq ${badSeq}`, seq: badSeq, source: 'wal' }),
    ])
    expect(await engine.countPrefix('poison.corrupt.')).toBe(29)
    expect((await engine.health()).wal.rows).toBe(0)
  })
})
