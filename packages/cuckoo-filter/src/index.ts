export { crc32 } from './crc32.js'
export { CuckooFilter, type CuckooFilterStats, hashPair, STASH_LIMIT } from './filter.js'
export { FORMAT_VERSION } from './format.js'
export {
  type CuckooFilterOptions,
  DEFAULT_OPTIONS,
  type ResolvedCuckooFilterOptions,
} from './options.js'
export type { FingerprintBits } from './table.js'
