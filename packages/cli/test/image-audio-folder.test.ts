import { cp, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRegistry } from '@ssl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import clipPlugin from '@ssl/clip';
import { loadRunData } from '../src/load-run-data';
import { planTrainingRun, type TrainingFlags } from '../src/commands/plan-training-run';
import { runCli } from '../src/program';
import { bufferedIo } from './cli-io-buffer';

/** @ssl/clip's 30 real pairs: 3 Fashion-MNIST images per class, each with its class name spoken by espeak-ng. */
const FIXTURE = fileURLToPath(new URL('../../clip/test-data/fashion-pairs', import.meta.url));

let workDir: string;
beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'ssl-cli-pairs-'));
  await writeFile(
    join(workDir, 'small.json'),
    JSON.stringify({ method: { audioChannels: [4, 8], fusionDim: 16, embeddingDim: 8, melBins: 16 } }),
  );
});
afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

const registry = createRegistry().use(clipPlugin());
const plan = (method: string, flags: Partial<TrainingFlags>) => planTrainingRun(registry, workDir, { mode: 'pretrain', method, flags });
const planError = (method: string, flags: Partial<TrainingFlags>) =>
  plan(method, flags).then(
    () => undefined,
    (error: Error) => error,
  );

describe('ssl pretrain clip:audio-visual --data <folder of (image, WAV) pairs>', () => {
  it('pairs each image with its own recording, holds out a fifth of the pairs and evaluates on the class sub-folders', async () => {
    const planned = await plan('clip:audio-visual', { data: FIXTURE, imageSize: 28, channels: 1 });
    expect(planned.data).toEqual({ kind: 'image-audio-folder', path: FIXTURE, clip: { sampleRate: 8000, clipSamples: 12000 } });
    expect(planned.invocation.audio).toBeNull();
    const data = await loadRunData(planned.data, { geometry: planned.geometry, seed: 0, needEvaluation: true });
    const train = data.train as { images: { size: number }; audio: { size: number; length: number }; pairing: string };
    expect([train.pairing, train.images.size, train.audio.size, train.audio.length]).toEqual(['pair', 20, 20, 12000]);
    expect((data.heldOut as { images: { size: number } }).images.size).toBe(10);
    expect(data.evaluationTrain?.classNames).toHaveLength(10);
    expect(data.evaluationTest?.size).toBe(10);
    // --no-eval trains on every pair.
    const all = await loadRunData(planned.data, { geometry: planned.geometry, seed: 0, needEvaluation: false });
    expect((all.train as { images: { size: number } }).images.size).toBe(30);
  });

  it('refuses --audio beside a pairs folder and a pairs folder given as --audio; other methods read its images', async () => {
    expect((await planError('clip:audio-visual', { data: FIXTURE, audio: 'spoken-classes-sample' }))?.message).toMatch(
      /^--data .*fashion-pairs holds \(image, WAV\) pairs: each image already has its recording; drop --audio spoken-classes-sample\.$/,
    );
    expect((await planError('clip:audio-visual', { data: 'fashion-mnist-sample', audio: FIXTURE }))?.message).toMatch(
      /^--audio .*fashion-pairs is a folder of \(image, WAV\) pairs: pass it as --data .*fashion-pairs \(without --audio\)/,
    );
    expect((await planError('clip:audio-visual', { data: 'fashion-mnist-sample' }))?.message).toMatch(
      /or pass --data <folder of \(image, WAV\) pairs of the same base name> for each image's own sound\.$/,
    );
    const imagesOnly = await plan('clip:clip', { data: FIXTURE }).catch((error: Error) => error);
    expect(imagesOnly).toBeInstanceOf(Error); // clip:clip needs captions: the folder is not image–text pairs
    const { default: contrastive } = await import('@ssl/contrastive');
    const simclr = await planTrainingRun(createRegistry().use(contrastive()), workDir, {
      mode: 'pretrain',
      method: 'contrastive:simclr',
      flags: { data: FIXTURE },
    });
    expect(simclr.data).toEqual({ kind: 'image-folder', path: FIXTURE });
  });

  it('says which file lacks its partner, in one line', async () => {
    const broken = join(workDir, 'broken');
    await cp(FIXTURE, broken, { recursive: true });
    await unlink(join(broken, 'bag', '0025.wav'));
    const io = bufferedIo(workDir);
    const code = await runCli(['pretrain', 'clip:audio-visual', '--data', broken, '--out', join(workDir, 'runs', 'broken')], io);
    expect(code).not.toBe(0);
    const lines = io.err().trimEnd().split('\n');
    expect(lines.at(-1)).toMatch(/^ssl: error: .*bag\/0025\.png: no 0025\.wav beside it \(.* holds 3 images and 2 WAV files\)/);
    expect(io.err()).not.toMatch(/\n\s+at /);
  });

  it('trains end to end on the real pairs: exit 0, finite loss, eval.json with kNN and the held-out pair task', async () => {
    const out = join(workDir, 'runs', 'pairs');
    const io = bufferedIo(workDir);
    const started = performance.now();
    const code = await runCli(
      [
        'pretrain',
        'clip:audio-visual',
        '--data',
        FIXTURE,
        '--image-size',
        '28',
        '--channels',
        '1',
        '--config',
        'small.json',
        '--epochs',
        '12',
        '--batch-size',
        '8',
        '--backend',
        'wasm',
        '--out',
        out,
      ],
      io,
    );
    const seconds = (performance.now() - started) / 1000;
    expect(code, io.err()).toBe(0);
    const finalLoss = Number(/final loss ([-\d.e]+)/.exec(io.err())?.[1]);
    expect(Number.isFinite(finalLoss), io.err()).toBe(true);
    const steps = Number(/finished after (\d+) steps/.exec(io.err())?.[1]);
    expect(steps).toBeGreaterThanOrEqual(24);
    const evaluation = JSON.parse(await readFile(join(out, 'eval.json'), 'utf8')) as {
      rows: { name: string; value: number; randomInit: { value: number } }[];
      heldOutTask?: { name: string; value: number; reference: { value: number } }[];
    };
    // The image tower scored on the folder's class sub-folders, beside the same encoder at random init.
    const knn = evaluation.rows.find((row) => /knn/i.test(row.name));
    expect(knn, JSON.stringify(evaluation.rows.map((row) => row.name))).toBeDefined();
    expect(Number.isFinite(knn!.value) && Number.isFinite(knn!.randomInit.value)).toBe(true);
    const figures = evaluation.heldOutTask ?? [];
    expect(figures.map((figure) => figure.name)).toEqual([
      "image–sound correspondence accuracy (own clip vs another pair's)",
      'audio→image pair recall@1 (own image among 10)',
      'audio→image pair recall@5 (own image among 10)',
    ]);
    for (const figure of figures) expect(figure.value).toBeGreaterThanOrEqual(0);
    expect(figures.map((figure) => figure.reference.value)).toEqual([0.5, 0.1, 0.5]);
    console.log(
      `pairs fixture: ${steps} steps in ${seconds.toFixed(1)} s, final loss ${finalLoss}, ${knn!.name} ${knn!.value} (random init ${knn!.randomInit.value}), ` +
        figures.map((figure) => `${figure.name} ${(100 * figure.value).toFixed(0)}%`).join(', '),
    );
  }, 120_000);
});
