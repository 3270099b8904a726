import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SslError } from '@ssl/core';
import type { BrowserContext } from 'playwright-core';

const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

/**
 * Flags for a quiet, reproducible headless Chromium: no sandbox (containers run as root), no GPU, and no
 * background traffic (updates, sync, field trials) that would make a "no network" report check meaningless.
 */
export const HEADLESS_CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** The system Chromium to drive, from $SSL_CHROMIUM or the usual Debian/Ubuntu paths; undefined when none is installed. */
export function findChromium(): string | undefined {
  const fromEnvironment = process.env.SSL_CHROMIUM;
  if (fromEnvironment) return existsSync(fromEnvironment) ? fromEnvironment : undefined;
  return CHROMIUM_CANDIDATES.find((candidate) => existsSync(candidate));
}

/**
 * Launches headless Chromium with a fresh profile directory (deleted afterwards), runs `use` and closes the
 * browser even when `use` throws. playwright-core is an optional peer: only report screenshots need it.
 */
export async function withHeadlessChromium<T>(use: (context: BrowserContext) => Promise<T>): Promise<T> {
  const executablePath = findChromium();
  if (executablePath === undefined) {
    throw new SslError('io', 'No Chromium found: install it (Debian: apt-get install -y chromium) or set SSL_CHROMIUM to its path.');
  }
  let chromium: typeof import('playwright-core').chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (error) {
    throw new SslError('io', 'Screenshots need playwright-core: npm install playwright-core (no browser download is needed).', {
      cause: error,
    });
  }
  const profileDir = await mkdtemp(join(tmpdir(), 'ssl-chromium-'));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath,
    headless: true,
    args: HEADLESS_CHROMIUM_ARGS,
    viewport: { width: 1360, height: 900 },
  });
  try {
    return await use(context);
  } finally {
    await context.close();
    await rm(profileDir, { recursive: true, force: true });
  }
}

/** Opens a report.html in headless Chromium and saves a full-page PNG screenshot to `outPath`. */
export async function screenshotReport(reportPath: string, outPath: string): Promise<void> {
  await withHeadlessChromium(async (context) => {
    const page = await context.newPage();
    await page.goto(pathToFileURL(resolve(reportPath)).href, { waitUntil: 'load' });
    await page.screenshot({ path: outPath, fullPage: true });
  });
}
