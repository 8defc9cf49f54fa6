import { SyncItem } from '@sync-engine/core'
import { RedisL2Store } from '@sync-engine/redis-tier'
import { makeTempDir } from '@sync-engine/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { engineFactory } from './helpers.js'
import { servicesFor } from './services.js'

let services: Awaited<ReturnType<typeof servicesFor>>
const temp = makeTempDir('mirror-in-step')
beforeAll(async () => {
  services = await servicesFor('mirror_in_step')
})
afterAll(async () => {
  await services?.drop()
  temp.remove()
})

const engines = engineFactory(temp.path, () => ({ sql: services.mysqlUrl }))

/** A promise with its resolve. */
function gate() {
  let open!: () => void
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return { open, opened }
}

const items = (who: string, version: number) =>
  Array.from({ length: 300 }, (_, i) =>
    SyncItem.fromJson(`step.t${i % 4}.${who}${i}`, { who, i, version }, { version }),
  )

describe('the Merkle mirror of two engines writing one tree', () => {
  it("a mirror write that reaches Redis after a later commit's is refused and replaced by L3's nodes", async () => {
    // Engine A's L2: its mirror writes wait at a gate, so A's first batch reaches Redis after B's.
    const held = new RedisL2Store({ url: services.redisUrl, prefix: services.prefix })
    const reached = gate()
    const release = gate()
    const mirror = held.merkle
    const [write, inStep] = [mirror.writeNodes.bind(mirror), mirror.writeNodesInStep.bind(mirror)]
    let refused = 0
    const hold = async () => {
      reached.open()
      await release.opened
    }
    mirror.writeNodes = async (changes) => {
      await hold()
      return write(changes)
    }
    mirror.writeNodesInStep = async (changes, before, after) => {
      await hold()
      const wrote = await inStep(changes, before, after)
      if (!wrote) refused++
      return wrote
    }
    const a = engines({ instanceId: 'step-a', redis: held })
    const b = engines({ instanceId: 'step-b', redis: { url: services.redisUrl, prefix: services.prefix } })
    await a.start()
    await b.start()
    await a.submitMany(items('a', 1))
    const first = a.flush()
    await reached.opened // A's batch is committed in L3; its mirror write is held
    await b.submitMany(items('b', 1))
    await b.flush() // committed after A's, and mirrored first
    release.open()
    await first
    const roots = await a.merkleRoots()
    expect(roots.l3).not.toBeNull()
    expect(roots).toEqual({ l2: roots.l3, l3: roots.l3 })
    expect(refused).toBe(1)
    expect((await b.verifyMerkle()).ok).toBe(true)
    // In step again: the next writes go in as L3 reported them.
    await a.submitMany(items('a', 2))
    await a.flush()
    expect(refused).toBe(1)
    const after = await b.merkleRoots()
    expect(after).toEqual({ l2: after.l3, l3: after.l3 })
  })
})
