import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import * as tf from '@tensorflow/tfjs-core';
import { createEncoder, initBackend, loadEncoder, loadFashionMnist } from '@ssl/core';
import { CHROMIUM, HEADLESS_ARGS, watch } from '@ssl-examples/browser-training/chromium';
import { pixelsOf } from '@ssl-examples/browser-training/knn';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPlayground, newPlaygroundPage, startPreview, startRun, waitFor } from './harness';

const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;

/**
 * kNN "far above chance", as examples/browser-training's page test: chance is 10 %, a collapsed encoder or a page
 * that mixes up images and labels scores about that; 40 % is four times chance and below every measured figure.
 */
const KNN_FAR_ABOVE_CHANCE = 0.4;

if (CHROMIUM === undefined)
  console.warn(`[playground.test] SKIPPING: no Chromium at /usr/bin/chromium (apt-get install -y chromium) and SSL_CHROMIUM unset.`);

describe.skipIf(CHROMIUM === undefined)('examples/browser-playground (vite build + preview) driven in headless Chromium', () => {
  const outDir = mkdtempSync(join(tmpdir(), 'ssl-playground-'));
  const downloadDir = mkdtempSync(join(tmpdir(), 'ssl-playground-download-'));
  let server: ChildProcess;
  let origin: string;
  let browser: Browser;

  beforeAll(async () => {
    await buildPlayground(outDir);
    // Vite's own preview server, with the config's COOP/COEP headers.
    ({ origin, server } = await startPreview(outDir));
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: HEADLESS_ARGS });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    server?.kill();
    rmSync(outDir, { recursive: true, force: true });
    rmSync(downloadDir, { recursive: true, force: true });
  });

  it('trains SimCLR from the UI with wasm threads, stops, resumes after a reload from the saved step, and downloads a loadable encoder', async () => {
    // The page is shown twice the machine's cores: tfjs-backend-wasm runs at most half of them (harness.ts).
    const { context, page } = await newPlaygroundPage(browser);
    const { problems, outside } = watch(page, origin);
    await page.goto(origin);
    let state = await waitFor(page, "state.status === 'ready'", 60_000);
    // Cross-origin isolated, so tfjs-backend-wasm runs its threaded SIMD build on more than one thread.
    expect(state.crossOriginIsolated).toBe(true);
    expect(state.backend).toBe('wasm');
    expect(state.threads).toBeGreaterThan(1);
    expect(await page.locator('#backend').textContent()).toMatch(/wasm SIMD, \d+ threads — cross-origin isolated/);
    // The method list holds every image method of the bundled plugins; SimCLR's views are its own policy's two.
    const methods = await page.locator('#method option').allTextContents();
    expect(methods).toEqual(
      expect.arrayContaining(['contrastive:simclr', 'noncontrastive:byol', 'masked:mae', 'semisup:fixmatch', 'clip:clip']),
    );
    expect(methods).not.toContain('clip:audio-visual');

    await page.selectOption('#method', 'noncontrastive:byol');
    await waitFor(page, "state.views?.policy === 'byol'", 10_000);
    await page.selectOption('#method', 'contrastive:simclr');
    state = await waitFor(page, "state.views?.policy === 'simclr'", 10_000);
    expect(state.views!.rows).toBe(2);
    expect(await page.inputValue('#encoder')).toBe('cnn');
    await startRun(page, { method: 'contrastive:simclr', batchSize: 64, steps: 70 });

    // ≥ 50 steps: the loss fell and kNN (measured every 16 steps) is far above chance.
    await waitFor(page, 'state.steps >= 50 && state.knn.some((point) => point.step >= 48)', 60_000);
    await page.click('#stop');
    state = await waitFor(page, "state.status === 'stopped'", 30_000);
    const first = mean(state.losses.slice(0, 10));
    const last = mean(state.losses.slice(state.steps - 10, state.steps));
    expect(last).toBeLessThan(0.9 * first);
    const randomInit = state.knn[0];
    const trained = state.knn.at(-1)!;
    expect(randomInit.step).toBe(0);
    expect(trained.step).toBe(state.steps);
    expect(trained.top1).toBeGreaterThan(KNN_FAR_ABOVE_CHANCE);
    expect(state.savedStep).toBe(state.steps);
    const stoppedAt = state.steps;
    const speed = state.stepsPerSecond!;

    // A reload: the page finds the run in IndexedDB and Resume continues from the step it stopped at.
    await page.reload();
    state = await waitFor(page, "state.status === 'ready'", 60_000);
    expect(state.savedStep).toBe(stoppedAt);
    expect(await page.inputValue('#method')).toBe('contrastive:simclr');
    expect(await page.isEnabled('#resume')).toBe(true);
    await page.click('#resume');
    state = await waitFor(page, "state.status === 'done'", 60_000);
    expect(state.resumedFromStep).toBe(stoppedAt);
    expect(state.steps).toBe(70);
    // The steps before the checkpoint come from the store, the later ones were trained after the reload.
    expect(state.losses.slice(0, 70).every((loss) => Number.isFinite(loss))).toBe(true);
    expect(state.knn.at(-1)!.top1).toBeGreaterThan(KNN_FAR_ABOVE_CHANCE);

    // Download: model.json + weights, which Node's loadEncoder reads and which give the page's features.
    const downloads: Promise<void>[] = [];
    page.on('download', (download) => downloads.push(download.saveAs(join(downloadDir, download.suggestedFilename()))));
    await page.click('#download');
    await expect.poll(() => downloads.length, { timeout: 10_000 }).toBe(2);
    await Promise.all(downloads);
    const modelJson = JSON.parse(readFileSync(join(downloadDir, 'model.json'), 'utf8')) as {
      weightsManifest: { paths: string[] }[];
      userDefinedMetadata: { sslEncoder: { format: string; spec: { kind: string } } };
    };
    expect(modelJson.weightsManifest[0].paths).toEqual(['./model.weights.bin']);
    expect(modelJson.userDefinedMetadata.sslEncoder.format).toBe('ssl-encoder');

    await initBackend({ backend: 'wasm', threads: 1 });
    const encoder = await loadEncoder(downloadDir);
    expect(encoder.kind).toBe('cnn');
    const testSet = await loadFashionMnist({ source: 'sample', split: 'test' });
    const probe = state.probeFeatures!;
    const inputs = pixelsOf(testSet, 0, probe.shape[0]);
    const inNode = await encoder.features(inputs, { training: false }).data();
    const randomInitEncoder = createEncoder(encoder.spec);
    const untrained = await randomInitEncoder.features(inputs, { training: false }).data();
    let worst = 0;
    let fromRandomInit = 0;
    for (let i = 0; i < inNode.length; i++) {
      worst = Math.max(worst, Math.abs(inNode[i] - probe.values[i]));
      fromRandomInit = Math.max(fromRandomInit, Math.abs(untrained[i] - probe.values[i]));
    }
    tf.dispose(inputs);
    encoder.model.dispose();
    randomInitEncoder.model.dispose();
    // Threads change the order of the sums a little; 1e-4 as the page-vs-Node check of browser-training.
    expect(worst).toBeLessThan(1e-4);
    expect(fromRandomInit).toBeGreaterThan(1e-2);

    // The same files through the page's file picker (tf.io.browserFiles, as for an `ssl pretrain` run's
    // encoder/): the page rebuilds the encoder from the spec in the metadata and shows its kNN and map.
    const trainedKnn = state.knn.at(-1)!.top1;
    await page.setInputFiles('#files', [join(downloadDir, 'model.json'), join(downloadDir, 'model.weights.bin')]);
    await page.click('#load');
    state = await waitFor(page, "state.loaded !== undefined && state.status === 'ready'", 60_000);
    expect(state.loaded).toMatchObject({ source: 'model.json', kind: 'cnn', featureDim: 64 });
    // The same weights, so the same features and the same neighbours.
    expect(state.loaded!.knn).toBe(trainedKnn);

    expect(problems).toEqual([]);
    expect(outside).toEqual([]);
    await context.close();
    console.info(
      `browser-playground: ${state.backend}, ${state.threads} threads, ${speed.toFixed(2)} steps/s; SimCLR loss ${first.toFixed(3)} → ${last.toFixed(3)} ` +
        `by step ${stoppedAt}, kNN ${(100 * randomInit.top1).toFixed(1)} % (random init) → ${(100 * trained.top1).toFixed(1)} %; ` +
        `stopped at ${stoppedAt}, resumed after a reload from ${state.resumedFromStep} to ${state.steps}; downloaded encoder = page's features within ${worst.toExponential(2)}`,
    );
  }, 180_000);
});
