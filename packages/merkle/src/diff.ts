import { CorruptDataError } from '@sync-engine/core'
import { compareSegments } from './hash.js'
import { childPath, ROOT_PATH } from './path.js'

type MaybePromise<T> = T | Promise<T>

/**
 * One side of a diff: a tree as seen through its root hash and a children fetcher (a local
 * `PathMerkleTree`, a SQL node table, a peer over the network). A leaf has no children.
 */
export interface MerkleDiffSource {
  /** The root hash, `null` for an empty tree. */
  rootHash(): MaybePromise<string | null>
  /** The children of the node at `path` as segment → hash; empty for a leaf. */
  children(path: string): MaybePromise<ReadonlyMap<string, string>>
}

/** Ids on which two trees disagree, each list in ascending byte order. */
export interface MerkleDiff {
  /** Ids on both sides with different leaves (version or content differ). */
  readonly divergent: string[]
  /** Ids only on the local side. */
  readonly localOnly: string[]
  /** Ids only on the remote side. */
  readonly remoteOnly: string[]
}

interface Pair {
  readonly path: string
  readonly local: string
  readonly remote: string
}

/**
 * Compares two trees by drilling down from the root, level by level, into the branches whose hashes
 * differ only: equal subtrees are never fetched. The fetches of one level run concurrently.
 */
export async function diff(local: MerkleDiffSource, remote: MerkleDiffSource): Promise<MerkleDiff> {
  const out: MerkleDiff = { divergent: [], localOnly: [], remoteOnly: [] }
  const [localRoot, remoteRoot] = await Promise.all([local.rootHash(), remote.rootHash()])
  if (localRoot === remoteRoot) return out
  const localSubtrees: string[] = []
  const remoteSubtrees: string[] = []
  if (localRoot === null) remoteSubtrees.push(ROOT_PATH)
  else if (remoteRoot === null) localSubtrees.push(ROOT_PATH)
  else {
    let level: Pair[] = [{ path: ROOT_PATH, local: localRoot, remote: remoteRoot }]
    while (level.length > 0) {
      const paths = level.map((pair) => pair.path)
      const [localKids, remoteKids] = await Promise.all([fetchLevel(local, paths), fetchLevel(remote, paths)])
      const next: Pair[] = []
      level.forEach((pair, i) => {
        // A leaf on one side compares like a node whose only child is its leaf (segment "").
        const a = asNode(pair.path, localKids[i]!, pair.local)
        const b = asNode(pair.path, remoteKids[i]!, pair.remote)
        for (const segment of new Set([...a.keys(), ...b.keys()])) {
          const l = a.get(segment)
          const r = b.get(segment)
          if (l === r) continue
          if (segment === '') {
            ;(l === undefined ? out.remoteOnly : r === undefined ? out.localOnly : out.divergent).push(
              pair.path,
            )
            continue
          }
          const path = childPath(pair.path, segment)
          if (l === undefined) remoteSubtrees.push(path)
          else if (r === undefined) localSubtrees.push(path)
          else next.push({ path, local: l, remote: r })
        }
      })
      level = next
    }
  }
  const [localIds, remoteIds] = await Promise.all([
    idsUnder(local, localSubtrees),
    idsUnder(remote, remoteSubtrees),
  ])
  out.localOnly.push(...localIds)
  out.remoteOnly.push(...remoteIds)
  for (const list of [out.divergent, out.localOnly, out.remoteOnly]) list.sort(compareSegments)
  return out
}

function fetchLevel(source: MerkleDiffSource, paths: readonly string[]) {
  return Promise.all(paths.map((path) => source.children(path)))
}

function asNode(path: string, kids: ReadonlyMap<string, string>, hash: string): ReadonlyMap<string, string> {
  if (kids.size > 0) return kids
  if (path === ROOT_PATH) throw emptyRoot()
  return new Map([['', hash]])
}

function emptyRoot(): CorruptDataError {
  return new CorruptDataError('merkle root', 'the root has a hash but no children')
}

/** Every id in the subtrees at `roots` of one side, fetching level by level. */
async function idsUnder(source: MerkleDiffSource, roots: readonly string[]): Promise<string[]> {
  const ids: string[] = []
  for (let level = roots; level.length > 0; ) {
    const kids = await fetchLevel(source, level)
    const next: string[] = []
    level.forEach((path, i) => {
      const children = kids[i]!
      if (children.size === 0) {
        if (path === ROOT_PATH) throw emptyRoot()
        ids.push(path)
      }
      for (const segment of children.keys()) {
        if (segment === '') ids.push(path)
        else next.push(childPath(path, segment))
      }
    })
    level = next
  }
  return ids
}
