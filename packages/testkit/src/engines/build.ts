import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { closeSync, existsSync, openSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TimeoutError } from '@sync-engine/core'

/** Newest modification time of any file under `dir` (0 when it is empty or absent). */
function newestUnder(dir: string): number {
  if (!existsSync(dir)) return 0
  return Math.max(
    0,
    ...readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => statSync(join(e.parentPath, e.name)).mtimeMs),
  )
}

function isStale(packageDir: string, entry: string): boolean {
  const built = join(packageDir, 'dist', entry)
  return !existsSync(built) || statSync(built).mtimeMs < newestUnder(join(packageDir, 'src'))
}

const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)

/**
 * Builds the package in `packageDir` (`npx --no-install tsup`) when `dist/<entry>` is missing or older than a file
 * under its `src/`: for tests that run a package's build in a child process (`EngineProcess`,
 * `ChildProcessRunner`). Test files running in parallel take turns through a lock file (in the temp dir),
 * so one build runs at a time and the others find it done. Synchronous; call it in `beforeAll`.
 */
export function ensureBuilt(packageDir: string, entry = 'index.js', timeoutMs = 300_000): void {
  if (!isStale(packageDir, entry)) return
  const lock = join(tmpdir(), `testkit-build-${createHash('sha1').update(packageDir).digest('hex')}.lock`)
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx'))
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      // A lock older than the whole bound belongs to a build that died: take it over.
      const since = statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()
      if (Date.now() - since > timeoutMs) rmSync(lock, { force: true })
      if (Date.now() > deadline) throw new TimeoutError(`waiting for the build lock ${lock}`, timeoutMs)
      pause(100)
    }
  }
  try {
    if (isStale(packageDir, entry)) {
      try {
        execFileSync('npx', ['--no-install', 'tsup'], { cwd: packageDir, stdio: 'pipe', timeout: timeoutMs })
      } catch (error) {
        const { stdout, stderr } = error as { stdout?: Buffer; stderr?: Buffer }
        const output = `${stdout?.toString() ?? ''}${stderr?.toString() ?? ''}`.trim().split('\n').slice(-20)
        throw new Error(`tsup failed in ${packageDir}: ${(error as Error).message}\n${output.join('\n')}`, {
          cause: error,
        })
      }
    }
  } finally {
    rmSync(lock, { force: true })
  }
}
