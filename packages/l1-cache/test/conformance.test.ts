import { describeL1Cache } from '@sync-engine/testkit'
import { L1MemoryCache } from '../src/index.js'

describeL1Cache('L1MemoryCache', ({ maxBytes }) => new L1MemoryCache({ maxBytes }))
