import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.base';

type EsbuildPlugin = NonNullable<Parameters<typeof packageBuild>[0]>['esbuildPlugins'] extends (infer P)[] | undefined ? P : never;

/**
 * Two Node entries (tfjs's base vs index split): dist/base.* is src/index.ts, everything exported and nothing
 * registered; dist/index.* is src/main.ts, register.ts's registrations plus a re-export of dist/base.*. The
 * re-export stays an import of ./base.js (./base.cjs) rather than a second bundled copy, so an app that
 * loads both entries still has one registry, one SslError class, one kernel set.
 */
function baseStaysExternal(): EsbuildPlugin {
  return {
    name: 'ssl-base-external',
    setup(build) {
      // tsup bundles both formats as ESM (then rollup writes CJS); it names the target format in TSUP_FORMAT.
      const extension = build.initialOptions.define?.TSUP_FORMAT === '"cjs"' ? '.cjs' : '.js';
      build.onResolve({ filter: /^\.\/index$/ }, (args) =>
        args.importer.endsWith('main.ts') ? { path: `./base${extension}`, external: true } : undefined,
      );
    },
  };
}

export default defineConfig(
  packageBuild({
    // dist/browser.* is the "browser" export condition's entry: register.ts plus browser-base.ts, no Node built-ins.
    entry: { index: 'src/main.ts', base: 'src/index.ts', browser: 'src/browser.ts' },
    // tfjs-core's gradient and chained-op registrations are deep ESM files Node cannot load (see register.ts).
    noExternal: [/^@tensorflow\/tfjs-core\/dist\//],
    esbuildPlugins: [baseStaysExternal()],
  }),
);
