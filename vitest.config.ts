import { defineConfig } from 'vitest/config'

// One vitest run over every package (`pnpm vitest`); each package also runs alone via turbo.
export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*'],
  },
})
