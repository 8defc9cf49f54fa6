import { type L1RemovalReason, ManualClock, SyncItem } from '@sync-engine/core'
import { L1MemoryCache, type L1MemoryCacheOptions } from '../src/index.js'

/** An item of `contentBytes` bytes (fixed `updatedAt`, so items are reproducible). */
export const item = (id: string, contentBytes = 100, fill = 0x61): SyncItem =>
  SyncItem.fromBytes(id, new Uint8Array(contentBytes).fill(fill), { updatedAt: 0 })

export interface Removal {
  readonly item: SyncItem
  readonly id: string
  readonly reason: L1RemovalReason
}

/** Every removal `cache` reports, in order. */
export function recordRemovals(cache: L1MemoryCache): Removal[] {
  const seen: Removal[] = []
  cache.onRemove((removed, reason) => seen.push({ item: removed, id: removed.id, reason }))
  return seen
}

/** A cache on a manual clock (epoch 1 000 000 ms). */
export function manualCache(options: Omit<L1MemoryCacheOptions, 'clock'> = {}) {
  const clock = new ManualClock(1_000_000)
  const cache = new L1MemoryCache({ ...options, clock })
  return { cache, clock }
}

/** Resolves after pending microtasks (the coarse access clock goes stale then). */
/** Waits past the coarse clock's 1 ms staleness timer, so the next read takes a new reading. */
export const nextTurn = () => new Promise<void>((resolve) => setTimeout(resolve, 3))
