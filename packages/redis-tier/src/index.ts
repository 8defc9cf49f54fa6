export {
  type ChangeCursorStore,
  DEFAULT_CDC_MAX_LEN,
  RedisChangeFeed,
  type RedisChangeFeedOptions,
  RedisChangePublisher,
  type RedisChangePublisherOptions,
  redisCursorStore,
} from './cdc.js'
export { KeyLayout } from './keys.js'
export { RedisL2Store } from './l2-store.js'
export { RedisMerkleNodeStore } from './merkle-mirror.js'
export {
  DEFAULTS as REDIS_DEFAULTS,
  type JsonMode,
  type RedisClient,
  type RedisConnectionOptions,
  type RedisL2StoreOptions,
} from './options.js'
export { CLUSTER_SLOTS, keySlot } from './slot.js'
