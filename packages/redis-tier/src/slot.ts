/** Number of hash slots of a Redis Cluster. */
export const CLUSTER_SLOTS = 16384

// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), the checksum Redis Cluster hashes keys with.
const TABLE = new Uint16Array(256)
for (let i = 0; i < 256; i++) {
  let crc = i << 8
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1
  TABLE[i] = crc & 0xffff
}

function crc16(bytes: Uint8Array, start: number, end: number): number {
  let crc = 0
  for (let i = start; i < end; i++) crc = ((crc << 8) ^ TABLE[((crc >> 8) ^ bytes[i]!) & 0xff]!) & 0xffff
  return crc
}

/**
 * The cluster hash slot of `key` (its UTF-8 bytes), with Redis' hash-tag rule: when the key holds a
 * `{` followed later by a `}` with at least one byte between them, only the bytes between the first
 * `{` and the first `}` after it are hashed.
 */
export function keySlot(key: string | Uint8Array): number {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key
  let end = bytes.length
  let start = bytes.indexOf(0x7b)
  if (start >= 0) {
    const close = bytes.indexOf(0x7d, start + 1)
    if (close > start + 1) {
      start += 1
      end = close
    } else start = 0
  } else start = 0
  return crc16(bytes, start, end) % CLUSTER_SLOTS
}
