/**
 * What the tests that open a page in headless Chromium share (page.test.ts, gpu-kernels.test.ts here and
 * examples/browser-playground's test and screenshot script): the system browser, and what must not happen on a
 * page.
 */
import { existsSync } from 'node:fs';
import type { Page } from 'playwright-core';

/** The system Chromium (Debian's `chromium`), as packages/cli's report screenshots use it; no browser download. */
export const CHROMIUM: string | undefined =
  process.env.SSL_CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find(existsSync);

/** Launch flags: no GPU and no background traffic, so every request the page makes is the page's own. */
export const HEADLESS_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];

/**
 * Collects what must not happen on a page: console errors, uncaught errors, requests outside `origin` (a
 * `blob:` URL the page made itself, such as tfjs-backend-wasm's thread workers, is of its origin).
 */
export function watch(page: Page, origin: string): { problems: string[]; outside: string[] } {
  const problems: string[] = [];
  const outside: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console.error: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(origin) && !url.startsWith(`blob:${origin}`)) outside.push(url);
  });
  return { problems, outside };
}
