import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BackendUnavailableError, TimeoutError } from '@sync-engine/core'
import { requirePort, requirePositive } from './checks.js'
import { type ExitInfo, eachLine, sleep, waitStopped, watchExit } from './process-util.js'
import { pingRedis } from './raw-socket.js'
import { closeAllProcesses, type OwnedProcess, release, track } from './registry.js'

export interface RedisProcessOptions {
  /** The binary; default `REDIS_SERVER_BIN`, else `redis-server` on PATH. */
  readonly bin?: string
  /** The port; default a free loopback port (retried if another process takes it first). */
  readonly port?: number
  /** How long to wait for the first PONG after a (re)start; default 5000 ms. */
  readonly startTimeoutMs?: number
  /** More `redis-server` arguments, appended (`['--maxmemory', '10mb']`). */
  readonly extraArgs?: readonly string[]
}

/** Last lines of a server's output kept for error messages. */
const OUTPUT_LINES = 20
const FREE_PORT_ATTEMPTS = 3
const PING_TIMEOUT_MS = 500
const SIGNAL_SETTLE_MS = 1000

/** A free TCP port on 127.0.0.1 (free when asked; bind it soon). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('freePort: not a TCP address')
  return address.port
}

/**
 * A private `redis-server` on 127.0.0.1 for failure tests: no persistence, its own temp dir, its own
 * port. Kill it (SIGKILL), freeze it (SIGSTOP/SIGCONT), restart it on the same port. Every instance
 * is killed at process exit if not closed before; `RedisProcess.closeAll()` fits `afterAll`.
 */
export class RedisProcess implements OwnedProcess {
  readonly kind = 'redis-server'
  readonly port: number
  /** `redis://127.0.0.1:<port>` */
  readonly url: string
  /** The server's working directory (removed by `close()`). */
  readonly dir: string
  readonly #bin: string
  readonly #args: readonly string[]
  readonly #startTimeoutMs: number
  readonly #output: string[] = []
  #child: ChildProcess | undefined
  #exit: Promise<ExitInfo> | undefined
  #exitInfo: ExitInfo | undefined
  #closing: Promise<void> | undefined

  private constructor(bin: string, port: number, startTimeoutMs: number, extraArgs: readonly string[]) {
    this.#bin = bin
    this.port = port
    this.url = `redis://127.0.0.1:${port}`
    this.#startTimeoutMs = startTimeoutMs
    this.dir = mkdtempSync(join(tmpdir(), 'testkit-redis-'))
    this.#args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      this.dir,
      '--daemonize',
      'no',
      ...extraArgs,
    ]
  }

  /** Starts a server and resolves once it answers PING (bounded by `startTimeoutMs`). */
  static async start(options: RedisProcessOptions = {}): Promise<RedisProcess> {
    const { port, startTimeoutMs = 5000, extraArgs = [] } = options
    const bin = options.bin ?? (process.env.REDIS_SERVER_BIN || 'redis-server')
    if (port !== undefined) requirePort('port', port)
    requirePositive('startTimeoutMs', startTimeoutMs)
    for (let attempt = 1; ; attempt++) {
      const redis = new RedisProcess(bin, port ?? (await freePort()), startTimeoutMs, extraArgs)
      track(redis)
      try {
        await redis.#launch()
        return redis
      } catch (e) {
        await redis.close()
        const portTaken = redis.#output.some((l) => l.includes('Address already in use'))
        if (port !== undefined || !portTaken || attempt >= FREE_PORT_ATTEMPTS) throw e
      }
    }
  }

  /** Closes every `RedisProcess` still open. */
  static closeAll(): Promise<void> {
    return closeAllProcesses('redis-server')
  }

  /** The pid of the current server process (a new one after `restart()`). */
  get pid(): number {
    const pid = this.#child?.pid
    if (pid === undefined) throw new BackendUnavailableError('redis-server', 'not started')
    return pid
  }

  /** True while the server process exists (stopped counts as running). */
  get running(): boolean {
    return this.#child !== undefined && this.#exitInfo === undefined
  }

  /** The last lines the server printed (for diagnostics). */
  get output(): readonly string[] {
    return this.#output
  }

  /** SIGKILL; resolves once the process has exited. */
  async kill(): Promise<void> {
    if (!this.running) return
    this.#child!.kill('SIGKILL')
    await this.#exit
  }

  /** SIGSTOP: the server keeps its port, accepts connections, answers nothing. */
  async stop(): Promise<void> {
    await this.#signal('SIGSTOP', true)
  }

  /** SIGCONT after `stop()`: it answers again, including what was sent while stopped. */
  async cont(): Promise<void> {
    await this.#signal('SIGCONT', false)
  }

  /** Kills the server (if running) and starts a fresh, empty one on the same port. */
  async restart(): Promise<void> {
    await this.kill()
    await this.#launch()
  }

  /** Kills the server and removes its directory; idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      try {
        await this.kill()
      } finally {
        rmSync(this.dir, { recursive: true, force: true })
        release(this)
      }
    })()
    return this.#closing
  }

  killNow(): void {
    if (this.running) this.#child!.kill('SIGKILL')
    rmSync(this.dir, { recursive: true, force: true })
  }

  async #signal(signal: 'SIGSTOP' | 'SIGCONT', stopped: boolean): Promise<void> {
    if (!this.running) throw new BackendUnavailableError('redis-server', `cannot send ${signal}: not running`)
    process.kill(this.pid, signal)
    if (!(await waitStopped(this.pid, stopped, SIGNAL_SETTLE_MS))) {
      throw new TimeoutError(`redis-server ${signal}`, SIGNAL_SETTLE_MS)
    }
  }

  #exited(): ExitInfo | undefined {
    return this.#exitInfo
  }

  async #launch(): Promise<void> {
    if (this.#closing) throw new BackendUnavailableError('redis-server', 'closed')
    this.#exitInfo = undefined
    const child = spawn(this.#bin, this.#args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] })
    this.#child = child
    const keep = (line: string): void => {
      this.#output.push(line)
      if (this.#output.length > OUTPUT_LINES) this.#output.shift()
    }
    eachLine(child.stdout, keep)
    eachLine(child.stderr, keep)
    this.#exit = watchExit(child).then((info) => {
      this.#exitInfo = info
      return info
    })
    const deadline = Date.now() + this.#startTimeoutMs
    for (;;) {
      const exit = this.#exited()
      if (exit) {
        const why = exit.spawnError
          ? `cannot run '${this.#bin}' (${exit.spawnError.message}); set REDIS_SERVER_BIN or put redis-server on PATH`
          : `exited (${exit.signal ?? `code ${exit.code}`}) before answering PING`
        throw new BackendUnavailableError('redis-server', `${why}; output: ${this.#output.join(' | ')}`)
      }
      try {
        await pingRedis(this.port, '127.0.0.1', PING_TIMEOUT_MS)
        return
      } catch {
        if (Date.now() >= deadline) {
          await this.kill()
          throw new TimeoutError(`redis-server start on port ${this.port}`, this.#startTimeoutMs)
        }
        await sleep(20)
      }
    }
  }
}
