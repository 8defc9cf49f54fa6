import type { MerkleNode, MerkleNodeStore } from '@sync-engine/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

export interface MerkleNodeStoreSuiteOptions {
  /** Runs after each test with the store it used (drop tables, delete keys, close clients). */
  teardown?: (store: MerkleNodeStore) => unknown
}

/**
 * The contract of a `MerkleNodeStore` (core's merkle-store.ts), run against a fresh store from
 * `factory` in every test: node round trips, deletes, children by parent (including the `""` segment
 * of the `id.` leaf slot and the root's children), many parents per call, and 1000-node batches.
 * It checks the store, not the Merkle algorithm: hashes here are arbitrary 64-hex strings.
 */
export function describeMerkleNodeStore(
  name: string,
  factory: () => MerkleNodeStore | Promise<MerkleNodeStore>,
  options: MerkleNodeStoreSuiteOptions = {},
): void {
  describe(`MerkleNodeStore conformance: ${name}`, () => {
    let store: MerkleNodeStore

    beforeEach(async () => {
      store = await factory()
    })

    afterEach(async () => {
      await options.teardown?.(store)
    })

    /** A distinct, valid lower-case hex hash for `n`. */
    const hash = (n: number) => n.toString(16).padStart(8, '0').repeat(8)
    const leaf = (path: string, n: number): MerkleNode => ({ path, hash: hash(n), leaf: true, count: 1 })
    const interior = (path: string, n: number, count: number): MerkleNode => ({
      path,
      hash: hash(n),
      leaf: false,
      count,
    })
    const write = (upsert: MerkleNode[], remove: string[] = []) =>
      store.writeNodes({ upsert, delete: remove })
    const childrenOf = async (parent: string) => {
      const all = await store.getChildren([parent])
      expect(all.has(parent)).toBe(true)
      return Object.fromEntries(all.get(parent)!)
    }

    it('an empty store has no nodes and no children', async () => {
      expect((await store.getNodes(['', 'a', 'a.b'])).size).toBe(0)
      const children = await store.getChildren(['', 'a'])
      expect([...children.keys()].sort()).toEqual(['', 'a'])
      expect(children.get('')!.size).toBe(0)
      expect(children.get('a')!.size).toBe(0)
    })

    it('returns what was upserted, field for field, keyed by path', async () => {
      const nodes = [interior('', 1, 3), interior('a', 2, 2), leaf('a.b', 3), leaf('a.c', 4), leaf('z', 5)]
      await write(nodes)
      const got = await store.getNodes(['', 'a', 'a.b', 'a.c', 'z', 'missing'])
      expect(got.size).toBe(5)
      for (const node of nodes) expect(got.get(node.path)).toEqual(node)
    })

    it('overwrites a node on a second upsert (hash, leaf flag and count)', async () => {
      await write([leaf('a', 1)])
      await write([interior('a', 2, 7)])
      expect((await store.getNodes(['a'])).get('a')).toEqual(interior('a', 2, 7))
      expect(await childrenOf('')).toEqual({ a: hash(2) })
    })

    it('deletes nodes, from getNodes and from their parent children, and ignores absent paths', async () => {
      await write([interior('', 1, 2), leaf('a', 2), leaf('b', 3)])
      await write([], ['a', 'never-there', 'x.y'])
      expect([...(await store.getNodes(['', 'a', 'b'])).keys()].sort()).toEqual(['', 'b'])
      expect(await childrenOf('')).toEqual({ b: hash(3) })
      await write([], ['b', ''])
      expect((await store.getNodes(['', 'a', 'b'])).size).toBe(0)
      expect(await childrenOf('')).toEqual({})
    })

    it('applies upserts and deletes of one call together', async () => {
      await write([interior('', 1, 2), leaf('a', 2), leaf('b', 3)])
      await write([interior('', 4, 2), leaf('c', 5)], ['a'])
      expect(await childrenOf('')).toEqual({ b: hash(3), c: hash(5) })
      expect((await store.getNodes([''])).get('')?.hash).toBe(hash(4))
    })

    it('lists direct children only, with the leaf slot `id.` as the "" segment', async () => {
      await write([
        interior('', 1, 4),
        interior('uk', 2, 3),
        leaf('uk.', 3),
        interior('uk.nhs', 4, 2),
        leaf('uk.nhs.1', 5),
        leaf('uk.nhs.2', 6),
        leaf('fr', 7),
      ])
      expect(await childrenOf('')).toEqual({ uk: hash(2), fr: hash(7) })
      expect(await childrenOf('uk')).toEqual({ '': hash(3), nhs: hash(4) })
      expect(await childrenOf('uk.nhs')).toEqual({ 1: hash(5), 2: hash(6) })
      expect(await childrenOf('uk.')).toEqual({})
      expect(await childrenOf('uk.nhs.1')).toEqual({})
    })

    it('never lists the root as a child of anything', async () => {
      await write([interior('', 1, 1), leaf('a', 2)])
      const children = await store.getChildren(['', 'a'])
      expect(Object.fromEntries(children.get('')!)).toEqual({ a: hash(2) })
      expect(children.get('a')!.size).toBe(0)
    })

    it('keeps segments that look special: unicode, digits, "hash", "count", ""', async () => {
      const segments = ['é', '日本', '😀', '\u{e000}', '10', '9', 'hash', 'count', 'HASH', 'a b', '*', ':']
      await write([interior('p', 1, segments.length + 1), leaf('p.', 2)])
      await write(segments.map((s, i) => leaf(`p.${s}`, 10 + i)))
      const expected = Object.fromEntries([['', hash(2)], ...segments.map((s, i) => [s, hash(10 + i)])])
      expect(await childrenOf('p')).toEqual(expected)
      expect((await store.getNodes(['p'])).get('p')).toEqual(interior('p', 1, segments.length + 1))
      const nodes = await store.getNodes(segments.map((s) => `p.${s}`))
      expect(nodes.size).toBe(segments.length)
    })

    it('answers many parents in one call, each keyed by its path', async () => {
      await write([
        interior('', 1, 4),
        interior('a', 2, 2),
        interior('b', 3, 2),
        leaf('a.x', 4),
        leaf('a.y', 5),
        leaf('b.x', 6),
        leaf('b.z', 7),
      ])
      const children = await store.getChildren(['a', 'b', 'a.x', 'nope'])
      expect(Object.fromEntries(children.get('a')!)).toEqual({ x: hash(4), y: hash(5) })
      expect(Object.fromEntries(children.get('b')!)).toEqual({ x: hash(6), z: hash(7) })
      expect(children.get('a.x')!.size).toBe(0)
      expect(children.get('nope')!.size).toBe(0)
    })

    it('handles batches of 1000 nodes in one write, one read and one children call', async () => {
      const kids = Array.from({ length: 1000 }, (_, i) => leaf(`t.${i}`, 100 + i))
      await write([interior('', 1, 1000), interior('t', 2, 1000), ...kids])
      const got = await store.getNodes(kids.map((k) => k.path))
      expect(got.size).toBe(1000)
      for (const k of kids) expect(got.get(k.path)).toEqual(k)
      const children = (await store.getChildren(['t'])).get('t')!
      expect(children.size).toBe(1000)
      for (let i = 0; i < 1000; i++) expect(children.get(String(i))).toBe(hash(100 + i))

      const parents = Array.from({ length: 1000 }, (_, i) => `t.${i}`)
      const many = await store.getChildren(parents)
      expect(many.size).toBe(1000)

      await write(
        kids.slice(0, 500).map((k, i) => ({ ...k, hash: hash(5000 + i) })),
        kids.slice(500).map((k) => k.path),
      )
      const after = (await store.getChildren(['t'])).get('t')!
      expect(after.size).toBe(500)
      expect(after.get('0')).toBe(hash(5000))
      expect(after.has('999')).toBe(false)
      expect((await store.getNodes(parents)).size).toBe(500)
    })

    it('keeps long paths of multi-byte segments', async () => {
      const segment = 'é'.repeat(60)
      const path = `${segment}.${segment}`
      await write([interior('', 1, 1), interior(segment, 2, 1), leaf(path, 3)])
      expect((await store.getNodes([path])).get(path)).toEqual(leaf(path, 3))
      expect(await childrenOf(segment)).toEqual({ [segment]: hash(3) })
    })
  })
}
