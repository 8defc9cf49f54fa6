import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { leafHash, merkleNodesOf, merkleRootOf, PathMerkleTree } from '../src/index.js'
import { contentHash, dump, dumpNodes, upsert } from './helpers.js'

/** Written by vectors/make-vectors.mjs, which follows SPEC §6 literally and shares no code with src. */
interface Vectors {
  leaves: { id: string; version: string; content: string; contentHash: string; leafHash: string }[]
  trees: {
    name: string
    leaves: { id: string; version: string; content: string }[]
    root: string | null
    nodes: Record<string, string>
  }[]
}
const vectors = JSON.parse(
  readFileSync(new URL('./vectors/vectors.json', import.meta.url), 'utf8'),
) as Vectors

const version = (text: string) =>
  BigInt(text) <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(text) : BigInt(text)

describe('known-answer vectors (SPEC §6)', () => {
  it.each(vectors.leaves.map((v) => [`${v.id} v${v.version}`, v] as const))('leaf hash of %s', (_, v) => {
    expect(contentHash(v.content)).toBe(v.contentHash)
    expect(leafHash(v.id, version(v.version), v.contentHash)).toBe(v.leafHash)
    expect(leafHash(v.id, BigInt(v.version), v.contentHash.toUpperCase())).toBe(v.leafHash)
  })

  describe.each(vectors.trees.map((t) => [t.name, t] as const))('tree: %s', (_, t) => {
    const leaves = t.leaves.map((l) => ({
      id: l.id,
      version: version(l.version),
      contentHash: contentHash(l.content),
    }))

    it('from scratch: root and every node hash', () => {
      expect(merkleRootOf(leaves)).toBe(t.root)
      const nodes = merkleNodesOf(leaves)
      expect(Object.fromEntries([...nodes].map(([path, n]) => [path, n.hash]))).toEqual(t.nodes)
    })

    it('incremental, one batch and one id per batch in reverse: same nodes as the vectors', () => {
      const whole = new PathMerkleTree()
      const result = whole.apply(leaves.map((l) => ({ op: 'upsert', ...l })))
      expect(result.root).toBe(t.root)
      expect(whole.root()).toBe(t.root)
      expect(whole.leafCount()).toBe(leaves.length)
      expect(Object.fromEntries([...whole.store.nodes()].map((n) => [n.path, n.hash]))).toEqual(t.nodes)

      const oneByOne = new PathMerkleTree()
      for (const l of [...leaves].reverse()) oneByOne.apply([{ op: 'upsert', ...l }])
      expect(dump(oneByOne.store)).toEqual(dump(whole.store))
      expect(dump(whole.store)).toEqual(dumpNodes(merkleNodesOf(leaves)))
    })
  })

  it('the README example, node by node', () => {
    const tree = new PathMerkleTree()
    tree.apply([upsert('uk', 1, 'a'), upsert('uk.nhs.1', 2, 'b'), upsert('fr', 1, 'c')])
    const t = vectors.trees.find((x) => x.name === 'README example')!
    expect(tree.root()).toBe(t.root)
    expect([...tree.children('')]).toEqual([
      ['fr', t.nodes['fr']],
      ['uk', t.nodes['uk']],
    ])
    expect([...tree.children('uk')]).toEqual([
      ['', t.nodes['uk.']],
      ['nhs', t.nodes['uk.nhs']],
    ])
    expect(tree.node('uk')).toEqual({ path: 'uk', hash: t.nodes['uk'], leaf: false, count: 2 })
    expect(tree.node('uk.')).toEqual({ path: 'uk.', hash: t.nodes['uk.'], leaf: true, count: 1 })
  })
})
