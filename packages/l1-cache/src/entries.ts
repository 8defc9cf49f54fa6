import type { SyncItem } from '@sync-engine/core'

/** No slot: the hand of an empty ring, the end of the free chain. */
export const NONE = -1

/** Slots the arrays start with (and go back to on `reset`). */
const INITIAL_CAPACITY = 64

/**
 * The entries of a cache as parallel arrays indexed by a slot number, in the manner of lru-cache: an
 * entry is a slot, not an object, so the cache's `Map` maps ids to small integers and a cache under
 * steady eviction allocates nothing. A removed entry's slot goes on a free chain (linked through
 * `next`) and the next insert takes it; when no slot is free the arrays double (amortised O(1) per
 * insert). They keep their size until `reset`: about 56 B per slot of the largest number of entries
 * held at once.
 */
export class Entries {
  /** The cached item; `undefined` for a free slot. */
  items: (SyncItem | undefined)[] = []
  /** UTF-8 bytes of the id (kept so a replace does not measure it again). */
  idBytes = new Int32Array(0)
  /** Accounted bytes: id + content + `L1_ENTRY_OVERHEAD_BYTES`. */
  bytes = new Float64Array(0)
  /** Credits each pass of the eviction hand takes (1 for ≤ 2 KiB … 4 for > 32 KiB, see `sizeWeight`). */
  weight = new Uint8Array(0)
  /** Reads earn credits (up to `CREDIT_MAX`); each pass of the hand spends `weight` of them. */
  credit = new Uint8Array(0)
  /** Reads of this id since it was first cached (kept across replaces). */
  accessCount = new Float64Array(0)
  /** Epoch ms of the last read (coarse, see `CoarseClock`); 0 = never. */
  lastAccessed = new Float64Array(0)
  /** Monotonic ms after which the entry is expired; 0 = no TTL. */
  expiresAt = new Float64Array(0)
  /** 1 = pinned: in no ring, never evicted. */
  pinned = new Uint8Array(0)
  /** 1 = not read since it was cached: in the probation queue, not yet in the main ring. */
  probation = new Uint8Array(0)
  /** Neighbours in its ring while unpinned; `next` chains the free slots. */
  prev = new Int32Array(0)
  next = new Int32Array(0)
  /** Slots ever handed out since the last reset: every slot at or above this one is unused. */
  used = 0
  #free = NONE

  constructor() {
    this.#resize(INITIAL_CAPACITY)
  }

  /** A slot for a fresh entry of `item`: no reads, no credits, in probation (the caller sets the rest). */
  alloc(item: SyncItem, idBytes: number): number {
    let slot = this.#free
    if (slot !== NONE) {
      this.#free = this.next[slot]!
    } else {
      if (this.used === this.items.length) this.#resize(this.used * 2)
      slot = this.used++
    }
    this.items[slot] = item
    this.idBytes[slot] = idBytes
    this.credit[slot] = 0
    this.accessCount[slot] = 0
    this.lastAccessed[slot] = 0
    this.probation[slot] = 1
    return slot
  }

  /** Returns a slot (already out of its ring) to the free chain. */
  release(slot: number): void {
    this.items[slot] = undefined
    this.next[slot] = this.#free
    this.#free = slot
  }

  /** Frees every slot and goes back to the initial capacity. */
  reset(): void {
    this.used = 0
    this.#free = NONE
    this.items = []
    this.#resize(INITIAL_CAPACITY)
  }

  #resize(capacity: number): void {
    const grow = <T extends Int32Array | Float64Array | Uint8Array>(old: T, make: new (n: number) => T) => {
      const array = new make(capacity)
      array.set(old.subarray(0, capacity))
      return array
    }
    this.idBytes = grow(this.idBytes, Int32Array)
    this.bytes = grow(this.bytes, Float64Array)
    this.weight = grow(this.weight, Uint8Array)
    this.credit = grow(this.credit, Uint8Array)
    this.accessCount = grow(this.accessCount, Float64Array)
    this.lastAccessed = grow(this.lastAccessed, Float64Array)
    this.expiresAt = grow(this.expiresAt, Float64Array)
    this.pinned = grow(this.pinned, Uint8Array)
    this.probation = grow(this.probation, Uint8Array)
    this.prev = grow(this.prev, Int32Array)
    this.next = grow(this.next, Int32Array)
    // Grown by push, so the array stays packed (no holes for V8 to check on every read).
    while (this.items.length < capacity) this.items.push(undefined)
  }
}

/**
 * A circular doubly linked list of slots (through `Entries.prev` / `next`) with a hand that walks it.
 * New slots go just behind the hand, so the hand reaches them last: used as a FIFO (the hand is the
 * oldest entry) and as a CLOCK.
 */
export class Ring {
  hand = NONE
  readonly #entries: Entries

  constructor(entries: Entries) {
    this.#entries = entries
  }

  /** Inserts `slot` behind the hand. */
  insert(slot: number): void {
    const { prev, next } = this.#entries
    const hand = this.hand
    if (hand === NONE) {
      prev[slot] = slot
      next[slot] = slot
      this.hand = slot
      return
    }
    const tail = prev[hand]!
    prev[slot] = tail
    next[slot] = hand
    next[tail] = slot
    prev[hand] = slot
  }

  remove(slot: number): void {
    const { prev, next } = this.#entries
    const after = next[slot]!
    if (after === slot) {
      this.hand = NONE
      return
    }
    const before = prev[slot]!
    next[before] = after
    prev[after] = before
    if (this.hand === slot) this.hand = after
  }

  advance(): void {
    if (this.hand !== NONE) this.hand = this.#entries.next[this.hand]!
  }

  reset(): void {
    this.hand = NONE
  }
}
