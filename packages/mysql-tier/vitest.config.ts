import { project } from '../../tooling/vitest.shared.ts'

export default project('mysql-tier')
