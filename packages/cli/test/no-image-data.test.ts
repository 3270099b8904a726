import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { fashionMnistCaptions } from '@ssl/clip';
import { Random, loadFashionMnist, loadRun } from '@ssl/core';
import { runCli } from '../src/program';
import { bufferedIo } from './cli-io-buffer';

/*
 * Data without images from the command line: clip:audio-text on spoken clips with their texts (trained, then scored
 * by its own held-out task: no image encoder, no image kNN), and clip:clip started from a masked:mlm run's text tower.
 */

const workDir = mkdtempSync(join(tmpdir(), 'ssl-cli-no-image-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

async function ssl(...argv: string[]) {
  const io = bufferedIo(workDir);
  const code = await runCli(argv, io);
  return { code, stdout: io.out(), stderr: io.err() };
}

/** The CLI contract for failures: exactly one `ssl: error:` line matching `pattern`. */
function expectOneLineError(result: { code: number; stderr: string }, pattern: RegExp): void {
  expect(result.code, result.stderr).toBe(1);
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^ssl: error: /);
  expect(lines[0]).toMatch(pattern);
}

function writeJson(name: string, value: unknown): string {
  const path = join(workDir, name);
  writeFileSync(path, JSON.stringify(value));
  return path;
}

describe('ssl pretrain clip:audio-text --data <spoken clips>', () => {
  it('trains on the clips and their texts and prints its held-out retrieval and zero-shot figures beside chance', async () => {
    const out = join(workDir, 'audio-text');
    // A small tower pair: 100 clips, batch 32 = 3 steps an epoch.
    const config = writeJson('audio-text.json', {
      method: { embedDim: 16, audio: { channels: [8, 16], melBins: 24 }, text: { embedDim: 16, numHeads: 2 } },
    });
    const result = await ssl(
      'pretrain',
      'clip:audio-text',
      '--data',
      'spoken-classes-sample',
      '--epochs',
      '4',
      '--config',
      config,
      '--out',
      out,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain("the method's own encoders (no images)");
    const figures = [...result.stdout.matchAll(/^held-out (.+): (\d+\.\d)% \(chance: (\d+\.\d)%\)$/gm)].map((m) => ({
      name: m[1],
      value: Number(m[2]),
      chance: Number(m[3]),
    }));
    expect(figures.map((f) => f.name)).toEqual([
      'audio→text recall@1 (20 pairs)',
      'text→audio recall@1 (20 pairs)',
      'zero-shot audio top-1 from text prompts (nearest prompt)',
    ]);
    expect(figures.map((f) => f.chance)).toEqual([5, 5, 10]);
    // No image evaluation: there is no image encoder to score.
    expect(result.stdout).not.toContain('kNN');
    const saved = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as {
      encoder: unknown;
      steps?: number;
      data: { name: string };
    };
    expect(saved.encoder).toBeNull();
    expect(saved.data.name).toBe('spoken-classes/train:audio-text');
  }, 300_000);

  it('refuses image data, --audio, an image encoder, and spoken clips for an image method, each in one line', async () => {
    expectOneLineError(
      await ssl('pretrain', 'clip:audio-text', '--data', 'fashion-mnist-sample'),
      /clip:audio-text trains on pairs of two modalities; pass --data spoken-classes-sample \| <folder written by make-speech-sample\.ts>/,
    );
    expectOneLineError(
      await ssl('pretrain', 'clip:audio-text', '--data', 'spoken-classes-sample', '--audio', 'spoken-classes-sample'),
      /clip:audio-text trains on spoken clips .* given as --data; pass --data spoken-classes-sample and drop --audio/,
    );
    expectOneLineError(
      await ssl('pretrain', 'clip:audio-text', '--data', 'spoken-classes-sample', '--encoder', 'vit28'),
      /--encoder vit28 is an image encoder, but --data spoken-classes-sample has no images .*drop --encoder/,
    );
    expectOneLineError(
      await ssl('pretrain', 'contrastive:simclr', '--data', 'spoken-classes-sample'),
      /contrastive:simclr trains on unlabeled data; --data spoken-classes-sample holds spoken clips with their texts/,
    );
  });
});

/** The first `count` sample training images as PNGs with synthetic captions (a user's pairs file), and the captions. */
async function writePairs(count: number): Promise<{ pairs: string; captions: string[] }> {
  const train = await loadFashionMnist({ split: 'train', source: 'sample' });
  const captions = fashionMnistCaptions(train.labels!.subarray(0, count), new Random(0));
  mkdirSync(join(workDir, 'images'), { recursive: true });
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const png = new PNG({ width: 28, height: 28 });
    for (let p = 0; p < 784; p++)
      png.data.set([train.images[i * 784 + p], train.images[i * 784 + p], train.images[i * 784 + p], 255], p * 4);
    writeFileSync(join(workDir, 'images', `${i}.png`), PNG.sync.write(png, { colorType: 0 }));
    lines.push(JSON.stringify({ image: `images/${i}.png`, caption: captions[i] }));
  }
  const pairs = join(workDir, 'pairs.jsonl');
  writeFileSync(pairs, `${lines.join('\n')}\n`);
  return { pairs, captions };
}

describe('ssl pretrain clip:clip --text-tower <masked:mlm run>', () => {
  const tower = { embedDim: 16, depth: 1, numHeads: 2, maxLength: 12, mlpRatio: 2, vocabLimit: 100 };

  it("starts CLIP's text tower from the run: its tokenizer and (at a negligible lr) its weights; refuses other runs and sizes in one line", async () => {
    const { pairs, captions } = await writePairs(64);
    const corpus = join(workDir, 'captions.txt');
    writeFileSync(corpus, `${captions.join('\n')}\n`);
    const mlm = join(workDir, 'mlm');
    const pretrained = await ssl(
      'pretrain',
      'masked:mlm',
      '--data',
      corpus,
      '--epochs',
      '2',
      '--batch-size',
      '16',
      '--config',
      writeJson('mlm.json', { method: { text: tower } }),
      '--out',
      mlm,
    );
    expect(pretrained.code, pretrained.stderr).toBe(0);

    const out = join(workDir, 'clip-from-mlm');
    const trained = await ssl(
      'pretrain',
      'clip:clip',
      '--data',
      pairs,
      '--text-tower',
      mlm,
      '--epochs',
      '1',
      '--batch-size',
      '16',
      '--lr',
      '1e-9',
      '--no-eval',
      '--out',
      out,
    );
    expect(trained.code, trained.stderr).toBe(0);
    expect(trained.stderr).toContain(`text tower starts from the masked:mlm run in ${mlm}`);
    const saved = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as {
      config: { text: Record<string, unknown> };
      invocation: { textTower?: string };
    };
    expect(saved.config.text).toEqual({ ...tower, causal: false });
    expect(saved.invocation.textTower).toBe(mlm);
    const [mlmRun, clipRun] = [await loadRun(mlm), await loadRun(out)];
    try {
      expect(clipRun.json('tokenizer')).toEqual(mlmRun.json('tokenizer'));
      const own = clipRun.encoderProduct('textEncoder').model.getWeights();
      const given = mlmRun.encoder!.model.getWeights();
      expect(own.map((w) => w.shape)).toEqual(given.map((w) => w.shape));
      // One step at lr 1e-9 moves no weight by more than ~1e-8: the tower's weights, not a fresh init (|w| ~ 0.1).
      own.forEach((weight, i) => {
        const difference = Math.max(...Array.from(weight.dataSync(), (v, k) => Math.abs(v - given[i].dataSync()[k])));
        expect(difference, `weight ${i}`).toBeLessThan(1e-5);
      });
    } finally {
      mlmRun.dispose();
      clipRun.dispose();
    }

    expectOneLineError(
      await ssl('pretrain', 'clip:clip', '--data', pairs, '--text-tower', out, '--out', join(workDir, 'refused-1')),
      /--text-tower .*clip-from-mlm is a clip:clip run; clip:clip's text tower starts from a finished masked:mlm run/,
    );
    expectOneLineError(
      await ssl(
        'pretrain',
        'clip:clip',
        '--data',
        pairs,
        '--text-tower',
        mlm,
        '--config',
        writeJson('wide.json', { method: { text: { embedDim: 32 } } }),
        '--out',
        join(workDir, 'refused-2'),
      ),
      /--text-tower .*mlm is a bidirectional tower of embedDim 16, .*; --config "method"\.text asks for embedDim 32: drop "text" from --config/,
    );
    expectOneLineError(
      await ssl(
        'pretrain',
        'contrastive:simclr',
        '--data',
        'fashion-mnist-sample',
        '--text-tower',
        mlm,
        '--out',
        join(workDir, 'refused-3'),
      ),
      /--text-tower starts clip:clip's text tower from a masked:mlm run; contrastive:simclr has no such tower/,
    );
  }, 400_000);
});
