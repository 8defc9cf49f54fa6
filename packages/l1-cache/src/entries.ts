import type { SyncItem } from '@sync-engine/core'

/**
 * One cached item and what the cache keeps about it. Fixed shape; entries that leave are recycled
 * (`reset`) for later inserts, so a cache under steady eviction allocates almost nothing.
 */
export class Entry {
  id = ''
  /** `undefined` only while the entry waits in the free list. */
  item: SyncItem | undefined = undefined
  /** UTF-8 bytes of the id (kept so a replace does not measure it again). */
  idBytes = 0
  /** Accounted bytes: id + content + `L1_ENTRY_OVERHEAD_BYTES`. */
  bytes = 0
  /** Credits each pass of the eviction hand takes (1 for ≤ 2 KiB … 4 for > 32 KiB, see `sizeWeight`). */
  weight = 1
  /** Reads earn credits (up to `CREDIT_MAX`); each pass of the hand spends `weight` of them. */
  credit = 0
  /** Reads of this id since it was first cached (kept across replaces). */
  accessCount = 0
  /** Epoch ms of the last read (coarse, see `CoarseClock`); 0 = never. */
  lastAccessed = 0
  /** Monotonic ms after which the entry is expired; 0 = no TTL. */
  expiresAt = 0
  pinned = false
  /** Not read since it was cached: in the probation queue, not yet in the main ring. */
  probation = true
  /** Neighbours in its queue (only meaningful while unpinned). */
  prev: Entry = this
  next: Entry = this

  /** Makes this a fresh entry for `item` (bytes, weight, pin and TTL are set by the cache). */
  reset(item: SyncItem, idBytes: number): this {
    this.id = item.id
    this.item = item
    this.idBytes = idBytes
    this.credit = 0
    this.probation = true
    this.accessCount = 0
    this.lastAccessed = 0
    return this
  }
}

/**
 * A circular doubly linked list of entries with a hand that walks it. New entries go just behind the
 * hand, so the hand reaches them last: used as a FIFO (the hand is the oldest entry) and as a CLOCK.
 */
export class Ring {
  hand: Entry | undefined = undefined

  /** Inserts `e` behind the hand. */
  insert(e: Entry): void {
    const hand = this.hand
    if (hand === undefined) {
      e.prev = e
      e.next = e
      this.hand = e
      return
    }
    const tail = hand.prev
    e.prev = tail
    e.next = hand
    tail.next = e
    hand.prev = e
  }

  remove(e: Entry): void {
    if (e.next === e) {
      this.hand = undefined
    } else {
      e.prev.next = e.next
      e.next.prev = e.prev
      if (this.hand === e) this.hand = e.next
    }
    e.prev = e
    e.next = e
  }

  advance(): void {
    if (this.hand !== undefined) this.hand = this.hand.next
  }

  reset(): void {
    this.hand = undefined
  }
}
