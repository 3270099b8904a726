/**
 * What the playground's test and its scripts (screenshot.ts, isolation-speed.ts) share: Vite's command line,
 * the preview server, a page that shows tfjs enough cores, and driving a run from the UI.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { PlaygroundState } from './src/state';

const here = import.meta.dirname;
/** Vite's command line, as `pnpm build` and `pnpm preview` run it. */
const VITE = join(here, 'node_modules/vite/bin/vite.js');

/** `vite build` into `outDir`. */
export async function buildPlayground(outDir: string): Promise<void> {
  await promisify(execFile)(process.execPath, [VITE, 'build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'], { cwd: here });
}

/** A free port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** `vite preview` of `outDir` (the config's COOP/COEP headers) on a free port; resolves once it listens. */
export async function startPreview(outDir: string): Promise<{ origin: string; server: ChildProcess }> {
  const port = await freePort();
  const server = spawn(
    process.execPath,
    [VITE, 'preview', '--outDir', outDir, '--host', '127.0.0.1', '--port', String(port), '--strictPort'],
    {
      cwd: here,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    let output = '';
    server.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      // Vite colours the port in bold when it thinks it may (e.g. CI=true), which splits ":4173/" with escape codes.
      // eslint-disable-next-line no-control-regex
      if (output.replace(/\u001b\[[0-9;]*m/g, '').includes(`:${port}/`)) resolve({ origin: `http://127.0.0.1:${port}/`, server });
    });
    server.on('exit', (code) => reject(new Error(`vite preview exited (${code}): ${output}`)));
  });
}

/**
 * Logical cores a page is shown. tfjs-backend-wasm runs at most navigator.hardwareConcurrency / 2 threads (it
 * assumes two hyperthreads a core), so on a 2-core machine a page gets one thread; twice the real cores gives
 * its pool one thread per real core.
 */
export const LOGICAL_CORES = Math.max(4, 2 * availableParallelism());

/** A page in a context of its own that accepts downloads and reports LOGICAL_CORES (Chromium's DevTools emulation). */
export async function newPlaygroundPage(
  browser: Browser,
  viewport?: { width: number; height: number },
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ acceptDownloads: true, ...(viewport ? { viewport } : {}) });
  const page = await context.newPage();
  const devtools = await context.newCDPSession(page);
  await devtools.send('Emulation.setHardwareConcurrencyOverride', { hardwareConcurrency: LOGICAL_CORES });
  return { context, page };
}

export const stateOf = (page: Page): Promise<PlaygroundState> =>
  page.evaluate(() => (window as never as { sslPlayground: PlaygroundState }).sslPlayground);

/** Waits until `condition` (an expression of `state`, the page's window.sslPlayground) holds, or the page failed. */
export async function waitFor(page: Page, condition: string, timeout: number): Promise<PlaygroundState> {
  await page.waitForFunction(
    `(() => { const state = window.sslPlayground; return state !== undefined && (state.status === 'failed' || (${condition})); })()`,
    null,
    { timeout, polling: 200 },
  );
  const state = await stateOf(page);
  if (state.error !== undefined) throw new Error(`the playground failed: ${state.error}`);
  return state;
}

/** Picks a method and settings in the form and clicks Start (the encoder: the method's default unless given). */
export async function startRun(
  page: Page,
  settings: { method: string; batchSize: number; steps: number; encoder?: string },
): Promise<void> {
  await page.selectOption('#method', settings.method);
  if (settings.encoder !== undefined) await page.selectOption('#encoder', settings.encoder);
  await page.fill('#batch', String(settings.batchSize));
  await page.fill('#steps', String(settings.steps));
  await page.click('#start');
}
