import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import type { Readable } from 'node:stream'

export interface ExitInfo {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  /** Set when the process could not be started at all (ENOENT, EACCES, …). */
  readonly spawnError?: Error
}

/**
 * Resolves once `child` has exited (or failed to start) and its stdio streams have closed; if the
 * streams stay open (a grandchild holds them) it resolves `STDIO_GRACE_MS` after the exit anyway.
 */
export function watchExit(child: ChildProcess): Promise<ExitInfo> {
  return new Promise((resolve) => {
    child.once('error', (err) => {
      if (child.pid === undefined) resolve({ code: null, signal: null, spawnError: err })
    })
    child.once('exit', (code, signal) => {
      const info = { code, signal }
      child.once('close', () => resolve(info))
      setTimeout(() => resolve(info), STDIO_GRACE_MS).unref()
    })
  })
}

const STDIO_GRACE_MS = 1000

/** Calls `onLine` for every line of `stream` (UTF-8, without the newline); a last unterminated line too. */
export function eachLine(stream: Readable | null, onLine: (line: string) => void): void {
  if (!stream) return
  let partial = ''
  stream.setEncoding('utf8')
  stream.on('data', (text: string) => {
    const parts = (partial + text).split('\n')
    partial = parts.pop()!
    for (const line of parts) onLine(line.endsWith('\r') ? line.slice(0, -1) : line)
  })
  stream.on('end', () => {
    if (partial !== '') onLine(partial)
    partial = ''
  })
}

/** Resolves after `ms` without keeping the process alive. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}

/**
 * Whether `pid` is stopped (SIGSTOP), from `/proc/<pid>/stat`; `undefined` where `/proc` is not
 * available (not Linux) or the process is gone.
 */
export function isStopped(pid: number): boolean | undefined {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
  } catch {
    return undefined
  }
  // "pid (comm) S …": the state follows the last ')' (comm may itself contain parentheses).
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
  return state === 'T' || state === 't'
}

/** Waits (bounded by `timeoutMs`) until `isStopped(pid)` is `stopped`; returns at once without `/proc`. */
export async function waitStopped(pid: number, stopped: boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const now = isStopped(pid)
    if (now === undefined || now === stopped) return true
    if (Date.now() >= deadline) return false
    await sleep(2)
  }
}
