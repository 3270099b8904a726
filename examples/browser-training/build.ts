/**
 * Builds the page into dist/: main.js (esbuild, platform browser, the "browser" export condition of every
 * package, and "@ssl/source" so the workspace's sources are bundled without building them), index.html,
 * tfjs-backend-wasm's .wasm files and the Fashion-MNIST sample; and kernels.html + kernels.js, which
 * check the kernels on webgl and webgpu against cpu. The build fails if any module of the bundle
 * imports a Node built-in. `pnpm start` (`--serve [port]`) then serves dist/ on localhost.
 */
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import type { Plugin } from 'esbuild';
import { serveDirectory } from './serve';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const SAMPLE_DIR = join(here, '../../packages/core/data/fashion-mnist-sample');

/** Refuses every Node built-in (`node:fs`, `fs`, ...) a module of the bundle would import. */
const noNodeBuiltins: Plugin = {
  name: 'no-node-builtins',
  setup(build) {
    const builtins = new Set(builtinModules);
    build.onResolve({ filter: /.*/ }, (args) => {
      const name = args.path.startsWith('node:') ? args.path.slice(5) : args.path;
      if (!args.path.startsWith('node:') && !builtins.has(name)) return undefined;
      // A package's own "browser" field may map a built-in away (tfjs-backend-wasm's emscripten glue does).
      if (args.kind === 'require-call' && !args.path.startsWith('node:')) return undefined;
      return { errors: [{ text: `${args.importer} imports the Node built-in ${args.path}, which a page cannot load` }] };
    });
  },
};

export interface BuiltPage {
  readonly outDir: string;
  /** The bundle's modules, relative to this directory. */
  readonly inputs: string[];
  readonly bytes: number;
}

export async function buildPage(outDir = join(here, 'dist')): Promise<BuiltPage> {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(join(outDir, 'data'), { recursive: true });
  const result = await esbuild.build({
    absWorkingDir: here,
    // The training page, and the page that checks the kernels on webgl and webgpu against cpu (gpu-kernels.test.ts).
    entryPoints: [join(here, 'src/main.ts'), join(here, 'src/kernels.ts')],
    outdir: outDir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['@ssl/source'],
    minify: false,
    sourcemap: true,
    metafile: true,
    logLevel: 'silent',
    plugins: [noNodeBuiltins],
  });
  for (const page of ['index.html', 'kernels.html']) copyFileSync(join(here, page), join(outDir, page));
  const wasmDir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
  for (const file of readdirSync(wasmDir).filter((f) => f.endsWith('.wasm'))) copyFileSync(join(wasmDir, file), join(outDir, file));
  for (const file of readdirSync(SAMPLE_DIR).filter((f) => f.endsWith('.gz')))
    copyFileSync(join(SAMPLE_DIR, file), join(outDir, 'data', file));
  return {
    outDir,
    inputs: Object.keys(result.metafile.inputs),
    bytes: Object.entries(result.metafile.outputs).find(([file]) => file.endsWith('main.js'))![1].bytes,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const built = await buildPage();
  console.log(`built ${built.outDir}: main.js ${(built.bytes / 1e6).toFixed(2)} MB from ${built.inputs.length} modules`);
  const serveAt = process.argv.indexOf('--serve');
  if (serveAt !== -1) {
    const server = await serveDirectory(built.outDir, Number(process.argv[serveAt + 1] ?? 8080) || 8080);
    console.log(`serving on ${server.url}`);
  }
}
