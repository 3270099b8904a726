import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPage } from './build';
import { CHROMIUM } from './chromium';
import { serveDirectory } from './serve';
import type { StaticServer } from './serve';

interface KernelReport {
  status: string;
  backend?: string;
  float32?: boolean;
  renderer?: string;
  cases: { name: string; error: number; tolerance: number; worstOf: string; ok: boolean }[];
  error?: string;
}

/**
 * Core's kernel tests check its ops on wasm against cpu in Node; here the same ops (conv2d and depthwise conv
 * with their backprop, matMul plain/transposed/batched/fused, transpose, gather and unsortedSegmentSum,
 * reverse, slice, pad, split, unstack, comparisons, maximum/minimum, reductions, max/avg pooling, batch
 * norm, softmax, element-wise) and a training step of core's CNN and ViT encoders and of SimCLR's loss run on
 * `webgl` and on `webgpu` in headless Chromium against `cpu` in the same page, values and gradients.
 */
if (CHROMIUM === undefined)
  console.warn(`[gpu-kernels.test] SKIPPING: no Chromium at /usr/bin/chromium (apt-get install -y chromium) and SSL_CHROMIUM unset.`);

describe.skipIf(CHROMIUM === undefined)('kernels on webgl and webgpu in headless Chromium against cpu', () => {
  const outDir = mkdtempSync(join(tmpdir(), 'ssl-gpu-kernels-'));
  let server: StaticServer;
  let browser: Browser;

  beforeAll(async () => {
    await buildPage(outDir);
    server = await serveDirectory(outDir);
    // Headless Chromium has no GPU here: ANGLE on SwiftShader (Vulkan on the CPU) gives it WebGL 2 with float32
    // render targets (EXT_color_buffer_float). Chromium 156 asks for --enable-unsafe-swiftshader to allow it.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--use-angle=swiftshader',
        '--enable-unsafe-swiftshader',
        '--enable-unsafe-webgpu',
        '--disable-background-networking',
        '--no-first-run',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    rmSync(outDir, { recursive: true, force: true });
  });

  // webgpu: headless, this Chromium's requestAdapter() gives a SwiftShader adapter only with --enable-unsafe-webgpu.
  for (const backend of ['webgl', 'webgpu'] as const)
    it(`values and gradients on ${backend} match cpu for every op of the kernel tests and a training step of the CNN, the ViT and SimCLR`, async () => {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(message.text());
      });
      page.on('pageerror', (error) => problems.push(error.message));
      await page.goto(`${server.url}kernels.html?backend=${backend}`);
      await page.waitForFunction(
        () => ['done', 'failed'].includes((window as never as { sslKernels?: KernelReport }).sslKernels?.status ?? ''),
        null,
        {
          timeout: 250_000,
          polling: 500,
        },
      );
      const report = await page.evaluate(() => (window as never as { sslKernels: KernelReport }).sslKernels);
      await page.close();
      expect(report.error).toBeUndefined();
      // The backend itself, not a fallback, computing in float32 (the page's tolerance for float16 textures is 100× wider).
      expect(report.backend).toBe(backend);
      expect(report.float32).toBe(true);
      expect(report.cases.length).toBeGreaterThanOrEqual(60);
      expect(report.cases.filter((result) => !result.ok)).toEqual([]);
      expect(problems).toEqual([]);
      const closest = report.cases.reduce((a, b) => (b.error / b.tolerance > a.error / a.tolerance ? b : a));
      const largest = report.cases.reduce((a, b) => (b.error > a.error ? b : a));
      console.info(
        `${backend} kernels (${report.renderer}): ${report.cases.length} cases match cpu; closest to its bound: ${closest.name} (${closest.worstOf}) ` +
          `${closest.error.toExponential(2)} of ${closest.tolerance.toExponential(2)}; largest relative error ${largest.error.toExponential(2)} ` +
          `(${largest.name}, ${largest.worstOf})`,
      );
    }, 300_000);
});
