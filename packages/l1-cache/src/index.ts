export {
  type L1EntryInfo,
  L1MemoryCache,
  type L1MemoryCacheStats,
  type L1RemoveListener,
} from './l1-memory-cache.js'
export {
  DEFAULT_EVICT_AT_OF_WARN,
  DEFAULT_EVICT_TO_OF_EVICT_AT,
  DEFAULT_L1_MAX_BYTES,
  type L1MemoryCacheOptions,
} from './options.js'
export {
  CREDIT_MAX,
  L1_ENTRY_OVERHEAD_BYTES,
  MAX_WALK,
  PROBATION_SHARE,
  sizeWeight,
  WALK_STEPS_PER_EVICTION,
} from './sizing.js'
