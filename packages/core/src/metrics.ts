import { type Meter, type MeterProvider, metrics } from '@opentelemetry/api'

/** The meter name every package reports under (SPEC §11). */
export const METER_NAME = 'sync-engine'

/** Metric names of SPEC §11. */
export const METRIC = {
  operations: 'sync_engine_operations_total',
  operationSeconds: 'sync_engine_operation_seconds',
  bytesWritten: 'sync_engine_bytes_written_total',
  itemsWritten: 'sync_engine_items_written_total',
  batchSize: 'sync_engine_batch_size',
  batchBytes: 'sync_engine_batch_bytes',
  flushSeconds: 'sync_engine_flush_seconds',
  errors: 'sync_engine_errors_total',
  backendHealthy: 'sync_engine_backend_healthy',
  l1Items: 'sync_engine_l1_cache_items',
  l1Bytes: 'sync_engine_l1_cache_bytes',
  memoryPressure: 'sync_engine_memory_pressure',
  backpressureLevel: 'sync_engine_backpressure_level',
  filterEntries: 'sync_engine_cuckoo_filter_entries',
  filterLoad: 'sync_engine_cuckoo_filter_load',
  filterChecks: 'sync_engine_cuckoo_checks_total',
  walPending: 'sync_engine_wal_pending_items',
  merkleOperations: 'sync_engine_merkle_operations_total',
  cdcEntries: 'sync_engine_cdc_entries_total',
  startupSeconds: 'sync_engine_startup_seconds',
  startupTotalSeconds: 'sync_engine_startup_total_seconds',
} as const

export type MetricName = (typeof METRIC)[keyof typeof METRIC]

/**
 * A meter taken lazily: the first call (not module load) asks the provider, so a provider registered
 * after import is still used. A meter taken before the global provider is registered stays a no-op.
 */
export function lazyMeter(provider?: MeterProvider): () => Meter {
  let meter: Meter | undefined
  return () => {
    if (meter === undefined) meter = (provider ?? metrics).getMeter(METER_NAME)
    return meter
  }
}
