import { connect, createServer, type Server, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { BackendUnavailableError, InvalidArgumentError } from '@sync-engine/core'
import { testSeed } from '../services.js'
import { requireNonNegative, requirePort } from './checks.js'
import { type SeededRandom, seededRandom } from './random.js'

/** What a `FaultProxy` does to traffic; see the methods of the same names. */
export type FaultMode =
  | { readonly kind: 'pass' }
  | { readonly kind: 'latency'; readonly ms: number; readonly jitterMs: number }
  | { readonly kind: 'stall' }
  | { readonly kind: 'reset' }
  | { readonly kind: 'closeAfter'; readonly bytes: number }
  | { readonly kind: 'cut' }

export interface FaultProxyOptions {
  /** The real server (Redis, MariaDB, …). */
  readonly target: { readonly host: string; readonly port: number }
  /** Port to listen on; 0 (default) picks a free one. */
  readonly listenPort?: number
  /** Interface to listen on; default `127.0.0.1`. */
  readonly listenHost?: string
  /** Seed of the latency jitter; default `testSeed()` (`FC_SEED` when set). */
  readonly seed?: number
}

export interface FaultProxyStats {
  readonly mode: FaultMode
  readonly connectionsOpen: number
  /** Connections accepted since start, refused ones included. */
  readonly connectionsTotal: number
  /** Connections closed on arrival by `reset()` or `cut()`. */
  readonly connectionsRefused: number
  /** Bytes forwarded client → server. */
  readonly bytesToServer: number
  /** Bytes forwarded server → client. */
  readonly bytesToClient: number
}

/** What a connection needs from its proxy. */
interface LinkHost {
  readonly mode: FaultMode
  /** `performance.now()` when the mode was set. */
  readonly modeSince: number
  delayMs(ms: number, jitterMs: number): number
  forwarded(toClient: boolean, bytes: number): void
}

interface Chunk {
  readonly data: Buffer
  readonly at: number
  /** When a latency mode releases it; computed once per mode. */
  due: number | undefined
}

/** One direction of one connection: chunks read from `source`, waiting to be written to `dest`. */
class Flow {
  readonly queue: Chunk[] = []
  sourceEnded = false
  waitingDrain = false
  timer: NodeJS.Timeout | undefined
  constructor(
    readonly source: Socket,
    readonly dest: Socket,
    readonly toClient: boolean,
  ) {}
}

const noop = (): void => {}

/** Closes `socket` with a TCP RST (`resetAndDestroy`), or plainly when it is not connected yet. */
function resetSocket(socket: Socket): void {
  if (socket.destroyed) return
  if (socket.connecting) {
    socket.destroy()
    return
  }
  try {
    socket.resetAndDestroy()
  } catch {
    socket.destroy()
  }
}

/** How long a socket closed gracefully by `closeAfter` may stay half-open before it is destroyed. */
const HALF_OPEN_GRACE_MS = 1000

/** A proxied connection: the client's socket, the upstream socket and the two flows between them. */
class Link {
  readonly up: Flow
  readonly down: Flow
  /** Resolves when both sockets are closed. */
  readonly closed: Promise<void>
  readonly #host: LinkHost
  /** Bytes forwarded to the client since the current `closeAfter` began. */
  #sentToClient = 0
  #finished = false

  constructor(
    readonly client: Socket,
    readonly server: Socket,
    host: LinkHost,
  ) {
    this.#host = host
    this.up = new Flow(client, server, false)
    this.down = new Flow(server, client, true)
    this.closed = Promise.all([client, server].map((s) => new Promise((r) => s.once('close', r)))).then(noop)
    this.#wire(this.up)
    this.#wire(this.down)
  }

  /** Applies the proxy's (new) mode to this connection. */
  apply(mode: FaultMode): void {
    if (mode.kind === 'reset' || mode.kind === 'cut') {
      this.abort(mode.kind === 'reset')
      return
    }
    if (mode.kind === 'closeAfter') {
      this.#sentToClient = 0
      if (mode.bytes === 0) {
        this.#finish()
        return
      }
    }
    for (const flow of [this.up, this.down]) {
      for (const chunk of flow.queue) chunk.due = undefined
      this.#pump(flow)
    }
  }

  /** Ends both sockets at once: with RST when `reset`, else a plain destroy. */
  abort(reset: boolean): void {
    this.#stop()
    for (const socket of [this.client, this.server]) reset ? resetSocket(socket) : socket.destroy()
  }

  #wire(flow: Flow): void {
    const { source } = flow
    source.on('data', (data: Buffer) => {
      if (this.#finished) return
      flow.queue.push({ data, at: performance.now(), due: undefined })
      this.#pump(flow)
    })
    source.on('end', () => {
      flow.sourceEnded = true
      this.#pump(flow)
    })
    source.on('error', noop) // reported through 'close' (hadError)
    source.on('close', (hadError: boolean) => {
      flow.sourceEnded = true
      // A socket that died of an error (reset by its peer, connect refused) takes the other one down
      // the same way; a clean close only ends the other side once the data held for it is written.
      if (hadError) this.abort(true)
      else this.#pump(flow)
    })
  }

  /** Writes what the mode lets through, in order; ends `dest` once the source ended and all is written. */
  #pump(flow: Flow): void {
    clearTimeout(flow.timer)
    flow.timer = undefined
    const { dest } = flow
    if (this.#finished || dest.destroyed || dest.writableEnded) {
      flow.queue.length = 0
      return
    }
    const mode = this.#host.mode
    if (mode.kind === 'stall') return // holds the end (FIN) too
    while (flow.queue.length > 0) {
      if (flow.waitingDrain) return
      const head = flow.queue[0]!
      if (mode.kind === 'latency') {
        head.due ??= Math.max(head.at, this.#host.modeSince) + this.#host.delayMs(mode.ms, mode.jitterMs)
        const wait = head.due - performance.now()
        if (wait > 0) {
          flow.timer = setTimeout(() => this.#pump(flow), Math.ceil(wait)).unref()
          return
        }
      }
      flow.queue.shift()
      let data = head.data
      let last = false
      if (mode.kind === 'closeAfter' && flow.toClient) {
        const room = mode.bytes - this.#sentToClient
        if (data.length >= room) {
          data = data.subarray(0, room)
          last = true
        }
        this.#sentToClient += data.length
      }
      this.#write(flow, data)
      if (last) {
        this.#finish()
        return
      }
    }
    if (flow.sourceEnded && !dest.destroyed && !dest.writableEnded) dest.end()
  }

  #write(flow: Flow, data: Buffer): void {
    if (data.length === 0) return
    this.#host.forwarded(flow.toClient, data.length)
    if (flow.dest.write(data)) return
    // Backpressure: stop reading the source until the destination drains.
    flow.waitingDrain = true
    flow.source.pause()
    flow.dest.once('drain', () => {
      flow.waitingDrain = false
      flow.source.resume()
      this.#pump(flow)
    })
  }

  /** `closeAfter` reached: FIN to the client after what was written, drop the upstream connection. */
  #finish(): void {
    this.#stop()
    this.client.end()
    this.server.destroy()
    setTimeout(() => this.client.destroy(), HALF_OPEN_GRACE_MS).unref()
  }

  #stop(): void {
    this.#finished = true
    for (const flow of [this.up, this.down]) {
      clearTimeout(flow.timer)
      flow.queue.length = 0
    }
  }
}

const PASS: FaultMode = { kind: 'pass' }

/**
 * A TCP proxy between a client and a real server that injects faults on command: latency, stall
 * (blackhole), reset (RST), close-after-bytes and cut. A mode applies at once to existing and new
 * connections. Every timer is unref'd; `close()` resolves when every socket is gone.
 *
 * ```ts
 * const proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: 6379 } })
 * const url = proxy.url('redis')   // redis://127.0.0.1:<proxy.port>
 * proxy.stall()                    // requests hang
 * proxy.heal()                     // held bytes flow again
 * await proxy.close()
 * ```
 */
export class FaultProxy {
  /** The port the proxy listens on. */
  readonly port: number
  readonly host: string
  readonly target: { readonly host: string; readonly port: number }
  readonly #server: Server
  readonly #links = new Set<Link>()
  readonly #random: SeededRandom
  #mode: FaultMode = PASS
  #modeSince = performance.now()
  #total = 0
  #refused = 0
  #bytesToServer = 0
  #bytesToClient = 0
  #closing: Promise<void> | undefined
  readonly #linkHost: LinkHost

  private constructor(server: Server, host: string, port: number, options: FaultProxyOptions) {
    this.#server = server
    this.host = host
    this.port = port
    this.target = { host: options.target.host, port: options.target.port }
    this.#random = seededRandom(options.seed ?? testSeed())
    const self = this
    this.#linkHost = {
      get mode() {
        return self.#mode
      },
      get modeSince() {
        return self.#modeSince
      },
      delayMs: (ms, jitterMs) => ms + this.#random() * jitterMs,
      forwarded: (toClient, bytes) => {
        if (toClient) this.#bytesToClient += bytes
        else this.#bytesToServer += bytes
      },
    }
    server.on('connection', (socket: Socket) => this.#accept(socket))
  }

  /** Starts listening; resolves once the port is bound. */
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const { target, listenPort = 0, listenHost = '127.0.0.1' } = options
    if (typeof target?.host !== 'string' || target.host === '') {
      throw new InvalidArgumentError('target.host', 'target.host must be a non-empty host name')
    }
    requirePort('target.port', target.port)
    requirePort('listenPort', listenPort, true)
    if (options.seed !== undefined) seededRandom(options.seed) // validates
    const server = createServer({ allowHalfOpen: true })
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new BackendUnavailableError(
            'FaultProxy',
            `cannot listen on ${listenHost}:${listenPort} (${err.code})`,
            {
              cause: err,
            },
          ),
        ),
      )
      server.listen(listenPort, listenHost, resolve)
    })
    server.on('error', noop)
    const address = server.address()
    if (address === null || typeof address === 'string') {
      server.close()
      throw new BackendUnavailableError('FaultProxy', `${listenHost} is not a TCP address`)
    }
    return new FaultProxy(server, listenHost, address.port, options)
  }

  /**
   * The proxy's address as a URL. Given a scheme (`'redis'`) it returns `redis://host:port`; given a
   * whole URL (`'mysql://root@127.0.0.1:3306/test'`) it returns that URL with host and port replaced.
   */
  url(schemeOrUrl: string): string {
    if (schemeOrUrl.includes('://')) {
      const url = new URL(schemeOrUrl)
      url.hostname = this.host
      url.port = String(this.port)
      return url.toString()
    }
    if (!/^[a-z][a-z0-9+.-]*$/i.test(schemeOrUrl)) {
      throw new InvalidArgumentError('scheme', `not a URL scheme: ${JSON.stringify(schemeOrUrl)}`)
    }
    return `${schemeOrUrl}://${this.host}:${this.port}`
  }

  /** The current mode. */
  get mode(): FaultMode {
    return this.#mode
  }

  /** Forwards everything as it comes; bytes held by an earlier mode are released in order. */
  pass(): void {
    this.#set(PASS)
  }

  /** Back to `pass()`. */
  heal(): void {
    this.pass()
  }

  /**
   * Delays every chunk, each way, by `ms` plus a seeded random `[0, jitterMs)`; order is kept per
   * direction (a chunk never overtakes the one before it), so `ms` is a lower bound.
   */
  latency(ms: number, jitterMs = 0): void {
    requireNonNegative('ms', ms)
    requireNonNegative('jitterMs', jitterMs)
    this.#set({ kind: 'latency', ms, jitterMs })
  }

  /** Blackhole: connections are accepted and read, but nothing is forwarded either way until the mode changes. */
  stall(): void {
    this.#set({ kind: 'stall' })
  }

  /** Same as `stall()`. */
  blackhole(): void {
    this.stall()
  }

  /** Resets (TCP RST) every connection, and every new one on arrival. */
  reset(): void {
    this.#set({ kind: 'reset' })
  }

  /** Closes (FIN) each connection once `bytes` more have been forwarded to its client. */
  closeAfter(bytes: number): void {
    requireNonNegative('bytes', bytes, true)
    this.#set({ kind: 'closeAfter', bytes })
  }

  /** Stops serving: existing connections are destroyed, new ones are closed as soon as accepted. */
  cut(): void {
    this.#set({ kind: 'cut' })
  }

  stats(): FaultProxyStats {
    return {
      mode: this.#mode,
      connectionsOpen: this.#links.size,
      connectionsTotal: this.#total,
      connectionsRefused: this.#refused,
      bytesToServer: this.#bytesToServer,
      bytesToClient: this.#bytesToClient,
    }
  }

  /** Stops listening and destroys every connection; resolves when all sockets are closed. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const listenerClosed = new Promise<void>((resolve) => this.#server.close(() => resolve()))
      const links = [...this.#links]
      for (const link of links) link.abort(false)
      await Promise.all([listenerClosed, ...links.map((l) => l.closed)])
    })()
    return this.#closing
  }

  #set(mode: FaultMode): void {
    if (this.#closing) return
    this.#mode = mode
    this.#modeSince = performance.now()
    for (const link of [...this.#links]) link.apply(mode)
  }

  #accept(client: Socket): void {
    this.#total++
    client.on('error', noop)
    const mode = this.#mode
    if (this.#closing || mode.kind === 'reset' || mode.kind === 'cut') {
      this.#refused++
      if (mode.kind === 'reset') resetSocket(client)
      else client.destroy()
      return
    }
    client.setNoDelay(true)
    const server = connect({
      host: this.target.host,
      port: this.target.port,
      allowHalfOpen: true,
      noDelay: true,
    })
    const link = new Link(client, server, this.#linkHost)
    this.#links.add(link)
    void link.closed.then(() => this.#links.delete(link))
    link.apply(mode)
  }
}
