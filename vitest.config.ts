import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

const INCLUDE = ['packages/*/src/**/*.test.ts', 'examples/*/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'scripts/*.test.ts'];
const EXCLUDE = ['**/node_modules/**', '**/dist/**'];
/** Tests of the backend's selection and thread pool: each needs a process whose backend nothing has chosen yet. */
const FRESH_PROCESS = ['packages/core/src/backend/**/*.test.ts'];

export default defineConfig({
  resolve: { conditions: ['@ssl/source'] },
  ssr: { resolve: { conditions: ['@ssl/source'], externalConditions: ['@ssl/source'] } },
  test: {
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
    projects: [
      { extends: true, test: { name: 'backend', include: FRESH_PROCESS, exclude: EXCLUDE } },
      {
        extends: true,
        test: {
          name: 'shared',
          include: INCLUDE,
          exclude: [...EXCLUDE, ...FRESH_PROCESS],
          // A worker runs file after file in one process, so @ssl/core's ~160 modules and tfjs load once per worker
          // instead of once per file: on a quiet 2-core machine (2026-12-07) the suite's summed import time went
          // from 243 s to 49 s and its wall time from 1 347 s to 1 276 s. @ssl/test-utils' `test-file-backend.ts`
          // puts back the backend a file switched away from (the gradient checks' reference cpu).
          isolate: false,
          setupFiles: ['./packages/test-utils/src/test-file-backend.ts'],
        },
      },
    ],
  },
});
