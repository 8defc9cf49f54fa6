import { InvalidArgumentError, validateId } from '@sync-engine/core'
import { checkContentHash, checkVersion, isVersion, leafHashOrNull, type MerkleVersion } from './hash.js'

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
 * last operation of each id matters (every operation is still validated): `[upsert a, delete a]` deletes `a`, `[delete a, upsert a]` leaves
 * `a` upserted. Deleting an absent id and upserting an identical leaf change nothing.
 */
export type MerkleBatch = Iterable<MerkleOp>

/**
 * Validates every operation (nothing is applied if one is bad) and reduces the batch to its effect:
 * id → new leaf hash, or `null` for a delete.
 */
export function reduceBatch(batch: MerkleBatch): Map<string, string | null> {
  const effect = new Map<string, string | null>()
  forEachEffect(batch, (id, leaf) => effect.set(id, leaf))
  return effect
}

/**
 * Validates the operations in order and hands each one's effect to `each`: the id and its new leaf
 * hash, or `null` for a delete. Throws at the first bad operation (after the effects before it).
 */
export function forEachEffect(batch: MerkleBatch, each: (id: string, leaf: string | null) => void): void {
  let index = 0
  for (const op of batch) {
    const at = index++
    if (op === null || typeof op !== 'object') {
      throw new InvalidArgumentError(
        `batch[${at}]`,
        `batch[${at}] must be an operation object, got ${String(op)}`,
      )
    }
    const id = validateId(op.id)
    if (op.op === 'upsert') {
      const version = isVersion(op.version) ? op.version : checkVersion(op.version, `batch[${at}].version`)
      const hash = leafHashOrNull(id, version, op.contentHash)
      each(id, hash ?? checkContentHash(op.contentHash, `batch[${at}].contentHash`))
    } else if (op.op === 'delete') {
      each(id, null)
    } else {
      throw new InvalidArgumentError(
        `batch[${at}].op`,
        `batch[${at}].op must be 'upsert' or 'delete', got ${JSON.stringify((op as { op: unknown }).op)}`,
      )
    }
  }
}
