import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEncoder, initBackend, loadFashionMnist, saveEncoder } from '@ssl/core';
import { activeLearning, extractFeatures, type AcquisitionStrategy } from '@ssl/eval';
import { runCli } from '../src/program';
import { bufferedIo } from './cli-io-buffer';

const workDir = mkdtempSync(join(tmpdir(), 'ssl-eval-command-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));
beforeAll(() => initBackend({ backend: 'cpu', log: () => {} }));

/** A labeled folder of 28×28 grey images: class "dark" and class "light", 12 each. */
function writeLabeledFolder(name: string): string {
  const root = join(workDir, name);
  for (const [label, level] of [
    ['dark', 40],
    ['light', 200],
  ] as const) {
    mkdirSync(join(root, label), { recursive: true });
    for (let i = 0; i < 12; i++) {
      const png = new PNG({ width: 28, height: 28 });
      for (let p = 0; p < 784; p++) png.data.set([level + ((p * 7 + i * 13) % 40), 0, 0, 255], p * 4);
      writeFileSync(join(root, label, `${i}.png`), PNG.sync.write(png));
    }
  }
  return root;
}

describe('ssl eval of a run directory', () => {
  it('writes an evaluation on other data to a sub-folder named after it, leaving the run’s own eval.json as it was', async () => {
    const runDir = join(workDir, 'run');
    await saveEncoder(createEncoder({ kind: 'cnn', inputShape: [28, 28, 1], channels: [4, 8], seed: 3 }), join(runDir, 'encoder'));
    writeFileSync(
      join(runDir, 'config.json'),
      JSON.stringify({ method: 'contrastive:simclr', seed: 0, invocation: { data: 'fashion-mnist-sample' } }),
    );
    const ownEvaluation = '{"rows":[{"name":"kNN top-1","value":0.673}]}\n';
    writeFileSync(join(runDir, 'eval.json'), ownEvaluation);
    const folder = writeLabeledFolder('shades');

    const io = bufferedIo(workDir);
    expect(await runCli(['eval', runDir, '--data', folder, '--backend', 'cpu'], io), io.err()).toBe(0);
    const written = join(runDir, 'eval-shades', 'eval.json');
    expect(io.out()).toContain(`wrote ${written}`);
    expect(JSON.parse(readFileSync(written, 'utf8')).rows[0].name).toBe('kNN top-1');
    expect(readFileSync(join(runDir, 'eval.json'), 'utf8')).toBe(ownEvaluation);
    expect(readdirSync(runDir).sort()).toEqual(['config.json', 'encoder', 'eval-shades', 'eval.json']);
  });
});

describe('ssl active', () => {
  it('prints each strategy’s learning curve beside random sampling and writes active.json, equal to activeLearning run directly', async () => {
    const runDir = join(workDir, 'active-run');
    const encoder = createEncoder({ kind: 'cnn', inputShape: [28, 28, 1], channels: [4, 8], seed: 5 });
    await saveEncoder(encoder, join(runDir, 'encoder'));
    writeFileSync(
      join(runDir, 'config.json'),
      JSON.stringify({ method: 'contrastive:simclr', seed: 2, invocation: { data: 'fashion-mnist-sample' } }),
    );
    const io = bufferedIo(workDir);
    const argv = [
      'active',
      runDir,
      '--data',
      'fashion-mnist-sample',
      '--strategy',
      'margin',
      '--budget',
      '10',
      '--rounds',
      '2',
      '--seeds',
      '2',
    ];
    expect(await runCli([...argv, '--backend', 'cpu'], io), io.err()).toBe(0);
    expect(io.out()).toMatch(
      /strategy\s+10 labels\s+20 labels\s+vs random\n[- ]+\nrandom\s+\d+\.\d ± \d+\.\d\s+\d+\.\d ± \d+\.\d\s*\nmargin\s+.*[+-]\d+\.\d pts/,
    );
    const written = JSON.parse(readFileSync(join(runDir, 'active.json'), 'utf8'));
    expect(written.curves.map((curve: { strategy: string }) => curve.strategy)).toEqual(['random', 'margin']);

    // The naive reference: @ssl/eval's activeLearning on the same features, seeds 2 and 3 (the run's seed on).
    const train = await loadFashionMnist({ split: 'train', source: 'sample' });
    const test = await loadFashionMnist({ split: 'test', source: 'sample' });
    const pool = await extractFeatures(encoder, train);
    const testFeatures = await extractFeatures(encoder, test);
    for (const curve of written.curves as Array<{ strategy: AcquisitionStrategy; accuracyBySeed: number[][] }>) {
      const expected = [];
      for (const seed of [2, 3]) {
        const result = await activeLearning({
          pool,
          test: testFeatures,
          oracle: (indices) => indices.map((index) => pool.labels[index]),
          numClasses: 10,
          strategy: curve.strategy,
          budget: 10,
          rounds: 2,
          seed,
        });
        expected.push(result.rounds.map((round) => round.testAccuracy));
      }
      expect(curve.accuracyBySeed).toEqual(expected);
    }
    encoder.model.dispose();
  });

  it('refuses a budget larger than the pool, naming the flags', async () => {
    const io = bufferedIo(workDir);
    const argv = [
      'active',
      join(workDir, 'active-run'),
      '--data',
      'fashion-mnist-sample',
      '--budget',
      '2000',
      '--rounds',
      '2',
      '--backend',
      'cpu',
    ];
    expect(await runCli(argv, io)).toBe(1);
    expect(io.err().trim()).toBe('ssl: error: --budget 2000 × --rounds 2 asks for 4000 labels but --data has 3000 pool images.');
  });
});
