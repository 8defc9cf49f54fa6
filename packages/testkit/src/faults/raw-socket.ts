import { connect, type Socket } from 'node:net'
import { BackendUnavailableError, InvalidArgumentError, TimeoutError } from '@sync-engine/core'
import { requirePort, requirePositive } from './checks.js'

/** How a `RawSocket` ended: `errorCode` is set when it ended with an error (`ECONNRESET`, …). */
export interface RawSocketClosed {
  readonly errorCode: string | undefined
}

interface Waiter {
  readonly done: (pending: Buffer) => boolean
  readonly resolve: (data: Buffer) => void
  readonly reject: (error: Error) => void
  readonly timer: NodeJS.Timeout
}

/**
 * A bare TCP client for fault tests: write bytes, wait (bounded) until the unread bytes satisfy a
 * condition, see how the connection ended. No protocol knowledge beyond `respCommand` for Redis.
 */
export class RawSocket {
  readonly socket: Socket
  /** Resolves once the connection is fully closed, with the error code it died of, if any. */
  readonly closed: Promise<RawSocketClosed>
  readonly #where: string
  #pending: Buffer = Buffer.alloc(0)
  #errorCode: string | undefined
  #isClosed = false
  #waiter: Waiter | undefined

  private constructor(socket: Socket, where: string) {
    this.socket = socket
    this.#where = where
    socket.on('data', (chunk: Buffer) => {
      this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk])
      this.#check()
    })
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.#errorCode ??= err.code ?? err.message
    })
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.#isClosed = true
        this.#check()
        resolve({ errorCode: this.#errorCode })
      })
    })
  }

  /** Connects to `host:port`; rejects with `BackendUnavailableError` (refused, reset) or `TimeoutError`. */
  static connect(port: number, host = '127.0.0.1', timeoutMs = 2000): Promise<RawSocket> {
    requirePort('port', port)
    requirePositive('timeoutMs', timeoutMs)
    const where = `tcp://${host}:${port}`
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port })
      const raw = new RawSocket(socket, where)
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new TimeoutError(`connect to ${where}`, timeoutMs))
      }, timeoutMs)
      socket.once('connect', () => {
        clearTimeout(timer)
        resolve(raw)
      })
      void raw.closed.then(({ errorCode }) => {
        clearTimeout(timer)
        reject(
          new BackendUnavailableError(where, `connection closed before connect (${errorCode ?? 'closed'})`),
        )
      })
    })
  }

  /** True once the connection is fully closed. */
  get isClosed(): boolean {
    return this.#isClosed
  }

  /** Bytes received and not yet returned by a read. */
  get unread(): Buffer {
    return this.#pending
  }

  write(data: string | Uint8Array): void {
    this.socket.write(data)
  }

  /**
   * Resolves with (and consumes) all unread bytes once `done(unread)` is true. Rejects with
   * `TimeoutError` after `timeoutMs`, or with `BackendUnavailableError` when the connection closes first.
   * One read at a time.
   */
  readUntil(done: (unread: Buffer) => boolean, timeoutMs = 2000): Promise<Buffer> {
    requirePositive('timeoutMs', timeoutMs)
    if (this.#waiter)
      throw new InvalidArgumentError('readUntil', 'a read is already waiting on this RawSocket')
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined
        reject(new TimeoutError(`read from ${this.#where}`, timeoutMs))
      }, timeoutMs)
      this.#waiter = { done, resolve, reject, timer }
      this.#check()
    })
  }

  /** Reads until the unread bytes end with CRLF (one simple Redis reply). */
  readReply(timeoutMs = 2000): Promise<Buffer> {
    return this.readUntil((b) => b.length >= 2 && b[b.length - 2] === 13 && b[b.length - 1] === 10, timeoutMs)
  }

  /** Sends `args` as a Redis command and reads its (simple) reply as text. */
  async command(args: readonly string[], timeoutMs = 2000): Promise<string> {
    this.write(respCommand(args))
    return (await this.readReply(timeoutMs)).toString('utf8')
  }

  /** Closes gracefully (FIN) and resolves when closed. */
  end(): Promise<RawSocketClosed> {
    this.socket.end()
    return this.closed
  }

  /** Closes at once and resolves when closed. */
  destroy(): Promise<RawSocketClosed> {
    this.socket.destroy()
    return this.closed
  }

  #check(): void {
    const waiter = this.#waiter
    if (!waiter) return
    if (waiter.done(this.#pending)) {
      const data = this.#pending
      this.#pending = Buffer.alloc(0)
      this.#settle(waiter)
      waiter.resolve(data)
    } else if (this.#isClosed) {
      this.#settle(waiter)
      const how = this.#errorCode ?? 'closed by peer'
      waiter.reject(
        new BackendUnavailableError(
          this.#where,
          `connection ended (${how}) with ${this.#pending.length} unread bytes`,
        ),
      )
    }
  }

  #settle(waiter: Waiter): void {
    clearTimeout(waiter.timer)
    this.#waiter = undefined
  }
}

/** Encodes a Redis command as a RESP array of bulk strings. */
export function respCommand(args: readonly string[]): Buffer {
  const parts = [`*${args.length}\r\n`]
  for (const arg of args) parts.push(`$${Buffer.byteLength(arg)}\r\n${arg}\r\n`)
  return Buffer.from(parts.join(''))
}

/** Resolves when a Redis at `host:port` answers PING with PONG; rejects otherwise (bounded by `timeoutMs`). */
export async function pingRedis(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<void> {
  const socket = await RawSocket.connect(port, host, timeoutMs)
  try {
    const reply = await socket.command(['PING'], timeoutMs)
    if (reply !== '+PONG\r\n') {
      throw new BackendUnavailableError(`redis://${host}:${port}`, `PING answered ${JSON.stringify(reply)}`)
    }
  } finally {
    socket.socket.destroy()
  }
}
