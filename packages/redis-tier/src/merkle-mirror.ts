import {
  CorruptDataError,
  InvalidArgumentError,
  type MerkleNode,
  type MerkleNodeChanges,
  type MerkleNodeStore,
} from '@sync-engine/core'
import { parentPath, ROOT_PATH, segmentOf } from '@sync-engine/merkle'
import { type RedisConnection, scriptCommand } from './connection.js'
import type { KeyLayout } from './keys.js'
import { Packer } from './packer.js'
import { HASH_WRITES } from './scripts.js'

/** Field prefix of a child entry: `c:{segment}` → child hash. Node fields (`hash`, …) have no `:`. */
const CHILD = 'c:'
/** The root of an empty tree, to a `writeNodesInStep` script (hashes are hex). */
const NO_ROOT = '-'
const NODE_FIELDS = ['hash', 'count', 'leaf'] as const
const HEX64 = /^[0-9a-f]{64}$/
const COUNT = /^(0|[1-9][0-9]{0,15})$/
/** Node keys and blob bytes per HASH_WRITES call (Redis runs a script to its end before anything else). */
const KEYS_PER_CALL = 1000
const BYTES_PER_CALL = 1024 * 1024

/**
 * The Merkle mirror of SPEC §5.1/§6: one Redis hash per node at `{prefix}__se:merkle:{path}`
 * (`""` for the root), holding
 *
 * - `hash` (64 hex), `count` (leaves at or below) and `leaf` (`1` for an id's leaf, `0` interior);
 * - one field per child, `c:{segment}` → the child's hash (the `""` segment of an `id.` leaf slot is
 *   the field `c:`).
 *
 * Child fields are prefixed so a segment named `hash`, `count` or `leaf` (ids like `x.hash`) can
 * never collide with the node's own fields; a field is split at its first two characters only, never
 * at a separator. Deleting a node removes its three node fields (and its entry in the parent); child
 * entries stay, as the contract asks (it does not touch nodes below), and Redis drops a hash left
 * empty. `writeNodes` runs a script over up to 1000 node keys a call (one command instead of several
 * per node), all calls in one MULTI/EXEC on a single server; on a cluster, node keys sit in many
 * slots, so it is one call per slot group (not atomic across nodes).
 */
export class RedisMerkleNodeStore implements MerkleNodeStore {
  readonly #conn: RedisConnection
  readonly #keys: KeyLayout

  constructor(connection: RedisConnection, keys: KeyLayout) {
    this.#conn = connection
    this.#keys = keys
  }

  async getNodes(paths: readonly string[]): Promise<Map<string, MerkleNode>> {
    const unique = [...new Set(paths)]
    const replies = await this.#conn.exec(
      unique.map((path) => {
        const key = this.#keys.merkle(path)
        return { key, name: 'HMGET', args: [key, ...NODE_FIELDS] }
      }),
    )
    const out = new Map<string, MerkleNode>()
    unique.forEach((path, i) => {
      const [error, value] = replies[i]!
      if (error) throw this.#corrupt(path, error.message)
      const [hash, count, leaf] = value as (string | null)[]
      if (hash === null || hash === undefined) return
      if (!HEX64.test(hash))
        throw this.#corrupt(path, `hash ${JSON.stringify(hash)} is not 64 hex characters`)
      if (typeof count !== 'string' || !COUNT.test(count)) {
        throw this.#corrupt(path, `count ${JSON.stringify(count)} is not a non-negative integer`)
      }
      if (leaf !== '0' && leaf !== '1')
        throw this.#corrupt(path, `leaf ${JSON.stringify(leaf)} is not 0 or 1`)
      out.set(path, { path, hash, leaf: leaf === '1', count: Number(count) })
    })
    return out
  }

  async getChildren(parents: readonly string[]): Promise<Map<string, ReadonlyMap<string, string>>> {
    const unique = [...new Set(parents)]
    const replies = await this.#conn.exec(
      unique.map((path) => {
        const key = this.#keys.merkle(path)
        return { key, name: 'HGETALL', args: [key] }
      }),
    )
    const out = new Map<string, ReadonlyMap<string, string>>()
    unique.forEach((path, i) => {
      const [error, value] = replies[i]!
      if (error) throw this.#corrupt(path, error.message)
      const flat = value as string[]
      const children = new Map<string, string>()
      for (let f = 0; f < flat.length; f += 2) {
        const field = flat[f]!
        if (field.startsWith(CHILD)) children.set(field.slice(CHILD.length), flat[f + 1]!)
      }
      out.set(path, children)
    })
    return out
  }

  async writeNodes(changes: MerkleNodeChanges): Promise<void> {
    await this.#write(changes, [])
  }

  /**
   * `writeNodes` only while the root's hash is `before` or `after` (`null`: no root), checked by each
   * script call of the one MULTI/EXEC that writes them: resolves whether it wrote. Refused on a
   * cluster (resolves `false`): there the writes span slots and cannot be checked atomically.
   */
  async writeNodesInStep(
    changes: MerkleNodeChanges,
    before: string | null,
    after: string | null,
  ): Promise<boolean> {
    if (this.#conn.isCluster) return false
    return this.#write(changes, [before ?? NO_ROOT, after ?? NO_ROOT, this.#keys.merkle(ROOT_PATH)])
  }

  async #write(changes: MerkleNodeChanges, guard: readonly string[]): Promise<boolean> {
    const writes = new Map<string, NodeWrite>()
    const at = (path: string) => {
      const key = this.#keys.merkle(path)
      let write = writes.get(key)
      if (!write) {
        write = { drop: false, node: undefined, dropChildren: [], children: [] }
        writes.set(key, write)
      }
      return write
    }
    for (const path of changes.delete) {
      checkPath(path)
      at(path).drop = true
      if (path !== ROOT_PATH) at(parentPath(path)).dropChildren.push(segmentOf(path))
    }
    for (const node of changes.upsert) {
      checkNode(node)
      at(node.path).node = node
      if (node.path !== ROOT_PATH) at(parentPath(node.path)).children.push(segmentOf(node.path), node.hash)
    }
    if (writes.size === 0) return true
    const keys = [...writes.keys()]
    const list = [...writes.values()]
    const sizes = list.map(writeSize)
    const calls = this.#conn.scriptCalls(keys, (i) => sizes[i]!, KEYS_PER_CALL, BYTES_PER_CALL)
    const commands = calls.map((call) => {
      const blob = new Packer(call.reduce((bytes, i) => bytes + sizes[i]!, 0))
      for (const i of call) packNodeWrite(list[i]!, blob)
      return scriptCommand(
        HASH_WRITES,
        call.map((i) => keys[i]!),
        [blob.done(), ...guard],
      )
    })
    const replies = await this.#conn.exec(commands, { atomic: true })
    replies.forEach(([error], i) => {
      if (error) throw new CorruptDataError(commands[i]!.key, `merkle mirror write failed: ${error.message}`)
    })
    // The calls run in one transaction, so they all see the same root: all wrote, or none did.
    return replies.every(([, written]) => written !== -1)
  }

  /** The root hash, `null` for an empty tree. */
  async root(): Promise<string | null> {
    return (await this.node(ROOT_PATH))?.hash ?? null
  }

  /** The node at `path`, if any. */
  async node(path: string): Promise<MerkleNode | undefined> {
    return (await this.getNodes([path])).get(path)
  }

  /** The children of `path` as segment → hash (a copy, in no particular order). */
  async children(path: string): Promise<Map<string, string>> {
    return new Map((await this.getChildren([path])).get(path))
  }

  #corrupt(path: string, message: string): CorruptDataError {
    return new CorruptDataError(
      `redis merkle node ${JSON.stringify(path)} (${this.#keys.merkle(path)})`,
      message,
    )
  }
}

/** What one node key gets: its own fields deleted or set, child entries deleted and set. */
interface NodeWrite {
  drop: boolean
  node: MerkleNode | undefined
  /** Segments of the child entries to delete. */
  dropChildren: string[]
  /** Segment, hash, segment, hash, … of the child entries to set. */
  children: string[]
}

/** About the bytes of `write` in a HASH_WRITES blob (segments counted at 3 bytes a character). */
function writeSize(write: NodeWrite): number {
  let bytes = 9 + (write.node === undefined ? 0 : 82)
  for (const segment of write.dropChildren) bytes += 2 + 3 * segment.length
  for (let i = 0; i < write.children.length; i += 2) bytes += 66 + 3 * write.children[i]!.length
  return bytes
}

/** Appends `write` to a HASH_WRITES blob (see scripts.ts). */
function packNodeWrite(write: NodeWrite, out: Packer): void {
  out.byte((write.drop ? 1 : 0) | (write.node === undefined ? 0 : 2))
  out.u32(write.dropChildren.length)
  for (const segment of write.dropChildren) out.text(segment, 2)
  if (write.node !== undefined) {
    out.ascii(write.node.hash)
    out.text(String(write.node.count), 1)
    out.ascii(write.node.leaf ? '1' : '0')
  }
  out.u32(write.children.length / 2)
  for (let i = 0; i < write.children.length; i += 2) {
    out.text(write.children[i]!, 2)
    out.ascii(write.children[i + 1]!)
  }
}

function checkPath(path: unknown): void {
  if (typeof path !== 'string')
    throw new InvalidArgumentError('path', `a node path must be a string, got ${typeof path}`)
}

function checkNode(node: MerkleNode): void {
  checkPath(node?.path)
  if (typeof node.hash !== 'string' || !HEX64.test(node.hash)) {
    throw new InvalidArgumentError(
      'hash',
      `node ${JSON.stringify(node.path)}: hash must be 64 lower-case hex characters`,
    )
  }
  if (!Number.isSafeInteger(node.count) || node.count < 0) {
    throw new InvalidArgumentError('count', `node ${JSON.stringify(node.path)}: count must be an integer ≥ 0`)
  }
}
