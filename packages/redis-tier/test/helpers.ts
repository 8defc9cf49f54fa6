import { spawn } from 'node:child_process'
import {
  describeL2Store,
  describeMerkleNodeStore,
  RedisProcess,
  requireRedis,
  serviceUrls,
  uniquePrefix,
} from '@sync-engine/testkit'
import { Cluster, Redis } from 'ioredis'
import {
  type RedisClient,
  RedisL2Store,
  type RedisL2StoreOptions,
  type RedisMerkleNodeStore,
} from '../src/index.js'

export const redisUrl = serviceUrls().redisUrl

/** A connected store under a fresh unique prefix. */
export async function openStore(label: string, options: RedisL2StoreOptions = {}): Promise<RedisL2Store> {
  const store = new RedisL2Store({ url: redisUrl, prefix: uniquePrefix(label), ...options })
  await store.connect()
  return store
}

/** Deletes every key under `prefix` (SCAN + UNLINK on every master). */
export async function deletePrefix(client: RedisClient, prefix: string): Promise<void> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client]
  // SCAN MATCH is a glob: escape its special characters.
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`
  for (const node of nodes) {
    let cursor = '0'
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
      cursor = next
      // One UNLINK per key: on a cluster the keys of one node still sit in many slots.
      if (keys.length > 0) await Promise.all(keys.map((key) => node.unlink(key)))
    } while (cursor !== '0')
  }
}

/** A plain client for inspecting and tampering with what the store wrote. */
export async function rawClient(url = redisUrl): Promise<Redis> {
  await requireRedis(url)
  return new Redis(url)
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Polls `check` every 50 ms until it is true, failing after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      if (await check()) return
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

/** A 3-master Redis Cluster on free loopback ports in a temp dir; `stop()` kills it and removes the dir. */
export class LocalCluster {
  readonly nodes: RedisProcess[] = []

  get url(): string {
    return this.nodes[0]!.url
  }

  async start(): Promise<void> {
    const started = await Promise.all(
      [0, 1, 2].map(() =>
        RedisProcess.start({
          extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'],
        }),
      ),
    )
    this.nodes.push(...started)
    await run('redis-cli', [
      '--cluster',
      'create',
      ...this.nodes.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ])
    const probes = this.nodes.map((n) => new Redis(n.url))
    try {
      await waitFor('cluster_state:ok on every node', async () => {
        const infos = await Promise.all(probes.map((p) => p.cluster('INFO')))
        return infos.every((info) => String(info).includes('cluster_state:ok'))
      })
    } finally {
      for (const p of probes) p.disconnect()
    }
  }

  /** A connected ioredis Cluster client on this cluster. */
  async client(): Promise<Cluster> {
    const cluster = new Cluster([{ host: '127.0.0.1', port: this.nodes[0]!.port }], { lazyConnect: true })
    await cluster.connect()
    return cluster
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.close()))
  }
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d) => {
      stderr += d
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    child.once('exit', (code) => {
      clearTimeout(timer)
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr}`))
    })
  })
}

/**
 * Registers testkit's L2 and Merkle node store conformance suites for stores `open` makes (`label` names
 * the kind of store); `admin()` is the client that sweeps each store's keys afterwards.
 */
export function describeConformance(
  name: string,
  open: (label: string) => Promise<RedisL2Store>,
  admin: () => RedisClient,
): void {
  describeL2Store(name, {
    create: () => open('l2'),
    destroy: (store) => deletePrefix(admin(), (store as RedisL2Store).keys.prefix),
  })
  const mirrors = new Map<RedisMerkleNodeStore, RedisL2Store>()
  describeMerkleNodeStore(
    `${name} mirror`,
    async () => {
      const store = await open('merkle')
      mirrors.set(store.merkle, store)
      return store.merkle
    },
    {
      teardown: async (mirror) => {
        const store = mirrors.get(mirror as RedisMerkleNodeStore)!
        mirrors.delete(mirror as RedisMerkleNodeStore)
        await store.close()
        await deletePrefix(admin(), store.keys.prefix)
      },
    },
  )
}
