import type { Options } from 'tsup'

/**
 * The one build every publishable package uses: ESM + CJS + .d.ts (+ .d.cts) with source maps,
 * from the package's single public face `src/index.ts`.
 */
export function preset(overrides: Options = {}): Options {
  return {
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'node',
    splitting: false,
    treeshake: true,
    outDir: 'dist',
    ...overrides,
  }
}
