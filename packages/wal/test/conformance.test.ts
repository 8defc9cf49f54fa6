import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describeWriteAheadLog } from '@sync-engine/testkit'
import { SqliteWal } from '../src/index.js'

const dir = mkdtempSync(join(tmpdir(), 'wal-conformance-'))
let files = 0

describeWriteAheadLog(
  'SqliteWal',
  (limits) => new SqliteWal({ path: join(dir, `log-${files++}.db`), ...limits }),
  { cleanup: () => rmSync(dir, { recursive: true, force: true }) },
)
