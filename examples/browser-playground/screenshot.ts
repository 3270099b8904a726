/**
 * Takes playground.png, the README's picture of a real run: the page built and served by `vite preview`
 * (cross-origin isolated), SimCLR with the CNN at batch 64 trained from the UI for 300 steps (`[steps]`) in
 * headless Chromium, then a screenshot of the whole page.
 *
 *   pnpm --filter @ssl-examples/browser-playground screenshot [steps]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHROMIUM, HEADLESS_ARGS } from '@ssl-examples/browser-training/chromium';
import { chromium } from 'playwright-core';
import { buildPlayground, newPlaygroundPage, startPreview, startRun, waitFor } from './harness';

if (CHROMIUM === undefined) throw new Error('No Chromium at /usr/bin/chromium: apt-get install -y chromium, or set SSL_CHROMIUM.');
const steps = Number(process.argv[2] ?? 300);
const target = join(import.meta.dirname, 'playground.png');
const outDir = mkdtempSync(join(tmpdir(), 'ssl-playground-screenshot-'));
await buildPlayground(outDir);
const { origin, server } = await startPreview(outDir);
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: HEADLESS_ARGS });
try {
  const { page } = await newPlaygroundPage(browser, { width: 1040, height: 900 });
  await page.goto(origin);
  await waitFor(page, "state.status === 'ready'", 120_000);
  const started = Date.now();
  await startRun(page, { method: 'contrastive:simclr', batchSize: 64, steps });
  const state = await waitFor(page, "state.status === 'done'", 3_600_000);
  await page.screenshot({ path: target, fullPage: true });
  const knn = state.knn.map((point) => `${point.step}: ${(100 * point.top1).toFixed(1)} %`).join(', ');
  console.log(
    `${target}: ${(statSync(target).size / 1024).toFixed(0)} kB; ${state.steps} SimCLR steps in ${((Date.now() - started) / 1000).toFixed(0)} s ` +
      `(${state.stepsPerSecond!.toFixed(2)} steps/s, ${state.backend} ${state.threads} threads, load average ${loadavg()[0].toFixed(1)}); ` +
      `loss ${state.losses[0].toFixed(3)} → ${state.losses.at(-1)!.toFixed(3)}; kNN ${knn}`,
  );
} finally {
  await browser.close();
  server.kill();
  rmSync(outDir, { recursive: true, force: true });
}
