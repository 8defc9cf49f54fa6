import { describe, expect, it } from 'vitest'
import { checkPrefix, InvalidArgumentError, PartitionRoutes } from '../src/index.js'

describe('PartitionRoutes', () => {
  it('routes an id to the longest registered prefix it starts with, else to the base table', () => {
    const routes = new PartitionRoutes('base')
      .with({ prefix: 'a.', table: 'ta' })
      .with({ prefix: 'a.b.', table: 'tab' })
    expect(routes.route('a.b.c')).toBe('tab')
    expect(routes.route('a.c')).toBe('ta')
    expect(routes.route('b')).toBe('base')
    expect(routes.tablesFor('a').sort()).toEqual(['base', 'ta', 'tab'])
    expect(routes.tablesFor('a.b.x')).toEqual(['tab'])
    expect(routes.tablesFor('a.c')).toEqual(['ta'])
    expect(routes.tables).toEqual(['base', 'tab', 'ta'])
    expect(routes.partitions.map((p) => p.prefix)).toEqual(['a.b.', 'a.'])
  })

  it('is immutable: with() returns new routes, replacing a route of the same prefix', () => {
    const one = new PartitionRoutes('base', [{ prefix: 'x', table: 't1' }])
    const two = one.with({ prefix: 'x', table: 't2' })
    expect(one.route('xy')).toBe('t1')
    expect(two.route('xy')).toBe('t2')
    expect(two.partitions).toHaveLength(1)
  })

  it('groups items by table, keeping input order within a table', () => {
    const routes = new PartitionRoutes('base', [{ prefix: 'a', table: 'ta' }])
    expect([...routes.group(['a1', 'b1', 'a2', 'b2'], (id) => id)]).toEqual([
      ['ta', ['a1', 'a2']],
      ['base', ['b1', 'b2']],
    ])
    expect([...new PartitionRoutes('base').group([3, 1], String)]).toEqual([['base', [3, 1]]])
  })
})

describe('checkPrefix', () => {
  it.each([
    ['', 'must not be empty'],
    ['a\u0000', 'control character'],
    ['\ud800', 'lone surrogate'],
    ['x'.repeat(256), 'longer than an id'],
    [42, 'must be a string'],
  ])('refuses %j naming the argument', (prefix, why) => {
    expect(() => checkPrefix(prefix, 'prefix')).toThrow(InvalidArgumentError)
    expect(() => checkPrefix(prefix, 'prefix')).toThrow(why)
  })

  it('accepts any prefix an id could start with, LIKE metacharacters included', () => {
    for (const p of ['a', 'user.', '100%', 'under_', 'back\\slash', 'é😀']) expect(checkPrefix(p)).toBe(p)
  })
})
