import type { MerkleNode } from '@sync-engine/core'
import {
  childrenBound,
  compareSegments,
  ensureScratch,
  HASH_BYTES,
  hashScratch,
  keepLastOfEach,
  sha256Bytes,
  writeChild,
  writeHash,
} from './hash.js'

const NO_BYTES = Buffer.alloc(0)
/** Bytes from the start of a child's hash to the end of its entry (hash and `;`). */
const HASH_TO_END = HASH_BYTES + 1

/** What a staged child needs (a `MerkleNode` fits). */
type StagedChild = Pick<MerkleNode, 'hash' | 'leaf' | 'count'>

/**
 * Children changes in ascending segment order (`sortChildren`): `hashes[j]` is the new hash of
 * `segments[j]`, `null` to remove it.
 */
export interface SortedChanges {
  readonly segments: readonly string[]
  readonly hashes: readonly (string | null)[]
}

/** Where each child written by `compose` came from: `k ≥ 0` existing child `k`, `~j` change `j`. */
interface ComposeIndex {
  readonly segments: string[]
  readonly hashAt: number[]
  readonly from: number[]
}

/**
 * The child nodes of one node, kept compact for the in-memory store: segments in ascending byte
 * order, per child its leaf flag and count in typed arrays, and all hashes inside one buffer that is
 * exactly the parent's interior-hash preimage (utf8(segment) ‖ `:` ‖ 32 raw bytes ‖ `;` per child).
 * A tree of a million leaves then holds a few thousand buffers instead of a million node objects and
 * hash strings, and `hashAfter` computes a parent's new hash by copying the unchanged runs of that
 * preimage around the changed children, without visiting each child.
 *
 * The segment → index map is built on the first lookup after a change of the child set, so building a
 * tree (which only writes) never pays for it.
 *
 * As a `ReadonlyMap` it is segment → child hash (what `MerkleNodeStore.getChildren` returns). Changing
 * an existing child patches it in place; adding or removing one is staged and merged once, at `flush`
 * or the next read (when the same segment is staged twice, the later one wins). Hashes given must be
 * 64 hex characters (the store checks them first).
 */
export class ChildTable implements ReadonlyMap<string, string> {
  /** The segments in ascending byte order; `undefined` until first needed after `fromPreimage`. */
  #segmentList: string[] | undefined = []
  /** Segment → index in `#segments`; `undefined` until a lookup needs it. */
  #position: Map<string, number> | undefined
  #hashAt = new Int32Array(0)
  #preimage: Buffer = NO_BYTES
  #leaf = new Uint8Array(0)
  #count = new Float64Array(0)
  /** Additions and removals (`null`) not merged yet, in the order staged. */
  #stagedSegments: string[] = []
  #stagedChildren: (StagedChild | null)[] = []

  /**
   * A table over a finished preimage (children in ascending segment order, no repeats): child `k`
   * has its hash at byte `hashAt[k]`, with `leaf[k]` and `count[k]` (all kept). The segments are
   * decoded from the preimage when first needed: a table built and never read makes no strings.
   */
  static fromPreimage(
    preimage: Buffer,
    hashAt: Int32Array<ArrayBuffer>,
    leaf: Uint8Array<ArrayBuffer>,
    count: Float64Array<ArrayBuffer>,
  ): ChildTable {
    const table = new ChildTable()
    table.#segmentList = undefined
    table.#preimage = preimage
    table.#hashAt = hashAt
    table.#leaf = leaf
    table.#count = count
    return table
  }

  get size(): number {
    this.#merge()
    return this.#hashAt.length
  }

  has(segment: string): boolean {
    return this.#find(segment) >= 0
  }

  get(segment: string): string | undefined {
    const i = this.#find(segment)
    return i < 0 ? undefined : this.#hex(i)
  }

  /** Index of the child at `segment` (valid until the next change of the child set), or -1. */
  indexOf(segment: string): number {
    return this.#find(segment)
  }

  /** The child at index `i` (from `indexOf`) as a node at `path`. */
  nodeAt(i: number, path: string): MerkleNode {
    return this.#node(i, path)
  }

  /** Leaf flag and leaf count of the child at index `i` (from `indexOf`). */
  leafAt(i: number): boolean {
    return this.#leaf[i] === 1
  }

  countAt(i: number): number {
    return this.#count[i]!
  }

  /** The hex hash of the child at index `i` (from `indexOf`). */
  hashAt(i: number): string {
    return this.#hex(i)
  }

  /** Sets the hash of the existing child at index `i` (from `indexOf`) to 32 raw bytes. */
  patchHashBytes(i: number, hash: Uint8Array): void {
    this.#merge()
    this.#preimage.set(hash, this.#hashAt[i]!)
  }

  /** The interior hash of the parent as it stands, as 32 raw bytes (its preimage hashed in place). */
  digest(): Buffer {
    this.#merge()
    return sha256Bytes(this.#preimage)
  }

  /**
   * Sets the hash, leaf flag and count of the existing child at index `i` (from `indexOf`); returns
   * false, changing nothing, while additions or removals are staged (indexes may move then).
   */
  patch(i: number, child: StagedChild): boolean {
    if (this.#stagedSegments.length > 0) return false
    writeHash(this.#preimage, child.hash, this.#hashAt[i]!)
    this.#leaf[i] = child.leaf ? 1 : 0
    this.#count[i] = child.count
    return true
  }

  /** Every child as a node, its path made by `pathOf(segment)`. */
  *nodes(pathOf: (segment: string) => string): Generator<MerkleNode> {
    this.#merge()
    for (let i = 0; i < this.#segments.length; i++) yield this.#node(i, pathOf(this.#segments[i]!))
  }

  /**
   * Sets the child at `segment` to `child`'s hash, leaf flag and count; returns `true` when that was
   * staged (a new child, or while other changes are staged: `flush` merges it), `false` when an
   * existing child was patched in place.
   */
  put(segment: string, child: StagedChild): boolean {
    const i = this.#stagedSegments.length === 0 ? this.#find(segment) : -1
    if (i >= 0 && this.patch(i, child)) return false
    this.#stage(segment, child)
    return true
  }

  /** Stages the removal of the child at `segment` (`flush` merges it). */
  remove(segment: string): void {
    this.#stage(segment, null)
  }

  /**
   * The interior hash of the parent once its own leaf (segment `""`) is `ownLeaf` (`null`: none) and
   * the children in `changes` have their new hash (`null`: removed; a new segment is added); `null`
   * when no child other than the own leaf would be left. Every hash must be 64 hex characters.
   */
  hashAfter(ownLeaf: string | null, changes: SortedChanges | undefined): string | null {
    this.#merge()
    return this.#patchedHash(ownLeaf, changes) ?? this.#composedHash(ownLeaf, changes)
  }

  /** Folds staged additions and removals in now (otherwise the next read does). */
  flush(): void {
    this.#merge()
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

  /**
   * `hashAfter` when only hashes change (the own-leaf slot and every changed child exist already and
   * stay): one copy of the preimage, patched. `undefined` otherwise.
   */
  #patchedHash(ownLeaf: string | null, changes: SortedChanges | undefined): string | null | undefined {
    // Child 0 has segment "" when its hash starts right after the ':' at byte 0.
    const slot = this.#hashAt[0] === 1 ? 0 : undefined
    if ((slot === undefined) !== (ownLeaf === null) || this.#hashAt.length === (slot === undefined ? 0 : 1))
      return undefined
    const length = this.#preimage.length
    const buf = ensureScratch(length)
    this.#preimage.copy(buf, 0, 0, length)
    if (slot !== undefined) writeHash(buf, ownLeaf!, this.#hashAt[slot]!)
    if (changes) {
      for (let j = 0; j < changes.segments.length; j++) {
        const hash = changes.hashes[j]
        const i = this.#find(changes.segments[j]!)
        if (hash === null || hash === undefined || i < 0) return undefined
        writeHash(buf, hash, this.#hashAt[i]!)
      }
    }
    return hashScratch(length)
  }

  /** `hashAfter` in general: the preimage composed from unchanged runs and the changed children. */
  #composedHash(ownLeaf: string | null, changes: SortedChanges | undefined): string | null {
    const segments = changes ? ['', ...changes.segments] : ['']
    const hashes = changes ? [ownLeaf, ...changes.hashes] : [ownLeaf]
    const out = ensureScratch(this.#preimage.length + childrenBound(segments))
    const { length, others } = this.#compose(segments, hashes, out)
    return others === 0 ? null : hashScratch(length)
  }

  get #segments(): string[] {
    if (this.#segmentList === undefined) {
      const segments = new Array<string>(this.#hashAt.length)
      for (let k = 0; k < segments.length; k++)
        segments[k] = this.#preimage.toString('utf8', this.#entryStart(k), this.#hashAt[k]! - 1)
      this.#segmentList = segments
    }
    return this.#segmentList
  }

  #hex(i: number): string {
    const at = this.#hashAt[i]!
    return this.#preimage.toString('hex', at, at + HASH_BYTES)
  }

  #node(i: number, path: string): MerkleNode {
    return { path, hash: this.#hex(i), leaf: this.#leaf[i] === 1, count: this.#count[i]! }
  }

  #stage(segment: string, child: StagedChild | null): void {
    this.#stagedSegments.push(segment)
    this.#stagedChildren.push(child)
  }

  /** Index of the child at `segment`, or -1. */
  #find(segment: string): number {
    this.#merge()
    if (this.#position === undefined) this.#position = new Map(this.#segments.map((s, k) => [s, k]))
    return this.#position.get(segment) ?? -1
  }

  /** Byte offset where existing child `k` starts (`k` = size: the end). */
  #entryStart(k: number): number {
    return k === 0 ? 0 : this.#hashAt[k - 1]! + HASH_TO_END
  }

  /** The first existing child at or after `from` whose segment is ≥ `segment` (binary search). */
  #lowerBound(segment: string, from: number): number {
    let lo = from
    let hi = this.#segments.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (compareSegments(this.#segments[mid]!, segment) < 0) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /**
   * Writes into `out` the preimage of the children after `changes` (`segments` sorted; hash `null`
   * removes, an existing segment is replaced, a new one is added), copying the unchanged runs of
   * existing children in one piece each. Returns the length and how many children other than `""`
   * it wrote; records every child written in `index` when given.
   */
  #compose(
    segments: readonly string[],
    hashes: readonly (string | null)[],
    out: Buffer,
    index?: ComposeIndex,
  ): { length: number; others: number } {
    const existing = this.#segments
    let o = 0
    let others = 0
    let run = 0 // first existing child not copied yet
    const copyUntil = (end: number) => {
      if (end <= run) return
      const from = this.#entryStart(run)
      this.#preimage.copy(out, o, from, this.#entryStart(end))
      for (let k = run; k < end; k++) {
        if (existing[k] !== '') others++
        if (index) {
          index.segments.push(existing[k]!)
          index.hashAt.push(this.#hashAt[k]! - from + o)
          index.from.push(k)
        }
      }
      o += this.#entryStart(end) - from
      run = end
    }
    for (let j = 0; j < segments.length; j++) {
      const segment = segments[j]!
      const at = this.#lowerBound(segment, run)
      copyUntil(at)
      if (at < existing.length && existing[at] === segment) run = at + 1
      const hash = hashes[j]
      if (hash === null || hash === undefined) continue
      const end = writeChild(out, o, segment, hash)
      if (segment !== '') others++
      if (index) {
        index.segments.push(segment)
        index.hashAt.push(end - HASH_TO_END)
        index.from.push(~j)
      }
      o = end
    }
    copyUntil(existing.length)
    return { length: o, others }
  }

  /** Folds staged additions and removals into new sorted arrays and preimage. */
  #merge(): void {
    if (this.#stagedSegments.length === 0) return
    const segments = this.#stagedSegments
    const children = this.#stagedChildren
    keepLastOfEach(segments, children)
    this.#stagedSegments = []
    this.#stagedChildren = []
    const out = Buffer.allocUnsafe(this.#preimage.length + childrenBound(segments))
    const index: ComposeIndex = { segments: [], hashAt: [], from: [] }
    const hashes = children.map((c) => c?.hash ?? null)
    const { length } = this.#compose(segments, hashes, out, index)
    const n = index.segments.length
    const leaf = new Uint8Array(n)
    const count = new Float64Array(n)
    for (let k = 0; k < n; k++) {
      const from = index.from[k]!
      const child = from < 0 ? children[~from]! : undefined
      leaf[k] = child ? (child.leaf ? 1 : 0) : this.#leaf[from]!
      count[k] = child ? child.count : this.#count[from]!
    }
    this.#preimage = length === out.length ? out : Buffer.from(out.subarray(0, length))
    this.#segmentList = index.segments
    this.#hashAt = Int32Array.from(index.hashAt)
    this.#leaf = leaf
    this.#count = count
    this.#position = undefined
  }
}
