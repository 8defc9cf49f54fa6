import { InvalidArgumentError } from '@sync-engine/core'

/** Throws `InvalidArgumentError` unless `value` is a finite number >= 0 (an integer when `integer`). */
export function requireNonNegative(argument: string, value: number, integer = false): void {
  const ok = integer ? Number.isSafeInteger(value) : Number.isFinite(value)
  if (!ok || value < 0) {
    throw new InvalidArgumentError(
      argument,
      `${argument} must be a ${integer ? 'non-negative integer' : 'finite number >= 0'}, got ${String(value)}`,
    )
  }
}

/** Throws `InvalidArgumentError` unless `value` is a TCP port (0 allowed when `allowZero`). */
export function requirePort(argument: string, value: number, allowZero = false): void {
  if (!Number.isInteger(value) || value < (allowZero ? 0 : 1) || value > 65535) {
    throw new InvalidArgumentError(argument, `${argument} must be a TCP port, got ${String(value)}`)
  }
}

/** Throws `InvalidArgumentError` unless `value` is a finite number > 0 (a timeout). */
export function requirePositive(argument: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError(argument, `${argument} must be a finite number > 0, got ${String(value)}`)
  }
}
