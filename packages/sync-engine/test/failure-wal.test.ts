import { testSeed } from '@sync-engine/testkit'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { WalTracker } from '../src/wal-tracker.js'

// What the engine may acknowledge in its WAL: never a record whose write is not yet in L3 (SPEC §3.3, §9).

const SEED = testSeed()

type Op =
  | { kind: 'append'; count: number; backlog: boolean }
  | { kind: 'commit'; pick: number }
  | { kind: 'drain' }

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('append' as const),
    count: fc.integer({ min: 1, max: 5 }),
    backlog: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('commit' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('drain' as const) }),
)

describe('WAL acknowledgements', () => {
  it('acknowledges a prefix: up to the first record whose write is not committed', () => {
    const t = new WalTracker()
    t.add([{ seq: 1 }, { seq: 2 }, { seq: 3 }], false)
    expect(t.done(2)).toBeUndefined()
    expect(t.done(1)).toBe(2)
    expect(t.done(3)).toBe(3)
    expect(t.outstanding).toBe(0)
    expect(t.done(2)).toBeUndefined() // already acknowledged
  })

  it('backlog records wait for the drain; a drain takes shadow records with it', () => {
    const t = new WalTracker()
    t.add([{ seq: 1 }], false)
    t.add([{ seq: 2 }, { seq: 3 }], true)
    t.add([{ seq: 4 }], false)
    expect(t.backlog).toBe(true)
    expect(t.done(1)).toBe(1)
    expect(t.done(4)).toBeUndefined() // behind the backlog
    t.acked(3)
    expect(t.backlog).toBe(false)
    expect(t.done(4)).toBe(4)
  })

  it('keeps sequence order when appends complete out of order', () => {
    const t = new WalTracker()
    t.add([{ seq: 5 }, { seq: 6 }], false)
    t.add([{ seq: 3 }, { seq: 4 }], false)
    expect(t.done(5)).toBeUndefined()
    expect(t.done(6)).toBeUndefined()
    expect(t.done(3)).toBe(3)
    expect(t.done(4)).toBe(6)
  })

  it(`never acknowledges a record whose write is uncommitted (fast-check, seed ${SEED})`, () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const t = new WalTracker()
        let next = 1
        const pending: number[] = [] // shadow records whose write is not committed yet
        const backlog = new Set<number>() // records only a drain applies
        let acked = 0
        for (const o of ops) {
          if (o.kind === 'append') {
            const records = Array.from({ length: o.count }, () => ({ seq: next++ }))
            t.add(records, o.backlog)
            for (const r of records) o.backlog ? backlog.add(r.seq) : pending.push(r.seq)
          } else if (o.kind === 'commit' && pending.length) {
            const [seq] = pending.splice(o.pick % pending.length, 1)
            const upto = t.done(seq!)
            if (upto !== undefined) acked = Math.max(acked, upto)
          } else if (o.kind === 'drain' && t.backlog) {
            // The drain applies every record up to the last backlog one (shadow ones included).
            const last = t.backlogUpTo
            for (let i = pending.length - 1; i >= 0; i--) if (pending[i]! <= last) pending.splice(i, 1)
            for (const seq of backlog) if (seq <= last) backlog.delete(seq)
            t.acked(last)
            acked = Math.max(acked, last)
          }
          // Everything acknowledged was committed (or applied by a drain).
          for (const seq of pending) expect(seq).toBeGreaterThan(acked)
          for (const seq of backlog) expect(seq).toBeGreaterThan(acked)
          expect(t.backlog).toBe(backlog.size > 0)
        }
      }),
      { seed: SEED, numRuns: 300 },
    )
  })
})
