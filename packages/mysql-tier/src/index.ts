export type { MysqlL3StoreOptions } from './options.js'
export type { Partition } from './partitions.js'
export { SCHEMA_VERSION } from './schema.js'
export { MysqlL3Store } from './store.js'
