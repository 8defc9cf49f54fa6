import { InvalidArgumentError, type PressureLevel } from './errors.js'

export type { PressureLevel } from './errors.js'

/** Lower bounds of each level above Normal (SPEC §9). */
export interface PressureThresholds {
  warn: number
  throttle: number
  critical: number
  emergency: number
  shutdown: number
}

export const DEFAULT_PRESSURE_THRESHOLDS: Readonly<PressureThresholds> = Object.freeze({
  warn: 0.7,
  throttle: 0.8,
  critical: 0.9,
  emergency: 0.95,
  shutdown: 0.98,
})

export const PRESSURE_LEVELS: readonly PressureLevel[] = [
  'Normal',
  'Warn',
  'Throttle',
  'Critical',
  'Emergency',
  'Shutdown',
]

/** Numeric rank of a level (Normal = 0 … Shutdown = 5), for gauges and comparisons. */
export function pressureRank(level: PressureLevel): number {
  return PRESSURE_LEVELS.indexOf(level)
}

/** The level of a pressure ratio (0 = empty, 1 = at the limit). */
export function pressureLevel(
  pressure: number,
  thresholds: Readonly<PressureThresholds> = DEFAULT_PRESSURE_THRESHOLDS,
): PressureLevel {
  if (pressure >= thresholds.shutdown) return 'Shutdown'
  if (pressure >= thresholds.emergency) return 'Emergency'
  if (pressure >= thresholds.critical) return 'Critical'
  if (pressure >= thresholds.throttle) return 'Throttle'
  if (pressure >= thresholds.warn) return 'Warn'
  return 'Normal'
}

/** Checks that thresholds are numbers in (0, 1] in strictly increasing order. */
export function validatePressureThresholds(t: PressureThresholds): PressureThresholds {
  const order = ['warn', 'throttle', 'critical', 'emergency', 'shutdown'] as const
  let previous = 0
  for (const key of order) {
    const v = t[key]
    if (typeof v !== 'number' || !(v > previous) || v > 1) {
      throw new InvalidArgumentError(
        `backpressure.${key}`,
        `backpressure.${key} must be a number in (0, 1] above the level before it, got ${String(v)}`,
      )
    }
    previous = v
  }
  return t
}
