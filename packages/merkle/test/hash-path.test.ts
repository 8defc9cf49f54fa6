import { InvalidArgumentError, InvalidIdError } from '@sync-engine/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  ancestors,
  childPath,
  compareSegments,
  idOfLeafPath,
  interiorHash,
  leafHash,
  leafPathOf,
  merkleRootOf,
  parentPath,
  pathDepth,
  segmentOf,
} from '../src/index.js'
import { contentHash, fcOptions } from './helpers.js'

const h = (n: number) => contentHash(String(n))

describe('compareSegments', () => {
  it('is the byte order of the UTF-8 encodings (property)', () => {
    const unit = fc.oneof(
      fc.constantFrom('a', 'é', '\u{e000}', '\u{ffff}', '😀', '\u{10ffff}'),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    )
    const text = fc.string({ unit, maxLength: 6 })
    fc.assert(
      fc.property(text, text, (a, b) => {
        expect(Math.sign(compareSegments(a, b))).toBe(
          Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))),
        )
      }),
      fcOptions,
    )
  })

  it('orders "" first, digits as text, upper case before lower, U+E000 before astral', () => {
    const sorted = ['😀', 'a', '', '9', '\u{e000}', 'B', '10'].sort(compareSegments)
    expect(sorted).toEqual(['', '10', '9', 'B', 'a', '\u{e000}', '😀'])
  })
})

describe('leafHash', () => {
  it('accepts number and bigint versions alike, hex of either case', () => {
    expect(leafHash('a', 7, h(1))).toBe(leafHash('a', 7n, h(1).toUpperCase()))
    expect(leafHash('a', 7, h(1))).not.toBe(leafHash('a', 8, h(1)))
  })

  it('refuses bad input with typed errors', () => {
    expect(() => leafHash('a.', 1, h(1))).toThrow(InvalidIdError)
    for (const v of [0, -1, 1.5, Number.NaN, 2 ** 53, 0n, 2n ** 64n, '1' as unknown as number])
      expect(() => leafHash('a', v, h(1))).toThrow(InvalidArgumentError)
    for (const c of ['', 'xyz', h(1).slice(1), `${h(1)}0`, `g${h(1).slice(1)}`])
      expect(() => leafHash('a', 1, c)).toThrow(/contentHash/)
  })
})

describe('interiorHash', () => {
  it('does not depend on the order the children are given in', () => {
    const children: [string, string][] = [
      ['b', h(1)],
      ['', h(2)],
      ['a', h(3)],
    ]
    expect(interiorHash(children)).toBe(interiorHash(new Map([...children].reverse())))
  })

  it('matches a tree whose root has those children', () => {
    const a = { id: 'a', version: 1, contentHash: h(1) }
    const b = { id: 'b', version: 2, contentHash: h(2) }
    const root = interiorHash([
      ['b', leafHash('b', 2, h(2))],
      ['a', leafHash('a', 1, h(1))],
    ])
    expect(merkleRootOf([a, b])).toBe(root)
  })

  it('refuses no children, duplicate segments, dotted segments and bad hashes', () => {
    expect(() => interiorHash([])).toThrow(InvalidArgumentError)
    expect(() =>
      interiorHash([
        ['a', h(1)],
        ['a', h(2)],
      ]),
    ).toThrow(/twice/)
    expect(() => interiorHash([['a.b', h(1)]])).toThrow(/'\.'/)
    expect(() => interiorHash([['a', 'zz']])).toThrow(InvalidArgumentError)
  })
})

describe('merkleRootOf', () => {
  it('is null for no leaves and refuses an id given twice', () => {
    expect(merkleRootOf([])).toBeNull()
    expect(() =>
      merkleRootOf([
        { id: 'a', version: 1, contentHash: h(1) },
        { id: 'a', version: 2, contentHash: h(1) },
      ]),
    ).toThrow(/twice/)
  })
})

describe('path helpers', () => {
  it('parent, segment, depth, ancestors', () => {
    expect(parentPath('a.b.c')).toBe('a.b')
    expect(parentPath('a')).toBe('')
    expect(parentPath('uk.')).toBe('uk')
    expect(segmentOf('a.b.c')).toBe('c')
    expect(segmentOf('a')).toBe('a')
    expect(segmentOf('uk.')).toBe('')
    expect([pathDepth(''), pathDepth('a'), pathDepth('a.b'), pathDepth('uk.')]).toEqual([0, 1, 2, 2])
    expect(ancestors('a.b.c')).toEqual(['a.b', 'a', ''])
    expect(ancestors('a')).toEqual([''])
    expect(ancestors('')).toEqual([])
  })

  it('child paths and leaf slots', () => {
    expect(childPath('', 'a')).toBe('a')
    expect(childPath('a', 'b')).toBe('a.b')
    expect(childPath('uk', '')).toBe('uk.')
    expect(leafPathOf('uk', true)).toBe('uk.')
    expect(leafPathOf('uk', false)).toBe('uk')
    expect(idOfLeafPath('uk.')).toBe('uk')
    expect(idOfLeafPath('uk.nhs')).toBe('uk.nhs')
  })

  it('refuses what has no meaning', () => {
    expect(() => parentPath('')).toThrow(InvalidArgumentError)
    expect(() => segmentOf('')).toThrow(InvalidArgumentError)
    expect(() => childPath('', '')).toThrow(InvalidArgumentError)
    expect(() => childPath('a', 'b.c')).toThrow(InvalidArgumentError)
  })

  it('parentPath/segmentOf/childPath round-trip (property)', () => {
    const segment = fc.string({ maxLength: 4 }).filter((s) => !s.includes('.'))
    fc.assert(
      fc.property(
        fc.array(segment, { minLength: 1, maxLength: 5 }).filter((s) => s[0] !== ''),
        (segments) => {
          const path = segments.join('.')
          expect(childPath(parentPath(path), segmentOf(path))).toBe(path)
          expect(pathDepth(path)).toBe(segments.length)
          expect(ancestors(path)).toHaveLength(segments.length)
        },
      ),
      fcOptions,
    )
  })
})
