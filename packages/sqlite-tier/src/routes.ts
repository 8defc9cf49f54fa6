import { DEFAULT_TABLE } from './schema.js'

export interface Partition {
  readonly prefix: string
  readonly table: string
}

/**
 * Prefix → table routing: an id goes to the table of the longest registered prefix it starts with,
 * else to the default table. Immutable; registering makes a new one.
 */
export class Routes {
  /** Longest prefix first, so the first match is the longest. */
  readonly #partitions: readonly Partition[]
  /** Every table that can hold rows (the default one first), each once. */
  readonly tables: readonly string[]

  constructor(partitions: readonly Partition[] = []) {
    this.#partitions = [...partitions].sort((a, b) => b.prefix.length - a.prefix.length)
    this.tables = [...new Set([DEFAULT_TABLE, ...partitions.map((p) => p.table)])]
  }

  get partitions(): readonly Partition[] {
    return this.#partitions
  }

  /** The table that holds (or would hold) `id`. */
  route(id: string): string {
    for (const p of this.#partitions) if (id.startsWith(p.prefix)) return p.table
    return DEFAULT_TABLE
  }

  /** The tables that may hold ids starting with `prefix`: its own route and longer prefixes' tables. */
  tablesFor(prefix: string): string[] {
    const tables = new Set([this.route(prefix)])
    for (const p of this.#partitions) if (p.prefix.startsWith(prefix)) tables.add(p.table)
    return [...tables]
  }

  /** Groups `items` by the table of their id, keeping their order within each table. */
  group<T>(items: Iterable<T>, idOf: (item: T) => string): Map<string, T[]> {
    const groups = new Map<string, T[]>()
    for (const item of items) {
      const table = this.route(idOf(item))
      const list = groups.get(table)
      if (list) list.push(item)
      else groups.set(table, [item])
    }
    return groups
  }

  with(partition: Partition): Routes {
    return new Routes([...this.#partitions.filter((p) => p.prefix !== partition.prefix), partition])
  }
}
