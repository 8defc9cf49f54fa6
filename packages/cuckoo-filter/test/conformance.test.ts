import { describeExistenceFilter } from '@sync-engine/testkit'
import { CuckooFilter } from '../src/index.js'

describeExistenceFilter(
  'CuckooFilter (16-bit, grows from 1000)',
  () => new CuckooFilter({ initialCapacity: 1000 }),
  {
    importer: (bytes) => CuckooFilter.import(bytes),
  },
)

describeExistenceFilter(
  'CuckooFilter (8-bit, grows ×4 from 64, maxLoad 0.99, 20 kicks)',
  () =>
    new CuckooFilter({
      fingerprintBits: 8,
      initialCapacity: 64,
      growthFactor: 4,
      maxLoad: 0.99,
      maxKicks: 20,
    }),
  { importer: (bytes) => CuckooFilter.import(bytes), maxFalsePositiveRate: 0.2 },
)

describeExistenceFilter(
  'CuckooFilter (12-bit, default capacity)',
  () => new CuckooFilter({ fingerprintBits: 12 }),
  {
    importer: (bytes) => CuckooFilter.import(bytes),
  },
)
