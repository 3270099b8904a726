import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import type * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';

import { isSslError } from '../errors';
import { Random } from '../random';
import { registerWasmTrainingKernels } from '../backend/kernels/index';
import { withSeededMathRandom } from '../train/seeded';
import type { AnyEncoder } from './create-encoder';
import { createEncoder } from './create-encoder';
import { linearClassifier, predictionHead, projectionHead } from './heads';
import { DropPath, Dropout, dropPathRates } from './layers/noise';
import type { CnnSpec, EncoderSpec, ResNetSpec, VitSpec } from './spec';
import { validateEncoderSpec } from './spec';

function values(t: tf.Tensor): number[] {
  const out = Array.from(t.dataSync());
  t.dispose();
  return out;
}

function maxAbsDifference(a: number[], b: number[]): number {
  expect(a.length).toBe(b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

/**
 * Copies every weight (trainable and moving statistics) of `from` into `to`, matching them in creation
 * order: noise layers have no weights but move others in the models' topological weight lists.
 */
function copyWeights(from: tfl.LayersModel, to: tfl.LayersModel): void {
  const byCreation = (model: tfl.LayersModel) => [...model.weights].sort((a, b) => a.id - b.id);
  const targets = byCreation(to);
  const sources = byCreation(from);
  expect(targets.map((w) => w.shape)).toEqual(sources.map((w) => w.shape));
  targets.forEach((target, i) => target.write(sources[i].read()));
}

/** A normal random batch of the given shape. */
function randomBatch(shape: number[], seed: number): tf.Tensor {
  return tf.tidy(() => tf.reshape(tf.randomNormal([shape.reduce((a, b) => a * b, 1)], 0.5, 2, 'float32', seed), shape));
}

const cnn: CnnSpec = { kind: 'cnn', inputShape: [12, 12, 1], channels: [4, 8], seed: 1 };
const resnet: ResNetSpec = { kind: 'resnet18', inputShape: [8, 8, 1], widthMultiplier: 1 / 16, seed: 2 };
const vit: VitSpec = { kind: 'vit', inputShape: [8, 8, 1], patchSize: 4, embedDim: 8, depth: 2, numHeads: 2, seed: 3 };

const noisyCases: Array<{ name: string; plain: EncoderSpec; noisy: EncoderSpec }> = [
  { name: 'cnn dropout', plain: cnn, noisy: { ...cnn, dropout: 0.3 } },
  { name: 'resnet18 dropout', plain: resnet, noisy: { ...resnet, dropout: 0.3 } },
  { name: 'resnet18 drop path', plain: resnet, noisy: { ...resnet, dropPath: 0.5 } },
  { name: 'vit dropout', plain: vit, noisy: { ...vit, dropout: 0.3 } },
  { name: 'vit drop path', plain: vit, noisy: { ...vit, dropPath: 0.5 } },
];

describe('model noise: dropout and drop path', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    registerWasmTrainingKernels();
  });

  for (const { name, plain, noisy } of noisyCases) {
    it(`${name}: training forwards differ from each other and from inference; inference equals the noise-free model`, () => {
      const noisyEncoder = createEncoder(noisy);
      const plainEncoder = createEncoder(plain);
      copyWeights(plainEncoder.model, noisyEncoder.model);
      const shape = [4, ...(plain as CnnSpec | ResNetSpec | VitSpec).inputShape];
      const x = randomBatch(shape, 7) as tf.Tensor4D;
      // Frozen batch norm keeps the moving statistics, so the two training forwards differ only by their noise.
      const training = { training: true, freezeBatchNorm: true };
      const first = values(noisyEncoder.features(x, training));
      const second = values(noisyEncoder.features(x, training));
      const inference = values(noisyEncoder.features(x));
      expect(maxAbsDifference(first, second)).toBeGreaterThan(1e-4);
      expect(maxAbsDifference(first, inference)).toBeGreaterThan(1e-4);
      expect(inference).toEqual(values(plainEncoder.features(x)));
      // Without noise, the same frozen training forward is the inference forward: the differences above are the noise.
      expect(values(plainEncoder.features(x, training))).toEqual(inference);
      tf.dispose(x);
      noisyEncoder.model.dispose();
      plainEncoder.model.dispose();
    });
  }

  it('noise is a function of the seeded Math.random: the same seed gives the same training forward', () => {
    const encoder = createEncoder({ ...vit, dropout: 0.3, dropPath: 0.5 });
    const x = tf.randomNormal([3, 8, 8, 1], 0, 1, 'float32', 8) as tf.Tensor4D;
    const run = (seed: number) => withSeededMathRandom(new Random(seed), () => values(encoder.features(x, { training: true })));
    expect(run(11)).toEqual(run(11));
    expect(maxAbsDifference(run(11), run(12))).toBeGreaterThan(1e-4);
    tf.dispose(x);
    encoder.model.dispose();
  });

  it('a training step with dropout and drop path leaks no tensors (ResNet and ViT)', () => {
    for (const spec of [
      { ...resnet, dropout: 0.2, dropPath: 0.3 },
      { ...vit, dropout: 0.2, dropPath: 0.3 },
    ] as EncoderSpec[]) {
      const encoder = createEncoder(spec);
      const x = tf.randomNormal([2, 8, 8, 1], 0, 1, 'float32', 9) as tf.Tensor4D;
      const variables = encoder.model.trainableWeights.map((w) => w.read() as tf.Variable);
      const step = () => {
        const { value, grads } = tf.variableGrads(
          () => tf.tidy(() => tf.mean(tf.square(encoder.features(x, { training: true }))) as tf.Scalar),
          variables,
        );
        tf.dispose([value, ...Object.values(grads)]);
      };
      step();
      const before = tf.memory().numTensors;
      step();
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
      encoder.model.dispose();
    }
  });

  it('dropout keeps the expected value (inverted scaling by 1/keep) and zeroes about `rate` of the entries', () => {
    const layer = new Dropout({ rate: 0.25 });
    const ones = tf.ones([200, 50]);
    const out = values(layer.apply(ones, { training: true }) as tf.Tensor);
    const zeros = out.filter((v) => v === 0).length / out.length;
    expect(zeros).toBeGreaterThan(0.22);
    expect(zeros).toBeLessThan(0.28);
    for (const v of out) expect(v === 0 || Math.abs(v - 1 / 0.75) < 1e-6).toBe(true);
    expect(values(layer.apply(ones, { training: false }) as tf.Tensor)).toEqual(values(tf.ones([200, 50])));
    ones.dispose();
  });

  it('drop path drops whole examples: each row is all zeros or all 1/keep', () => {
    const layer = new DropPath({ rate: 0.5 });
    const ones = tf.ones([64, 3, 4]);
    const out = values(layer.apply(ones, { training: true }) as tf.Tensor);
    let dropped = 0;
    for (let row = 0; row < 64; row++) {
      const entries = out.slice(row * 12, (row + 1) * 12);
      expect(new Set(entries).size).toBe(1);
      if (entries[0] === 0) dropped++;
      else expect(entries[0]).toBeCloseTo(2, 6);
    }
    expect(dropped).toBeGreaterThan(16);
    expect(dropped).toBeLessThan(48);
    ones.dispose();
  });

  it('drop path rates rise linearly with depth to the given rate (Huang et al. 2016)', () => {
    expect(dropPathRates(0.2, 4)).toEqual([0.05, 0.1, 0.15000000000000002, 0.2]);
  });

  it('heads: dropout is active in training only and inference equals the dropout-free head', () => {
    const x = tf.randomNormal([6, 8], 0, 1, 'float32', 9);
    const pairs: Array<[tfl.LayersModel, tfl.LayersModel]> = [
      [
        projectionHead({ inputDim: 8, hiddenDim: 16, outputDim: 4, seed: 1, dropout: 0.4 }),
        projectionHead({ inputDim: 8, hiddenDim: 16, outputDim: 4, seed: 1 }),
      ],
      [
        predictionHead({ inputDim: 8, hiddenDim: 16, outputDim: 4, seed: 1, dropout: 0.4 }),
        predictionHead({ inputDim: 8, hiddenDim: 16, outputDim: 4, seed: 1 }),
      ],
      [linearClassifier({ inputDim: 8, numClasses: 3, seed: 1, dropout: 0.4 }), linearClassifier({ inputDim: 8, numClasses: 3, seed: 1 })],
    ];
    for (const [noisy, plain] of pairs) {
      copyWeights(plain, noisy);
      const kwargs = { training: true, freezeBatchNorm: true };
      const first = values(noisy.apply(x, kwargs) as tf.Tensor);
      const second = values(noisy.apply(x, kwargs) as tf.Tensor);
      expect(maxAbsDifference(first, second)).toBeGreaterThan(1e-4);
      expect(values(noisy.apply(x) as tf.Tensor)).toEqual(values(plain.apply(x) as tf.Tensor));
      noisy.dispose();
      plain.dispose();
    }
    x.dispose();
  });

  it('validation names the field and the allowed range', () => {
    const bad: Array<[EncoderSpec, string]> = [
      [{ ...cnn, dropout: 1 }, 'dropout'],
      [{ ...resnet, dropPath: -0.1 }, 'dropPath'],
      [{ ...vit, dropout: Number.NaN }, 'dropout'],
      [{ ...vit, dropPath: 1.5 }, 'dropPath'],
    ];
    for (const [spec, field] of bad) {
      let caught: unknown;
      try {
        validateEncoderSpec(spec);
      } catch (error) {
        caught = error;
      }
      expect(isSslError(caught, 'invalid-config')).toBe(true);
      expect((caught as Error).message).toContain(`${field} =`);
      expect((caught as Error).message).toContain('[0, 1)');
    }
    expect(() => linearClassifier({ inputDim: 2, numClasses: 2, dropout: 1 })).toThrow(/dropout = 1/);
  });
});

/** The moving mean and variance of every batch-norm layer, as numbers. */
function movingStatistics(encoder: AnyEncoder): number[] {
  return encoder.model.weights.filter((w) => /moving_(mean|variance)/.test(w.name)).flatMap((w) => Array.from(w.read().dataSync()));
}

describe('batch-norm freeze', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    registerWasmTrainingKernels();
  });

  const specs: Array<{ spec: EncoderSpec; shape: number[] }> = [
    { spec: cnn, shape: [4, 12, 12, 1] },
    { spec: resnet, shape: [4, 8, 8, 1] },
    { spec: { kind: 'mlp', inputDim: 5, hidden: [6, 4], seed: 4 }, shape: [4, 5] },
  ];
  for (const { spec, shape } of specs) {
    it(`${spec.kind}: a frozen training forward keeps the moving statistics and equals inference; an unfrozen one moves them`, () => {
      const encoder = createEncoder(spec);
      const x = randomBatch(shape, 5) as tf.Tensor4D;
      // One unfrozen pass first so the moving statistics are not at their initial (0, 1).
      tf.dispose(encoder.features(x, { training: true }));
      const before = movingStatistics(encoder);
      expect(before.length).toBeGreaterThan(0);
      const frozen = values(encoder.features(x, { training: true, freezeBatchNorm: true }));
      expect(movingStatistics(encoder)).toEqual(before);
      expect(frozen).toEqual(values(encoder.features(x)));
      const batchStatistics = values(encoder.features(x, { training: true }));
      expect(maxAbsDifference(movingStatistics(encoder), before)).toBeGreaterThan(1e-4);
      expect(maxAbsDifference(batchStatistics, frozen)).toBeGreaterThan(1e-4);
      tf.dispose(x);
      encoder.model.dispose();
    });
  }

  it("projection head's last (non-affine) batch norm is frozen too", () => {
    const head = projectionHead({ inputDim: 4, hiddenDim: 8, outputDim: 3, batchNorm: true, lastBatchNorm: true, seed: 2 });
    const x = tf.randomNormal([5, 4], 1, 2, 'float32', 6);
    tf.dispose(head.apply(x, { training: true }) as tf.Tensor);
    const statistics = () => head.weights.filter((w) => /moving_/.test(w.name)).flatMap((w) => Array.from(w.read().dataSync()));
    const before = statistics();
    expect(before.length).toBe(2 * (8 + 3));
    const frozen = values(head.apply(x, { training: true, freezeBatchNorm: true }) as tf.Tensor);
    expect(statistics()).toEqual(before);
    expect(frozen).toEqual(values(head.apply(x) as tf.Tensor));
    tf.dispose(x);
    head.dispose();
  });
});
