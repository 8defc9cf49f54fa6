import type { MerkleNode, MerkleNodeChanges, MerkleNodeStore } from '@sync-engine/core'
import { parentPath, ROOT_PATH, type SyncMerkleNodeStore } from '@sync-engine/merkle'
import { type Connection, valuesList } from './connection.js'
import { MERKLE_TABLE } from './schema.js'

/** Nodes per multi-row upsert (6 parameters each). */
const NODES_PER_STATEMENT = 2000
const NODE_WIDTH = 6

// Joins from the JSON list (one index seek per element, no temporary index of the list).
const SELECT_NODES = `SELECT m.path, m.merkle_hash, m.is_leaf, m.object_count
  FROM json_each(?) AS j JOIN ${MERKLE_TABLE} AS m ON m.path = j.value`
const SELECT_CHILDREN = `SELECT m.parent_path, m.path, m.merkle_hash
  FROM json_each(?) AS j JOIN ${MERKLE_TABLE} AS m ON m.parent_path = j.value`
const DELETE_NODES = `DELETE FROM ${MERKLE_TABLE} WHERE path IN (SELECT value FROM json_each(?))`
const upsertNodes = (n: number) =>
  `INSERT INTO ${MERKLE_TABLE} (path, parent_path, merkle_hash, object_count, is_leaf, updated_at)
  VALUES ${valuesList('(?, ?, ?, ?, ?, ?)', n)}
  ON CONFLICT(path) DO UPDATE SET merkle_hash = excluded.merkle_hash, object_count = excluded.object_count,
  is_leaf = excluded.is_leaf, updated_at = excluded.updated_at`

type NodeRow = [path: string, hash: string, leaf: number, count: number]
type ChildRow = [parent: string, path: string, hash: string]

/**
 * The Merkle tree's nodes in the `merkle_nodes` table (SPEC §5.2): `path` (BINARY collation, up to
 * 256 bytes: an id plus the `.` of a leaf slot), `parent_path` (NULL for the root; indexed),
 * `merkle_hash`, `object_count`, `is_leaf`, `updated_at`. Reads bind one JSON list of paths
 * (`json_each`), so a batch needs no chunking and no parameter limit applies.
 *
 * The synchronous methods are what `SqliteL3Store` drives `applyMerkleBatchSync` with, inside the
 * transaction of the rows. The async `MerkleNodeStore` methods are for readers (and a repair tool):
 * each runs on its own, `writeNodes` in its own write transaction.
 */
export class SqliteMerkleNodeStore implements MerkleNodeStore, SyncMerkleNodeStore {
  readonly #connection: () => Connection

  /** `connection` returns the open connection, or throws when the store is not connected. */
  constructor(connection: () => Connection) {
    this.#connection = connection
  }

  /**
   * A leaf slot `x.` exists only while `x` is an interior node, so when both are asked for (as the
   * Merkle algorithm does for every id it touches), `x.` is looked up only for interior `x`: about
   * half the index seeks of a batch of new or leaf ids.
   */
  getNodesSync(paths: readonly string[]): Map<string, MerkleNode> {
    const out = new Map<string, MerkleNode>()
    if (paths.length === 0) return out
    const asked = new Set(paths)
    const direct: string[] = []
    const slots: string[] = []
    for (const path of asked) {
      if (path.endsWith('.') && asked.has(path.slice(0, -1))) slots.push(path)
      else direct.push(path)
    }
    this.#readNodes(direct, out)
    this.#readNodes(
      slots.filter((slot) => out.get(slot.slice(0, -1))?.leaf === false),
      out,
    )
    return out
  }

  #readNodes(paths: readonly string[], out: Map<string, MerkleNode>): void {
    if (paths.length === 0) return
    const rows = this.#connection().statement(SELECT_NODES, 'raw').all(JSON.stringify(paths)) as NodeRow[]
    for (const [path, hash, leaf, count] of rows) out.set(path, { path, hash, leaf: leaf === 1, count })
  }

  getChildrenSync(parents: readonly string[]): Map<string, ReadonlyMap<string, string>> {
    const out = new Map<string, Map<string, string>>()
    if (parents.length === 0) return out
    for (const parent of parents) out.set(parent, new Map())
    const rows = this.#connection()
      .statement(SELECT_CHILDREN, 'raw')
      .all(JSON.stringify([...out.keys()])) as ChildRow[]
    for (const [parent, path, hash] of rows) {
      const segment = parent === ROOT_PATH ? path : path.slice(parent.length + 1)
      out.get(parent)!.set(segment, hash)
    }
    return out
  }

  writeNodesSync(changes: MerkleNodeChanges): void {
    const connection = this.#connection()
    if (changes.delete.length > 0) connection.statement(DELETE_NODES).run(JSON.stringify(changes.delete))
    if (changes.upsert.length === 0) return
    const now = Date.now()
    connection.chunked(
      'merkle-upsert',
      changes.upsert,
      NODE_WIDTH,
      NODES_PER_STATEMENT,
      upsertNodes,
      (n, params, at) => {
        params[at] = n.path
        params[at + 1] = n.path === ROOT_PATH ? null : parentPath(n.path)
        params[at + 2] = n.hash
        params[at + 3] = n.count
        params[at + 4] = n.leaf ? 1 : 0
        params[at + 5] = now
      },
    )
  }

  /** Removes every node (inside the caller's transaction). */
  clearSync(): void {
    this.#connection().statement(`DELETE FROM ${MERKLE_TABLE}`).run()
  }

  async getNodes(paths: readonly string[]): Promise<Map<string, MerkleNode>> {
    const connection = this.#connection()
    return connection.read(() => this.getNodesSync(paths))
  }

  async getChildren(parents: readonly string[]): Promise<Map<string, ReadonlyMap<string, string>>> {
    const connection = this.#connection()
    return connection.read(() => this.getChildrenSync(parents))
  }

  async writeNodes(changes: MerkleNodeChanges): Promise<void> {
    const connection = this.#connection()
    connection.write(() => this.writeNodesSync(changes))
  }
}
