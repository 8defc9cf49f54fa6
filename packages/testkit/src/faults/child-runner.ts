import { type ChildProcess, fork } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { BackendUnavailableError, InvalidArgumentError, TimeoutError } from '@sync-engine/core'
import { requireNonNegative, requirePositive } from './checks.js'
import { type ExitInfo, eachLine, watchExit } from './process-util.js'
import { seededRandom } from './random.js'
import { closeAllProcesses, type OwnedProcess, release, track } from './registry.js'

export interface ChildProcessOptions {
  readonly args?: readonly string[]
  /** The child's environment; default the parent's. */
  readonly env?: NodeJS.ProcessEnv
  /** Node flags for the child; default none (the parent's `execArgv` is not inherited). */
  readonly execArgv?: readonly string[]
  readonly cwd?: string
  /** Overall bound: the child is SIGKILLed this long after start; default 30 000 ms. */
  readonly timeoutMs?: number
  /** IPC encoding; default `'advanced'` (structured clone: Buffers, Maps, BigInts pass). */
  readonly serialization?: 'json' | 'advanced'
}

/** How a child ended. */
export interface ChildExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  /** True when the overall timeout killed it. */
  readonly timedOut: boolean
  readonly lines: readonly string[]
  readonly stderr: string
}

/** The envelope of `request()` / `childChannel()`; plain `send()` messages carry none. */
interface Envelope {
  readonly $testkit: 'request' | 'response'
  readonly id: number
  readonly body?: unknown
  readonly error?: string
}

function isEnvelope(message: unknown, kind: Envelope['$testkit']): message is Envelope {
  return typeof message === 'object' && message !== null && (message as Envelope).$testkit === kind
}

interface Pending {
  readonly resolve: (body: unknown) => void
  readonly reject: (error: Error) => void
  readonly timer: NodeJS.Timeout
}

interface Watcher<T> {
  readonly match: (item: T) => boolean
  readonly resolve: (item: T) => void
}

const STDERR_KEEP = 64 * 1024

/**
 * A Node script run in a child process with IPC (`child_process.fork`), for crash tests: talk to it
 * (`send`, `request`), read its stdout lines, SIGKILL it at a chosen or seeded-random moment. Bounded
 * in time (`timeoutMs`), killed at process exit if still running; `ChildProcessRunner.closeAll()`
 * fits `afterAll`. The child answers requests with `childChannel(handler)`.
 */
export class ChildProcessRunner implements OwnedProcess {
  readonly kind = 'child'
  readonly script: string
  readonly pid: number
  readonly #child: ChildProcess
  readonly #lines: string[] = []
  readonly #messages: unknown[] = []
  readonly #lineWatchers = new Set<Watcher<string>>()
  readonly #messageWatchers = new Set<Watcher<unknown>>()
  readonly #pending = new Map<number, Pending>()
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #exit: Promise<ChildExit>
  #stderr = ''
  #nextId = 1
  #timedOut = false
  #exitInfo: ChildExit | undefined

  private constructor(script: string, child: ChildProcess, exit: Promise<ExitInfo>, timeoutMs: number) {
    this.script = script
    this.#child = child
    this.pid = child.pid!
    eachLine(child.stdout, (line) => {
      this.#lines.push(line)
      this.#notify(this.#lineWatchers, line)
    })
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (text: string) => {
      this.#stderr = (this.#stderr + text).slice(-STDERR_KEEP)
    })
    child.on('message', (message: unknown) => this.#receive(message))
    child.on('error', () => {}) // a send on a closed channel; reported through the callers
    this.#schedule(timeoutMs, () => {
      this.#timedOut = true
      this.kill('SIGKILL')
    })
    this.#exit = exit.then((info) => {
      for (const timer of this.#timers) clearTimeout(timer)
      this.#exitInfo = {
        code: info.code,
        signal: info.signal,
        timedOut: this.#timedOut,
        lines: this.#lines,
        stderr: this.#stderr,
      }
      const how = info.signal ?? `code ${info.code}`
      for (const [id, p] of this.#pending) {
        clearTimeout(p.timer)
        p.reject(new BackendUnavailableError(this.#name, `exited (${how}) before answering request ${id}`))
      }
      this.#pending.clear()
      release(this)
      return this.#exitInfo
    })
    track(this)
  }

  /** Forks `script` (a path or `file:` URL of an ESM/CJS Node script). */
  static async start(script: string | URL, options: ChildProcessOptions = {}): Promise<ChildProcessRunner> {
    const path = script instanceof URL || script.startsWith('file:') ? fileURLToPath(script) : script
    if (!existsSync(path)) throw new InvalidArgumentError('script', `no such script: ${path}`)
    const { timeoutMs = 30_000, serialization = 'advanced' } = options
    requirePositive('timeoutMs', timeoutMs)
    const child = fork(path, [...(options.args ?? [])], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      execArgv: [...(options.execArgv ?? [])],
      serialization,
      ...(options.env ? { env: options.env } : {}),
      ...(options.cwd ? { cwd: options.cwd } : {}),
    })
    const exit = watchExit(child)
    if (child.pid === undefined) {
      const info = await exit
      throw new BackendUnavailableError(
        `child ${path}`,
        `cannot start: ${info.spawnError?.message ?? 'no pid'}`,
      )
    }
    return new ChildProcessRunner(path, child, exit, timeoutMs)
  }

  /** Closes every `ChildProcessRunner` still running. */
  static closeAll(): Promise<void> {
    return closeAllProcesses('child')
  }

  /** Stdout lines so far (without newlines). */
  get lines(): readonly string[] {
    return this.#lines
  }

  /** Stderr so far (the last 64 KiB). */
  get stderr(): string {
    return this.#stderr
  }

  /** Messages the child sent with `process.send` (responses to requests excluded). */
  get messages(): readonly unknown[] {
    return this.#messages
  }

  /** True once the child has exited and its output is complete. */
  get exited(): boolean {
    return this.#exitInfo !== undefined
  }

  /** Sends a plain message; throws `BackendUnavailableError` when the channel is gone. */
  send(message: unknown): void {
    if (!this.#child.connected) throw new BackendUnavailableError(this.#name, 'IPC channel closed')
    this.#child.send(message as object)
  }

  /**
   * Sends `body` to the child's `childChannel` handler and resolves with its answer. Rejects with
   * `TimeoutError` after `timeoutMs`, with `BackendUnavailableError` if the child exits first, or with
   * an `Error` carrying the handler's message when the handler threw.
   */
  request<T = unknown>(body: unknown, timeoutMs = 5000): Promise<T> {
    requirePositive('timeoutMs', timeoutMs)
    const id = this.#nextId++
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(new TimeoutError(`request ${id} to ${this.#name}`, timeoutMs))
      }, timeoutMs).unref()
      this.#pending.set(id, { resolve: resolve as (body: unknown) => void, reject, timer })
      try {
        this.send({ $testkit: 'request', id, body } satisfies Envelope)
      } catch (e) {
        clearTimeout(timer)
        this.#pending.delete(id)
        reject(e)
      }
    })
  }

  /** Resolves with the first stdout line (past or future) matching; rejects with `TimeoutError`. */
  waitForLine(match: string | RegExp | ((line: string) => boolean), timeoutMs = 5000): Promise<string> {
    const test =
      typeof match === 'string'
        ? (l: string) => l === match
        : match instanceof RegExp
          ? (l: string) => match.test(l)
          : match
    return this.#waitFor(
      this.#lines,
      this.#lineWatchers,
      test,
      timeoutMs,
      `a stdout line matching ${String(match)}`,
    )
  }

  /** Resolves with the first message (past or future) matching; rejects with `TimeoutError`. */
  waitForMessage(match: (message: unknown) => boolean, timeoutMs = 5000): Promise<unknown> {
    return this.#waitFor(this.#messages, this.#messageWatchers, match, timeoutMs, 'a matching message')
  }

  /** SIGKILLs the child `ms` from now (if it still runs then). */
  killAt(ms: number): void {
    requireNonNegative('ms', ms)
    this.#schedule(ms, () => this.kill('SIGKILL'))
  }

  /**
   * SIGKILLs the child at a moment drawn from `seededRandom(seed)` in [minMs, maxMs); returns that
   * delay (print it with the seed to reproduce a failure).
   */
  killRandomly(seed: number, minMs: number, maxMs: number): number {
    requireNonNegative('minMs', minMs)
    const ms = seededRandom(seed).between(minMs, maxMs)
    this.killAt(ms)
    return ms
  }

  /** Sends `signal` (default SIGKILL) if the child still runs. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.#exitInfo === undefined && this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.kill(signal)
    }
  }

  /**
   * Resolves with how the child ended. If it has not ended within `timeoutMs` it is SIGKILLed and
   * the promise rejects with `TimeoutError` (a test never hangs on a stuck child).
   */
  async waitExit(timeoutMs = 10_000): Promise<ChildExit> {
    requirePositive('timeoutMs', timeoutMs)
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.kill('SIGKILL')
        reject(new TimeoutError(`exit of ${this.#name}`, timeoutMs))
      }, timeoutMs).unref()
    })
    try {
      return await Promise.race([this.#exit, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /** SIGKILLs the child if it still runs and resolves when it is gone. */
  async close(): Promise<void> {
    this.kill('SIGKILL')
    await this.#exit
  }

  killNow(): void {
    this.kill('SIGKILL')
  }

  get #name(): string {
    return `child ${this.script} (pid ${this.pid})`
  }

  #receive(message: unknown): void {
    if (isEnvelope(message, 'response')) {
      const pending = this.#pending.get(message.id)
      if (!pending) return // answered after its timeout
      this.#pending.delete(message.id)
      clearTimeout(pending.timer)
      if (message.error === undefined) pending.resolve(message.body)
      else pending.reject(new Error(`${this.#name} failed request ${message.id}: ${message.error}`))
      return
    }
    this.#messages.push(message)
    this.#notify(this.#messageWatchers, message)
  }

  #schedule(ms: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer)
      action()
    }, ms).unref()
    this.#timers.add(timer)
  }

  #notify<T>(watchers: Set<Watcher<T>>, item: T): void {
    for (const w of watchers) {
      if (w.match(item)) {
        watchers.delete(w)
        w.resolve(item)
      }
    }
  }

  #waitFor<T>(
    seen: readonly T[],
    watchers: Set<Watcher<T>>,
    match: (item: T) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<T> {
    requirePositive('timeoutMs', timeoutMs)
    const found = seen.find(match)
    if (found !== undefined) return Promise.resolve(found)
    return new Promise<T>((resolve, reject) => {
      const watcher: Watcher<T> = {
        match,
        resolve: (item) => {
          clearTimeout(timer)
          resolve(item)
        },
      }
      const timer = setTimeout(() => {
        watchers.delete(watcher)
        reject(new TimeoutError(`waiting for ${what} from ${this.#name}`, timeoutMs))
      }, timeoutMs).unref()
      watchers.add(watcher)
    })
  }
}

/** The child side of `ChildProcessRunner`: what `childChannel()` returns. */
export interface ChildChannel {
  /** Sends a plain message to the parent (it lands in `runner.messages`). */
  send(message: unknown): void
  /**
   * Stops taking requests and disconnects from the parent (so the child can exit on its own) once
   * the messages sent so far are written. A handler that calls `close()` still delivers its own
   * answer if it gives it in the same turn; requests still running later are dropped.
   */
  close(): void
}

/**
 * In a script run by `ChildProcessRunner`: answers the parent's `request()`s with `handler` (sync or
 * async; a throw becomes a rejected request in the parent). Plain `send()` messages are not passed
 * to it; read them with `process.on('message')`.
 */
export function childChannel(handler: (body: unknown) => unknown): ChildChannel {
  const send = process.send?.bind(process)
  if (send === undefined) {
    throw new InvalidArgumentError(
      'process',
      'childChannel() needs an IPC channel: start this script with ChildProcessRunner (child_process.fork)',
    )
  }
  // Disconnecting while a message is still being written loses it: count writes until their callback.
  let writing = 0
  let closing = false
  const disconnectWhenFlushed = (): void => {
    if (closing && writing === 0 && process.connected) process.disconnect()
  }
  const post = (message: unknown): void => {
    if (!process.connected) return // the parent is gone
    writing++
    send(message, undefined, undefined, () => {
      writing--
      disconnectWhenFlushed()
    })
  }
  const listener = (message: unknown): void => {
    if (!isEnvelope(message, 'request')) return
    const { id } = message
    Promise.resolve()
      .then(() => handler(message.body))
      .then(
        (body) => post({ $testkit: 'response', id, body } satisfies Envelope),
        (e: unknown) =>
          post({
            $testkit: 'response',
            id,
            error: e instanceof Error ? e.message : String(e),
          } satisfies Envelope),
      )
  }
  process.on('message', listener)
  return {
    send: post,
    close: () => {
      process.off('message', listener)
      // One macrotask lets a handler that called close() deliver its own answer.
      setImmediate(() => {
        closing = true
        disconnectWhenFlushed()
      })
    },
  }
}
