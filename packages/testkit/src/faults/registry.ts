/** A process a fault tool started and must not leave behind. */
export interface OwnedProcess {
  readonly kind: 'redis-server' | 'child'
  /** Kills it and releases what it holds; resolves when it is gone. */
  close(): Promise<void>
  /** Synchronous last resort at process exit: SIGKILL, remove temp files. */
  killNow(): void
}

const owned = new Set<OwnedProcess>()
let hooked = false

/** Tracks `p` until `release(p)`; on process exit, every tracked process is killed. */
export function track(p: OwnedProcess): void {
  if (!hooked) {
    hooked = true
    process.once('exit', () => {
      for (const o of owned) o.killNow()
    })
  }
  owned.add(p)
}

export function release(p: OwnedProcess): void {
  owned.delete(p)
}

/**
 * Closes every process the fault tools started and still own (Redis servers and child runners),
 * or only those of one kind. Meant for `afterAll(closeAllProcesses)`.
 */
export async function closeAllProcesses(kind?: OwnedProcess['kind']): Promise<void> {
  const chosen = [...owned].filter((o) => kind === undefined || o.kind === kind)
  const results = await Promise.allSettled(chosen.map((o) => o.close()))
  const failed = results.find((r) => r.status === 'rejected')
  if (failed) throw failed.reason
}
