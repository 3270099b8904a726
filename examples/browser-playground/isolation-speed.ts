/**
 * Steps per second of the playground with and without cross-origin isolation, on the same workload: the built
 * page served twice by the same static server (examples/browser-training's serve.ts), with COOP/COEP
 * (tfjs-backend-wasm's threaded SIMD build: one thread per core, then pinned to one with `?threads=1`, which
 * separates the threads from the threaded build) and without (its single-threaded SIMD build), each run
 * started from the UI, alternating. The page's own figure: steps per second after the first step, kNN
 * evaluations left out. Prints one line per run and the load average around it.
 *
 *   pnpm --filter @ssl-examples/browser-playground exec node --conditions=@ssl/source --import tsx isolation-speed.ts [rounds]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHROMIUM, HEADLESS_ARGS } from '@ssl-examples/browser-training/chromium';
import { serveDirectory } from '@ssl-examples/browser-training/serve';
import { chromium } from 'playwright-core';
import { buildPlayground, newPlaygroundPage, startRun, waitFor } from './harness';

/** The workloads of browser-training's page-vs-Node table: 60 steps at batch 64 from seed 0 on the first 1024 images. */
const WORKLOADS = [
  { method: 'contrastive:simclr', batchSize: 64, steps: 60 },
  { method: 'masked:mae', batchSize: 64, steps: 60 },
];

if (CHROMIUM === undefined) throw new Error('No Chromium at /usr/bin/chromium: apt-get install -y chromium, or set SSL_CHROMIUM.');
const rounds = Number(process.argv[2] ?? 1);
const outDir = mkdtempSync(join(tmpdir(), 'ssl-playground-speed-'));
await buildPlayground(outDir);
const isolated = await serveDirectory(outDir, 0, { isolated: true });
const plain = await serveDirectory(outDir, 0, { isolated: false });
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: HEADLESS_ARGS });
const load = () => loadavg()[0].toFixed(1);
try {
  for (let round = 0; round < rounds; round++)
    for (const workload of WORKLOADS)
      for (const url of [isolated.url, `${isolated.url}?threads=1`, plain.url]) {
        const { context, page } = await newPlaygroundPage(browser);
        const before = load();
        await page.goto(url);
        await waitFor(page, "state.status === 'ready'", 120_000);
        await startRun(page, workload);
        const state = await waitFor(page, "state.status === 'done'", 600_000);
        console.log(
          `${new Date().toISOString().slice(11, 16)} UTC ${workload.method} batch ${workload.batchSize}: ` +
            `${state.crossOriginIsolated ? 'isolated' : 'not isolated'}, ${state.backend} ${state.threads} thread(s): ` +
            `${state.stepsPerSecond!.toFixed(2)} steps/s, loss ${state.losses[0].toFixed(3)} → ${state.losses.at(-1)!.toFixed(3)} ` +
            `(load average ${before} → ${load()})`,
        );
        await context.close();
      }
} finally {
  await browser.close();
  await Promise.all([isolated.close(), plain.close()]);
  rmSync(outDir, { recursive: true, force: true });
}
