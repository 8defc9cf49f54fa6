import { defineConfig } from 'tsup'
import { preset } from '../../tooling/tsup.preset'

export default defineConfig(
  preset({ entry: ['src/main.ts'], format: ['esm'], dts: false, banner: { js: '#!/usr/bin/env node' } }),
)
