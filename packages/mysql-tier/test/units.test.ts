import { BackendUnavailableError, silentLogger, TimeoutError } from '@sync-engine/core'
import type { Pool } from 'mysql2/promise'
import { describe, expect, it } from 'vitest'
import { inPieces, MAX_STATEMENT_ROWS, rowPieces, STATEMENT_SIZES } from '../src/chunks.js'
import { Database, isTransient } from '../src/db.js'
import { likePrefix, lockName } from '../src/sql.js'

describe('statement pieces', () => {
  it('pads IN lists up to a fixed size with their last id, 2048 ids a piece', () => {
    const ids = Array.from({ length: 2048 + 1000 }, (_, i) => `id${i}`)
    const pieces = inPieces(ids)
    expect(pieces.map((p) => p.length)).toEqual([2048, 1024])
    expect(pieces[1]!.slice(999)).toEqual(Array(25).fill('id3047'))
    expect(inPieces(['a', 'b', 'c']).map((p) => p.length)).toEqual([4])
    expect(inPieces([])).toEqual([])
  })

  it('splits rows into power-of-two pieces, in order, within a byte budget, never padding', () => {
    const rows = Array.from({ length: 1500 }, (_, i) => i)
    const pieces = rowPieces(rows, 1e9, () => 1)
    expect(pieces.map((p) => p.length)).toEqual([1024, 256, 128, 64, 16, 8, 4])
    expect(pieces.flat()).toEqual(rows)
    for (const p of pieces) expect(STATEMENT_SIZES).toContain(p.length)
    // 10-byte rows, 35-byte budget: 3 rows a chunk (2 + 1); an oversize row still goes alone.
    expect(rowPieces([1, 2, 3, 4, 5, 6, 7], 35, () => 10).map((p) => p.length)).toEqual([2, 1, 2, 1, 1])
    expect(rowPieces([1, 2], 5, () => 10)).toEqual([[1], [2]])
    expect(rowPieces(Array(MAX_STATEMENT_ROWS * 2 + 1).fill(0), 1e9, () => 1).map((p) => p.length)).toEqual([
      2048, 2048, 1,
    ])
  })
})

describe('helpers', () => {
  it('escapes LIKE metacharacters and its own escape character', () => {
    expect(likePrefix('a%b_c!d\\e')).toBe('a!%b!_c!!d\\e%')
  })

  it('keeps lock names within 64 characters', () => {
    expect(lockName('db', 'sync_items', 'merkle')).toBe('db.sync_items.merkle')
    const long = lockName('d'.repeat(64), 't'.repeat(64), 'merkle')
    expect(long.length).toBeLessThanOrEqual(64)
    expect(long).toBe(lockName('d'.repeat(64), 't'.repeat(64), 'merkle'))
  })
})

describe('transient failures', () => {
  it('classifies deadlocks, lock waits and lost connections as transient, the rest not', () => {
    expect(isTransient({ errno: 1213, code: 'ER_LOCK_DEADLOCK' })).toBe(true)
    expect(isTransient({ errno: 1205, code: 'ER_LOCK_WAIT_TIMEOUT' })).toBe(true)
    expect(isTransient({ code: 'ECONNRESET' })).toBe(true)
    expect(isTransient({ code: 'PROTOCOL_CONNECTION_LOST', fatal: true })).toBe(true)
    expect(isTransient({ errno: 1064, code: 'ER_PARSE_ERROR' })).toBe(false)
    expect(isTransient({ errno: 1062, code: 'ER_DUP_ENTRY' })).toBe(false)
    expect(isTransient(new TimeoutError('x', 1))).toBe(false)
  })

  /** A pool whose connections fail the first `failures` work statements with `error`. */
  function fakePool(failures: number, error: object) {
    const log: string[] = []
    let failed = 0
    const pool = {
      async getConnection() {
        const connection = {}
        const run = async (options: { sql: string }) => {
          log.push(options.sql)
          if (options.sql === 'WORK' && failed < failures) {
            failed++
            throw error
          }
          return [[{ got: 1 }], []]
        }
        return {
          connection,
          execute: run,
          query: run,
          release: () => log.push('release'),
          destroy: () => log.push('destroy'),
        }
      },
    }
    const db = new Database(pool as unknown as Pool, {
      queryTimeoutMs: 1000,
      lockTimeoutSeconds: 1,
      retries: 2,
      logger: silentLogger,
      where: 'mysql://fake',
    })
    return { db, log }
  }

  it('retries a deadlocked transaction from the start after a rollback, releasing the lock each time', async () => {
    const { db, log } = fakePool(2, { errno: 1213, code: 'ER_LOCK_DEADLOCK' })
    await db.transaction((s) => s.execute('WORK', []), 'the-lock')
    const work = log.filter((l) => !l.startsWith('SET SESSION'))
    const attempt = ['SELECT GET_LOCK(?, ?) AS got', 'START TRANSACTION', 'WORK']
    expect(work).toEqual([
      ...attempt,
      'ROLLBACK',
      'DO RELEASE_LOCK(?)',
      'release',
      ...attempt,
      'ROLLBACK',
      'DO RELEASE_LOCK(?)',
      'release',
      ...attempt,
      'COMMIT',
      'DO RELEASE_LOCK(?)',
      'release',
    ])
  })

  it('stops after the bounded retries and destroys connections that broke', async () => {
    const { db, log } = fakePool(10, { code: 'ECONNRESET', fatal: true })
    await expect(db.transaction((s) => s.execute('WORK', []))).rejects.toBeInstanceOf(BackendUnavailableError)
    expect(log.filter((l) => l === 'WORK')).toHaveLength(3)
    expect(log.filter((l) => l === 'destroy')).toHaveLength(3)
    expect(log).not.toContain('ROLLBACK')
  })

  it('does not retry other errors', async () => {
    const { db, log } = fakePool(10, { errno: 1062, code: 'ER_DUP_ENTRY' })
    await expect(db.transaction((s) => s.execute('WORK', []))).rejects.toMatchObject({ errno: 1062 })
    expect(log.filter((l) => l === 'WORK')).toHaveLength(1)
    expect(log).toContain('ROLLBACK')
  })
})
