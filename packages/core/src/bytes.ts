import * as crypto from 'node:crypto'

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8')
const strictDecoder = new TextDecoder('utf-8', { fatal: true })

/**
 * Where `utf8Encode` writes before copying out the bytes: `encodeInto` plus a copy costs less than
 * `encode` making a buffer (a fixed ~0.4 µs; the copy of a short text even lands on the JS heap).
 */
const scratch = new Uint8Array(64 * 1024)

/** The UTF-8 of `text` in a `Uint8Array` of its own (lone surrogates become U+FFFD). */
export function utf8Encode(text: string): Uint8Array {
  // A UTF-16 unit takes at most 3 bytes.
  if (text.length * 3 > scratch.length) return encoder.encode(text)
  return scratch.slice(0, encoder.encodeInto(text, scratch).written)
}

export function utf8Decode(bytes: Uint8Array): string {
  return decoder.decode(bytes)
}

/** Decodes UTF-8, or returns `undefined` when the bytes are not valid UTF-8. */
export function utf8DecodeStrict(bytes: Uint8Array): string | undefined {
  try {
    return strictDecoder.decode(bytes)
  } catch {
    return undefined
  }
}

/**
 * Byte length of `text` in UTF-8, without allocating. Lone surrogates count 3 bytes (U+FFFD), as
 * TextEncoder would write them; callers that must refuse them check `hasLoneSurrogate` first.
 */
export function utf8ByteLength(text: string): number {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) bytes += 1
    else if (c < 0x800) bytes += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4
        i++
      } else bytes += 3
    } else bytes += 3
  }
  return bytes
}

/** True when `text` holds a UTF-16 surrogate without its pair (not representable in UTF-8). */
export function hasLoneSurrogate(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1)
      if (!(next >= 0xdc00 && next <= 0xdfff)) return true
      i++
    } else if (c >= 0xdc00 && c <= 0xdfff) return true
  }
  return false
}

/** Node's one-shot `crypto.hash` (≥ 20.12, no `Hash` object: ~40% less per small item), else a `Hash`. */
const oneShot = typeof crypto.hash === 'function'

/** Lower-case hex SHA-256 of `data` (a string is hashed as its UTF-8). */
export function sha256Hex(data: Uint8Array | string): string {
  return oneShot ? crypto.hash('sha256', data, 'hex') : crypto.createHash('sha256').update(data).digest('hex')
}

/** Raw 32-byte SHA-256 of `data`, in a `Uint8Array` of its own. */
export function sha256(data: Uint8Array | string): Uint8Array {
  return new Uint8Array(
    oneShot ? crypto.hash('sha256', data, 'buffer') : crypto.createHash('sha256').update(data).digest(),
  )
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

export function toHex(bytes: Uint8Array): string {
  let out = ''
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]!]
  return out
}

export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new TypeError(`not a hex string: '${hex}'`)
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  return out
}
