// @ts-check
/**
 * The playground's Vite config (JavaScript: the repository's eslint import rules cannot resolve the `vite`
 * package from TypeScript files, whose exports map has no main entry). Beyond the defaults:
 * - the `@ssl/source` export condition, so the workspace's TypeScript sources are bundled without building
 *   them (the published packages resolve the same modules through their `browser` condition);
 * - the dev and preview servers send COOP/COEP, which make the page cross-origin isolated: SharedArrayBuffer,
 *   so tfjs-backend-wasm loads its threaded SIMD build and runs a thread pool;
 * - tfjs-backend-wasm's .wasm files and the Fashion-MNIST sample (.gz IDX files of @ssl/core) are served in
 *   dev and written into dist/ (`wasm/`, `data/`);
 * - the build fails when a module of the bundle imports a Node built-in that its package's "browser" field does
 *   not map away (Vite would put an empty stub there and only warn), as examples/browser-training's build does.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultClientConditions, defineConfig } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** The headers that make a page cross-origin isolated (its subresources are all same-origin). */
export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/**
 * URL path under the page → file on disk: the wasm binaries and the sample.
 * @returns {Map<string, string>}
 */
function staticFiles() {
  const files = new Map();
  const wasmDir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
  for (const file of readdirSync(wasmDir).filter((name) => name.endsWith('.wasm'))) files.set(`wasm/${file}`, join(wasmDir, file));
  const sampleDir = join(dirname(require.resolve('@ssl/core/package.json')), 'data/fashion-mnist-sample');
  for (const file of readdirSync(sampleDir).filter((name) => name.endsWith('.gz'))) files.set(`data/${file}`, join(sampleDir, file));
  return files;
}

/**
 * Whether the package.json nearest to `importer` maps `source` away in its "browser" field (tfjs's emscripten
 * glue, seedrandom).
 * @param {string} importer
 * @param {string} source
 */
function browserFieldMapsAway(importer, source) {
  for (let dir = dirname(importer); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    const browser = JSON.parse(readFileSync(manifest, 'utf8')).browser;
    return typeof browser === 'object' && browser !== null && browser[source] === false;
  }
  return false;
}

/**
 * Refuses every Node built-in a module of the bundle imports (Vite would put an empty stub there and only warn).
 * @returns {import('vite').Plugin}
 */
function noNodeBuiltins() {
  const builtins = new Set(builtinModules);
  return {
    name: 'ssl-no-node-builtins',
    enforce: 'pre',
    apply: 'build',
    resolveId(source, importer) {
      const name = source.startsWith('node:') ? source.slice(5) : source;
      if (importer === undefined || !builtins.has(name)) return null;
      if (!source.startsWith('node:') && browserFieldMapsAway(importer, source)) return null;
      this.error(`${importer} imports the Node built-in ${source}, which a page cannot load`);
    },
  };
}

/** @returns {import('vite').Plugin} */
function playgroundFiles() {
  const files = staticFiles();
  return {
    name: 'ssl-playground-files',
    configureServer(server) {
      server.middlewares.use((request, response, next) => {
        const path = new URL(request.url ?? '/', 'http://localhost').pathname.slice(1);
        const file = files.get(path);
        if (file === undefined) return next();
        response.writeHead(200, {
          ...ISOLATION_HEADERS,
          'Content-Type': path.endsWith('.wasm') ? 'application/wasm' : 'application/octet-stream',
        });
        response.end(readFileSync(file));
      });
    },
    generateBundle() {
      for (const [fileName, file] of files) this.emitFile({ type: 'asset', fileName, source: readFileSync(file) });
    },
  };
}

export default defineConfig({
  root: here,
  resolve: { conditions: ['@ssl/source', ...defaultClientConditions] },
  plugins: [noNodeBuiltins(), playgroundFiles()],
  server: { headers: ISOLATION_HEADERS },
  preview: { headers: ISOLATION_HEADERS },
  // Not minified: tfjs-backend-wasm's threaded build hands its factory's source text to each worker
  // (`factory.toString()` in a Blob), which breaks when the minifier renames what the factory closes over
  // ("e is not defined" in every worker). One 3.4 MB script (670 kB gzipped), as browser-training's esbuild page.
  build: { target: 'es2022', chunkSizeWarningLimit: 8000, minify: false },
});
