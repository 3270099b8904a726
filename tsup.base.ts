import type { Options } from 'tsup';

/** Shared tsup options: every package ships ESM + CJS + .d.ts from src/index.ts. */
export function packageBuild(overrides: Options = {}): Options {
  return {
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    splitting: false,
    treeshake: true,
    // Peer and runtime deps stay external; tsup externalises dependencies and peerDependencies by default.
    // import.meta.url (used to find files shipped with a package) needs a shim in the CJS output.
    shims: true,
    ...overrides,
  };
}
