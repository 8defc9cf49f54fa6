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

/**
 * SPEC §3.2 written out literally, as the oracle of the property tests: object entries without
 * `undefined`, sorted by comparing arrays of code points; every leaf as `JSON.stringify` writes it.
 */
function reference(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const codePoints = (s: string) => Array.from(s, (c) => c.codePointAt(0)!)
    const byCodePoint = (a: string, b: string) => {
      const [x, y] = [codePoints(a), codePoints(b)]
      for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!
      return x.length - y.length
    }
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => byCodePoint(a, b))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(',')}}`
  }
  return JSON.stringify(value)
}

/** Keys whose orders disagree: UTF-16 units vs code points, array indexes vs text, `__proto__`. */
const TRICKY_KEYS = [
  '',
  'a',
  'b',
  'Z',
  'ab',
  'é',
  '\uE000',
  '\uFFFF',
  '｡',
  '\u{10000}',
  '😀',
  '0',
  '1',
  '9',
  '10',
  '01',
  '-1',
  '4294967295',
  'toString',
  'constructor',
  'toJSON',
  '__proto__',
]
const NUMBERS = [0, -0, 1, -1, 1e21, -1e21, 1e20, 1e-7, 1e-6, 5e-324, 2 ** 53, Number.MAX_VALUE, 0.1 + 0.2]
const LONE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** JSON values with tricky keys, numbers and strings; objects built in random key order. */
function jsonValues(key: fc.Arbitrary<string>) {
  const leaf = fc.oneof(
    fc.constantFrom(...NUMBERS),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.string({ unit: 'binary' }),
    fc.boolean(),
    fc.constant(null),
  )
  return fc.letrec<{ value: unknown; array: unknown[]; object: Record<string, unknown> }>((tie) => ({
    value: fc.oneof({ depthSize: 'small' }, leaf, tie('array'), tie('object')),
    array: fc.array(tie('value'), { maxLength: 5 }),
    object: fc
      .array(fc.tuple(key, fc.oneof({ weight: 9, arbitrary: tie('value') }, fc.constant(undefined))), {
        maxLength: 8,
      })
      .map((entries) => Object.fromEntries(entries)),
  })).value
}

const wellFormedKey = fc.oneof(
  fc.constantFrom(...TRICKY_KEYS),
  fc.string({ unit: 'binary', maxLength: 4 }).filter((k) => !LONE.test(k)),
)

describe('canonicalJson against a literal reference', () => {
  it('equals the reference for arbitrary JSON values', () => {
    fc.assert(
      fc.property(jsonValues(wellFormedKey), (value) => {
        expect(canonicalJson(value)).toBe(reference(value))
      }),
      { seed: 20261127, numRuns: 3000 },
    )
  })

  it('equals the reference for fast-check JSON values and their reordered copies', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const reversed = JSON.parse(JSON.stringify(value), function (this: unknown, _k, v) {
          if (v === null || typeof v !== 'object' || Array.isArray(v)) return v
          return Object.fromEntries(Object.entries(v).reverse())
        })
        expect(canonicalJson(value)).toBe(reference(value))
        expect(canonicalJson(reversed)).toBe(reference(value))
      }),
      { seed: 11, numRuns: 1000 },
    )
  })

  it('gives plain data the same text as the general writer (a Date beside it takes that path)', () => {
    // Keys here may hold lone surrogates too: both paths order them with compareCodePoints.
    const at = new Date(0)
    const key = fc.oneof(fc.constantFrom(...TRICKY_KEYS), fc.string({ unit: 'binary', maxLength: 4 }))
    fc.assert(
      fc.property(jsonValues(key), (value) => {
        const general = canonicalJson([value, at])
        expect(canonicalJson([value, at.toJSON()])).toBe(general)
        expect(`[${canonicalJson(value)},"${at.toJSON()}"]`).toBe(general)
      }),
      { seed: 3, numRuns: 2000 },
    )
  })

  it('orders keys that sort differently by UTF-16 unit and by code point', () => {
    expect(canonicalJson({ '\u{10000}': 1, '\uE000': 2 })).toBe('{"\uE000":2,"\u{10000}":1}')
    expect(canonicalJson({ '\uE000': 2, '\u{10000}': 1 })).toBe('{"\uE000":2,"\u{10000}":1}')
    expect(
      canonicalJson([
        { '\uFFFF': 0, '😀': 0 },
        { '😀': 0, '\uFFFF': 0 },
      ]),
    ).toBe('[{"\uFFFF":0,"😀":0},{"\uFFFF":0,"😀":0}]')
  })

  it('orders array-index keys as text, and keeps an own __proto__ key', () => {
    expect(canonicalJson({ 9: 'a', 10: 'b', x: 1 })).toBe('{"10":"b","9":"a","x":1}')
    expect(canonicalJson({ b: 1, 2: 'two', a: 0 })).toBe('{"2":"two","a":0,"b":1}')
    expect(canonicalJson(JSON.parse('{"z":1,"__proto__":{"b":1,"a":2}}'))).toBe(
      '{"__proto__":{"a":2,"b":1},"z":1}',
    )
  })

  it('tells apart shapes that share their first keys, however many it has seen', () => {
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 3000; i++) {
        // 1500 first keys (more than the cache keeps), and 20 shapes under the first key `z`.
        const value = { [`k${i % 1500}`]: round, m: i, a: [{ z: 1, [`y${i % 20}`]: 2 }] }
        expect(canonicalJson(value)).toBe(reference(value))
      }
    }
    const wide = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`key${(i * 7919) % 200}`, i]))
    expect(canonicalJson(wide)).toBe(reference(wide))
  })

  it('writes deep values the same beyond the fast path’s depth', () => {
    let value: unknown = { b: 1, a: [-0, 1e21] }
    for (let i = 0; i < 200; i++) value = i % 2 ? [value, i] : { y: value, x: i }
    expect(canonicalJson(value)).toBe(reference(value))
  })

  it('still names the path of a refusal deep inside otherwise plain data', () => {
    const value = { b: [{ ok: 1 }, { d: 1, c: [1, 2, Number.NaN] }], a: 'x' }
    expect(() => canonicalJson(value)).toThrow(expect.objectContaining({ path: '$.b[1].c[2]' }))
    expect(() => canonicalJson({ b: 1, a: { n: 1n } })).toThrow(expect.objectContaining({ path: '$.a.n' }))
  })
})
