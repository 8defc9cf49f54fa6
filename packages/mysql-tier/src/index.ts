export type { Partition } from '@sync-engine/core'
export type { MysqlL3StoreOptions } from './options.js'
export { SCHEMA_VERSION } from './schema.js'
export { MysqlL3Store } from './store.js'
