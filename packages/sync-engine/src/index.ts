// The names a caller needs next to the engine, so `import { SyncEngine, SyncItem } from 'sync-engine'` works.
export {
  BackendUnavailableError,
  BackpressureError,
  createConsoleLogger,
  EngineNotReadyError,
  EngineStoppedError,
  InvalidConfigError,
  InvalidIdError,
  type Logger,
  RowRejectedError,
  SubmitOptions,
  SyncEngineError,
  SyncItem,
  TimeoutError,
} from '@sync-engine/core'
export { type ResolvedConfig, resolveConfig, type SyncEngineConfig } from './config.js'
export {
  type DeadLetter,
  type EngineHealth,
  type EngineState,
  type FlushReport,
  type ItemStatus,
  type ShutdownReport,
  type StartReport,
  SyncEngine,
  type TierHealth,
} from './engine.js'
export type { FilterTrust, WarmUpProgress, WarmUpReport } from './filter-manager.js'
export type { EngineMetrics } from './metrics.js'
