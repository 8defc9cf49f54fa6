import { describeMerkleNodeStore } from '@sync-engine/testkit'
import { MemoryMerkleNodeStore } from '../src/index.js'

describeMerkleNodeStore('MemoryMerkleNodeStore', () => new MemoryMerkleNodeStore())
