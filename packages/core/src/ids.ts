import { hasLoneSurrogate, utf8ByteLength } from './bytes.js'
import { type IdRule, InvalidIdError, InvalidStateError, type StateRule } from './errors.js'

/** Longest id, in UTF-8 bytes (the L3 `VARCHAR(255)` key). */
export const MAX_ID_BYTES = 255
/** Longest state tag, in UTF-8 bytes. */
export const MAX_STATE_BYTES = 32
/** The engine's own key namespace in every tier; no id may start with it (SPEC §5.1). */
export const RESERVED_ID_PREFIX = '__se:'
/** The state every item has unless the caller tags it. */
export const DEFAULT_STATE = 'default'

// C0 controls and DEL (SPEC §3.1).
const CONTROL = /[\u0000-\u001f\u007f]/

function describe(id: string): string {
  return id.length > 40 ? `'${id.slice(0, 40)}…'` : `'${id}'`
}

/**
 * Checks an id against every rule of SPEC §3.1 and returns the first rule it breaks, with its message;
 * `undefined` when the id is valid. Use `validateId` to throw instead.
 */
export function checkId(id: unknown): { rule: IdRule; message: string } | undefined {
  if (typeof id === 'string' && isPlainAsciiId(id)) return undefined
  if (typeof id !== 'string')
    return { rule: 'not-a-string', message: `id must be a string, got ${typeof id}` }
  if (id.length === 0) return { rule: 'empty', message: 'id must not be empty' }
  if (CONTROL.test(id)) {
    const at = id.search(CONTROL)
    const code = id.charCodeAt(at).toString(16).padStart(4, '0')
    return {
      rule: 'control-character',
      message: `id ${JSON.stringify(id)} contains control character U+${code.toUpperCase()} at index ${at}`,
    }
  }
  if (hasLoneSurrogate(id)) {
    return {
      rule: 'invalid-unicode',
      message: `id ${JSON.stringify(id)} contains a lone UTF-16 surrogate (not encodable as UTF-8)`,
    }
  }
  const bytes = utf8ByteLength(id)
  if (bytes > MAX_ID_BYTES) {
    return {
      rule: 'too-long',
      message: `id ${describe(id)} is ${bytes} UTF-8 bytes, over the limit of ${MAX_ID_BYTES}`,
    }
  }
  if (id.startsWith('.'))
    return { rule: 'leading-dot', message: `id ${describe(id)} starts with '.' (empty first segment)` }
  if (id.endsWith('.'))
    return { rule: 'trailing-dot', message: `id ${describe(id)} ends with '.' (empty last segment)` }
  if (id.includes('..'))
    return { rule: 'empty-segment', message: `id ${describe(id)} contains '..' (an empty segment)` }
  if (id.startsWith(RESERVED_ID_PREFIX)) {
    return {
      rule: 'reserved-namespace',
      message: `id ${describe(id)} starts with the reserved engine namespace '${RESERVED_ID_PREFIX}'`,
    }
  }
  return undefined
}

/**
 * One pass that accepts the common id — printable ASCII (U+0020–U+007E), 1–255 characters, no empty
 * segment — without the rule-by-rule checks. `false` means "check each rule", not "invalid".
 */
function isPlainAsciiId(id: string): boolean {
  const n = id.length
  if (n === 0 || n > MAX_ID_BYTES) return false
  let previous = 0x2e // a leading '.' fails like a '..'
  for (let i = 0; i < n; i++) {
    const c = id.charCodeAt(i)
    if (c < 0x20 || c > 0x7e || (c === 0x2e && previous === 0x2e)) return false
    previous = c
  }
  return previous !== 0x2e && !id.startsWith(RESERVED_ID_PREFIX)
}

/** Throws `InvalidIdError` naming the broken rule; returns the id typed as a string otherwise. */
export function validateId(id: unknown): string {
  const problem = checkId(id)
  if (problem) throw new InvalidIdError(id, problem.rule, problem.message)
  return id as string
}

export function isValidId(id: unknown): id is string {
  return checkId(id) === undefined
}

/** A state tag: non-empty, at most 32 UTF-8 bytes, no control characters. */
export function checkState(state: unknown): { rule: StateRule; message: string } | undefined {
  if (typeof state !== 'string')
    return { rule: 'not-a-string', message: `state must be a string, got ${typeof state}` }
  if (state.length === 0) return { rule: 'empty', message: 'state must not be empty' }
  if (CONTROL.test(state))
    return {
      rule: 'control-character',
      message: `state ${JSON.stringify(state)} contains a control character`,
    }
  if (hasLoneSurrogate(state))
    return {
      rule: 'invalid-unicode',
      message: `state ${JSON.stringify(state)} contains a lone UTF-16 surrogate`,
    }
  const bytes = utf8ByteLength(state)
  if (bytes > MAX_STATE_BYTES) {
    return {
      rule: 'too-long',
      message: `state '${state}' is ${bytes} UTF-8 bytes, over the limit of ${MAX_STATE_BYTES}`,
    }
  }
  return undefined
}

export function validateState(state: unknown): string {
  const problem = checkState(state)
  if (problem) throw new InvalidStateError(state, problem.rule, problem.message)
  return state as string
}

/**
 * The Merkle path segments of an id: `uk.nhs.patient.123` → `['uk', 'nhs', 'patient', '123']`.
 */
export function idSegments(id: string): string[] {
  return id.split('.')
}
