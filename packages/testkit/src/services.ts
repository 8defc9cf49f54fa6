import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** The machine's defaults; `REDIS_URL` / `MYSQL_URL` override them. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379'
export const DEFAULT_MYSQL_URL = 'mysql://root@127.0.0.1:3306/test'

export interface ServiceUrls {
  readonly redisUrl: string
  readonly mysqlUrl: string
}

/** Service URLs for tests: from the environment, else the machine's defaults. */
export function serviceUrls(env: NodeJS.ProcessEnv = process.env): ServiceUrls {
  return {
    redisUrl: env.REDIS_URL || DEFAULT_REDIS_URL,
    mysqlUrl: env.MYSQL_URL || DEFAULT_MYSQL_URL,
  }
}

/** A random suffix safe in Redis keys and SQL identifiers: `[a-z0-9]`. */
export function randomSuffix(length = 8): string {
  return randomBytes(length).toString('hex').slice(0, length)
}

/**
 * A name unique to this test run and process, usable as a SQL table or database name
 * (`[a-z0-9_]`, at most 64 characters): `{label}_{pid}_{random}`.
 */
export function uniqueName(label: string): string {
  const clean = label
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 40)
  return `${clean}_${process.pid}_${randomSuffix(6)}`
}

/** A Redis key prefix unique to this run: `test:{label}:{pid}:{random}:`. */
export function uniquePrefix(label: string): string {
  return `test:${label}:${process.pid}:${randomSuffix(6)}:`
}

/** A fresh temporary folder and a function that removes it. */
export function makeTempDir(label = 'sync-engine'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `${label}-`))
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}

/**
 * A stack of clean-up steps run last-in first-out; every step runs even when one throws, and the
 * first error is rethrown at the end. Typical use: `const cleanup = new Cleanup(); afterAll(() => cleanup.run())`.
 */
export class Cleanup {
  readonly #steps: (() => unknown)[] = []
  add(step: () => unknown): void {
    this.#steps.push(step)
  }
  async run(): Promise<void> {
    let first: unknown
    while (this.#steps.length) {
      const step = this.#steps.pop()!
      try {
        await step()
      } catch (e) {
        first ??= e
      }
    }
    if (first !== undefined) throw first
  }
}

const START_HINT =
  'Start it with `bash tooling/scripts/services.sh` (installs and starts Redis and MariaDB on 127.0.0.1), ' +
  'or point REDIS_URL / MYSQL_URL at a running server.'

/** A service a test needs did not answer. Tests fail with it; they are never skipped. */
export class ServiceUnavailableError extends Error {
  constructor(service: string, url: string, reason: string) {
    super(`${service} does not answer at ${url} (${reason}). ${START_HINT}`)
    this.name = 'ServiceUnavailableError'
  }
}

function hostPort(url: string, defaultPort: number): { host: string; port: number } {
  const parsed = new URL(url)
  return { host: parsed.hostname || '127.0.0.1', port: parsed.port ? Number(parsed.port) : defaultPort }
}

/** Opens a TCP connection, optionally writes `hello`, and resolves with the first bytes received. */
function probe(host: string, port: number, hello: string | undefined, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer within ${timeoutMs} ms`))
    }, timeoutMs)
    socket.once('connect', () => {
      if (hello !== undefined) socket.write(hello)
    })
    socket.once('data', (data) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(data)
    })
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      socket.destroy()
      reject(new Error(err.code ?? err.message))
    })
  })
}

/** Resolves when Redis answers PING at `url`; throws `ServiceUnavailableError` with a start hint otherwise. */
export async function requireRedis(url = serviceUrls().redisUrl, timeoutMs = 3000): Promise<void> {
  const { host, port } = hostPort(url, 6379)
  let reply: string
  try {
    reply = (await probe(host, port, '*1\r\n$4\r\nPING\r\n', timeoutMs)).toString('latin1')
  } catch (e) {
    throw new ServiceUnavailableError('Redis', url, (e as Error).message)
  }
  // `-NOAUTH` still proves a Redis is there; the test's own client brings the credentials.
  if (!reply.startsWith('+PONG') && !reply.startsWith('-NOAUTH')) {
    throw new ServiceUnavailableError('Redis', url, `unexpected reply ${JSON.stringify(reply.slice(0, 40))}`)
  }
}

/** Resolves when a MySQL/MariaDB server greets at `url`; throws `ServiceUnavailableError` otherwise. */
export async function requireMysql(url = serviceUrls().mysqlUrl, timeoutMs = 3000): Promise<void> {
  const { host, port } = hostPort(url, 3306)
  let greeting: Buffer
  try {
    greeting = await probe(host, port, undefined, timeoutMs)
  } catch (e) {
    throw new ServiceUnavailableError('MySQL/MariaDB', url, (e as Error).message)
  }
  // Packet header (3-byte length, 1-byte sequence), then protocol version 10 (or 0xff: an error packet).
  const protocol = greeting[4]
  if (protocol === 0xff) {
    throw new ServiceUnavailableError('MySQL/MariaDB', url, greeting.subarray(7).toString('utf8'))
  }
  if (protocol !== 10) {
    throw new ServiceUnavailableError(
      'MySQL/MariaDB',
      url,
      `not a MySQL handshake (protocol byte ${protocol})`,
    )
  }
}

/** Seed for randomized tests: `FC_SEED` when set (to reproduce a failure), else a fixed default. */
export function testSeed(fallback = 20261126, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.FC_SEED
  if (raw === undefined || raw === '') return fallback
  const seed = Number(raw)
  if (!Number.isSafeInteger(seed)) throw new Error(`FC_SEED must be an integer, got '${raw}'`)
  return seed
}
