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
 */
export function canonicalJson(value: unknown): string {
  const out = { text: '' }
  write(value, [], out, [], false)
  return out.text
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
