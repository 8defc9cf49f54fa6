export { decodeRow, encodeRow, ROW_FORMAT } from './codec.js'
export {
  type ResolvedWalOptions,
  resolveWalOptions,
  type SqliteWalOptions,
  WAL_DEFAULTS,
  type WalSyncMode,
} from './options.js'
export { SqliteWal, WAL_SCHEMA_VERSION, type WalDiagnostics } from './sqlite-wal.js'
