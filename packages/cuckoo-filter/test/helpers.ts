import { CorruptDataError } from '@sync-engine/core'
import { expect } from 'vitest'

/** fast-check settings: a fixed seed (override with FC_SEED to replay), runs from FC_NUM_RUNS or `runs`. */
export function fcParams(seed: number, runs: number) {
  const envSeed = process.env['FC_SEED']
  const envRuns = process.env['FC_NUM_RUNS']
  return {
    seed: envSeed === undefined ? seed : Number(envSeed),
    numRuns: envRuns === undefined ? runs : Number(envRuns),
  }
}

export const ids = (count: number, prefix = 'id', from = 0): string[] =>
  Array.from({ length: count }, (_, i) => `${prefix}.${from + i}`)

/** Runs `fn`, expects a CorruptDataError, returns its message. */
export function corruptMessage(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(CorruptDataError)
    expect((error as CorruptDataError).code).toBe('CORRUPT_DATA')
    return (error as CorruptDataError).message
  }
  throw new Error('expected a CorruptDataError, nothing was thrown')
}

export const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')
