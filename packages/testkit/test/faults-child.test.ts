/**
 * ChildProcessRunner against real children. The child scripts are written to a temp dir as `.mjs`
 * files importing this package's built `dist/` (for `childChannel`); `beforeAll` runs tsup when
 * `dist/index.js` is missing or older than `src/`.
 */

import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { BackendUnavailableError, InvalidArgumentError, TimeoutError } from '@sync-engine/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ChildProcessRunner, ensureBuilt, makeTempDir, seededRandom, testSeed } from '../src/index.js'

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..')
const dist = join(packageDir, 'dist', 'index.js')
const temp = makeTempDir('testkit-child')
const seed = testSeed()

function script(name: string, body: string): string {
  const path = join(temp.path, name)
  writeFileSync(path, body)
  return path
}

let server = ''
let ticker = ''
let plain = ''

beforeAll(() => {
  ensureBuilt(packageDir)
  console.log(`child kill seed ${seed} (FC_SEED=${seed} reproduces)`)
  server = script(
    'server.mjs',
    `import { childChannel } from ${JSON.stringify(pathToFileURL(dist).href)}
const channel = childChannel(async (body) => {
  switch (body.op) {
    case 'add': return body.a + body.b
    case 'bytes': return Buffer.from(body.data).reverse()
    case 'print': for (const line of body.lines) console.log(line); return body.lines.length
    case 'fail': throw new Error('boom: ' + body.why)
    case 'hang': return new Promise(() => {})
    case 'bye': channel.close(); return 'bye'
  }
})
process.on('message', (m) => { if (m && m.echo !== undefined) channel.send({ echoed: m.echo }) })
console.log('ready')
`,
  )
  ticker = script(
    'ticker.mjs',
    `let n = 0
setInterval(() => console.log('tick ' + n++), 5)
`,
  )
  plain = script(
    'plain.mjs',
    `import { childChannel } from ${JSON.stringify(pathToFileURL(dist).href)}
try { childChannel(() => 1).close(); console.log('no error') } catch (e) { console.log(e.code + ' ' + e.argument) }
process.stdout.write('last line without newline')
`,
  )
})

afterAll(async () => {
  await ChildProcessRunner.closeAll()
  temp.remove()
})

describe('ChildProcessRunner', () => {
  it('answers requests by id, passes Buffers, reports handler errors, captures stdout lines', async () => {
    const child = await ChildProcessRunner.start(server)
    await child.waitForLine('ready')
    const answers = await Promise.all([
      child.request({ op: 'add', a: 2, b: 3 }),
      child.request({ op: 'add', a: 40, b: 2 }),
    ])
    expect(answers).toEqual([5, 42])
    const reversed = await child.request<Uint8Array>({ op: 'bytes', data: Buffer.from([1, 2, 3]) })
    expect([...reversed]).toEqual([3, 2, 1])
    await expect(child.request({ op: 'fail', why: 'on purpose' })).rejects.toThrow('boom: on purpose')
    expect(await child.request({ op: 'print', lines: ['one', 'two'] })).toBe(2)
    // stdout and IPC are separate pipes: the answer may arrive before the lines.
    await child.waitForLine('two')
    expect(child.lines).toEqual(['ready', 'one', 'two'])
    child.send({ echo: 7 })
    expect(await child.waitForMessage((m) => (m as { echoed?: number }).echoed === 7)).toEqual({ echoed: 7 })
    await expect(child.request({ op: 'hang' }, 100)).rejects.toBeInstanceOf(TimeoutError)
    // Closing its channel lets the child exit on its own.
    expect(await child.request({ op: 'bye' })).toBe('bye')
    const exit = await child.waitExit()
    expect(exit).toMatchObject({ code: 0, signal: null, timedOut: false })
    expect(() => child.send({ echo: 1 })).toThrow(BackendUnavailableError)
  })

  it('a child killed at a seeded random moment exits with SIGKILL, its output kept', async () => {
    const child = await ChildProcessRunner.start(ticker)
    await child.waitForLine('tick 0')
    const ms = child.killRandomly(seed, 20, 120)
    expect(ms).toBe(seededRandom(seed).between(20, 120))
    const exit = await child.waitExit()
    expect(exit.signal).toBe('SIGKILL')
    expect(exit.code).toBeNull()
    expect(exit.timedOut).toBe(false)
    expect(exit.lines.length).toBeGreaterThan(0)
    expect(exit.lines.every((line, i) => line === `tick ${i}`)).toBe(true)
    expect(child.exited).toBe(true)
  })

  it('requests pending when the child dies are rejected; the overall timeout kills a stuck child', async () => {
    const child = await ChildProcessRunner.start(server)
    await child.waitForLine('ready')
    const pending = child.request({ op: 'hang' }, 10_000)
    child.killAt(0)
    await expect(pending).rejects.toBeInstanceOf(BackendUnavailableError)
    expect((await child.waitExit()).signal).toBe('SIGKILL')

    const stuck = await ChildProcessRunner.start(ticker, { timeoutMs: 150 })
    const exit = await stuck.waitExit()
    expect(exit).toMatchObject({ signal: 'SIGKILL', timedOut: true })
  })

  it('waitExit gives up after its timeout and kills the child', async () => {
    const child = await ChildProcessRunner.start(ticker)
    await expect(child.waitExit(100)).rejects.toBeInstanceOf(TimeoutError)
    expect((await child.waitExit()).signal).toBe('SIGKILL')
  })

  it('childChannel without IPC, a missing script and bad arguments fail with InvalidArgumentError', async () => {
    const out = execFileSync(process.execPath, [plain], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    expect(out).toBe('INVALID_ARGUMENT process\nlast line without newline')
    const child = await ChildProcessRunner.start(pathToFileURL(plain))
    expect((await child.waitExit()).lines).toEqual(['no error', 'last line without newline'])

    await expect(ChildProcessRunner.start(join(temp.path, 'missing.mjs'))).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
    await expect(ChildProcessRunner.start(ticker, { timeoutMs: 0 })).rejects.toMatchObject({
      argument: 'timeoutMs',
    })
    const running = await ChildProcessRunner.start(ticker)
    expect(() => running.killAt(-1)).toThrow(InvalidArgumentError)
    expect(() => running.killRandomly(seed, 50, 10)).toThrow(InvalidArgumentError)
    await running.close()
    expect(running.exited).toBe(true)
  })
})
