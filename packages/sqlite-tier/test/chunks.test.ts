import { merkleRootOf } from '@sync-engine/merkle'
import { jsonItem } from '@sync-engine/testkit'
import { describe, expect, it } from 'vitest'
import { chunkSizes } from '../src/connection.js'
import { leavesOf, openStore, tempFiles } from './helpers.js'

const files = tempFiles('chunks')

describe('multi-row statements', () => {
  it('split rows into full statements and power-of-two tails', () => {
    expect(chunkSizes(0, 2000)).toEqual([])
    expect(chunkSizes(1, 2000)).toEqual([1])
    expect(chunkSizes(2000, 2000)).toEqual([2000])
    expect(chunkSizes(4321, 2000)).toEqual([2000, 2000, 256, 64, 1])
    expect(chunkSizes(1999, 2000)).toEqual([1024, 512, 256, 128, 64, 8, 4, 2, 1])
    for (const n of [3, 77, 2001, 6543]) expect(chunkSizes(n, 1000).reduce((a, b) => a + b, 0)).toBe(n)
  })

  it('write batches of several statements with exact outcomes, in two tables, and the right root', async () => {
    const store = await openStore(files.file())
    await store.registerPartition('big.b.', 'big_b')
    const ids = Array.from({ length: 4321 }, (_, i) => `big.${i % 3 === 0 ? 'b' : 'a'}.${i}`)
    const first = await store.putBatch(ids.map((id) => jsonItem(id, { id })))
    expect(first.every((o, i) => o.id === ids[i] && o.status === 'written' && o.created === true)).toBe(true)
    const second = await store.putBatch([
      ...ids.map((id, i) =>
        jsonItem(id, { id, again: true }, { version: i % 2 ? 2 : 1, updatedAt: i % 5 ? 1 : 2e12 }),
      ),
      ...Array.from({ length: 2500 }, (_, i) => jsonItem(`big.new.${i}`, i)),
    ])
    second.forEach((o, i) => {
      if (i >= ids.length)
        expect(o).toEqual({ id: `big.new.${i - ids.length}`, status: 'written', created: true })
      else if (i % 2 || i % 5 === 0) expect(o).toEqual({ id: ids[i], status: 'written', created: false })
      else expect(o.status).toBe('stale')
    })
    expect(await store.count()).toBe(ids.length + 2500)
    expect(await store.countPrefix('big.b.')).toBe(Math.ceil(4321 / 3))
    expect(await store.merkleRoot()).toBe(merkleRootOf(await leavesOf(store)))
    expect((await store.deletePrefix('big.a.')).length).toBe(4321 - Math.ceil(4321 / 3))
    expect(await store.merkleRoot()).toBe(merkleRootOf(await leavesOf(store)))
    await store.close()
  })
})
