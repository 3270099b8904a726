import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['@ssl/source'] },
  ssr: { resolve: { conditions: ['@ssl/source'], externalConditions: ['@ssl/source'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'examples/*/**/*.test.ts', 'packages/*/test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default', './scripts/count-reporter.ts'],
  },
});
