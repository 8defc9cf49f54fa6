import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  checkId,
  checkState,
  InvalidIdError,
  InvalidStateError,
  isValidId,
  MAX_ID_BYTES,
  RESERVED_ID_PREFIX,
  validateId,
  validateState,
} from '../src/index.js'

function ruleOf(id: unknown) {
  try {
    validateId(id)
    return 'valid'
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidIdError)
    expect((e as InvalidIdError).code).toBe('INVALID_ID')
    return (e as InvalidIdError).rule
  }
}

describe('ids (SPEC §3.1)', () => {
  it.each([
    ['user.alice'],
    ['a'],
    ['uk.nhs.patient.123'],
    ['with space'],
    ['quote\'s "and" %_\\'],
    ['colon:star*{braces}'],
    ['名前.アリス'],
    ['emoji.😀'],
    ['se:not-reserved'],
    ['__se'],
    ['x'.repeat(MAX_ID_BYTES)],
    ['é'.repeat(127)],
  ])('accepts %j', (id) => {
    expect(ruleOf(id)).toBe('valid')
    expect(isValidId(id)).toBe(true)
  })

  it.each<[string, unknown, string, RegExp]>([
    ['a number', 42, 'not-a-string', /must be a string, got number/],
    ['undefined', undefined, 'not-a-string', /got undefined/],
    ['the empty string', '', 'empty', /must not be empty/],
    ['256 ASCII bytes', 'x'.repeat(256), 'too-long', /256 UTF-8 bytes, over the limit of 255/],
    ['128 two-byte chars (256 bytes)', 'é'.repeat(128), 'too-long', /256 UTF-8 bytes/],
    ['a NUL', 'a\u0000b', 'control-character', /U\+0000 at index 1/],
    ['a newline', 'a\nb', 'control-character', /U\+000A/],
    ['a unit separator', 'a\u001fb', 'control-character', /U\+001F/],
    ['DEL', 'a\u007f', 'control-character', /U\+007F/],
    ['a lone surrogate', 'a\ud800b', 'invalid-unicode', /lone UTF-16 surrogate/],
    ['a leading dot', '.user', 'leading-dot', /starts with '\.'/],
    ['a trailing dot', 'user.', 'trailing-dot', /ends with '\.'/],
    ['a lone dot', '.', 'leading-dot', /starts with/],
    ['an empty segment', 'user..alice', 'empty-segment', /contains '\.\.'/],
    [
      'the reserved namespace',
      `${RESERVED_ID_PREFIX}cdc`,
      'reserved-namespace',
      /reserved engine namespace '__se:'/,
    ],
  ])('refuses %s', (_name, id, rule, message) => {
    expect(ruleOf(id)).toBe(rule)
    expect(checkId(id)?.message).toMatch(message)
    expect(isValidId(id)).toBe(false)
  })

  it('gives every rule its own message', () => {
    const examples = [42, '', 'x'.repeat(300), 'a\tb', 'a\udc00', '.a', 'a.', 'a..b', '__se:x']
    const messages = examples.map((id) => checkId(id)!.message.replace(/'.*'|".*"|\d+/g, ''))
    expect(new Set(messages).size).toBe(examples.length)
  })

  it('validates states: non-empty, ≤ 32 bytes, no control characters', () => {
    expect(validateState('default')).toBe('default')
    expect(validateState('s'.repeat(32))).toBe('s'.repeat(32))
    expect(checkState('s'.repeat(33))?.rule).toBe('too-long')
    expect(checkState('')?.rule).toBe('empty')
    expect(checkState('a\nb')?.rule).toBe('control-character')
    expect(checkState(1)?.rule).toBe('not-a-string')
    expect(() => validateState('ü'.repeat(17))).toThrow(InvalidStateError)
  })
})

describe('checkId fast path', () => {
  // The rules of SPEC §3.1 written out one by one, for ids of printable ASCII (the fast path's domain).
  const literal = (id: string): boolean =>
    id.length > 0 &&
    id.length <= MAX_ID_BYTES &&
    !id.startsWith('.') &&
    !id.endsWith('.') &&
    !id.includes('..') &&
    !id.startsWith(RESERVED_ID_PREFIX)

  it('agrees with the rules for any printable-ASCII string, dots and the reserved prefix included', () => {
    const char = fc.constantFrom('a', 'Z', '0', ' ', '.', ':', '_', '~', '*', '{')
    const text = fc.oneof(
      fc.string({ unit: char, maxLength: 12 }),
      fc.string({ unit: char, maxLength: 12 }).map((s) => RESERVED_ID_PREFIX + s),
      fc.integer({ min: 250, max: 260 }).map((n) => 'x'.repeat(n)),
    )
    fc.assert(fc.property(text, (id) => isValidId(id) === literal(id)))
  })

  it('leaves ids outside printable ASCII to the full rules', () => {
    expect(isValidId('café.ü')).toBe(true)
    expect(ruleOf('a\u007fb')).toBe('control-character')
    expect(ruleOf('é'.repeat(128))).toBe('too-long') // 128 characters, 256 UTF-8 bytes
  })
})
