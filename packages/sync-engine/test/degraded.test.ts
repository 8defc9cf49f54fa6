import { createServer } from 'node:net'
import { BackendUnavailableError, SyncItem } from '@sync-engine/core'
import { makeTempDir } from '@sync-engine/testkit'
import { afterAll, describe, expect, it } from 'vitest'
import { SyncEngine } from '../src/index.js'
import { quiet, track } from './helpers.js'

const temp = makeTempDir('degraded')
afterAll(() => temp.remove())

async function deadPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('L3 unreachable at start', () => {
  it('fails start clearly unless allowDegradedStart is set', async () => {
    const port = await deadPort()
    const engine = track(
      new SyncEngine({
        sql: `mysql://root@127.0.0.1:${port}/test`,
        wal: { path: `${temp.path}/a.db` },
        logger: quiet,
      }),
    )
    const error = await engine.start().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BackendUnavailableError)
    expect((error as Error).message).toMatch(/allowDegradedStart/)
    expect(engine.state).toBe('Stopped')
  })

  it('with allowDegradedStart, runs on the WAL: writes are accepted and kept', async () => {
    const port = await deadPort()
    const engine = track(
      new SyncEngine({
        sql: `mysql://root@127.0.0.1:${port}/test`,
        wal: { path: `${temp.path}/b.db` },
        allowDegradedStart: true,
        logger: quiet,
      }),
    )
    await engine.start()
    expect(engine.state).toBe('Ready')
    await engine.submit(SyncItem.fromJson('deg.1', { ok: true }))
    const report = await engine.flush()
    expect(report.walFallback).toBe(1)
    expect((await engine.health()).wal.rows).toBe(1)
    expect((await engine.get('deg.1'))?.json()).toEqual({ ok: true })
    expect(engine.filterStats().trust).toBe('Untrusted')
  })
})
