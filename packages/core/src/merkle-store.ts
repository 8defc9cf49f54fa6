/**
 * Where a Merkle tree keeps its nodes (SPEC §6). The incremental algorithm in `@sync-engine/merkle`
 * is written once against this interface; the in-memory store, the SQL `merkle_nodes` table and the
 * Redis mirror each implement it. The testkit's `describeMerkleNodeStore` checks an implementation.
 *
 * Paths: the root is `""`; the node of id `a.b.c` is at path `a.b.c`, its parents at `a.b`, `a`, `""`.
 * When an id is also the parent path of other ids (`uk` and `uk.nhs.1`), the node at `uk` is interior
 * and the id's leaf is its child with the empty segment, stored at path `uk.` (ids never end in `.`, so
 * that path is never an id). A node's parent is always `path.slice(0, path.lastIndexOf('.'))`
 * (`""` when there is no dot), and its segment is what follows that dot. The root has no parent and
 * is nobody's child. A segment never contains `.`; it may be `""` and any other string (`hash`, `é`).
 *
 * The algorithm needs, per batch, one `getNodes` (the touched ids and their ancestors), one
 * `getChildren` (the touched interior nodes) and one `writeNodes`, whatever the tree's depth. Applies
 * on one store must not overlap (the caller serializes them, e.g. one flush at a time or a lock).
 */
export interface MerkleNode {
  /** Node path (see above). */
  readonly path: string
  /** Lower-case hex SHA-256 (64 characters). */
  readonly hash: string
  /** True for the leaf of an id; false for an interior node (including the root). */
  readonly leaf: boolean
  /** Number of leaves at or below this node (1 for a leaf). SQL: `object_count`. */
  readonly count: number
}

export interface MerkleNodeChanges {
  /** Nodes to create or overwrite. */
  readonly upsert: readonly MerkleNode[]
  /** Paths of nodes to delete (absent paths are ignored). Never also in `upsert`. */
  readonly delete: readonly string[]
}

/** The node writes of one tree update, with the root hash before and after it. */
export interface MerkleTreeWrites {
  readonly changes: MerkleNodeChanges
  /**
   * Root hashes before and after the update (`null`: no root, an empty tree); both absent when the
   * update changed no node (the store did not look).
   */
  readonly rootBefore?: string | null
  readonly rootAfter?: string | null
}

export interface MerkleNodeStore {
  /** The nodes stored at `paths`; a path with no node is absent from the result. One round trip. */
  getNodes(paths: readonly string[]): Promise<Map<string, MerkleNode>>
  /**
   * The direct children of each node in `parents`, keyed by parent path, each a map of child segment
   * → child hash (lower-case hex). A parent with no children (a leaf, or no node at all) maps to an
   * empty map. One round trip: SQL `SELECT path, merkle_hash … WHERE parent_path IN (…)`, Redis one
   * `HGETALL` per parent in a pipeline. The inner maps may be the store's own structures: treat them
   * as read-only, valid until the next `writeNodes`.
   */
  getChildren(parents: readonly string[]): Promise<Map<string, ReadonlyMap<string, string>>>
  /**
   * Applies upserts and deletes, atomically where the backend can. Deleting a node removes it from
   * its parent's children too; it does not touch nodes below it.
   */
  writeNodes(changes: MerkleNodeChanges): Promise<void>
  /**
   * Optional: `writeNodes`, applied only when this tree's root hash is `before` or `after` (`null`: no
   * root), checked and written atomically; resolves whether it wrote. A mirror that copies another
   * tree's updates with it stays in their order: an update that arrives out of turn (another copier
   * got there first) is refused, and the caller copies the touched nodes afresh instead. A store that
   * cannot check and write atomically (Redis Cluster) leaves it out or resolves `false`.
   */
  writeNodesInStep?(changes: MerkleNodeChanges, before: string | null, after: string | null): Promise<boolean>
}
