import { defineConfig } from 'tsup'
import { preset } from '../../tooling/tsup.preset'

export default defineConfig(preset())
