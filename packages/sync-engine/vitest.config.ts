import { project } from '../../tooling/vitest.shared.ts'

export default project('sync-engine')
