import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { fashionMnistCaptions } from '@ssl/clip';
import { Random, loadFashionMnist, loadRun } from '@ssl/core';
import { classifierAccuracy } from '@ssl/eval';
import { runCli } from '../src/program';
import { bufferedIo } from './cli-io-buffer';

const workDir = mkdtempSync(join(tmpdir(), 'ssl-method-classifier-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

/** Writes the first `count` sample training images as PNGs with synthetic captions: a user's pairs file. */
async function writePairsFile(count: number): Promise<string> {
  const train = await loadFashionMnist({ split: 'train', source: 'sample' });
  const captions = fashionMnistCaptions(train.labels!.subarray(0, count), new Random(0));
  mkdirSync(join(workDir, 'images'), { recursive: true });
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const png = new PNG({ width: 28, height: 28 });
    for (let p = 0; p < 784; p++) {
      const value = train.images[i * 784 + p];
      png.data.set([value, value, value, 255], p * 4);
    }
    writeFileSync(join(workDir, 'images', `${i}.png`), PNG.sync.write(png, { colorType: 0 }));
    lines.push(JSON.stringify({ image: `images/${i}.png`, caption: captions[i] }));
  }
  const path = join(workDir, 'pairs.jsonl');
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

async function ssl(...argv: string[]) {
  const io = bufferedIo(workDir);
  const code = await runCli(argv, io);
  return { code, stdout: io.out(), stderr: io.err() };
}

describe('ssl pretrain clip --eval-data', () => {
  it('reports zero-shot top-1 against chance, and a fresh process reloading the run gets the same accuracy', async () => {
    const pairs = await writePairsFile(1000);
    const config = join(workDir, 'clip.json');
    writeFileSync(
      config,
      JSON.stringify({
        method: { embedDim: 16, text: { embedDim: 16, depth: 1, numHeads: 2, maxLength: 12, mlpRatio: 2, vocabLimit: 500 } },
      }),
    );
    const out = join(workDir, 'clip-run');
    const flags = ['--eval-data', 'fashion-mnist-sample', '--image-size', '28', '--channels', '1', '--config', config];
    const { code, stdout, stderr } = await ssl(
      'pretrain',
      'clip',
      '--data',
      pairs,
      ...flags,
      '--epochs',
      '4',
      '--batch-size',
      '50',
      '--out',
      out,
    );
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/the method's own classifier\s+method\s+chance\s+gain/);
    const { classifier } = JSON.parse(readFileSync(join(out, 'eval.json'), 'utf8'));
    expect(classifier.description).toBe('zero-shot top-1 (prompt "a photo of a {}.")');
    expect(classifier.control).toEqual({ name: 'chance', accuracy: 0.1 });
    // Learned from captions alone (chance 10%), so an equal figure below is the same model, not a constant guess.
    expect(classifier.accuracy).toBeGreaterThan(0.15);
    console.log(`zero-shot top-1 of the CLI run: ${(100 * classifier.accuracy).toFixed(1)}% (chance 10%)`);

    const child = spawnSync(
      process.execPath,
      ['--conditions=@ssl/source', '--import', 'tsx', join(import.meta.dirname, 'fixtures', 'zero-shot-from-run.ts'), out],
      {
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    expect(child.status, child.stderr).toBe(0);
    expect(JSON.parse(child.stdout.trim().split('\n').at(-1)!)).toEqual({ accuracy: classifier.accuracy });
  }, 400_000);

  it('refuses pairs as --eval-data, and images of another shape, naming the flags to pass', async () => {
    const pairs = join(workDir, 'empty-pairs.jsonl');
    writeFileSync(pairs, '');
    const asPairs = await ssl('pretrain', 'clip', '--data', pairs, '--eval-data', pairs, '--out', join(workDir, 'refused-1'));
    expect(asPairs.code).toBe(1);
    expect(asPairs.stderr).toMatch(/^ssl: error: --eval-data .*empty-pairs\.jsonl holds image–text pairs; pass labeled images/);
    const otherShape = await ssl(
      'pretrain',
      'clip',
      '--data',
      pairs,
      '--eval-data',
      'fashion-mnist-sample',
      '--out',
      join(workDir, 'refused-2'),
    );
    expect(otherShape.code).toBe(1);
    expect(otherShape.stderr.trim()).toBe(
      'ssl: error: --eval-data fashion-mnist-sample holds 28×28×1 images but the run trains on 32×32×3; pass --image-size 28 --channels 1 so both match.',
    );
  });
});

describe('ssl semisup', () => {
  it("prints the method's classifier at k labels per class beside its supervised-only ablation on the same labels", async () => {
    const out = join(workDir, 'pi-model-run');
    const { code, stdout, stderr } = await ssl(
      'semisup',
      'pi-model',
      '--data',
      'fashion-mnist-sample',
      '--labels-per-class',
      '10',
      '--epochs',
      '3',
      '--batch-size',
      '32',
      '--out',
      out,
    );
    expect(code, stderr).toBe(0);
    expect(stderr).toContain('training the supervised-only control (semisup:pi-model without its unlabeled term, same labels and steps)');
    expect(stdout).toMatch(
      /the method's own classifier\s+method\s+supervised-only\s+gain\n[- ]+\nclassifier top-1 \(student\)\s+\d+\.\d%\s+\d+\.\d%\s+[+-]?\d+\.\d pts/,
    );
    const { classifier } = JSON.parse(readFileSync(join(out, 'eval.json'), 'utf8'));
    expect(classifier.control.name).toBe('supervised-only');
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('id="classifier-table"');

    // The figure is the saved classifier's test accuracy: the run's encoder and classifier reloaded here give it.
    const run = await loadRun(out);
    const head = run.network('classifier');
    const test = await loadFashionMnist({ split: 'test', source: 'sample' });
    const reloaded = await classifierAccuracy(
      {
        description: 'reloaded',
        control: 'supervised-only',
        probabilities: (images) => tf.tidy(() => tf.softmax(head.predict(run.encoder!.features(images)) as tf.Tensor2D)),
      },
      test,
    );
    run.dispose();
    expect(reloaded).toBe(classifier.accuracy);
    // 100 labels of Fashion-MNIST teach both classifiers far above chance (10%; 64.0% and 63.7% on this seed),
    // so the equal figures above are the same classifier, not two constant guesses.
    expect(Math.min(classifier.accuracy, classifier.control.accuracy)).toBeGreaterThan(0.4);
  }, 400_000);

  it('shares one supervised-only run as the control of other methods (--control), checked to be trained the same way', async () => {
    const recipe = (name: string, method: Record<string, unknown>) => {
      const path = join(workDir, `${name}.json`);
      writeFileSync(path, JSON.stringify({ encoderOptions: { channels: [4, 8] }, method }));
      return path;
    };
    const supervisedOnly = recipe('supervised-only', { unlabeledRatio: 1, unlabeledWeight: 0 });
    const fixmatch = recipe('fixmatch', { unlabeledRatio: 1 });
    const shared = ['--data', 'fashion-mnist-sample', '--labels-per-class', '10', '--batch-size', '16', '--steps', '6'];
    const controlDir = join(workDir, 'supervised-only-run');
    const control = await ssl('semisup', 'fixmatch', ...shared, '--config', supervisedOnly, '--no-control', '--out', controlDir);
    expect(control.code, control.stderr).toBe(0);
    expect(control.stderr).not.toContain('training the supervised-only control');
    const controlEval = JSON.parse(readFileSync(join(controlDir, 'eval.json'), 'utf8'));
    expect(controlEval.classifier.control).toBeUndefined();
    // --steps stops the run there (the sample's epoch at μB = 16 is 56 steps), its lr schedule planned over them.
    const steps = readFileSync(join(controlDir, 'metrics.jsonl'), 'utf8')
      .split('\n')
      .filter((line) => line.includes('"type":"step"'));
    expect(steps).toHaveLength(6);
    expect(JSON.parse(readFileSync(join(controlDir, 'config.json'), 'utf8')).maxSteps).toBe(6);

    const methodDir = join(workDir, 'fixmatch-run');
    const method = await ssl('semisup', 'fixmatch', ...shared, '--config', fixmatch, '--control', controlDir, '--out', methodDir);
    expect(method.code, method.stderr).toBe(0);
    expect(method.stderr).not.toContain('training the supervised-only control');
    const { classifier } = JSON.parse(readFileSync(join(methodDir, 'eval.json'), 'utf8'));
    expect(classifier.control).toEqual({ name: 'supervised-only', accuracy: controlEval.classifier.accuracy });

    // A control trained otherwise, or one that used unlabeled images, is refused before any training.
    const otherSeed = await ssl(
      'semisup',
      'fixmatch',
      ...shared,
      '--seed',
      '1',
      '--config',
      fixmatch,
      '--control',
      controlDir,
      '--out',
      join(workDir, 'refused-seed'),
    );
    expect(otherSeed.code).toBe(1);
    expect(otherSeed.stderr.trim()).toBe(
      `ssl: error: --control ${controlDir} was trained differently: --seed 1 (the control's 0); a shared control needs this run's data, labels, seed, encoder, batch, lr and steps.`,
    );
    const notSupervised = await ssl(
      'semisup',
      'fixmatch',
      ...shared,
      '--config',
      fixmatch,
      '--control',
      methodDir,
      '--out',
      join(workDir, 'refused-method'),
    );
    expect(notSupervised.code).toBe(1);
    expect(notSupervised.stderr).toMatch(
      /^ssl: error: --control .*fixmatch-run is a semisup:fixmatch run that uses unlabeled images; a control must be supervised-only/,
    );
    const rounds = await ssl('semisup', 'self-training', ...shared, '--out', join(workDir, 'refused-rounds'));
    expect(rounds.code).toBe(1);
    expect(rounds.stderr.trim()).toBe(
      "ssl: error: --steps would cut semisup:self-training's 3 rounds short; size each round with --epochs instead.",
    );
  }, 400_000);
});
