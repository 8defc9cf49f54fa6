import type { MerkleNode, MerkleNodeChanges, MerkleNodeStore } from '@sync-engine/core'
import { parentPath, ROOT_PATH, segmentOf } from '@sync-engine/merkle'
import { inPieces, rowPieces } from './chunks.js'
import type { Executor } from './db.js'
import { bySize, bySizeAndFlag, placeholders, quote, valuesList } from './sql.js'

/** The SQL of one `merkle_nodes` table, built once per table and size. */
export class NodeSql {
  readonly table: string
  readonly select: (size: number) => string
  readonly children: (size: number) => string
  /** Upsert of `size` nodes; of `size` leaves (`leaves`), with `object_count` and `is_leaf` written as 1. */
  readonly upsert: (size: number, leaves: boolean) => string
  readonly remove: (size: number) => string

  constructor(table: string) {
    this.table = table
    const t = quote(table)
    this.select = bySize(
      (n) => `SELECT path, merkle_hash, is_leaf, object_count FROM ${t} WHERE path IN (${placeholders(n)})`,
    )
    this.children = bySize(
      (n) => `SELECT parent_path, path, merkle_hash FROM ${t} WHERE parent_path IN (${placeholders(n)})`,
    )
    // `updated_at` is the statement's time on the server (sessions run in UTC): one value fewer a row.
    const now = 'ROUND(UNIX_TIMESTAMP(NOW(3)) * 1000)'
    this.upsert = bySizeAndFlag(
      (n, leaves) =>
        `INSERT INTO ${t} (path, parent_path, merkle_hash, object_count, is_leaf, updated_at) ` +
        `VALUES ${valuesList(n, leaves ? `(?,?,?,1,1,${now})` : `(?,?,?,?,?,${now})`)} ` +
        'ON DUPLICATE KEY UPDATE merkle_hash = VALUES(merkle_hash), object_count = VALUES(object_count), ' +
        'is_leaf = VALUES(is_leaf), updated_at = VALUES(updated_at)',
    )
    this.remove = bySize((n) => `DELETE FROM ${t} WHERE path IN (${placeholders(n)})`)
  }
}

/** Runs `work` on another connection (in a transaction that commits with the caller's), resolving after it. */
export type Helper = (work: (exec: Executor) => Promise<void>) => Promise<void>

/** A node already read in this transaction: the node, `null` (none there) or `undefined` (not read). */
export type KnownNodes = (path: string) => MerkleNode | null | undefined

interface NodeRow {
  path: string
  merkle_hash: string
  is_leaf: number
  object_count: number | string
}

/** The node at `path` from a row's `merkle_hash`, `is_leaf` and `object_count` columns. */
function nodeOf(path: string, row: Omit<NodeRow, 'path'>): MerkleNode {
  return { path, hash: row.merkle_hash, leaf: row.is_leaf === 1, count: Number(row.object_count) }
}

interface ChildRow {
  parent_path: string
  path: string
  merkle_hash: string
}

/** Node rows are small (two paths of ≤ 256 bytes, a hash, numbers): a generous fixed estimate. */
const NODE_ROW_BYTES = 700

/**
 * `MerkleNodeStore` over a `merkle_nodes` table (SPEC §5.2): `path` (PK), `parent_path` (indexed;
 * NULL for the root, so the root is nobody's child), `merkle_hash`, `object_count`, `is_leaf`,
 * `updated_at`. Each call is one statement per 2048 paths. It runs on whatever `Executor` it is given:
 * the pool for reads, or the connection of a write transaction, so the tree changes with the rows.
 */
export class MysqlMerkleNodeStore implements MerkleNodeStore {
  readonly #exec: Executor
  readonly #sql: NodeSql
  readonly #maxBytes: number
  readonly #known: KnownNodes
  readonly #helper: Helper | undefined

  /**
   * `known`: paths read already in this transaction, answered without a query (`null`: no node there).
   * `helper`: runs a share of the upserts on another connection of the same lock holder (see
   * `writeNodes`).
   */
  constructor(
    exec: Executor,
    sql: NodeSql,
    maxStatementBytes: number,
    known: KnownNodes = () => undefined,
    helper?: Helper,
  ) {
    this.#helper = helper
    this.#exec = exec
    this.#sql = sql
    this.#maxBytes = maxStatementBytes
    this.#known = known
  }

  /**
   * The nodes at `paths`. A leaf slot `x.` exists only under an interior `x` (the tree's invariant,
   * kept by the Merkle algorithm, this table's only writer), and the algorithm asks for `x` and `x.`
   * together: so such slots are looked up in a second pass, only under the interior nodes the first
   * pass found. For a batch of ids that are all leaves, that halves the lookups.
   */
  async getNodes(paths: readonly string[]): Promise<Map<string, MerkleNode>> {
    const out = new Map<string, MerkleNode>()
    const first: string[] = []
    const slots: string[] = []
    for (const path of paths) {
      const node = this.#known(path)
      if (node) out.set(path, node)
      else if (node === undefined) (path.endsWith('.') ? slots : first).push(path)
    }
    const asked = new Set(slots.length > 0 ? paths : [])
    const paired = (slot: string) => asked.has(slot.slice(0, -1))
    await this.#select([...first, ...slots.filter((slot) => !paired(slot))], out)
    await this.#select(
      slots.filter((slot) => paired(slot) && out.get(slot.slice(0, -1))?.leaf === false),
      out,
    )
    return out
  }

  async #select(paths: readonly string[], out: Map<string, MerkleNode>): Promise<void> {
    for (const piece of inPieces(paths)) {
      const rows = await this.#exec.execute<NodeRow[]>(this.#sql.select(piece.length), piece)
      for (const r of rows) {
        out.set(r.path, nodeOf(r.path, r))
      }
    }
  }

  async getChildren(parents: readonly string[]): Promise<Map<string, ReadonlyMap<string, string>>> {
    const out = new Map<string, Map<string, string>>()
    for (const parent of parents) out.set(parent, new Map())
    for (const piece of inPieces(parents)) {
      const rows = await this.#exec.execute<ChildRow[]>(this.#sql.children(piece.length), piece)
      for (const r of rows) out.get(r.parent_path)?.set(segmentOf(r.path), r.merkle_hash)
    }
    return out
  }

  async writeNodes(changes: MerkleNodeChanges): Promise<void> {
    for (const piece of inPieces(changes.delete)) {
      await this.#exec.execute(this.#sql.remove(piece.length), piece)
    }
    // Most nodes are leaves (count 1): they bind 3 values instead of 5.
    const pieces: [MerkleNode[], boolean][] = []
    for (const leaves of [true, false]) {
      const group = changes.upsert.filter((n) => (n.leaf && n.count === 1) === leaves)
      for (const piece of rowPieces(group, this.#maxBytes, () => NODE_ROW_BYTES)) pieces.push([piece, leaves])
    }
    const upsert = async (exec: Executor, [piece, leaves]: [MerkleNode[], boolean]) => {
      const params = new Array<unknown>(piece.length * (leaves ? 3 : 5))
      let k = 0
      for (const n of piece) {
        params[k++] = n.path
        params[k++] = n.path === ROOT_PATH ? null : parentPath(n.path)
        params[k++] = n.hash
        if (!leaves) {
          params[k++] = n.count
          params[k++] = n.leaf ? 1 : 0
        }
      }
      await exec.execute(this.#sql.upsert(piece.length, leaves), params)
    }
    // The statements touch distinct rows: this connection takes pieces from the front, the helper's
    // from the back — far apart in the index — until none is left. Either one's failure fails both.
    let front = 0
    let back = pieces.length
    const fromFront = async () => {
      while (front < back) await upsert(this.#exec, pieces[front++]!)
    }
    const fromBack = async (exec: Executor) => {
      while (front < back) await upsert(exec, pieces[--back]!)
    }
    await Promise.all([fromFront(), this.#helper?.(fromBack)])
  }
}
