import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPage } from './build';
import type { BuiltPage } from './build';
import { serveDirectory } from './serve';
import type { StaticServer } from './serve';

/** The system Chromium (Debian's `chromium`), as packages/cli's report screenshots use it; no browser download. */
const CHROMIUM = process.env.SSL_CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find(existsSync);

interface RunReport {
  status: string;
  backend?: string;
  steps: number;
  losses: number[];
  knn: { step: number; top1: number }[];
  stepsPerSecond?: number;
  resumedFromStep?: number;
  error?: string;
}

const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;

const SIMCLR = '?method=contrastive:simclr&steps=50&batch=64';

/** Collects what must not happen on a page: console errors, uncaught errors, requests outside `origin`. */
function watch(page: Page, origin: string): { problems: string[]; outside: string[] } {
  const problems: string[] = [];
  const outside: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console.error: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('request', (request) => {
    if (!request.url().startsWith(origin)) outside.push(request.url());
  });
  return { problems, outside };
}

async function finished(page: Page): Promise<RunReport> {
  await page.waitForFunction(() => ['done', 'failed'].includes((window as never as { sslRun?: RunReport }).sslRun?.status ?? ''), null, {
    timeout: 100_000,
    polling: 500,
  });
  return page.evaluate(() => (window as never as { sslRun: RunReport }).sslRun);
}

describe('examples/browser-training in headless Chromium', () => {
  const outDir = mkdtempSync(join(tmpdir(), 'ssl-browser-training-'));
  let built: BuiltPage;
  let server: StaticServer;
  let browser: Browser;

  beforeAll(async () => {
    if (CHROMIUM === undefined) throw new Error('No Chromium found: apt-get install -y chromium, or set SSL_CHROMIUM.');
    built = await buildPage(outDir);
    server = await serveDirectory(outDir);
    // No GPU and no background traffic, so every request the page makes is the page's own.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    rmSync(outDir, { recursive: true, force: true });
  });

  it("bundles @ssl/core's browser entry and the plugins, not the Node entry", () => {
    const inputs = built.inputs.map((input) => input.replaceAll('\\', '/'));
    expect(inputs).toContain('../../packages/core/src/browser.ts');
    expect(inputs.some((input) => input.startsWith('../../packages/contrastive/src/'))).toBe(true);
    // The Node-only modules: run directories, checkpoint files, Node backend selection and threads.
    for (const nodeOnly of [
      'core/src/main.source.ts',
      'core/src/train/run-directory.ts',
      'core/src/backend/select.ts',
      'core/src/backend/wasm-node-threads.ts',
    ])
      expect(inputs.filter((input) => input.endsWith(nodeOnly))).toEqual([]);
  });

  let uninterrupted: RunReport;

  it('trains SimCLR for 50 steps: the loss falls, kNN is far above chance, no console error, no request off the origin', async () => {
    const page = await browser.newPage();
    const { problems, outside } = watch(page, server.url);
    await page.goto(`${server.url}${SIMCLR}`);
    const run = await finished(page);
    await page.close();
    uninterrupted = run;

    expect(run.error).toBeUndefined();
    expect(run.status).toBe('done');
    expect(run.steps).toBeGreaterThanOrEqual(50);
    expect(run.losses).toHaveLength(run.steps);
    // The loss falls: the last ten steps' mean well below the first ten's (measured 4.16 → 3.16 over 50 steps).
    const first = mean(run.losses.slice(0, 10));
    const last = mean(run.losses.slice(-10));
    expect(last).toBeLessThan(first * 0.9);
    const random = run.knn[0];
    const final = run.knn.at(-1)!;
    expect(random.step).toBe(0);
    expect(final.step).toBe(run.steps);
    // Far above chance (10 %). Not a learning gain: the random-init CNN scores as much (README).
    expect(final.top1).toBeGreaterThan(0.4);
    expect(problems).toEqual([]);
    expect(outside).toEqual([]);
    console.info(
      `browser-training: ${run.backend}, ${run.stepsPerSecond?.toFixed(2)} steps/s, loss ${first.toFixed(3)} → ${last.toFixed(3)}, ` +
        `kNN ${(100 * random.top1).toFixed(1)} % (random init) → ${(100 * final.top1).toFixed(1)} % after ${final.step} steps`,
    );
  }, 120_000);

  it('resumes a run kept in IndexedDB after a reload, from its newest checkpoint, with the losses of the uninterrupted run', async () => {
    const page = await browser.newPage();
    const { problems, outside } = watch(page, server.url);
    const persistent = `${server.url}${SIMCLR}&store=indexeddb&checkpointEvery=10`;
    await page.goto(`${persistent}&fresh`);
    await page.waitForFunction(() => ((window as never as { sslRun?: RunReport }).sslRun?.steps ?? 0) >= 25, null, {
      timeout: 60_000,
      polling: 200,
    });
    // A reload mid-run: the page's training stops wherever it is; the new page finds the run in IndexedDB.
    await page.goto(persistent);
    const run = await finished(page);
    await page.close();
    expect(run.error).toBeUndefined();
    expect(run.status).toBe('done');
    expect(run.resumedFromStep).toBeGreaterThanOrEqual(20);
    expect(run.resumedFromStep! % 10).toBe(0);
    expect(run.steps).toBe(50);
    // Exact: the steps before the checkpoint as the store kept them, the steps after it recomputed identically.
    expect(run.losses).toEqual(uninterrupted.losses);
    expect(problems).toEqual([]);
    expect(outside).toEqual([]);
    console.info(`browser-training: reloaded at step ≥ 25, resumed from step ${run.resumedFromStep}, same 50 losses as without the reload`);
  }, 120_000);
});
