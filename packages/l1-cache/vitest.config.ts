import { project } from '../../tooling/vitest.shared'

export default project('l1-cache')
