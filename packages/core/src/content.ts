import { utf8DecodeStrict } from './bytes.js'

export type ContentType = 'json' | 'binary'

/**
 * SPEC §3.2: bytes are JSON iff the first non-whitespace byte is `{`, `[` or `"` and the whole buffer
 * is valid UTF-8 that `JSON.parse` accepts; everything else (numbers, `true`, empty input, a BOM,
 * truncated documents) is binary.
 */
export function detectContentType(bytes: Uint8Array): ContentType {
  let i = 0
  while (i < bytes.length) {
    const b = bytes[i]!
    if (b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) break
    i++
  }
  const first = bytes[i]
  if (first !== 0x7b && first !== 0x5b && first !== 0x22) return 'binary'
  const text = utf8DecodeStrict(bytes)
  if (text === undefined) return 'binary'
  try {
    JSON.parse(text)
    return 'json'
  } catch {
    return 'binary'
  }
}
