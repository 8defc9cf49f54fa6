import { SyncItem } from '@sync-engine/core'
import { FaultProxy } from '@sync-engine/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually } from './fixtures/faults.js'
import { engineFactory } from './helpers.js'
import { servicesForFile } from './services.js'

// Regression found by the model-based test (model.test.ts): after a degraded start (L3 unreachable),
// an engine that wrote nothing never connected L3 once it came back, so every read that reached L3
// failed with "not connected" for good.

const file = servicesForFile('deg_reconnect')
let proxy: FaultProxy
beforeAll(async () => {
  const target = new URL(file.services.mysqlUrl)
  proxy = await FaultProxy.start({ target: { host: target.hostname, port: Number(target.port || 3306) } })
})
afterAll(() => proxy?.close())

const engine = engineFactory(file.temp.path, () => ({
  sql: proxy.url(file.services.mysqlUrl),
  allowDegradedStart: true,
  resilience: { halfOpenAfterMs: 50, probeIntervalMs: 50 },
}))

describe('an engine started without L3', () => {
  it('connects L3 when it comes back even if it writes nothing, and reads reach it', async () => {
    const writer = engine()
    await writer.start()
    await writer.submit(SyncItem.fromJson('late.doc', { stored: true }))
    await writer.shutdown()

    proxy.cut()
    const reader = engine()
    await reader.start()
    expect((await reader.health()).l3.ok).toBe(false)
    proxy.heal()
    await eventually(async () => (await reader.get('late.doc').catch(() => null))?.version === 1, 10_000)
    expect((await reader.health()).l3).toMatchObject({ ok: true })
  })
})
