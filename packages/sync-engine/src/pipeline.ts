import type { ResolvedSubmitOptions, SyncItem } from '@sync-engine/core'

/** A promise with its resolve/reject, for callers that wait on a flush. */
export interface Waiter<T> {
  resolve(value: T): void
  reject(error: unknown): void
}

export function deferred<T>(): { promise: Promise<T>; waiter: Waiter<T> } {
  let waiter!: Waiter<T>
  const promise = new Promise<T>((resolve, reject) => {
    waiter = { resolve, reject }
  })
  return { promise, waiter }
}

/** What every queued entry carries besides its data. */
interface EntryBase {
  /**
   * WAL records of `local` writes of this id, done once this entry commits with no newer write of
   * the id pending (a replaced entry hands them to its successor).
   */
  walSeqs?: number[] | undefined
}

export interface PutEntry extends EntryBase {
  readonly kind: 'put'
  readonly id: string
  readonly item: SyncItem
  readonly options: ResolvedSubmitOptions
  readonly bytes: number
  /** Applied from another process's change (`applyRemote`): not echoed to the change stream. */
  readonly replicated?: boolean
  /** Callers waiting for the L3 commit (durability `ground-truth`). */
  readonly waiters: Waiter<never>[]
}

export interface DeleteEntry extends EntryBase {
  readonly kind: 'delete'
  readonly id: string
  /** Whether the id was known to exist when the delete was issued (pending write or L1). */
  readonly knownToExist: boolean
  readonly bytes: number
  readonly replicated?: boolean
  readonly waiters: Waiter<never>[]
}

export interface StateEntry extends EntryBase {
  readonly kind: 'state'
  readonly id: string
  readonly state: string
  readonly bytes: number
  readonly waiters: Waiter<never>[]
}

export type Entry = PutEntry | DeleteEntry | StateEntry

/** A bulk mutation that acts on what L3 holds once everything queued before it is flushed. */
export interface BulkEntry {
  readonly kind: 'deleteByState' | 'deletePrefix'
  readonly arg: string
  readonly waiter: Waiter<string[]>
}

export type Segment = { readonly kind: 'entries'; readonly entries: Map<string, Entry> } | BulkEntry

const ENTRY_OVERHEAD = 64

/** Hands WAL records of `local` writes to `entry` (they are done when it commits); `seqs` becomes its own. */
export function carryWalSeqs(entry: Entry, seqs: number[]): void {
  if (!entry.walSeqs) entry.walSeqs = seqs
  else for (const seq of seqs) entry.walSeqs.push(seq)
}

/** Accounting size of a queued entry: content plus id plus a fixed overhead. */
export function entryBytes(id: string, contentBytes = 0): number {
  return contentBytes + id.length * 2 + ENTRY_OVERHEAD
}

/**
 * The write pipeline's queue (SPEC §4): one entry per id (last wins; a delete replaces a pending
 * write), split into segments by bulk operations so a `deletePrefix` acts after everything queued
 * before it and before everything queued after it. `latest` indexes every write not yet committed —
 * queued or in flight — for read-your-writes.
 */
export class WriteQueue {
  #open = new Map<string, Entry>()
  #sealed: Segment[] = []
  readonly latest = new Map<string, Entry>()
  count = 0
  bytes = 0

  /**
   * Queues an entry. An entry it replaces in the open segment is dropped; its waiters move to the new
   * entry and settle when that one commits (what they waited for was superseded by it).
   */
  push(entry: Entry): Entry | undefined {
    const previous = this.#open.get(entry.id)
    if (previous) {
      this.count--
      this.bytes -= previous.bytes
      entry.waiters.push(...previous.waiters)
      if (previous.walSeqs) carryWalSeqs(entry, previous.walSeqs)
    }
    this.#open.set(entry.id, entry)
    this.latest.set(entry.id, entry)
    this.count++
    this.bytes += entry.bytes
    return previous
  }

  pushBulk(bulk: BulkEntry): void {
    this.#seal()
    this.#sealed.push(bulk)
    this.count++
  }

  /** The pending entry of `id` in the open segment (to merge a setState into a pending write). */
  open(id: string): Entry | undefined {
    return this.#open.get(id)
  }

  #seal(): void {
    if (this.#open.size === 0) return
    this.#sealed.push({ kind: 'entries', entries: this.#open })
    this.#open = new Map()
  }

  /** Takes everything queued so far, in order; the queue starts empty (in-flight writes stay in `latest`). */
  drain(): Segment[] {
    this.#seal()
    const out = this.#sealed
    this.#sealed = []
    this.count = 0
    this.bytes = 0
    return out
  }

  get empty(): boolean {
    return this.#open.size === 0 && this.#sealed.length === 0
  }

  /** Forgets a committed entry unless a newer one for its id came after it. */
  settle(entry: Entry): void {
    if (this.latest.get(entry.id) === entry) this.latest.delete(entry.id)
  }
}
