/**
 * What the parent (`EngineProcess`) and the child (`engine-child.js`) say to each other over IPC.
 * Everything here survives structured clone (`serialization: 'advanced'`): plain data, no classes.
 */

/** An item to write, as the test gives it: its content is the canonical JSON of `value`. */
export interface ItemInput {
  readonly id: string
  readonly value: unknown
  readonly version?: number
  readonly state?: string
  readonly updatedAt?: number
}

/** An item as an engine in a child returned it. */
export interface ItemView {
  readonly id: string
  readonly version: number
  readonly updatedAt: number
  readonly state: string
  readonly contentType: 'json' | 'binary'
  readonly contentHash: string
  /** The parsed JSON content; the raw bytes for a binary item. */
  readonly value: unknown
}

/** Submit options as plain data (`{ l2, l2TtlSeconds, l3, state, durability }`). */
export type SubmitOptionsInput = Readonly<Record<string, unknown>>

/** A load a child runs against its own engine, with no IPC per operation (see `EngineProcess.load`). */
export interface LoadSpec {
  /** Ids this process writes, picked at random. */
  readonly writeIds: readonly string[]
  /** Ids it reads with `engine.get`, picked at random (another process's ids, say). */
  readonly readIds: readonly string[]
  readonly durationMs: number
  /** Writes and reads per round (default 50); each round yields to the event loop. */
  readonly batch?: number
  /** Share of writes that are deletes, 0–1 (default 0). */
  readonly deleteRatio?: number
  /** Seed of the id picks (default 1). */
  readonly seed?: number
  /**
   * When set (0–15), versions are `Date.now() * 16 + versionTag`: processes with distinct tags never
   * write one id with an equal (version, updatedAt), so every tier resolves concurrent writes alike.
   * Unset: version 1, the newer `updatedAt` wins (ties in one millisecond are the engine's known limit).
   */
  readonly versionTag?: number
}

/** What a load did; it ends with a flush, so its writes are committed when it resolves. */
export interface LoadReport {
  readonly rounds: number
  readonly submitted: number
  readonly deleted: number
  readonly read: number
  /** Operations that threw (backpressure refusals included); the first message is kept. */
  readonly errors: number
  readonly firstError?: string
}

/** An engine event the child forwards (`state`, `trust`). */
export interface EngineEventMessage {
  readonly $engineEvent: string
  readonly args: readonly unknown[]
  readonly at: number
}

export type EngineRequest =
  | {
      readonly op: 'start'
      readonly engineModule: string
      readonly config: Readonly<Record<string, unknown>>
      readonly logLevel: string
    }
  | { readonly op: 'submit'; readonly item: ItemInput; readonly options?: SubmitOptionsInput }
  | { readonly op: 'submitMany'; readonly items: readonly ItemInput[]; readonly options?: SubmitOptionsInput }
  | { readonly op: 'get'; readonly id: string }
  | { readonly op: 'getMany'; readonly ids: readonly string[] }
  | { readonly op: 'getEach'; readonly ids: readonly string[] }
  | { readonly op: 'delete'; readonly id: string }
  | { readonly op: 'deleteMany'; readonly ids: readonly string[] }
  | { readonly op: 'flush' }
  | { readonly op: 'health' }
  | { readonly op: 'stats' }
  | { readonly op: 'verifyFilter' }
  | { readonly op: 'definitelyMissing'; readonly ids: readonly string[] }
  | { readonly op: 'pauseCoherence' }
  | { readonly op: 'resumeCoherence' }
  | { readonly op: 'load'; readonly spec: LoadSpec }
  | { readonly op: 'shutdown' }

export type EngineOp = EngineRequest['op']

export function isEngineEvent(message: unknown): message is EngineEventMessage {
  return typeof message === 'object' && message !== null && '$engineEvent' in message
}
