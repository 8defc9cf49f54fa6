import { hasLoneSurrogate, InvalidArgumentError, MAX_ID_BYTES, utf8ByteLength } from '@sync-engine/core'

const CONTROL = /[\u0000-\u001f\u007f]/

/** A prefix argument: a non-empty string an id could start with (≤ 255 UTF-8 bytes, no control characters). */
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

/** A registered route: ids starting with `prefix` live in `table`. */
export interface Partition {
  readonly prefix: string
  readonly table: string
}

/**
 * Prefix → table routing: an id lives in the table of the longest registered prefix it starts with,
 * else in the base table. Every id is in exactly one table.
 */
export class PartitionMap {
  readonly base: string
  /** Longest prefix first. */
  #entries: (readonly [prefix: string, table: string])[] = []

  constructor(base: string) {
    this.base = base
  }

  get size(): number {
    return this.#entries.length
  }

  entries(): readonly (readonly [string, string])[] {
    return this.#entries
  }

  set(prefix: string, table: string): void {
    const rest = this.#entries.filter(([p]) => p !== prefix)
    rest.push([prefix, table])
    this.#entries = rest.sort((a, b) => b[0].length - a[0].length)
  }

  clear(): void {
    this.#entries = []
  }

  /** The table holding `id`. */
  route(id: string): string {
    for (const [prefix, table] of this.#entries) if (id.startsWith(prefix)) return table
    return this.base
  }

  /** Every table that holds ids, base first. */
  tables(): string[] {
    return [...new Set([this.base, ...this.#entries.map(([, t]) => t)])]
  }

  /**
   * The tables that can hold ids starting with `prefix`: the route of `prefix` itself, plus the tables
   * of registered prefixes that extend it.
   */
  tablesFor(prefix: string): string[] {
    const tables = new Set([this.route(prefix)])
    for (const [p, t] of this.#entries) if (p.startsWith(prefix)) tables.add(t)
    return [...tables]
  }

  /** `items` grouped by the table of `idOf(item)`, in input order within each group. */
  group<T>(items: readonly T[], idOf: (item: T) => string): Map<string, T[]> {
    const groups = new Map<string, T[]>()
    if (this.#entries.length === 0) {
      if (items.length > 0) groups.set(this.base, [...items])
      return groups
    }
    for (const item of items) {
      const table = this.route(idOf(item))
      const list = groups.get(table)
      if (list) list.push(item)
      else groups.set(table, [item])
    }
    return groups
  }
}
