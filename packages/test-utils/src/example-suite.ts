import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/*
 * The shared test of the examples that pre-train one method on Fashion-MNIST and compare the trained encoder
 * with the same encoder at random init and raw pixels (simclr-, byol-fashion-mnist). A separate entry
 * (`@ssl/test-utils/example-suite`) so that importing it registers no tfjs backend.
 */

/** What such an example's `run...Example` returns, as far as the test reads it. */
export interface PretrainAndCompareResult {
  steps: number;
  results: Record<'trained' | 'randomInit' | 'rawPixels', { knn: number; linear: number; fewLabels: { mean: number; std: number } }>;
  protocol: { fewLabels: { seeds: number[] } };
  table: string;
  markdown: string;
}

export interface PretrainAndCompareOptions {
  data: 'sample';
  limit: number;
  epochs: number;
  batchSize: number;
  out: string;
  log: (line: string) => void;
}

/** Registers the example's test: two SimCLR-sized steps on the bundled sample, then every score well above chance. */
export function describePretrainAndCompareExample(
  method: string,
  runExample: (options: PretrainAndCompareOptions) => Promise<PretrainAndCompareResult>,
): void {
  const dir = mkdtempSync(join(tmpdir(), `${method}-example-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe(`${method}-fashion-mnist example`, () => {
    it('trains on a slice of the bundled sample and writes results for trained / random init / raw pixels', async () => {
      const result = await runExample({ data: 'sample', limit: 256, epochs: 1, batchSize: 128, out: dir, log: () => {} });
      expect(result.steps).toBe(2);
      expectComparedResults(result, dir, 0);
    }, 600_000);
  });
}

/**
 * The shared test's checks of an example's result and of the results.json it wrote to `outDir`: every score well
 * above chance, the protocol's 5 label subsets (seeds `seed` … `seed` + 4), and each figure beside its controls. For
 * an example whose own test already runs it (simclr's, against `ssl pretrain`), instead of a second run.
 */
export function expectComparedResults(result: PretrainAndCompareResult, outDir: string, seed: number): void {
  for (const scores of Object.values(result.results)) {
    // 10 classes: every evaluation must be well above chance (0.1) on Fashion-MNIST.
    expect(scores.knn).toBeGreaterThan(0.4);
    expect(scores.linear).toBeGreaterThan(0.4);
    expect(scores.fewLabels.mean).toBeGreaterThan(0.3);
  }
  // The protocol's 5 label subsets, so five different draws give a spread.
  expect(result.protocol.fewLabels.seeds).toEqual([0, 1, 2, 3, 4].map((k) => seed + k));
  expect(result.results.trained.fewLabels.std).toBeGreaterThan(0);
  // Each figure beside its random-init control: header plus rule plus three figures.
  expect(result.table.split('\n')).toHaveLength(5);
  expect(result.table.split('\n')[0]).toMatch(/trained\s+random init\s+gain\s+raw pixels/);
  expect(existsSync(join(outDir, 'results.json'))).toBe(true);
  const written = JSON.parse(readFileSync(join(outDir, 'results.json'), 'utf8'));
  expect(written.results.trained.knn).toBe(result.results.trained.knn);
  expect(written.results.randomInit.knn).toBe(result.results.randomInit.knn);
}
