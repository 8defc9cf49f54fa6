import { project } from '../../tooling/vitest.shared.ts'

export default project('demo', { testTimeout: 120_000 })
