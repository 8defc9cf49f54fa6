import { InvalidJsonError } from './errors.js'

/** Compares two strings by Unicode code point (not by UTF-16 code unit, as `Array#sort` does). */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x === y) continue
    // Surrogates (U+D800–U+DFFF) encode code points above U+FFFF: they sort after every BMP unit.
    const xs = x >= 0xd800 && x <= 0xdfff
    const ys = y >= 0xd800 && y <= 0xdfff
    if (xs !== ys) return xs ? 1 : -1
    return x - y
  }
  return a.length - b.length
}

/** The path of the value being written: keys (object) or indexes (array), built into text only on error. */
type Path = (string | number)[]

function pathText(path: Path): string {
  let out = '$'
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`
    else out += /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`
  }
  return out
}

function refuse(path: Path, what: string): never {
  const at = pathText(path)
  throw new InvalidJsonError(at, `value at ${at} ${what}; JSON cannot carry it`)
}

/**
 * Canonical JSON (SPEC §3.2): no whitespace, object keys sorted by code point, numbers and strings
 * written as `JSON.stringify` writes them. Equal values give equal text whatever their key order.
 *
 * It follows `JSON.stringify` (honours `toJSON`, unwraps boxed primitives, omits object properties
 * whose value is `undefined`) except where `JSON.stringify` silently changes the data, which it
 * refuses with `InvalidJsonError` naming the path: `undefined` at the top or in an array, functions,
 * symbols, BigInt, NaN and ±Infinity, cycles, and objects that are not
 * plain (Map, Set, class instances without `toJSON`), which would otherwise become `{}`.
 *
 * Plain data (plain objects, arrays, strings, finite numbers, booleans, null) takes a fast path: its
 * objects are re-made with their keys in canonical order where they are not already, and
 * `JSON.stringify` writes the result. Anything else, including every value it refuses, goes through
 * the general writer below, which is also what names the path of a refusal.
 */
export function canonicalJson(value: unknown): string {
  const plain = plainCanonical(value, 0)
  if (plain !== GENERAL) return JSON.stringify(plain)
  const out = { text: '' }
  write(value, [], out, [], false)
  return out.text
}

/** What the fast path returns for a value it leaves to the general writer. */
const GENERAL: unique symbol = Symbol('general')

/** Nesting the fast path follows before leaving a value to the general writer, which finds cycles. */
const MAX_FAST_DEPTH = 64

/**
 * `value` with every object's keys in canonical order — the value itself where nothing had to move,
 * a copy of the objects and arrays on the way to what did — or `GENERAL` when it is not plain data.
 */
function plainCanonical(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value
    case 'number':
      return Number.isFinite(value) ? value : GENERAL
    case 'object':
      if (value === null) return value
      if (depth === MAX_FAST_DEPTH || typeof (value as { toJSON?: unknown }).toJSON === 'function') {
        return GENERAL
      }
      return Array.isArray(value) ? plainArray(value, depth) : plainObject(value, depth)
  }
  return GENERAL
}

function plainArray(array: readonly unknown[], depth: number): unknown {
  let copy: unknown[] | undefined
  for (let i = 0; i < array.length; i++) {
    const item = array[i]
    const canonical = plainCanonical(item, depth + 1)
    if (canonical === GENERAL) return GENERAL
    if (copy !== undefined) copy.push(canonical)
    else if (canonical !== item) {
      copy = []
      for (let j = 0; j < i; j++) copy.push(array[j])
      copy.push(canonical)
    }
  }
  return copy ?? array
}

function plainObject(object: object, depth: number): unknown {
  const proto = Object.getPrototypeOf(object)
  if (proto !== Object.prototype && proto !== null) return GENERAL
  const keys = Object.keys(object)
  if (keys.length === 0) return object
  const order = canonicalOrder(keys)
  if (order === undefined) return GENERAL
  const source = object as Record<string, unknown>
  const sorted = order ?? keys
  // A copy is made when the keys move, or from the first value that changes.
  let copy: Record<string, unknown> | undefined = order === null ? undefined : {}
  for (let i = 0; i < sorted.length; i++) {
    const key = sorted[i]!
    const item = source[key]
    if (item === undefined) continue // omitted, by JSON.stringify or by not copying it
    const canonical = plainCanonical(item, depth + 1)
    if (canonical === GENERAL) return GENERAL
    if (copy !== undefined) copy[key] = canonical
    else if (canonical !== item) {
      copy = {}
      for (let j = 0; j < i; j++) copy[sorted[j]!] = source[sorted[j]!]
      copy[key] = canonical
    }
  }
  return copy ?? object
}

/**
 * The canonical order of an object's keys, remembered per key list (objects of one shape are sorted
 * once): first key → the lists seen with it, a bounded cache. `null`: already in order; `undefined`:
 * left to the general writer — keys that must move ahead of an array-index key (a copy always
 * enumerates index keys first, in numeric order) and `__proto__` (an assignment cannot create it).
 */
const shapes = new Map<string, { keys: readonly string[]; order: readonly string[] | null | undefined }[]>()
const MAX_FIRST_KEYS = 1024
const MAX_SHAPES_PER_FIRST_KEY = 8
const MAX_CACHED_KEYS = 64

function canonicalOrder(keys: string[]): readonly string[] | null | undefined {
  const first = keys[0]!
  let seen = shapes.get(first)
  if (seen !== undefined) {
    search: for (const shape of seen) {
      if (shape.keys.length !== keys.length) continue
      for (let i = 1; i < keys.length; i++) if (shape.keys[i] !== keys[i]) continue search
      return shape.order
    }
  }
  const order = orderOf(keys)
  if (keys.length <= MAX_CACHED_KEYS) {
    if (seen === undefined) {
      if (shapes.size === MAX_FIRST_KEYS) shapes.clear()
      seen = []
      shapes.set(first, seen)
    }
    if (seen.length === MAX_SHAPES_PER_FIRST_KEY) seen.shift()
    seen.push({ keys, order })
  }
  return order
}

function orderOf(keys: readonly string[]): readonly string[] | null | undefined {
  if (keys.includes('__proto__')) return undefined
  for (let i = 1; i < keys.length; i++) {
    if (compareCodePoints(keys[i - 1]!, keys[i]!) > 0) {
      const first = keys[0]!.charCodeAt(0)
      return first >= 0x30 && first <= 0x39 ? undefined : [...keys].sort(compareCodePoints)
    }
  }
  return null
}

function write(
  value: unknown,
  path: Path,
  out: { text: string },
  stack: object[],
  inObject: boolean,
): boolean {
  if (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { toJSON?: unknown }).toJSON === 'function'
  ) {
    value = (value as { toJSON: (key: string) => unknown }).toJSON(String(path[path.length - 1] ?? ''))
  }
  switch (typeof value) {
    case 'string':
      out.text += JSON.stringify(value)
      return true
    case 'number':
      if (!Number.isFinite(value)) refuse(path, `is ${value}`)
      out.text += JSON.stringify(value)
      return true
    case 'boolean':
      out.text += value ? 'true' : 'false'
      return true
    case 'undefined':
      if (inObject) return false
      return refuse(path, 'is undefined')
    case 'function':
      return refuse(path, 'is a function')
    case 'symbol':
      return refuse(path, 'is a symbol')
    case 'bigint':
      return refuse(path, 'is a BigInt (convert it to a string or number first)')
  }
  if (value === null) {
    out.text += 'null'
    return true
  }
  const obj = value as object
  if (obj instanceof Number || obj instanceof String || obj instanceof Boolean) {
    return write(obj.valueOf(), path, out, stack, inObject)
  }
  if (stack.includes(obj)) refuse(path, 'is a cycle back to one of its parents')
  stack.push(obj)
  if (Array.isArray(obj)) {
    out.text += '['
    for (let i = 0; i < obj.length; i++) {
      if (i > 0) out.text += ','
      path.push(i)
      write(obj[i], path, out, stack, false)
      path.pop()
    }
    out.text += ']'
  } else {
    const proto = Object.getPrototypeOf(obj)
    if (proto !== Object.prototype && proto !== null) {
      const kind = (proto?.constructor as { name?: string } | undefined)?.name ?? 'object'
      refuse(path, `is a ${kind}, not a plain object (give it a toJSON() or convert it)`)
    }
    const keys = Object.keys(obj).sort(compareCodePoints)
    out.text += '{'
    let first = true
    for (const key of keys) {
      path.push(key)
      const before = out.text
      out.text += `${first ? '' : ','}${JSON.stringify(key)}:`
      if (write((obj as Record<string, unknown>)[key], path, out, stack, true)) first = false
      else out.text = before
      path.pop()
    }
    out.text += '}'
  }
  stack.pop()
  return true
}
