#!/usr/bin/env node
// Known-answer vectors for the Merkle hashes of SPEC §6, computed literally and recursively from the
// spec text with plain node:crypto. Shares no code with ../../src on purpose: the tests compare the
// implementation against what this script wrote to vectors.json.
//
//   node packages/merkle/test/vectors/make-vectors.mjs   (rewrites vectors.json)
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'

const sha256 = (bytes) => createHash('sha256').update(bytes).digest()
const utf8 = (text) => Buffer.from(text, 'utf8')

// leaf hash = SHA-256( utf8(id) ‖ '|' ‖ version as 8-byte little-endian unsigned ‖ '|' ‖ P ),
// P = SHA-256(content bytes) as 32 raw bytes.
function leafHash(id, version, content) {
  const versionBytes = Buffer.alloc(8)
  versionBytes.writeBigUInt64LE(BigInt(version))
  return sha256(Buffer.concat([utf8(id), utf8('|'), versionBytes, utf8('|'), sha256(utf8(content))]))
}

// interior hash = SHA-256 over the children in ascending byte order of their UTF-8 segment, each
// contributing utf8(segment) ‖ ':' ‖ child hash (32 raw bytes) ‖ ';'.
function interiorHash(children) {
  const sorted = [...children].sort((x, y) => Buffer.compare(utf8(x.segment), utf8(y.segment)))
  return sha256(Buffer.concat(sorted.flatMap((c) => [utf8(c.segment), utf8(':'), c.hash, utf8(';')])))
}

// The node at `path` (segments `prefix`) over `leaves` ({segments, hash}); records every node's hash
// in `nodes` by path. An id that is also a parent contributes its leaf as the child with segment ''
// (stored at path `id.`); a node with no descendants is the id's own leaf.
function node(prefix, leaves, nodes) {
  const path = prefix.join('.')
  const under = leaves.filter((l) => prefix.every((s, i) => l.segments[i] === s))
  const self = under.find((l) => l.segments.length === prefix.length)
  const deeper = under.filter((l) => l.segments.length > prefix.length)
  if (deeper.length === 0) {
    nodes[path] = self.hash.toString('hex')
    return self.hash
  }
  const segments = [...new Set(deeper.map((l) => l.segments[prefix.length]))]
  const children = segments.map((segment) => ({ segment, hash: node([...prefix, segment], deeper, nodes) }))
  if (self) {
    children.push({ segment: '', hash: self.hash })
    nodes[`${path}.`] = self.hash.toString('hex')
  }
  const hash = interiorHash(children)
  nodes[path] = hash.toString('hex')
  return hash
}

function tree(name, leaves) {
  const hashed = leaves.map((l) => ({
    segments: l.id.split('.'),
    hash: leafHash(l.id, l.version, l.content),
  }))
  const nodes = {}
  const root = leaves.length === 0 ? null : node([], hashed, nodes).toString('hex')
  return { name, leaves: leaves.map((l) => ({ ...l, version: String(l.version) })), root, nodes }
}

// Deterministic pseudo-random generator (mulberry32) for the larger tree.
function prng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function randomLeaves(seed, n) {
  const next = prng(seed)
  const alphabet = ['a', 'b', 'B', 'é', '\u{e000}', '😀', '10', '9', 'hash', 'user']
  const pick = (list) => list[Math.floor(next() * list.length)]
  const ids = new Set()
  while (ids.size < n) {
    const depth = 1 + Math.floor(next() * 4)
    ids.add(Array.from({ length: depth }, () => pick(alphabet)).join('.'))
  }
  return [...ids].map((id, i) => ({ id, version: 1 + Math.floor(next() * 5), content: `content ${i}` }))
}

const leafCases = [
  { id: 'a', version: 1, content: '' },
  { id: 'user.alice', version: 1, content: '{"name":"Alice","role":"admin"}' },
  { id: 'user.alice', version: 2, content: '{"name":"Alice","role":"admin"}' },
  { id: 'uk.nhs.patient.123', version: 7, content: 'bytes' },
  { id: 'é.日本.😀', version: 3, content: 'unicode ✓' },
  { id: 'v', version: 2 ** 32 + 1, content: 'x' },
  { id: 'v', version: 2 ** 53 - 1, content: 'x' },
  { id: 'v', version: 2n ** 64n - 1n, content: 'x' },
].map((c) => ({
  ...c,
  version: String(c.version),
  contentHash: sha256(utf8(c.content)).toString('hex'),
  leafHash: leafHash(c.id, c.version, c.content).toString('hex'),
}))

const trees = [
  tree('empty', []),
  tree('single id at the root', [{ id: 'a', version: 1, content: 'hello' }]),
  tree('README example', [
    { id: 'uk', version: 1, content: 'a' },
    { id: 'uk.nhs.1', version: 2, content: 'b' },
    { id: 'fr', version: 1, content: 'c' },
  ]),
  tree('byte order of segments', [
    ...['10', '9', 'B', 'a', 'é', '\u{e000}', '😀', 'hash'].map((s, i) => ({
      id: `s.${s}`,
      version: 1,
      content: String(i),
    })),
  ]),
  tree('nested ids', [
    { id: 'a', version: 1, content: '1' },
    { id: 'a.b', version: 2, content: '2' },
    { id: 'a.b.c', version: 3, content: '3' },
    { id: 'a.b.c.d', version: 4, content: '4' },
    { id: 'a.x', version: 1, content: '5' },
  ]),
  tree('big versions', [
    { id: 'v.1', version: 2 ** 32 + 1, content: 'x' },
    { id: 'v.2', version: 2 ** 53 - 1, content: 'x' },
    { id: 'v.3', version: 2n ** 64n - 1n, content: 'x' },
  ]),
  tree('random nested (seed 20240601)', randomLeaves(20240601, 120)),
]

const out = new URL('./vectors.json', import.meta.url)
writeFileSync(out, `${JSON.stringify({ spec: 'SPEC §6', leaves: leafCases, trees }, null, 2)}\n`)
console.log(`wrote ${leafCases.length} leaf vectors and ${trees.length} trees to ${out.pathname}`)
