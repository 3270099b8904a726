#!/usr/bin/env node
// Entry of the `ssl` command. Installed from npm (no src/ in the tarball) it runs the built dist/. In the
// @ssl repository it re-runs itself under tsx with the "@ssl/source" export condition, so the CLI, core and
// every plugin resolve to their TypeScript sources: `pnpm ssl ...` works without a build and never runs a
// stale dist/ of some package. SSL_CLI_SOURCE=0 forces dist/ (to try the built output in the repository).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const distEntry = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const sourceEntry = fileURLToPath(new URL('../src/main.ts', import.meta.url));

function findTsx() {
  try {
    // tsx is a devDependency of the repository, found from here by walking up node_modules.
    return pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  } catch {
    return undefined;
  }
}

async function runEntry(entry) {
  const { main } = await import(pathToFileURL(entry).href);
  process.exitCode = await main(process.argv.slice(2));
}

const tsxLoader = process.env.SSL_CLI_SOURCE === '0' || !existsSync(sourceEntry) ? undefined : findTsx();

if (tsxLoader === undefined) {
  if (!existsSync(distEntry)) {
    process.stderr.write('ssl: error: @ssl/cli is not built (no dist/index.js); run `pnpm build`.\n');
    process.exit(1);
  }
  await runEntry(distEntry);
} else if (process.execArgv.some((flag) => flag.includes('@ssl/source'))) {
  // Already running under the source condition: the re-run below, or a developer's own node flags.
  // Started by the launcher below: die with it. A launcher killed outright (SIGKILL) cannot pass the
  // signal on, but its IPC channel closes, so no orphaned training run keeps writing to the run directory.
  // The channel must not keep this process alive by itself (unref), or short commands would never exit.
  if (process.send) {
    process.channel?.unref();
    process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'));
  }
  await runEntry(sourceEntry);
} else {
  // The child runs in its own process group, so every stop signal reaches it exactly once, through this
  // launcher: Ctrl-C (sent by the terminal to the foreground group), SIGTERM (timeout, docker stop, systemd)
  // and SIGHUP are passed on, and the child checkpoints on the first and quits on the second. Were it in
  // our group, a Ctrl-C would reach it twice (from the terminal and from us) and count as two.
  const child = spawn(
    process.execPath,
    ['--conditions=@ssl/source', '--import', tsxLoader, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    {
      stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
      detached: true,
    },
  );
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}
