import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['@ssl/source'] },
  ssr: { resolve: { conditions: ['@ssl/source'], externalConditions: ['@ssl/source'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'examples/*/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'scripts/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Vitest's default is one worker fewer than the cores: a single worker on a 2-core CI machine, where
    // the test files (single-threaded wasm compute) then run one after another with a core idle.
    maxWorkers: availableParallelism(),
    // One wasm thread per test process, so parallel files do not oversubscribe the cores; the tests that
    // check the multi-threaded default clear this themselves.
    env: { SSL_THREADS: process.env.SSL_THREADS ?? '1' },
    reporters: ['default', './scripts/count-reporter.ts'],
  },
});
