import { describe, expect, it } from 'vitest'
import { detectContentType, utf8Encode } from '../src/index.js'

const bytes = (...b: number[]) => new Uint8Array(b)

describe('detectContentType (SPEC §3.2)', () => {
  it.each<[string, Uint8Array, 'json' | 'binary']>([
    ['an object', utf8Encode('{"a":1}'), 'json'],
    ['an array', utf8Encode('[1,2,3]'), 'json'],
    ['a string', utf8Encode('"hello"'), 'json'],
    ['an empty object', utf8Encode('{}'), 'json'],
    ['leading and trailing whitespace', utf8Encode(' \t\r\n{"a": [1, 2]}\n '), 'json'],
    ['unicode content', utf8Encode('{"名前":"アリス","e":"😀"}'), 'json'],
    ['nested pretty JSON', utf8Encode('{\n  "a": {\n    "b": [true, null]\n  }\n}'), 'json'],
    ['a bare number', utf8Encode('42'), 'binary'],
    ['true', utf8Encode('true'), 'binary'],
    ['null', utf8Encode('null'), 'binary'],
    ['an empty buffer', bytes(), 'binary'],
    ['only whitespace', utf8Encode('  \n'), 'binary'],
    ['a truncated object', utf8Encode('{"a":1'), 'binary'],
    ['trailing garbage', utf8Encode('{"a":1} x'), 'binary'],
    ['two documents', utf8Encode('{}{}'), 'binary'],
    ['a UTF-8 BOM before JSON', bytes(0xef, 0xbb, 0xbf, 0x7b, 0x7d), 'binary'],
    ['invalid UTF-8 inside a string', bytes(0x22, 0xff, 0x22), 'binary'],
    ['PNG magic', bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a), 'binary'],
    ['plain text', utf8Encode('hello world'), 'binary'],
    ['a brace inside text', utf8Encode('x{"a":1}'), 'binary'],
    ['a NUL byte then JSON', bytes(0x00, 0x7b, 0x7d), 'binary'],
    ['single quotes', utf8Encode("{'a':1}"), 'binary'],
    ['vertical tab is not JSON whitespace', bytes(0x0b, 0x7b, 0x7d), 'binary'],
  ])('%s → %s', (_name, input, expected) => {
    expect(detectContentType(input)).toBe(expected)
  })
})
