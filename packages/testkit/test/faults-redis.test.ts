import { existsSync } from 'node:fs'
import { BackendUnavailableError, TimeoutError } from '@sync-engine/core'
import { afterAll, describe, expect, it } from 'vitest'
import { closeAllProcesses, pingRedis, RawSocket, RedisProcess, respCommand } from '../src/index.js'

afterAll(() => closeAllProcesses())

/** True when no process has this pid any more (`kill(pid, 0)` fails with ESRCH). */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return false
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH'
  }
}

describe('RedisProcess', () => {
  it('starts a private server that answers PING, freezes on SIGSTOP and answers again on SIGCONT', async () => {
    const redis = await RedisProcess.start()
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`)
    expect(redis.port).not.toBe(6379)
    expect(gone(redis.pid)).toBe(false)
    await pingRedis(redis.port)

    await redis.stop()
    await expect(pingRedis(redis.port, '127.0.0.1', 300)).rejects.toBeInstanceOf(TimeoutError)
    // A request sent while stopped is answered after SIGCONT.
    const socket = await RawSocket.connect(redis.port)
    socket.write(respCommand(['PING']))
    await expect(socket.readReply(200)).rejects.toBeInstanceOf(TimeoutError)
    await redis.cont()
    expect((await socket.readReply()).toString()).toBe('+PONG\r\n')
    await socket.destroy()
    await pingRedis(redis.port)
    await redis.close()
  })

  it('kill (SIGKILL) takes it down; restart brings up an empty server on the same port', async () => {
    const redis = await RedisProcess.start()
    const first = redis.pid
    const socket = await RawSocket.connect(redis.port)
    expect(await socket.command(['SET', 'k', 'v'])).toBe('+OK\r\n')
    await redis.kill()
    expect(redis.running).toBe(false)
    expect(gone(first)).toBe(true)
    await socket.closed
    await expect(pingRedis(redis.port)).rejects.toBeInstanceOf(BackendUnavailableError)

    await redis.restart()
    expect(redis.pid).not.toBe(first)
    const again = await RawSocket.connect(redis.port)
    expect(await again.command(['GET', 'k'])).toBe('$-1\r\n') // no persistence
    await again.destroy()
    // restart() of a running (even stopped) server works too.
    await redis.stop()
    await redis.restart()
    await pingRedis(redis.port)
    await redis.close()
  })

  it('close leaves no process and no directory behind; closeAll closes every server', async () => {
    const servers = await Promise.all([RedisProcess.start(), RedisProcess.start()])
    const [a, b] = servers
    const pids = servers.map((s) => s.pid)
    expect(a!.port).not.toBe(b!.port)
    await a!.stop() // a frozen server is still killed
    await a!.close()
    expect(gone(pids[0]!)).toBe(true)
    expect(existsSync(a!.dir)).toBe(false)
    await a!.close() // idempotent
    await RedisProcess.closeAll()
    expect(gone(pids[1]!)).toBe(true)
    expect(existsSync(b!.dir)).toBe(false)
  })

  it('a missing binary fails with a hint, leaving nothing behind', async () => {
    const error = await RedisProcess.start({ bin: '/nonexistent/redis-server' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BackendUnavailableError)
    expect((error as Error).message).toContain('REDIS_SERVER_BIN')
  })

  it('a server that exits at once (bad argument) fails with its output', async () => {
    const error = await RedisProcess.start({ extraArgs: ['--no-such-option', 'x'] }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BackendUnavailableError)
    expect((error as Error).message).toMatch(/exited .* before answering PING/)
  })

  it('rejects a bad port and timeout with InvalidArgumentError', async () => {
    await expect(RedisProcess.start({ port: 0 })).rejects.toMatchObject({ argument: 'port' })
    await expect(RedisProcess.start({ startTimeoutMs: -1 })).rejects.toMatchObject({
      argument: 'startTimeoutMs',
    })
  })
})
