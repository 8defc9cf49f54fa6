/**
 * Little-endian binary records for a script's single blob argument, read back in Lua with
 * `struct.unpack` (`B`, `<H`, `<I4`, and `c0` for a string whose length precedes it). One blob per
 * call instead of one argument per field: ioredis encodes every argument of a command on its own
 * (a string, a byte length, a RESP header each), which cost more than the scripts themselves for the
 * Merkle mirror (~10 arguments a node) and the change stream (5 an entry).
 */
export class Packer {
  #buf: Buffer
  #at = 0

  constructor(size = 64 * 1024) {
    this.#buf = Buffer.allocUnsafe(size)
  }

  #room(bytes: number): void {
    if (this.#at + bytes <= this.#buf.length) return
    const grown = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#at + bytes))
    this.#buf.copy(grown, 0, 0, this.#at)
    this.#buf = grown
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#at
  }

  byte(value: number): void {
    this.#room(1)
    this.#buf[this.#at++] = value
  }

  u32(value: number): void {
    this.#room(4)
    this.#at = this.#buf.writeUInt32LE(value, this.#at)
  }

  /** A string of one-byte characters (hex, digits), as many bytes as it has characters, no length. */
  ascii(text: string): void {
    this.#room(text.length)
    this.#at += this.#buf.write(text, this.#at, 'latin1')
  }

  /** `text` as UTF-8 after its byte length: `B` (< 256 bytes), `<H` (< 64 KiB) or `<I4`. */
  text(text: string, lengthBytes: 1 | 2 | 4): void {
    this.#room(lengthBytes + 3 * text.length)
    const start = this.#at + lengthBytes
    const bytes = this.#buf.write(text, start, 'utf8')
    this.#length(bytes, lengthBytes)
    this.#at = start + bytes
  }

  /** `bytes` after their `<I4` length. */
  bytes(bytes: Uint8Array): void {
    this.#room(4 + bytes.byteLength)
    this.#at = this.#buf.writeUInt32LE(bytes.byteLength, this.#at)
    this.#buf.set(bytes, this.#at)
    this.#at += bytes.byteLength
  }

  #length(value: number, lengthBytes: 1 | 2 | 4): void {
    if (value >= 2 ** (8 * lengthBytes))
      throw new RangeError(`${value} bytes do not fit a ${lengthBytes}-byte length`)
    if (lengthBytes === 1) this.#buf[this.#at] = value
    else if (lengthBytes === 2) this.#buf.writeUInt16LE(value, this.#at)
    else this.#buf.writeUInt32LE(value, this.#at)
  }

  /** The record so far (a view: the packer must not be written to afterwards). */
  done(): Buffer {
    return this.#buf.subarray(0, this.#at)
  }
}
