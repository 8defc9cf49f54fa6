import type { MerkleNode } from '@sync-engine/core'
import {
  childrenBound,
  compareSegments,
  ensureScratch,
  HASH_BYTES,
  sha256Hex,
  writeChildren,
  writeHash,
} from './hash.js'

const NO_BYTES = Buffer.alloc(0)

/** What a staged child needs (a `MerkleNode` fits). */
type StagedChild = Pick<MerkleNode, 'hash' | 'leaf' | 'count'>

/**
 * The child nodes of one node, kept compact for the in-memory store: segments in ascending byte
 * order, per child its leaf flag and count in typed arrays, and all hashes inside one buffer that is
 * exactly the parent's interior-hash preimage (utf8(segment) ‖ `:` ‖ 32 raw bytes ‖ `;` per child).
 * A tree of a million leaves then holds a few thousand buffers instead of a million node objects and
 * hash strings, and `hashWith` recomputes a parent whose children only changed hashes with one copy
 * and one SHA-256, without visiting each child.
 *
 * As a `ReadonlyMap` it is segment → child hash (what `MerkleNodeStore.getChildren` returns). Changing
 * an existing child patches it in place; adding or removing one is staged and merged once, at `flush`
 * or the next read. Hashes given must be 64 hex characters (the store checks them first).
 */
export class ChildTable implements ReadonlyMap<string, string> {
  #segments: string[] = []
  #position = new Map<string, number>()
  #hashAt = new Int32Array(0)
  #preimage: Buffer = NO_BYTES
  #leaf = new Uint8Array(0)
  #count = new Float64Array(0)
  /** Additions and removals (`null`) not merged yet. */
  #staged: Map<string, StagedChild | null> | undefined

  get size(): number {
    this.#merge()
    return this.#segments.length
  }

  has(segment: string): boolean {
    this.#merge()
    return this.#position.has(segment)
  }

  get(segment: string): string | undefined {
    this.#merge()
    const i = this.#position.get(segment)
    return i === undefined ? undefined : this.#hex(i)
  }

  /** The child at `segment` as a node at `path`. */
  node(segment: string, path: string): MerkleNode | undefined {
    this.#merge()
    const i = this.#position.get(segment)
    return i === undefined ? undefined : this.#node(i, path)
  }

  /** Every child as `[segment, node]`, its path made by `pathOf(segment)`. */
  *nodes(pathOf: (segment: string) => string): Generator<MerkleNode> {
    this.#merge()
    for (let i = 0; i < this.#segments.length; i++) yield this.#node(i, pathOf(this.#segments[i]!))
  }

  /** Sets the child at `segment` to `child`'s hash, leaf flag and count. */
  put(segment: string, child: StagedChild): void {
    const i = this.#position.get(segment)
    if (i !== undefined && !this.#staged?.has(segment)) {
      writeHash(this.#preimage, child.hash, this.#hashAt[i]!)
      this.#leaf[i] = child.leaf ? 1 : 0
      this.#count[i] = child.count
      return
    }
    this.#stage(segment, child)
  }

  remove(segment: string): void {
    this.#stage(segment, null)
  }

  /**
   * The interior hash of these children with some hashes replaced (each 64 hex characters), or
   * `null` when a segment of `overrides` is not a child: then the children change, not only hashes.
   */
  hashWith(overrides: Iterable<readonly [string, string]>): string | null {
    this.#merge()
    const length = this.#preimage.length
    const buf = ensureScratch(length)
    this.#preimage.copy(buf, 0, 0, length)
    for (const [segment, hash] of overrides) {
      const i = this.#position.get(segment)
      if (i === undefined) return null
      writeHash(buf, hash, this.#hashAt[i]!)
    }
    return sha256Hex(buf.subarray(0, length))
  }

  *entries(): MapIterator<[string, string]> {
    this.#merge()
    for (let i = 0; i < this.#segments.length; i++) yield [this.#segments[i]!, this.#hex(i)]
  }

  *keys(): MapIterator<string> {
    this.#merge()
    yield* this.#segments
  }

  *values(): MapIterator<string> {
    for (const [, hash] of this.entries()) yield hash
  }

  [Symbol.iterator](): MapIterator<[string, string]> {
    return this.entries()
  }

  forEach(
    callback: (value: string, key: string, map: ReadonlyMap<string, string>) => void,
    thisArg?: unknown,
  ): void {
    for (const [segment, hash] of this.entries()) callback.call(thisArg, hash, segment, this)
  }

  #hex(i: number): string {
    const at = this.#hashAt[i]!
    return this.#preimage.toString('hex', at, at + HASH_BYTES)
  }

  #node(i: number, path: string): MerkleNode {
    return { path, hash: this.#hex(i), leaf: this.#leaf[i] === 1, count: this.#count[i]! }
  }

  #stage(segment: string, child: StagedChild | null): void {
    if (!this.#staged) this.#staged = new Map()
    this.#staged.set(segment, child)
  }

  /** Folds staged additions and removals in now (otherwise the next read does). */
  flush(): void {
    this.#merge()
  }

  /** Folds staged additions and removals into new sorted arrays and preimage. */
  #merge(): void {
    const staged = this.#staged
    if (!staged) return
    this.#staged = undefined
    const segments: string[] = []
    const hashes: string[] = []
    const leaves: boolean[] = []
    const counts: number[] = []
    for (let i = 0; i < this.#segments.length; i++) {
      const segment = this.#segments[i]!
      if (staged.has(segment)) continue
      segments.push(segment)
      hashes.push(this.#hex(i))
      leaves.push(this.#leaf[i] === 1)
      counts.push(this.#count[i]!)
    }
    let sorted = true
    for (const [segment, child] of staged) {
      if (child === null) continue
      const last = segments[segments.length - 1]
      if (last !== undefined && compareSegments(last, segment) >= 0) sorted = false
      segments.push(segment)
      hashes.push(child.hash)
      leaves.push(child.leaf)
      counts.push(child.count)
    }
    const order = segments.map((_, i) => i)
    if (!sorted) order.sort((a, b) => compareSegments(segments[a]!, segments[b]!))
    this.#segments = order.map((j) => segments[j]!)
    const sortedHashes = order.map((j) => hashes[j]!)
    this.#leaf = Uint8Array.from(order, (j) => (leaves[j] ? 1 : 0))
    this.#count = Float64Array.from(order, (j) => counts[j]!)
    this.#hashAt = new Int32Array(order.length)
    const buf = Buffer.allocUnsafe(childrenBound(this.#segments))
    const length = writeChildren(buf, this.#segments, sortedHashes, unreachable, this.#hashAt)
    this.#preimage = length === buf.length ? buf : Buffer.from(buf.subarray(0, length))
    this.#position = new Map(this.#segments.map((s, i) => [s, i]))
  }
}

function unreachable(): never {
  throw new Error('unreachable: the store checks hashes before writing')
}
