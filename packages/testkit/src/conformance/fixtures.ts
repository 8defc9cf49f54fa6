import { type ItemRecord, SyncItem, type SyncItemOptions, sha256Hex, utf8Encode } from '@sync-engine/core'

/** A JSON item for conformance tests. */
export function jsonItem(id: string, value: unknown, options: SyncItemOptions = {}): SyncItem {
  return SyncItem.fromJson(id, value, { updatedAt: 1_700_000_000_000, ...options })
}

/** A binary item holding every byte value, so tiers that mangle bytes are caught. */
export function binaryItem(id: string, options: SyncItemOptions = {}): SyncItem {
  const bytes = new Uint8Array(256)
  for (let i = 0; i < 256; i++) bytes[i] = i
  return SyncItem.fromBytes(id, bytes, { updatedAt: 1_700_000_000_000, ...options })
}

/**
 * A row that bypasses SyncItem validation (what a buggy caller or a replayed log could hand a tier):
 * tiers must reject it alone, never fail the rest of its batch.
 */
export function rawRecord(id: string, overrides: Partial<ItemRecord> = {}): ItemRecord {
  const content = utf8Encode('{"raw":true}')
  return {
    id,
    version: 1,
    updatedAt: 1_700_000_000_000,
    contentType: 'json',
    content,
    contentHash: sha256Hex(content),
    state: 'default',
    ...overrides,
  }
}

/** Ids that break naive SQL, LIKE patterns, Redis key handling or byte handling. */
export const AWKWARD_IDS: readonly string[] = [
  "quote's.id",
  'double"quote',
  'percent%sign',
  'under_score',
  'back\\slash',
  'semi;colon --',
  "x'; DROP TABLE sync_items; --",
  'space in id',
  'colon:star*{braces}[]',
  'ünïcödé.名前.😀',
  'se:__not-reserved',
]

/** Asserts two items hold the same id, version, bytes, type, hash and state. */
export function sameItem(actual: SyncItem | undefined, expected: SyncItem): boolean {
  return (
    actual !== undefined &&
    actual.id === expected.id &&
    actual.version === expected.version &&
    actual.contentType === expected.contentType &&
    actual.contentHash === expected.contentHash &&
    actual.state === expected.state &&
    Buffer.from(actual.content).equals(Buffer.from(expected.content))
  )
}
