import { defineConfig } from 'tsup'
import { preset } from '../../tooling/tsup.preset'

// Two entries: the public face, and the script `EngineProcess` forks (`dist/engine-child.js`).
// `shims` gives the CommonJS build an `import.meta.url`, which finds that script beside it.
export default defineConfig(
  preset({
    entry: { index: 'src/index.ts', 'engine-child': 'src/engines/child.ts' },
    dts: { entry: { index: 'src/index.ts' } },
    shims: true,
  }),
)
