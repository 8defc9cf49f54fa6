import { rmSync } from 'node:fs'
import { merkleRootOf } from '@sync-engine/merkle'
import { describeL3Store, describeMerkleNodeStore } from '@sync-engine/testkit'
import type { SqliteL3Store } from '../src/index.js'
import { openStore, tempFiles } from './helpers.js'

const files = tempFiles('conformance')

const removeFile = async (store: SqliteL3Store) => {
  for (const suffix of ['', '-wal', '-shm']) rmSync(store.path + suffix, { force: true })
}

describeL3Store('sqlite', {
  create: () => openStore(files.file()),
  destroy: (store) => removeFile(store as SqliteL3Store),
  expectedRoot: (leaves) => merkleRootOf(leaves),
})

// The same contract with ids spread over partition tables: every query routes, scans merge.
describeL3Store('sqlite, partitioned', {
  create: async () => {
    const store = await openStore(files.file())
    for (const [prefix, table] of [
      ['p', 'part_p'],
      ['p%', 'part_p_percent'],
      ['s.', 'part_s'],
      ['a.', 'part_a'],
      ['mk.a', 'part_mk'],
      ['user.', 'part_user'],
      ['😀', 'part_emoji'],
    ] as const) {
      await store.registerPartition(prefix, table)
    }
    return store
  },
  destroy: (store) => removeFile(store as SqliteL3Store),
  expectedRoot: (leaves) => merkleRootOf(leaves),
})

// Without the tree: rows behave the same, and merkleRoot() is computed from them.
describeL3Store('sqlite, merkle: false', {
  create: () => openStore(files.file(), { merkle: false }),
  destroy: (store) => removeFile(store as SqliteL3Store),
  expectedRoot: (leaves) => merkleRootOf(leaves),
})

let nodeStores: SqliteL3Store[] = []
describeMerkleNodeStore(
  'sqlite merkle_nodes',
  async () => {
    const store = await openStore(files.file())
    nodeStores.push(store)
    return store.merkle
  },
  {
    teardown: async () => {
      for (const store of nodeStores) {
        await store.close()
        await removeFile(store)
      }
      nodeStores = []
    },
  },
)
