import { hasLoneSurrogate, utf8ByteLength } from './bytes.js'
import { InvalidArgumentError } from './errors.js'
import { MAX_ID_BYTES } from './ids.js'

const CONTROL = /[\u0000-\u001f\u007f]/

/**
 * A prefix argument (`scanPrefix`, `countPrefix`, `deletePrefix`, `registerPartition`): a non-empty
 * string an id could start with — at most 255 UTF-8 bytes, no control character, no lone surrogate.
 * Throws `InvalidArgumentError` naming `argument` otherwise.
 */
export function checkPrefix(prefix: unknown, argument = 'prefix'): string {
  const bad = (why: string): never => {
    throw new InvalidArgumentError(argument, `${argument} ${why}`)
  }
  if (typeof prefix !== 'string') return bad(`must be a string, got ${typeof prefix}`)
  if (prefix.length === 0) return bad('must not be empty (use scanIds/count for every id)')
  if (CONTROL.test(prefix) || hasLoneSurrogate(prefix))
    return bad(`${JSON.stringify(prefix)} contains a control character or a lone surrogate`)
  if (utf8ByteLength(prefix) > MAX_ID_BYTES) return bad(`is longer than an id (${MAX_ID_BYTES} bytes)`)
  return prefix
}

/** A registered route of an L3 store: ids starting with `prefix` live in `table`. */
export interface Partition {
  readonly prefix: string
  readonly table: string
}

/**
 * Prefix → table routing of an L3 store: an id lives in the table of the longest registered prefix it
 * starts with, else in the base table, so every id is in exactly one table. Immutable: `with` makes a
 * new one.
 */
export class PartitionRoutes {
  readonly base: string
  /** The registered routes, longest prefix first (the first match is the longest). */
  readonly partitions: readonly Partition[]
  /** Every table that can hold ids, the base table first, each once. */
  readonly tables: readonly string[]

  constructor(base: string, partitions: readonly Partition[] = []) {
    this.base = base
    this.partitions = partitions
      .map(({ prefix, table }) => ({ prefix, table }))
      .sort((a, b) => b.prefix.length - a.prefix.length)
    this.tables = [...new Set([base, ...this.partitions.map((p) => p.table)])]
  }

  /** The table that holds (or would hold) `id`. */
  route(id: string): string {
    for (const p of this.partitions) if (id.startsWith(p.prefix)) return p.table
    return this.base
  }

  /** The tables that may hold ids starting with `prefix`: its own route and longer prefixes' tables. */
  tablesFor(prefix: string): string[] {
    const tables = new Set([this.route(prefix)])
    for (const p of this.partitions) if (p.prefix.startsWith(prefix)) tables.add(p.table)
    return [...tables]
  }

  /** `items` grouped by the table of `idOf(item)`, in input order within each table. */
  group<T>(items: Iterable<T>, idOf: (item: T) => string): Map<string, T[]> {
    const groups = new Map<string, T[]>()
    for (const item of items) {
      const table = this.partitions.length === 0 ? this.base : this.route(idOf(item))
      const list = groups.get(table)
      if (list) list.push(item)
      else groups.set(table, [item])
    }
    return groups
  }

  /** These routes with `partition` added (replacing a route of the same prefix). */
  with(partition: Partition): PartitionRoutes {
    return new PartitionRoutes(this.base, [
      ...this.partitions.filter((p) => p.prefix !== partition.prefix),
      partition,
    ])
  }
}
