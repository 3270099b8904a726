import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isSslError } from '../errors';
import type { AnyEncoder } from '../nn/create-encoder';
import { createEncoder } from '../nn/create-encoder';
import { vitPreset } from '../nn/spec';
import type { CnnSpec, ResNetSpec } from '../nn/spec';
import { EXPORT_FILES, exportEncoder, type EncoderExportManifest } from './export-encoder';
import { hwioToOihw, pytorchStateDict, transposeMatrix } from './pytorch-state-dict';
import { parseSafetensors, serializeSafetensors } from '../train/safetensors';
import { findTorchPython, maxAbsDifference, torchFeatures } from './torch-python';

const TORCHVISION_CHECK = fileURLToPath(new URL('./fixtures/torchvision_check.py', import.meta.url));

let root: string;
beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
  root = mkdtempSync(join(tmpdir(), 'ssl-export-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Deterministic pseudo-random values in [0, 1). */
function pseudoRandom(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state / 2 ** 32;
  }
  return out;
}

/**
 * Sets every batch norm's running statistics to the statistics of its input on `calibration` images, off by
 * up to 10 % (and γ, β up to 0.2 away from 1, 0), in topological order: activations of a trained network's
 * scale through every depth (larger random statistics compound over ResNet-50's 53 batch norms into features
 * of ~10, where float32 rounding alone reaches 1e-4), while a swapped tensor, a wrong epsilon or a train-mode
 * forward still changes the features.
 */
function calibrateBatchNorms(encoder: AnyEncoder, calibration: tf.Tensor, seed: number): void {
  let k = seed;
  for (const layer of encoder.model.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
    const channels = layer.getWeights()[0].shape[0];
    const draw = (low: number, high: number) => tf.tensor1d(Array.from(pseudoRandom(channels, k++), (u) => low + (high - low) * u));
    const weights = tf.tidy(() => {
      const upToHere = tfl.model({ inputs: encoder.model.inputs, outputs: layer.input as tfl.SymbolicTensor });
      const activations = upToHere.predict(calibration) as tf.Tensor;
      const { mean, variance } = tf.moments(activations, [...Array(activations.rank - 1).keys()]);
      return [draw(0.8, 1.2), draw(-0.2, 0.2), tf.add(mean, tf.mul(tf.sqrt(variance), draw(-0.1, 0.1))), tf.mul(variance, draw(0.9, 1.1))];
    });
    layer.setWeights(weights);
    tf.dispose(weights);
  }
}

describe('safetensors', () => {
  it('writes the 8-byte little-endian header length, an aligned JSON header and little-endian data in order', () => {
    const bytes = serializeSafetensors(
      [
        { name: 'w', dtype: 'F32', shape: [2, 2], values: Float32Array.of(1, -2, 0.5, 3) },
        { name: 'count', dtype: 'I64', shape: [], values: BigInt64Array.of(7n) },
      ],
      { format: 'pt' },
    );
    const view = new DataView(bytes.buffer);
    const headerLength = Number(view.getBigUint64(0, true));
    expect(headerLength % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
    expect(header).toEqual({
      __metadata__: { format: 'pt' },
      w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] },
      count: { dtype: 'I64', shape: [], data_offsets: [16, 24] },
    });
    const data = 8 + headerLength;
    expect(bytes.byteLength).toBe(data + 24);
    expect([0, 1, 2, 3].map((i) => view.getFloat32(data + 4 * i, true))).toEqual([1, -2, 0.5, 3]);
    // Byte by byte: 1.0f is 0x3f800000, stored low byte first.
    expect(Array.from(bytes.subarray(data, data + 4))).toEqual([0x00, 0x00, 0x80, 0x3f]);
    expect(Array.from(bytes.subarray(data + 16, data + 24))).toEqual([7, 0, 0, 0, 0, 0, 0, 0]);
    const parsed = parseSafetensors(bytes);
    expect(parsed.metadata).toEqual({ format: 'pt' });
    expect(Array.from(parsed.tensors.get('w')!.values as Float32Array)).toEqual([1, -2, 0.5, 3]);
    expect(parsed.tensors.get('count')!.values).toEqual(BigInt64Array.of(7n));
  });

  it('refuses values that do not fill the shape, duplicate names, and a truncated file', () => {
    expect(() => serializeSafetensors([{ name: 'w', dtype: 'F32', shape: [3], values: new Float32Array(2) }])).toThrow(
      /2 values but shape \[3\]/,
    );
    const twice = { name: 'w', dtype: 'F32', shape: [1], values: new Float32Array(1) } as const;
    expect(() => serializeSafetensors([twice, twice])).toThrow(/Two tensors are named w/);
    const bytes = serializeSafetensors([twice]);
    expect(() => parseSafetensors(bytes.subarray(0, bytes.byteLength - 1))).toThrow(/do not fit/);
  });
});

describe('layouts', () => {
  it('HWIO → OIHW is tf.transpose(kernel, [3, 2, 0, 1]) and [in, out] → [out, in] is the matrix transpose', () => {
    const shape = [3, 2, 4, 5];
    const kernel = pseudoRandom(3 * 2 * 4 * 5, 3);
    const reference = tf.tidy(() => tf.transpose(tf.tensor4d(kernel, shape as [number, number, number, number]), [3, 2, 0, 1]));
    const converted = hwioToOihw(kernel, shape);
    expect(converted.shape).toEqual(reference.shape);
    expect(Array.from(converted.values)).toEqual(Array.from(reference.dataSync()));
    reference.dispose();
    const matrix = transposeMatrix(Float32Array.of(1, 2, 3, 4, 5, 6), [2, 3]);
    expect(matrix.shape).toEqual([3, 2]);
    expect(Array.from(matrix.values)).toEqual([1, 4, 2, 5, 3, 6]);
  });
});

describe('PyTorch names', () => {
  it('names a ResNet-18 as torchvision does (without fc), with downsample only where the shape changes', () => {
    const encoder = createEncoder({ kind: 'resnet18', inputShape: [32, 32, 3], seed: 1 });
    const { tensors, architecture } = pytorchStateDict(encoder, { batchesTracked: 12 });
    const bn = (prefix: string) => ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'].map((n) => `${prefix}.${n}`);
    const expected = ['conv1.weight', ...bn('bn1')];
    for (let stage = 1; stage <= 4; stage++) {
      for (let block = 0; block < 2; block++) {
        const prefix = `layer${stage}.${block}`;
        expected.push(`${prefix}.conv1.weight`, ...bn(`${prefix}.bn1`), `${prefix}.conv2.weight`, ...bn(`${prefix}.bn2`));
        if (stage > 1 && block === 0) expected.push(`${prefix}.downsample.0.weight`, ...bn(`${prefix}.downsample.1`));
      }
    }
    expect(tensors.map((t) => t.name)).toEqual(expected);
    const byName = new Map(tensors.map((t) => [t.name, t]));
    expect(byName.get('conv1.weight')!.shape).toEqual([64, 3, 3, 3]);
    expect(byName.get('layer2.0.conv1.weight')!.shape).toEqual([128, 64, 3, 3]);
    expect(byName.get('layer4.0.downsample.0.weight')!.shape).toEqual([512, 256, 1, 1]);
    expect(byName.get('layer3.1.bn2.num_batches_tracked')).toMatchObject({ dtype: 'I64', shape: [], values: BigInt64Array.of(12n) });
    expect(architecture).toMatchObject({
      family: 'resnet',
      blocks: [2, 2, 2, 2],
      widths: [64, 128, 256, 512],
      stem: 'cifar',
      eps: 1e-5,
      momentum: 0.1,
    });
    // Every trainable weight of the tfjs model is exported, once.
    const trainable = encoder.model.trainableWeights.reduce((sum, w) => sum + w.shape.reduce<number>((a, b) => a * (b ?? 1), 1), 0);
    const exported = tensors.filter((t) => t.dtype === 'F32' && !/running_/.test(t.name)).reduce((sum, t) => sum + t.values.length, 0);
    expect(exported).toBe(trainable);
    encoder.model.dispose();
  });

  it('refuses encoders it has no mapping for, naming the ones it covers', () => {
    const vit = createEncoder(vitPreset('vit28', { depth: 1, embedDim: 16, numHeads: 2 }));
    let caught: unknown;
    try {
      pytorchStateDict(vit);
    } catch (error) {
      caught = error;
    }
    expect(isSslError(caught, 'invalid-config')).toBe(true);
    expect((caught as Error).message).toMatch(/covers cnn, resnet18, resnet34, resnet50, mlp encoders, not 'vit'/);
    vit.model.dispose();
  });
});

const torch = findTorchPython();
if (!torch.python) console.log(`skipped the PyTorch comparisons: ${torch.reason}`);

describe.skipIf(!torch.python)('PyTorch loads the export and computes the same features', () => {
  const cases: { name: string; spec: CnnSpec | ResNetSpec; size?: [number, number] }[] = [
    { name: 'the default CNN', spec: { kind: 'cnn', inputShape: [28, 28, 1], seed: 2 } },
    {
      name: 'a CNN without batch norm, two convs per stage, dropout',
      spec: { kind: 'cnn', inputShape: [20, 20, 3], channels: [8, 16], convsPerStage: 2, batchNorm: false, dropout: 0.2, seed: 3 },
    },
    // 28 → 14 → 7 → 4: stride-2 convs on even sizes (TensorFlow pads after only) and on an odd one.
    {
      name: 'ResNet-18 at half width, CIFAR stem, 28 px',
      spec: { kind: 'resnet18', inputShape: [28, 28, 1], widthMultiplier: 0.5, seed: 4 },
    },
    // ImageNet stem: a 7×7/2 conv and a 3×3/2 max-pool with 'same' padding; bottlenecks with the stride on the 3×3.
    {
      name: 'ResNet-50 at a quarter width, ImageNet stem, 45 × 38 px',
      spec: { kind: 'resnet50', inputShape: [64, 64, 3], stem: 'imagenet', widthMultiplier: 0.25, dropPath: 0.1, seed: 5 },
      size: [45, 38],
    },
  ];
  for (const { name, spec, size } of cases) {
    it(`${name}: max |Δ| ≤ 1e-4 (or float32's own error) on 100 images, in eval mode`, async () => {
      const encoder = createEncoder(spec) as AnyEncoder;
      const [height, width] = size ?? [spec.inputShape[0], spec.inputShape[1]];
      const channels = spec.inputShape[2];
      const pixels = Uint8Array.from(pseudoRandom(100 * height * width * channels, 17), (u) => Math.floor(256 * u));
      const images = tf.div(tf.tensor4d(pixels, [100, height, width, channels], 'float32'), 255) as tf.Tensor4D;
      const calibration = tf.slice(images, 0, 16);
      calibrateBatchNorms(encoder, calibration, 11);
      const ours = encoder.features(images);
      tf.dispose([images, calibration]);
      const expected = (await ours.data()) as Float32Array;
      ours.dispose();
      const dir = join(root, name.replace(/\W+/g, '-'));
      const result = await exportEncoder(encoder, dir, { format: 'pytorch', batchesTracked: 5 });
      const { features, report } = torchFeatures(torch.python!, dir, pixels, [100, height, width, channels]);
      const difference = maxAbsDifference(features, expected);
      const scale = expected.reduce((max, v) => Math.max(max, Math.abs(v)), 0);
      console.log(
        `${name}: max |Δ| ${difference.toExponential(2)} (features up to ${scale.toFixed(2)}), train-mode features differ by ${report.trainModeMaxDiff.toFixed(3)}, PyTorch float32 vs float64 ${report.float32MaxError.toExponential(2)}`,
      );
      expect(report.evalMode).toBe(true);
      expect(report.parameters).toBe(result.parameters);
      expect(report.featureShape).toEqual([100, encoder.featureDim]);
      // 1e-4, unless PyTorch's own float32 result is further than that from float64 (the deep ResNet-50 with
      // random weights: 3.6e-4 measured), where agreeing within twice that error is all float32 can show.
      expect(difference).toBeLessThanOrEqual(Math.max(1e-4, 2 * report.float32MaxError));
      // The comparison can see the batch-norm mode: batch statistics give other features (no batch norm, no difference).
      if (spec.kind !== 'cnn' || spec.batchNorm !== false) expect(report.trainModeMaxDiff).toBeGreaterThan(1e-2);
      encoder.model.dispose();
    }, 300_000);
  }

  it('an MLP encoder: Linear weights [out, in] and BatchNorm1d', async () => {
    const encoder = createEncoder({ kind: 'mlp', inputDim: 12, hidden: [16, 8], seed: 6 });
    const vectors = pseudoRandom(100 * 12, 9);
    tf.tidy(() => calibrateBatchNorms(encoder, tf.tensor2d(vectors.subarray(0, 16 * 12), [16, 12]), 5));
    const ours = tf.tidy(() => encoder.features(tf.tensor2d(vectors, [100, 12])));
    const expected = (await ours.data()) as Float32Array;
    ours.dispose();
    const dir = join(root, 'mlp');
    await exportEncoder(encoder, dir);
    const { features } = torchFeatures(torch.python!, dir, vectors, [100, 1, 1, 12]);
    expect(maxAbsDifference(features, expected)).toBeLessThanOrEqual(1e-5);
    encoder.model.dispose();
  }, 120_000);
});

const torchvision = torch.python
  ? spawnSync(torch.python, ['-c', 'import torchvision'], { encoding: 'utf8', timeout: 120_000 }).status === 0
  : false;
if (torch.python && !torchvision)
  console.log('skipped the torchvision check: torchvision is not importable (apt-get install python3-torchvision)');

describe.skipIf(!torchvision)("torchvision's resnet18 loads the exported ResNet-18 (strict)", () => {
  // Sizes where every stride-2 conv and pool sees an odd input (TensorFlow's 'same' = symmetric padding there):
  // CIFAR stem 25 → 13 → 7 → 4; ImageNet stem 97 → 49 → 25 → 13 → 7 → 4. Even sizes pad differently.
  const cases = [
    { stem: 'cifar' as const, odd: 25, even: 28 },
    { stem: 'imagenet' as const, odd: 97, even: 96 },
  ];
  for (const { stem, odd, even } of cases) {
    it(`${stem} stem: the same features on ${odd} px, different ones on ${even} px (padding)`, async () => {
      const encoder = createEncoder({ kind: 'resnet18', inputShape: [32, 32, 3], stem, seed: 8 });
      const dir = join(root, `torchvision-${stem}`);
      await exportEncoder(encoder, dir);
      encoder.model.dispose();
      const run = spawnSync(torch.python!, [TORCHVISION_CHECK, dir, String(odd), String(even)], { encoding: 'utf8', timeout: 300_000 });
      expect(run.status, run.stderr).toBe(0);
      const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { strict: boolean; oddMaxDiff: number; evenMaxDiff: number };
      console.log(
        `torchvision resnet18, ${stem} stem: max |Δ| ${result.oddMaxDiff.toExponential(2)} at ${odd} px, ${result.evenMaxDiff.toExponential(2)} at ${even} px`,
      );
      expect(result.strict).toBe(true);
      expect(result.oddMaxDiff).toBeLessThanOrEqual(1e-5);
      expect(result.evenMaxDiff).toBeGreaterThan(1e-3);
    }, 300_000);
  }
});

describe('export files', () => {
  it("'safetensors' writes the weights and encoder.json; 'pytorch' adds ssl_encoder.py", async () => {
    const encoder = createEncoder({ kind: 'cnn', inputShape: [28, 28, 1], channels: [4, 8], seed: 1 });
    const weightsOnly = await exportEncoder(encoder, join(root, 'weights-only'), { format: 'safetensors' });
    expect(weightsOnly.files.map((f) => f.split('/').at(-1))).toEqual([EXPORT_FILES.weights, EXPORT_FILES.manifest]);
    const manifest = JSON.parse(readFileSync(join(root, 'weights-only', EXPORT_FILES.manifest), 'utf8')) as EncoderExportManifest;
    expect(manifest.input).toEqual({
      kind: 'image',
      layout: 'NCHW',
      sourceLayout: 'NHWC',
      channels: 1,
      height: 28,
      width: 28,
      scale: 1 / 255,
      mean: null,
      std: null,
    });
    expect(manifest.tensors[0]).toMatchObject({ name: 'stages.0.0.conv.weight', shape: [4, 1, 3, 3] });
    const { tensors, metadata } = parseSafetensors(readFileSync(join(root, 'weights-only', EXPORT_FILES.weights)));
    expect([...tensors.keys()]).toEqual(manifest.tensors.map((t) => t.name));
    expect(metadata.format).toBe('pt');
    const full = await exportEncoder(encoder, join(root, 'full'));
    expect(full.files.map((f) => f.split('/').at(-1))).toEqual([EXPORT_FILES.weights, EXPORT_FILES.manifest, EXPORT_FILES.module]);
    expect(readFileSync(full.files[2], 'utf8')).toMatch(/class CnnEncoder\(nn\.Module\)/);
    encoder.model.dispose();
  });
});
