#!/usr/bin/env node
// Release check for every publishable package in packages/*: what `npm publish` would ship must be
// complete and nothing more. Run after `pnpm build`:
//
//   node scripts/check-packages.mjs [package-dir ...]
//
// For each package it
//   1. runs publint (exports/main/types point at files that exist, formats match "type", ...),
//   2. packs it with `pnpm pack` (which applies publishConfig and rewrites workspace: ranges) and checks
//      the tarball holds package.json, README, LICENSE, dist/ (and bin/ when the package has a bin) and
//      nothing else: no src/, no tests, no tsconfig; that every file the packed manifest points at is in
//      the tarball; and that the packed manifest has no workspace: ranges and no @ssl/source condition,
//   3. runs @arethetypeswrong/cli on that tarball: the types each entry resolves to for Node 16+ ESM and
//      CJS and for bundlers (profile node16; ATTW_PROFILE=strict adds node10, see below),
//   4. checks dist/ bundles no `workspace:` range (a plugin's declared @ssl/core range comes from its
//      package.json at build time, written as pnpm publishes it: see tsup.base.ts),
//   5. for @ssl/core, loads the built entries in fresh Node processes, ESM and CJS: `@ssl/core` registers
//      gradients (one gradient checked against its closed form), chained ops and the cpu backend;
//      `@ssl/core/base` registers neither chained ops nor the cpu backend and exports the same names.
// Exits 1 listing every problem, 0 when all packages pass.
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE_CONDITION = '@ssl/source';
// node16 checks Node 16+ ESM and CJS and bundlers, not node10: engines require Node >= 20.19, and
// `moduleResolution: node10` cannot see subpath exports such as @ssl/core/base.
const ATTW_PROFILE = process.env.ATTW_PROFILE ?? 'node16';

let publint;
let formatMessage;
try {
  ({ publint } = await import('publint'));
  ({ formatMessage } = await import('publint/utils'));
} catch {
  console.error('check-packages: publint is not installed. Add "publint": "^0.3.25" to the root devDependencies and run pnpm install.');
  process.exit(1);
}

const requested = process.argv.slice(2);
const packageDirs = (requested.length > 0 ? requested.map((dir) => resolve(dir)) : listWorkspacePackages()).filter((dir) => {
  const manifest = readJson(join(dir, 'package.json'));
  return manifest.private !== true;
});

let failures = 0;
for (const packageDir of packageDirs) {
  const manifest = readJson(join(packageDir, 'package.json'));
  const problems = [...(await lint(packageDir)), ...checkTarball(packageDir, manifest), ...checkDist(packageDir)];
  if (manifest.name === '@ssl/core') problems.push(...checkCoreEntries(packageDir));
  const label = `${manifest.name}@${manifest.version} (${relative(repoRoot, packageDir)})`;
  if (problems.length === 0) {
    console.log(`ok    ${label}`);
  } else {
    failures++;
    console.log(`FAIL  ${label}`);
    for (const problem of problems) console.log(`      - ${problem}`);
  }
}
console.log(`\n${packageDirs.length - failures}/${packageDirs.length} packages pass.`);
process.exit(failures === 0 ? 0 : 1);

function listWorkspacePackages() {
  const packagesRoot = join(repoRoot, 'packages');
  return readdirSync(packagesRoot, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(packagesRoot, entry.name, 'package.json')))
    .map((entry) => join(packagesRoot, entry.name))
    .sort();
}

async function lint(packageDir) {
  if (!existsSync(join(packageDir, 'dist'))) return ['no dist/: run `pnpm build` first'];
  // pack: 'pnpm' makes publint look at the files pnpm would publish, with publishConfig applied.
  let result;
  try {
    result = await publint({ pkgDir: packageDir, level: 'suggestion', strict: true, pack: 'pnpm' });
  } catch (error) {
    return [`publint could not run: ${String(error.message).split('\n')[0]}`];
  }
  const { messages, pkg } = result;
  return messages.map((message) => `publint ${message.type}: ${stripAnsi(formatMessage(message, pkg) ?? message.code)}`);
}

function checkTarball(packageDir, manifest) {
  const problems = [];
  const packDir = mkdtempSync(join(tmpdir(), 'ssl-pack-'));
  try {
    execFileSync('pnpm', ['pack', '--pack-destination', packDir], { cwd: packageDir, stdio: ['ignore', 'pipe', 'pipe'] });
    const tarball = readdirSync(packDir).find((name) => name.endsWith('.tgz'));
    if (!tarball) return ['pnpm pack produced no tarball'];
    const tarballPath = join(packDir, tarball);
    const files = execFileSync('tar', ['-tzf', tarballPath], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line !== '' && !line.endsWith('/'))
      .map((line) => line.replace(/^package\//, ''));
    const fileSet = new Set(files);
    const hasBin = manifest.bin !== undefined;
    // Data folders a package declares in `files` on purpose (core's Fashion-MNIST sample); never sources.
    const dataFolders = (manifest.files ?? []).filter((entry) => entry.startsWith('data/')).map((entry) => `${entry.replace(/\/$/, '')}/`);

    for (const file of files) {
      const allowed =
        file === 'package.json' ||
        /^README(\.md)?$/i.test(file) ||
        /^LICEN[CS]E(\.md|\.txt)?$/i.test(file) ||
        /^CHANGELOG\.md$/i.test(file) ||
        file.startsWith('dist/') ||
        (hasBin && file.startsWith('bin/')) ||
        (dataFolders.some((folder) => file.startsWith(folder)) && !/\.[cm]?[jt]sx?$/.test(file));
      if (!allowed)
        problems.push(
          `tarball contains ${file} (only package.json, README, LICENSE, CHANGELOG, dist/${hasBin ? ', bin/' : ''} belong in it)`,
        );
      if (/\.(test|spec)\.[cm]?[jt]sx?$/.test(file)) problems.push(`tarball contains a test file: ${file}`);
    }
    if (!files.some((file) => file.startsWith('dist/'))) problems.push('tarball has no dist/ files');
    if (!files.some((file) => /^README(\.md)?$/i.test(file))) problems.push('tarball has no README.md');
    if (!files.some((file) => /^LICEN[CS]E/i.test(file)))
      problems.push('tarball has no LICENSE file (npm includes it automatically when the package folder has one)');

    problems.push(...typesProblems(tarballPath));

    execFileSync('tar', ['-xzf', tarballPath, '-C', packDir, 'package/package.json']);
    const packedManifest = readJson(join(packDir, 'package', 'package.json'));
    for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
      for (const [name, range] of Object.entries(packedManifest[field] ?? {})) {
        if (String(range).startsWith('workspace:')) problems.push(`packed ${field}.${name} is still ${range}`);
      }
    }
    if (JSON.stringify(packedManifest.exports ?? {}).includes(SOURCE_CONDITION)) {
      problems.push(`packed exports still has the "${SOURCE_CONDITION}" condition (publishConfig.exports should replace it)`);
    }
    for (const target of manifestTargets(packedManifest)) {
      if (!fileSet.has(target)) problems.push(`packed package.json points at ${target}, which is not in the tarball`);
    }
  } catch (error) {
    // pnpm prints its ERR_PNPM_* message on stdout.
    const output = `${error.stdout ?? ''}\n${error.stderr ?? ''}\n${error.message}`;
    problems.push(
      `pnpm pack failed: ${output
        .split('\n')
        .map((line) => line.trim())
        .find((line) => line !== '')}`,
    );
  } finally {
    rmSync(packDir, { recursive: true, force: true });
  }
  return problems;
}

/** @arethetypeswrong/cli on the packed tarball; each problem as one line. */
function typesProblems(tarballPath) {
  // attw exits 1 when it finds problems, before a piped stdout is flushed past 64 KB: write to a file.
  const reportPath = `${tarballPath}.attw.json`;
  const report = openSync(reportPath, 'w');
  try {
    execFileSync(join(repoRoot, 'node_modules', '.bin', 'attw'), [tarballPath, '--profile', ATTW_PROFILE, '--format', 'json'], {
      stdio: ['ignore', report, 'pipe'],
    });
  } catch (error) {
    if (error.status !== 1) return [`attw could not run: ${String(error.stderr || error.message).split('\n')[0]}`];
  } finally {
    closeSync(report);
  }
  const { analysis } = JSON.parse(readFileSync(reportPath, 'utf8'));
  // The JSON report lists every resolution's problems; the profile only decides which ones count.
  const ignored = { strict: [], node16: ['node10'], 'esm-only': ['node10', 'node16-cjs'] }[ATTW_PROFILE] ?? [];
  return (analysis?.problems ?? [])
    .filter((problem) => !ignored.includes(problem.resolutionKind))
    .map(
      (problem) =>
        `attw ${problem.kind}${problem.entrypoint ? ` at ${problem.entrypoint}` : ''}${problem.resolutionKind ? ` (${problem.resolutionKind})` : ''}`,
    );
}

/** dist/ must not carry a `workspace:` range: the bundled package.json fields are what gets published. */
function checkDist(packageDir) {
  const distDir = join(packageDir, 'dist');
  if (!existsSync(distDir)) return [];
  return readdirSync(distDir)
    .filter((file) => /\.[cm]?js$/.test(file))
    .filter((file) => /["']workspace:[^"']+["']/.test(readFileSync(join(distDir, file), 'utf8')))
    .map((file) => `dist/${file} contains a workspace: range (tsup.base.ts should write the published range)`);
}

/**
 * @ssl/core's two built entries in fresh Node processes (registrations are global to a process): what the
 * default entry registers and what the side-effect-free `base` entry leaves alone, for ESM and CJS.
 */
function checkCoreEntries(packageDir) {
  const probe = (entry, format) => `
    const load = ${format === 'cjs' ? `(specifier) => require(specifier)` : `(specifier) => import(specifier)`};
    const entry = await load(${JSON.stringify(join(packageDir, 'dist', entry))});
    const tf = await load('@tensorflow/tfjs-core');
    const registered = { chainedOps: typeof tf.Tensor.prototype.add === 'function', cpuBackend: tf.findBackendFactory('cpu') != null };
    let gradient = null;
    if (registered.cpuBackend && registered.chainedOps) {
      await tf.setBackend('cpu');
      // d/dx sum(x * sin(x)) at x = 0.7 is sin(0.7) + 0.7 cos(0.7).
      const x = tf.scalar(0.7);
      gradient = tf.grad((v) => v.mul(v.sin()).sum())(x).dataSync()[0] - (Math.sin(0.7) + 0.7 * Math.cos(0.7));
    }
    console.log(JSON.stringify({ ...registered, gradientError: gradient, exports: Object.keys(entry).sort() }));`;
  const run = (entry, format) => {
    const script =
      format === 'cjs'
        ? `const { createRequire } = require('node:module'); const require_ = createRequire(${JSON.stringify(join(packageDir, 'package.json'))}); (async () => { ${probe(entry, format).replace(/require\(specifier\)/, 'require_(specifier)')} })();`
        : probe(entry, format);
    const output = execFileSync(process.execPath, ['--input-type', format === 'cjs' ? 'commonjs' : 'module', '-e', script], {
      cwd: packageDir,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return JSON.parse(output.trim().split('\n').at(-1));
  };
  const problems = [];
  for (const [format, extension] of [
    ['esm', 'js'],
    ['cjs', 'cjs'],
  ]) {
    try {
      const main = run(`index.${extension}`, format);
      const base = run(`base.${extension}`, format);
      if (!main.chainedOps || !main.cpuBackend)
        problems.push(`dist/index.${extension} (${format}) did not register chained ops and the cpu backend`);
      else if (!(Math.abs(main.gradientError) < 1e-4))
        problems.push(`dist/index.${extension} (${format}): gradient off by ${main.gradientError}`);
      if (base.chainedOps || base.cpuBackend)
        problems.push(
          `dist/base.${extension} (${format}) registered ${base.chainedOps ? 'chained ops' : 'the cpu backend'}; it must register nothing`,
        );
      if (JSON.stringify(main.exports) !== JSON.stringify(base.exports))
        problems.push(`dist/index.${extension} and dist/base.${extension} export different names`);
    } catch (error) {
      problems.push(
        `loading dist (${format}) failed: ${String(error.stderr || error.message)
          .split('\n')
          .find((line) => line.trim() !== '')}`,
      );
    }
  }
  return problems;
}

/** Every file path the manifest references: main/module/types, bin entries and all exports leaves. */
function manifestTargets(manifest) {
  const targets = [];
  const add = (value) => {
    if (typeof value === 'string') {
      if (!value.includes('*')) targets.push(value.replace(/^\.\//, ''));
    } else if (value && typeof value === 'object') {
      for (const inner of Object.values(value)) add(inner);
    }
  };
  add(manifest.main);
  add(manifest.module);
  add(manifest.types);
  add(typeof manifest.bin === 'string' ? manifest.bin : (manifest.bin ?? {}));
  add(manifest.exports ?? {});
  // "./package.json": "./package.json" is in every exports map and always packed.
  return [...new Set(targets)];
}

function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

// Terminal colour codes: ESC [ ... m.
const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

function stripAnsi(text) {
  return text.replace(ANSI_COLOUR, '');
}
