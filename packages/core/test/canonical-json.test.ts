import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { canonicalJson, compareCodePoints, InvalidJsonError } from '../src/index.js'

describe('canonicalJson', () => {
  it('sorts object keys and drops whitespace', () => {
    expect(canonicalJson({ role: 'admin', name: 'Alice' })).toBe('{"name":"Alice","role":"admin"}')
    expect(canonicalJson({ b: 1, a: 2, c: { z: true, y: null } })).toBe(
      '{"a":2,"b":1,"c":{"y":null,"z":true}}',
    )
  })

  it('sorts nested objects inside arrays, keeping array order', () => {
    expect(canonicalJson([{ b: 1, a: 1 }, 3, [{ d: 0, c: 0 }]])).toBe('[{"a":1,"b":1},3,[{"c":0,"d":0}]]')
  })

  it('sorts keys by code point, not by UTF-16 code unit', () => {
    // U+FF61 (BMP, high) vs U+1F600 (astral, surrogate pair starting 0xD83D): code point order puts
    // U+FF61 first; UTF-16 unit order (Array#sort) would put the emoji first.
    const value = { '😀': 1, '｡': 2, a: 3, é: 4, Z: 5 }
    expect(canonicalJson(value)).toBe('{"Z":5,"a":3,"é":4,"｡":2,"😀":1}')
    expect(Object.keys(value).sort()).not.toEqual(['Z', 'a', 'é', '｡', '😀'])
  })

  it('writes numbers and strings as JSON.stringify does', () => {
    for (const n of [
      0,
      -0,
      1,
      -1,
      1.5,
      1e21,
      1e-7,
      123456789012345680000,
      0.1 + 0.2,
      Number.MAX_SAFE_INTEGER,
    ]) {
      expect(canonicalJson(n)).toBe(JSON.stringify(n))
    }
    for (const s of ['', 'a"b', 'line\nbreak', '\u0000', 'ünï', '😀', '\u2028']) {
      expect(canonicalJson(s)).toBe(JSON.stringify(s))
    }
    expect(canonicalJson({ n: 1e21 })).toBe('{"n":1e+21}')
  })

  it('keeps unicode keys and values exactly', () => {
    expect(canonicalJson({ 名前: 'アリス', ключ: 'значение' })).toBe('{"ключ":"значение","名前":"アリス"}')
  })

  it('honours toJSON and unwraps boxed primitives', () => {
    expect(canonicalJson({ at: new Date(0) })).toBe('{"at":"1970-01-01T00:00:00.000Z"}')
    expect(canonicalJson([new Number(3), new String('s'), new Boolean(false)])).toBe('[3,"s",false]')
  })

  it('escapes lone surrogates as JSON.stringify does, so they round-trip', () => {
    expect(canonicalJson({ s: '\ud800' })).toBe('{"s":"\\ud800"}')
    expect(JSON.parse(canonicalJson('\udc00x'))).toBe('\udc00x')
  })

  it('omits undefined object properties like JSON.stringify', () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}')
    expect(canonicalJson({ a: undefined })).toBe('{}')
  })

  it.each([
    ['undefined at the top', undefined, '$'],
    ['a function', { f: () => 1 }, '$.f'],
    ['a symbol', [Symbol('x')], '$[0]'],
    ['a BigInt', { n: 10n }, '$.n'],
    ['NaN', { x: [1, Number.NaN] }, '$.x[1]'],
    ['Infinity', Number.POSITIVE_INFINITY, '$'],
    ['undefined in an array', [1, undefined], '$[1]'],
    ['a Map', { m: new Map() }, '$.m'],
    ['a Set', new Set([1]), '$'],
    ['an odd key', { 'a b': () => 0 }, '$["a b"]'],
  ])('refuses %s, naming the path', (_what, value, path) => {
    let error: unknown
    try {
      canonicalJson(value)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(InvalidJsonError)
    expect((error as InvalidJsonError).path).toBe(path)
    expect((error as InvalidJsonError).code).toBe('INVALID_JSON')
  })

  it('refuses cycles', () => {
    const a: Record<string, unknown> = { x: 1 }
    a.self = a
    expect(() => canonicalJson(a)).toThrow(/cycle/)
    const arr: unknown[] = []
    arr.push({ back: arr })
    expect(() => canonicalJson(arr)).toThrow(InvalidJsonError)
  })

  it('allows the same object twice when it is not a cycle', () => {
    const shared = { k: 1 }
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"k":1},"b":{"k":1}}')
  })

  it('is a pure function of the value: key order never matters, and it parses back to the value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value)
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)))
        const shuffled = JSON.parse(JSON.stringify(value), function (this: unknown, _k, v) {
          if (v === null || typeof v !== 'object' || Array.isArray(v)) return v
          return Object.fromEntries(Object.entries(v).reverse())
        })
        expect(canonicalJson(shuffled)).toBe(text)
        expect(text).not.toMatch(/[\n\t]|": |, "/)
      }),
      { seed: 20261126, numRuns: 300 },
    )
  })

  it('compares strings by code point', () => {
    expect(compareCodePoints('a', 'b')).toBeLessThan(0)
    expect(compareCodePoints('ab', 'a')).toBeGreaterThan(0)
    expect(compareCodePoints('\uffff', '\u{10000}')).toBeLessThan(0)
    expect(compareCodePoints('x', 'x')).toBe(0)
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
        const cps = (s: string) => Array.from(s, (c) => c.codePointAt(0)!)
        const [x, y] = [cps(a), cps(b)]
        let expected = 0
        for (let i = 0; i < Math.min(x.length, y.length) && expected === 0; i++) expected = x[i]! - y[i]!
        if (expected === 0) expected = x.length - y.length
        expect(Math.sign(compareCodePoints(a, b))).toBe(Math.sign(expected))
      }),
      { seed: 7, numRuns: 500 },
    )
  })
})
