import { defineProject, type UserWorkspaceConfig } from 'vitest/config'

/**
 * Shared vitest project settings. Every package's `vitest.config.ts` calls this with its name, so the
 * root `vitest --project <name>` and each package's own `vitest run` behave the same.
 */
export function project(name: string, overrides: UserWorkspaceConfig['test'] = {}) {
  return defineProject({
    test: {
      name,
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      environment: 'node',
      testTimeout: 30_000,
      hookTimeout: 60_000,
      // Service tests (Redis, MariaDB) share one server each; files use their own prefixes/tables.
      pool: 'forks',
      ...overrides,
    },
  })
}
