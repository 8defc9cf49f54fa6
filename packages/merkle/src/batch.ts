import { InvalidArgumentError, validateId } from '@sync-engine/core'
import { checkContentHash, checkVersion, leafHashUnchecked, type MerkleVersion } from './hash.js'

/** What a leaf is made of: an id, its version and the hex SHA-256 of its content (core's `LeafRecord`). */
export interface MerkleLeaf {
  readonly id: string
  readonly version: MerkleVersion
  readonly contentHash: string
}

export interface MerkleUpsert extends MerkleLeaf {
  readonly op: 'upsert'
}

export interface MerkleDelete {
  readonly op: 'delete'
  readonly id: string
}

export type MerkleOp = MerkleUpsert | MerkleDelete

/**
 * A batch is a list of operations applied in order. Operations on different ids commute, so only the
 * last operation of each id matters: `[upsert a, delete a]` deletes `a`, `[delete a, upsert a]` leaves
 * `a` upserted. Deleting an absent id and upserting an identical leaf change nothing.
 */
export type MerkleBatch = Iterable<MerkleOp>

/**
 * Validates every operation (nothing is applied if one is bad) and reduces the batch to its effect:
 * id → new leaf hash, or `null` for a delete.
 */
export function reduceBatch(batch: MerkleBatch): Map<string, string | null> {
  const last = new Map<string, MerkleOp>()
  let index = 0
  for (const op of batch) {
    const where = `batch[${index++}]`
    if (op === null || typeof op !== 'object')
      throw new InvalidArgumentError(where, `${where} must be an operation object, got ${String(op)}`)
    validateId(op.id)
    if (op.op === 'upsert') {
      checkVersion(op.version, `${where}.version`)
      checkContentHash(op.contentHash, `${where}.contentHash`)
    } else if (op.op !== 'delete') {
      throw new InvalidArgumentError(
        `${where}.op`,
        `${where}.op must be 'upsert' or 'delete', got ${JSON.stringify((op as { op: unknown }).op)}`,
      )
    }
    last.set(op.id, op)
  }
  const effect = new Map<string, string | null>()
  for (const [id, op] of last)
    effect.set(id, op.op === 'upsert' ? leafHashUnchecked(id, op.version, op.contentHash) : null)
  return effect
}
