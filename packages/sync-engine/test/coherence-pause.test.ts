import { SyncItem } from '@sync-engine/core'
import { describe, expect, it } from 'vitest'
import { eventually, sleep } from './fixtures/faults.js'
import { engineFactory } from './helpers.js'
import { servicesForFile } from './services.js'

// pauseCoherence()/resumeCoherence(): the change-stream reader held and let go (SPEC §10).

const file = servicesForFile('coh_pause')

const engine = engineFactory(file.temp.path, () => ({
  sql: file.services.mysqlUrl,
  redis: { url: file.services.redisUrl, prefix: file.services.prefix },
  cdc: { enabled: true, maxStalenessMs: 200 },
  batch: { maxAgeMs: 10 },
}))

describe('pausing the change-stream reader', () => {
  it('a paused reader leaves L1 alone; on resume it catches up on what changed meanwhile', async () => {
    const a = engine({ instanceId: 'pause-a' })
    const b = engine({ instanceId: 'pause-b' })
    await a.start()
    await b.start()
    await a.submit(SyncItem.fromJson('pause.doc', { v: 1 }))
    await a.flush()
    expect((await b.get('pause.doc'))?.json()).toEqual({ v: 1 }) // now in b's L1
    b.pauseCoherence()
    b.pauseCoherence() // idempotent
    await sleep(200) // a read in progress ends within maxStalenessMs / 2
    await a.submit(SyncItem.fromJson('pause.doc', { v: 2 }, { version: 2 }))
    await a.flush()
    await sleep(300)
    // Held: b still serves its cached copy (that is what pausing means).
    expect((await b.get('pause.doc'))?.version).toBe(1)
    b.resumeCoherence()
    await eventually(async () => (await b.get('pause.doc'))?.version === 2, 2000)
  })

  it('shutdown ends a paused reader', async () => {
    const b = engine({ instanceId: 'pause-c' })
    await b.start()
    b.pauseCoherence()
    await sleep(150)
    const report = await b.shutdown()
    expect(b.state).toBe('Stopped')
    expect(report.walPending).toBe(0)
  })
})
