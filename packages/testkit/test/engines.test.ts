/**
 * EngineProcess / EngineCluster against a stand-in engine module (`fixtures/fake-engine.mjs`, a Map):
 * the IPC calls, timeouts, errors, events and clean ends. The real engine runs in sync-engine's
 * multi-process tests. The child is this package's built `dist/engine-child.js`.
 */

import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { TimeoutError } from '@sync-engine/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EngineCluster, EngineProcess, ensureBuilt } from '../src/index.js'

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..')
const fake = new URL('./fixtures/fake-engine.mjs', import.meta.url)

beforeAll(() => ensureBuilt(packageDir, 'engine-child.js'), 120_000)
afterAll(() => EngineProcess.closeAll())

/** Pids of this process's children (Linux `/proc`). */
function childPids(): string[] {
  return readdirSync('/proc/self/task')
    .flatMap((tid) => readFileSync(`/proc/self/task/${tid}/children`, 'utf8').split(' '))
    .filter(Boolean)
    .sort()
}

const start = (config: Record<string, unknown> = {}, callTimeoutMs = 2000) =>
  EngineProcess.start({ engineModule: fake, config, callTimeoutMs })

describe('EngineProcess', () => {
  it('starts an engine from a plain config and drives it over IPC', async () => {
    const p = await start({ instanceId: 'fake-1' })
    try {
      expect(p.name).toBe('fake-1')
      await p.submit({ id: 'a.1', value: { n: 1 }, version: 3, state: 'hot' })
      await p.submitMany([
        { id: 'a.2', value: [2] },
        { id: 'a.3', value: 'three' },
      ])
      expect(await p.get('a.1')).toMatchObject({ id: 'a.1', version: 3, state: 'hot', value: { n: 1 } })
      expect(await p.get('a.0')).toBeNull()
      expect([...(await p.getMany(['a.1', 'a.2', 'a.9'])).keys()]).toEqual(['a.1', 'a.2'])
      expect((await p.getEach(['a.3', 'a.9'])).map((v) => v?.value ?? null)).toEqual(['three', null])
      expect(await p.definitelyMissing(['a.1', 'a.9'])).toEqual(['a.9'])
      expect(await p.delete('a.1')).toBe(true)
      expect(await p.deleteMany(['a.2', 'a.1'])).toEqual(['a.2'])
      expect(await p.flush()).toEqual({ items: 1 })
      await p.pauseCoherence()
      expect((await p.health()).paused).toBe(true)
      await p.resumeCoherence()
      expect(await p.verifyFilter()).toBe(true)
      expect((await p.stats()).filter).toMatchObject({ trust: 'Trusted' })
      expect(await p.counter('fake_ops_total', { op: 'get' })).toBeGreaterThan(0)
      // Engine events come back as messages.
      await p.waitForEvent('trust', (args) => args[0] === 'Trusted')
      expect(p.events.map((e) => e.$engineEvent)).toEqual(['state', 'trust'])
      expect(await p.shutdown()).toEqual({ flushed: 1 })
      expect(p.exited).toBe(true)
    } finally {
      await p.close()
    }
  })

  it('bounds every call: a call the engine never answers rejects with TimeoutError; others still work', async () => {
    const p = await start({}, 300)
    try {
      await expect(p.get('hang')).rejects.toBeInstanceOf(TimeoutError)
      expect(await p.get('nothing')).toBeNull()
    } finally {
      await p.close()
    }
  })

  it("an engine error reaches the test with the error's name and message", async () => {
    const p = await start()
    try {
      await expect(p.get('boom')).rejects.toThrow(/InvalidArgumentError: .*boom is not allowed/)
    } finally {
      await p.close()
    }
  })

  it('start fails clearly when the engine cannot be built, and leaves no process behind', async () => {
    const before = childPids()
    await expect(start({ fail: 'construct' })).rejects.toThrow(/did not start: .*asked to fail/)
    await expect(
      EngineProcess.start({ engineModule: join(packageDir, 'no-such-engine.mjs'), config: {} }),
    ).rejects.toThrow(/did not start/)
    expect(childPids()).toEqual(before)
  })

  it('runs a load inside the child and reports what it did', async () => {
    const p = await start()
    try {
      const ids = Array.from({ length: 20 }, (_, i) => `l.${i}`)
      const report = await p.load({
        writeIds: ids,
        readIds: ids,
        durationMs: 200,
        batch: 5,
        deleteRatio: 0.2,
        seed: 7,
      })
      expect(report.rounds).toBeGreaterThan(0)
      expect(report.submitted + report.deleted).toBe(report.rounds * 5)
      expect(report.read).toBe(report.rounds * 5)
      expect(report.errors).toBe(0)
    } finally {
      await p.close()
    }
  })

  it('close() ends a child whose engine does not answer (SIGKILL after the grace period)', async () => {
    const p = await start({}, 200)
    void p.get('hang').catch(() => undefined)
    await p.close(300)
    expect(p.exited).toBe(true)
  })
})

describe('EngineCluster', () => {
  it('starts N processes with their own configs and closes them all', async () => {
    const cluster = await EngineCluster.start(3, (i) => ({
      engineModule: fake,
      config: { instanceId: `node-${i}`, label: i },
    }))
    try {
      expect(cluster.processes.map((p) => p.name)).toEqual(['node-0', 'node-1', 'node-2'])
      await cluster.at(0).submit({ id: 'shared', value: 0 })
      const seen = await cluster.all((p) => p.get('shared'))
      expect(seen.map((v) => v?.value ?? null)).toEqual([0, null, null]) // separate engines
      expect(() => cluster.at(3)).toThrow(/no process 3/)
    } finally {
      await cluster.close()
    }
    expect(cluster.processes.every((p) => p.exited)).toBe(true)
  })

  it('a process that fails to start fails the cluster; the others are closed', async () => {
    const before = childPids()
    await expect(
      EngineCluster.start(2, (i) => ({ engineModule: fake, config: i === 1 ? { fail: 'construct' } : {} })),
    ).rejects.toThrow(/asked to fail/)
    expect(childPids()).toEqual(before)
  })
})
