import { RESERVED_ID_PREFIX } from '@sync-engine/core'

/**
 * The key layout of SPEC §5.1. Items live at `{prefix}{id}`; everything the engine owns lives under
 * `{prefix}__se:`, which no valid id can reach (ids never start with `__se:`).
 */
export class KeyLayout {
  readonly prefix: string
  /** `{prefix}__se:` */
  readonly engine: string
  /** `{prefix}__se:state:`, followed by the state tag. */
  readonly statePrefix: string
  /** `{prefix}__se:merkle:`, followed by the node path (`""` for the root). */
  readonly merklePrefix: string
  /** UTF-8 byte length of `prefix` (the item scripts cut it off a key to get the id). */
  readonly prefixBytes: number

  constructor(prefix: string) {
    this.prefix = prefix
    this.engine = `${prefix}${RESERVED_ID_PREFIX}`
    this.statePrefix = `${this.engine}state:`
    this.merklePrefix = `${this.engine}merkle:`
    this.prefixBytes = Buffer.byteLength(prefix, 'utf8')
  }

  item(id: string): string {
    return this.prefix + id
  }

  state(state: string): string {
    return this.statePrefix + state
  }

  merkle(path: string): string {
    return this.merklePrefix + path
  }

  /** The change stream `{prefix}__se:cdc`. */
  get cdc(): string {
    return `${this.engine}cdc`
  }

  /** Where a change feed named `name` may persist its cursor: `{prefix}__se:cdc:cursor:{name}`. */
  cursor(name: string): string {
    return `${this.engine}cdc:cursor:${name}`
  }
}
