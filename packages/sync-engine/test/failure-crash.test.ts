import { fileURLToPath } from 'node:url'
import { ChildProcessRunner, ensureBuilt, makeTempDir, testSeed } from '@sync-engine/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SyncEngine } from '../src/index.js'
import { quiet, track } from './helpers.js'

// SPEC §3.3: a `local` submit is group-committed into the WAL before it resolves; it survives
// `kill -9` and is replayed on the next start(), before anything else.

const SEED = testSeed()
const TRIALS = 20
const packageDir = fileURLToPath(new URL('..', import.meta.url))
const writer = new URL('./fixtures/local-writer.mjs', import.meta.url)
const temp = makeTempDir('failure-crash')

// The child runs the built dist: rebuilt when older than the sources.
beforeAll(() => ensureBuilt(packageDir), 120_000)
afterAll(async () => {
  await ChildProcessRunner.closeAll()
  temp.remove()
})

/** One trial: a child writes until SIGKILLed; resolves with the highest resolved version per id. */
async function crashOnce(
  trial: number,
): Promise<{ dir: string; resolved: Map<string, number>; killedAfterMs: number }> {
  const dir = `${temp.path}/trial-${trial}`
  const child = await ChildProcessRunner.start(writer, { args: [dir], timeoutMs: 60_000 })
  try {
    await child.waitForLine('ready', 40_000)
  } catch (error) {
    throw new Error(
      `trial ${trial}: the child never said ready (${(error as Error).message}); stderr: ${child.stderr.slice(-2000)}`,
    )
  }
  const killedAfterMs = child.killRandomly(SEED + trial, 20, 400)
  const exit = await child.waitExit(40_000)
  if (exit.signal !== 'SIGKILL' || exit.timedOut)
    throw new Error(
      `trial ${trial}: the child ended by ${exit.signal ?? `exit code ${exit.code}`} (timed out: ${exit.timedOut}); stderr: ${exit.stderr.slice(-2000)}`,
    )
  const resolved = new Map<string, number>()
  for (const line of exit.lines) {
    const [tag, id, version] = line.split(' ')
    if (tag === 'ok' && id && version) resolved.set(id, Math.max(resolved.get(id) ?? 0, Number(version)))
  }
  return { dir, resolved, killedAfterMs }
}

describe(`SIGKILL during durability 'local' writes (${TRIALS} trials, seed ${SEED})`, () => {
  it('a new engine on the same WAL finds every write whose submit had resolved, in L3 after start()', async () => {
    const lost: string[] = []
    let acknowledged = 0
    const runTrial = async (trial: number) => {
      const { dir, resolved, killedAfterMs } = await crashOnce(trial)
      acknowledged += resolved.size
      const engine = track(
        new SyncEngine({ sql: `sqlite:${dir}/l3.db`, wal: { path: `${dir}/wal.db` }, logger: quiet }),
      )
      await engine.start()
      // Read through L3 (a fresh engine's L1 is empty; the WAL was replayed before start() resolved).
      const stored = await engine.getMany([...resolved.keys()])
      for (const [id, version] of resolved) {
        const got = stored.get(id)?.version ?? 0
        if (got < version)
          lost.push(`trial ${trial} (killed after ${killedAfterMs} ms): ${id} v${version} → v${got}`)
      }
      expect((await engine.health()).wal.rows).toBe(0)
      await engine.shutdown()
    }
    // Two children at a time (this is a 2-core machine).
    for (let trial = 0; trial < TRIALS; trial += 2) await Promise.all([runTrial(trial), runTrial(trial + 1)])
    expect(lost).toEqual([])
    // The trials did write: a kill after the child said "ready" found acknowledged writes.
    expect(acknowledged).toBeGreaterThan(TRIALS * 10)
  }, 180_000)
})
