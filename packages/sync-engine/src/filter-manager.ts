import { EventEmitter } from 'node:events'
import type { L3Store, Logger, WriteAheadLog } from '@sync-engine/core'
import { CuckooFilter } from '@sync-engine/cuckoo-filter'

export const FILTER_ID = 'l3'

export type FilterTrust = 'Trusted' | 'Untrusted'

export interface WarmUpProgress {
  readonly scanned: number
  readonly total: number | undefined
  readonly done: boolean
}

export interface WarmUpReport {
  readonly entries: number
  readonly durationMs: number
}

export interface FilterOptions {
  fingerprintBits: 8 | 12 | 16
  initialCapacity: number
  snapshotEveryInserts: number
}

/**
 * The L3 existence filter and its trust (SPEC §7). Untrusted until built from a full scan of L3 or
 * restored from a snapshot whose Merkle root equals L3's; while trusted, no false negatives: every id
 * L3 holds has exactly one fingerprint (inserted when L3 reports the row created, removed when L3
 * reports it deleted), and anything it cannot follow exactly drops trust instead of lying.
 */
export class FilterManager extends EventEmitter<{
  progress: [WarmUpProgress]
  trust: [FilterTrust, string]
}> {
  filter: CuckooFilter
  #trusted = false
  insertsSinceSnapshot = 0
  #warming: Promise<WarmUpReport> | undefined
  /** Ids created while a warm-up scans, added to the new filter before it takes over. */
  #journal: Set<string> | undefined
  /**
   * True while every fingerprint is one this process inserted for an id it knows L3 created. Writes
   * by other processes make that unknowable; then deletes stop removing fingerprints (a leftover is
   * only a false positive) until the next rebuild.
   */
  #exact = true

  constructor(
    readonly options: FilterOptions,
    private readonly logger: Logger,
  ) {
    super()
    this.filter = this.#fresh()
  }

  #fresh(): CuckooFilter {
    return new CuckooFilter({
      initialCapacity: this.options.initialCapacity,
      fingerprintBits: this.options.fingerprintBits,
    })
  }

  get trusted(): boolean {
    return this.#trusted
  }

  get trust(): FilterTrust {
    return this.#trusted ? 'Trusted' : 'Untrusted'
  }

  #setTrust(trusted: boolean, reason: string): void {
    if (this.#trusted === trusted) return
    this.#trusted = trusted
    this.logger.info(
      { reason, entries: this.filter.stats().entries },
      trusted ? 'Cuckoo filter trusted' : 'Cuckoo filter no longer trusted',
    )
    this.emit('trust', this.trust, reason)
  }

  distrust(reason: string): void {
    this.#setTrust(false, reason)
  }

  /** False only when the id is certainly not in L3 (trusted filter, no fingerprint). */
  mightExist(id: string): boolean {
    return !this.#trusted || this.filter.mightContain(id)
  }

  /** Ids L3 reported as newly created and ids it reported deleted. */
  committed(created: readonly string[], deleted: readonly string[]): void {
    for (const id of created) this.filter.add(id)
    if (this.#journal) for (const id of created) this.#journal.add(id)
    // A delete during a warm-up is not replayed into the new filter: its fingerprint may or may not
    // be there yet, and removing one that is not would hit another id's. A leftover is only a false positive.
    if (this.#exact) for (const id of deleted) this.filter.remove(id)
    this.insertsSinceSnapshot += created.length
  }

  /**
   * Ids another process wrote (seen on the change stream): each gets a fingerprint unless the filter
   * already answers "maybe" for it — in which case this process cannot know whose fingerprint that is,
   * and removals stop until the next rebuild. Never a false negative either way.
   */
  foreign(written: readonly string[]): void {
    // A warm-up in progress may have scanned past these ids already: its new filter gets them all.
    if (this.#journal) for (const id of written) this.#journal.add(id)
    for (const id of written) {
      if (this.filter.mightContain(id)) this.#exact = false
      else {
        this.filter.add(id)
        this.insertsSinceSnapshot++
      }
    }
  }

  /** Restores from the WAL's snapshot when its root equals L3's current root. */
  async restore(wal: WriteAheadLog, l3Root: string | null): Promise<'restored' | 'stale' | 'none'> {
    const snapshot = await wal.loadSnapshot(FILTER_ID)
    if (!snapshot) return 'none'
    if (snapshot.merkleRoot !== l3Root) {
      this.logger.info(
        { snapshotRoot: snapshot.merkleRoot, l3Root },
        'Filter snapshot is stale (L3 changed since); it will be rebuilt',
      )
      return 'stale'
    }
    try {
      this.filter = CuckooFilter.import(snapshot.bytes)
    } catch (error) {
      this.logger.warn({ error: (error as Error).message }, 'Filter snapshot unreadable; it will be rebuilt')
      return 'stale'
    }
    this.insertsSinceSnapshot = 0
    this.#setTrust(true, 'snapshot root matches L3')
    return 'restored'
  }

  /** Saves the filter with the L3 root it agrees with; only a trusted filter is worth saving. */
  async snapshot(
    wal: WriteAheadLog,
    l3Root: string | null,
  ): Promise<{ bytes: number; entries: number } | undefined> {
    if (!this.#trusted) return undefined
    const bytes = this.filter.export()
    const entries = this.filter.stats().entries
    await wal.saveSnapshot(FILTER_ID, bytes, l3Root, entries)
    this.insertsSinceSnapshot = 0
    return { bytes: bytes.byteLength, entries }
  }

  /**
   * Builds a new filter from a keyset scan of L3 and makes it the trusted one. Writes committed
   * meanwhile are added to it before it takes over. Concurrent calls share one scan.
   */
  warmUp(l3: L3Store, pageSize = 10_000): Promise<WarmUpReport> {
    this.#warming ??= this.#scan(l3, pageSize).finally(() => {
      this.#warming = undefined
      this.#journal = undefined
    })
    return this.#warming
  }

  get warming(): boolean {
    return this.#warming !== undefined
  }

  async #scan(l3: L3Store, pageSize: number): Promise<WarmUpReport> {
    const started = performance.now()
    const total = await l3.count()
    const next = new CuckooFilter({
      initialCapacity: Math.max(this.options.initialCapacity, Math.ceil(total * 1.1)),
      fingerprintBits: this.options.fingerprintBits,
    })
    const journal = new Set<string>()
    this.#journal = journal
    // Journal ids the scan itself added (the write committed before the scan read it): not added twice.
    const seen = new Set<string>()
    let scanned = 0
    let after: string | undefined
    for (;;) {
      const ids = await l3.scanIds(after, pageSize)
      if (ids.length === 0) break
      for (const id of ids) {
        next.add(id)
        if (journal.has(id)) seen.add(id)
      }
      scanned += ids.length
      after = ids[ids.length - 1]
      this.emit('progress', { scanned, total, done: false })
    }
    for (const id of journal) if (!seen.has(id)) next.add(id)
    this.filter = next
    this.#exact = true
    this.insertsSinceSnapshot = scanned
    this.#setTrust(true, 'built from a full scan of L3')
    this.emit('progress', { scanned, total, done: true })
    return { entries: next.stats().entries, durationMs: performance.now() - started }
  }
}
