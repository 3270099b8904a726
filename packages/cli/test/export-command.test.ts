import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { PNG } from 'pngjs';
import { EXPORT_FILES, initBackend, loadEncoder, loadFashionMnist, parseSafetensors } from '@ssl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/program';
import { bufferedIo } from './cli-io-buffer';

/*
 * Issue 30, acceptance 4: an encoder trained by `ssl pretrain` (the CNN and ResNet-18), exported by `ssl
 * export` and loaded into PyTorch from the exported files alone, gives @ssl's features on 100 test images
 * (max |Δ| ≤ 1e-4), in eval mode.
 */

/** @ssl/core's script that loads an export with its generated ssl_encoder.py and writes PyTorch's features. */
const TORCH_FEATURES = fileURLToPath(new URL('../../core/src/export/fixtures/torch_features.py', import.meta.url));

/** The first of $SSL_PYTHON, python3 and /usr/bin/python3 that imports torch (a pyenv python3 on PATH may lack Debian's python3-torch). */
function findTorchPython(): { python?: string; reason: string } {
  const tried: string[] = [];
  for (const python of new Set([process.env.SSL_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p))) {
    const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8', timeout: 120_000 });
    if (probe.status === 0) return { python, reason: '' };
    tried.push(`${python}: ${probe.error?.message ?? probe.stderr.trim().split('\n').at(-1)}`);
  }
  return { reason: `no Python imports torch (${tried.join('; ')}); apt-get install python3-torch (CI installs it)` };
}

let workDir: string;
const TEST_IMAGES = 100;

async function ssl(...argv: string[]) {
  const io = bufferedIo(workDir);
  const code = await runCli(argv, io);
  return { code, stdout: io.out(), stderr: io.err() };
}

/** The first `count` sample training images as 28×28 grey PNGs in class folders: a user's image folder. */
async function writeSampleFolder(count: number): Promise<string> {
  const train = await loadFashionMnist({ source: 'sample', split: 'train' });
  const root = join(workDir, 'sample-folder');
  for (let i = 0; i < count; i++) {
    const label = String(train.labels![i]);
    mkdirSync(join(root, label), { recursive: true });
    const png = new PNG({ width: 28, height: 28 });
    for (let p = 0; p < 784; p++) {
      const value = train.images[i * 784 + p];
      png.data.set([value, value, value, 255], p * 4);
    }
    writeFileSync(join(root, label, `${i}.png`), PNG.sync.write(png, { colorType: 0 }));
  }
  return root;
}

beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), 'ssl-export-'));
});
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

describe('ssl export usage', () => {
  it('is listed in --help and needs --out', async () => {
    expect((await ssl('--help')).stdout).toContain('export');
    const { code, stderr } = await ssl('export', 'some-run');
    expect(code).toBe(2);
    expect(stderr).toMatch(/^ssl: error: required option '--out <dir>' not specified/);
  });

  it('refuses a directory without an encoder in one line', async () => {
    const { code, stderr } = await ssl('export', workDir, '--out', join(workDir, 'nothing'));
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/neither a run directory .* nor an encoder directory/);
  });
});

const torch = findTorchPython();
if (!torch.python) console.log(`skipped the PyTorch hand-off test: ${torch.reason}`);

describe.skipIf(!torch.python)('ssl pretrain → ssl export → PyTorch', () => {
  // CNN: 11 SimCLR steps of 256 on the 3000 sample images. ResNet-18: 2 steps of 64 on 128 of them as a folder
  // (an epoch of the whole sample is minutes of ResNet-18 on a CPU); both on wasm like the rest of the tests.
  const cases = [
    { encoder: 'cnn', data: async () => 'fashion-mnist-sample', imageCount: 3000, flags: ['--batch-size', '256'] },
    {
      encoder: 'resnet18',
      data: () => writeSampleFolder(128),
      imageCount: 128,
      flags: ['--batch-size', '64', '--image-size', '28', '--channels', '1'],
    },
  ];
  for (const { encoder: kind, data, imageCount, flags } of cases) {
    it(`a ${kind} trained by ssl pretrain gives the same features in PyTorch (max |Δ| ≤ 1e-4 on ${TEST_IMAGES} test images, eval mode)`, async () => {
      const run = join(workDir, `${kind}-run`);
      const pretrain = await ssl(
        'pretrain',
        'contrastive:simclr',
        '--data',
        await data(),
        '--encoder',
        kind,
        '--epochs',
        '1',
        ...flags,
        '--no-eval',
        '--backend',
        'wasm',
        '--out',
        run,
      );
      expect(pretrain.code, pretrain.stderr).toBe(0);

      const out = join(workDir, `${kind}-pytorch`);
      const exported = await ssl('export', run, '--format', 'pytorch', '--out', out);
      expect(exported.code, exported.stderr).toBe(0);
      expect(exported.stdout).toMatch(new RegExp(`exported the ${kind} encoder \\([\\d,]+ parameters, \\d+ tensors\\)`));
      for (const file of Object.values(EXPORT_FILES)) expect(existsSync(join(out, file)), file).toBe(true);

      // The run's steps are every num_batches_tracked, and its batch norms' running statistics moved from (0, 1).
      const steps = Math.floor(imageCount / Number(flags[1])); // one epoch, the last partial batch dropped
      const { tensors } = parseSafetensors(readFileSync(join(out, EXPORT_FILES.weights)));
      const firstNorm = kind === 'cnn' ? 'stages.0.0.bn' : 'bn1';
      expect(tensors.get(`${firstNorm}.num_batches_tracked`)!.values).toEqual(BigInt64Array.of(BigInt(steps)));
      const runningVar = tensors.get(kind === 'cnn' ? 'stages.2.0.bn.running_var' : 'layer4.1.bn2.running_var')!.values as Float32Array;
      expect(Math.max(...runningVar.map((v) => Math.abs(v - 1)))).toBeGreaterThan(0.05);

      await initBackend({ backend: 'wasm' });
      const test = await loadFashionMnist({ source: 'sample', split: 'test' });
      const pixels = test.images.subarray(0, TEST_IMAGES * 784);
      const encoder = await loadEncoder(join(run, 'encoder'));
      const features = tf.tidy(() =>
        encoder.features(tf.div(tf.tensor4d(pixels, [TEST_IMAGES, 28, 28, 1], 'float32'), 255) as tf.Tensor4D),
      );
      const ours = (await features.data()) as Float32Array;
      features.dispose();
      encoder.model.dispose();

      const inputs = join(workDir, `${kind}-inputs.bin`);
      const outputs = join(workDir, `${kind}-torch.bin`);
      writeFileSync(inputs, pixels);
      const python = spawnSync(torch.python!, [TORCH_FEATURES, out, inputs, String(TEST_IMAGES), '28', '28', '1', outputs], {
        encoding: 'utf8',
        timeout: 300_000,
        env: { ...process.env, OMP_NUM_THREADS: '1' },
      });
      expect(python.status, python.stderr).toBe(0);
      const report = JSON.parse(python.stdout.trim().split('\n').at(-1)!) as {
        evalMode: boolean;
        trainModeMaxDiff: number;
        featureShape: number[];
      };
      const bytes = readFileSync(outputs);
      const theirs = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      expect(report.featureShape).toEqual([TEST_IMAGES, ours.length / TEST_IMAGES]);
      let difference = 0;
      for (let i = 0; i < ours.length; i++) difference = Math.max(difference, Math.abs(ours[i] - theirs[i]));
      const scale = ours.reduce((max, v) => Math.max(max, Math.abs(v)), 0);
      console.log(
        `${kind} after ${steps} steps: PyTorch vs @ssl max |Δ| ${difference.toExponential(2)} (features up to ${scale.toFixed(2)}); train-mode batch norm would differ by ${report.trainModeMaxDiff.toFixed(3)}`,
      );
      expect(report.evalMode).toBe(true);
      expect(difference).toBeLessThanOrEqual(1e-4);
      // Batch statistics instead of the running ones give other features, so the comparison above checks eval mode.
      expect(report.trainModeMaxDiff).toBeGreaterThan(1e-2);
    }, 600_000);
  }

  it('--format safetensors writes the weights and encoder.json only', async () => {
    const run = join(workDir, 'cnn-run');
    const out = join(workDir, 'cnn-safetensors');
    const { code, stdout, stderr } = await ssl('export', join(run, 'encoder'), '--format', 'safetensors', '--out', out);
    expect(code, stderr).toBe(0);
    expect(stdout).toContain(EXPORT_FILES.manifest);
    expect(existsSync(join(out, EXPORT_FILES.weights))).toBe(true);
    expect(existsSync(join(out, EXPORT_FILES.module))).toBe(false);
  });
});
