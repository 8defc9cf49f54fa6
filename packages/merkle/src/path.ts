import { InvalidArgumentError } from '@sync-engine/core'

/**
 * Path helpers (SPEC §6). The root is `""`; the node of id `a.b.c` is at `a.b.c` under `a.b`, `a`,
 * `""`. When an id is also the parent of other ids, its leaf sits at `id.` (segment `""`).
 */

/** The root's path. */
export const ROOT_PATH = ''

function noParent(fn: string): never {
  throw new InvalidArgumentError('path', `${fn}: the root path "" has no parent`)
}

/** `a.b.c` → `a.b`; `a` → `""`; `uk.` → `uk`. Throws for the root. */
export function parentPath(path: string): string {
  if (path === ROOT_PATH) noParent('parentPath')
  const dot = path.lastIndexOf('.')
  return dot < 0 ? ROOT_PATH : path.slice(0, dot)
}

/** `a.b.c` → `c`; `a` → `a`; `uk.` → `""`. Throws for the root. */
export function segmentOf(path: string): string {
  if (path === ROOT_PATH) noParent('segmentOf')
  return path.slice(path.lastIndexOf('.') + 1)
}

/** The ancestors of a path, nearest first, ending with the root: `a.b.c` → `['a.b', 'a', '']`. */
export function ancestors(path: string): string[] {
  const out: string[] = []
  for (let p = path; p !== ROOT_PATH; ) {
    p = parentPath(p)
    out.push(p)
  }
  return out
}

/** The path of `segment` under `parent`: (`""`, `a`) → `a`; (`a`, `b`) → `a.b`; (`uk`, `""`) → `uk.`. */
export function childPath(parent: string, segment: string): string {
  if (segment.includes('.'))
    throw new InvalidArgumentError('segment', `segment ${JSON.stringify(segment)} contains '.'`)
  if (parent === ROOT_PATH) {
    if (segment === '') throw new InvalidArgumentError('segment', 'the root has no child with segment ""')
    return segment
  }
  return `${parent}.${segment}`
}

/** Number of segments: `""` → 0, `a` → 1, `a.b` → 2, `uk.` → 2. */
export function pathDepth(path: string): number {
  if (path === ROOT_PATH) return 0
  let depth = 1
  for (let i = path.indexOf('.'); i >= 0; i = path.indexOf('.', i + 1)) depth++
  return depth
}

/** The id whose leaf is at `path`: `uk.` → `uk`, `a.b` → `a.b`. */
export function idOfLeafPath(path: string): string {
  return path.endsWith('.') ? path.slice(0, -1) : path
}

/**
 * Where the leaf of `id` is stored: at `id` itself, or at `id.` when `id` has descendants
 * (`interior` true).
 */
export function leafPathOf(id: string, interior: boolean): string {
  return interior ? `${id}.` : id
}
