import { describeL2Store, describeL3Store } from '../src/index.js'
import { ReferenceL2Store, ReferenceL3Store } from './reference-stores.js'

// The frames must pass against stores that follow the contract literally.
describeL3Store('reference in-memory store', { create: async () => new ReferenceL3Store() })
describeL2Store('reference in-memory store', { create: async () => new ReferenceL2Store() })
