import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ImageDataset } from '../data';
import { SslError } from '../errors';
import { defineMethod } from '../method';
import { defineEncoder } from '../registry/parts';
import type { EncoderDefinition } from '../registry/parts';
import { definePlugin } from '../registry/plugin';
import { createRegistry } from '../registry/registry';
import { defineDataKind, gatherSampleImages } from './data-kinds';
import { rangeIds } from './pools';
import { latestCheckpoint } from './checkpoint';
import { useTestBackend } from './fixtures/backend';
import { tfl } from './fixtures/tfl';
import { toyDataset, toyEncoder, toyRegistry, toySemiSupervised } from './fixtures/toy-method';
import { train } from './trainer';

beforeAll(useTestBackend);

/** A method whose afterStep records what its step carried, and how often it ran. */
const carryProbe = defineMethod<Record<string, never>, 'unlabeled', { stepLoss: tf.Scalar; ids: tf.Tensor1D }>({
  name: 'carry-probe',
  description: 'records step outputs in afterStep',
  data: 'unlabeled',
  defaults: {},
  views: () => ({ unlabeled: 'none' }),
  build({ createEncoder, sampleCount }) {
    const encoder = createEncoder();
    const head = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [encoder.featureDim], units: 1 })] });
    const lastLoss = tf.variable(tf.scalar(0), false);
    const lastIds = tf.variable(tf.zeros([4], 'int32'), false, undefined, 'int32');
    const seen = tf.variable(tf.zeros([sampleCount]), false);
    return {
      encoder,
      trainable: { encoder: encoder.model, head },
      state: { lastLoss, lastIds, seen },
      step(batch) {
        const loss = tf.mean(tf.square(head.apply(encoder.features(batch.views[0], { training: true })) as tf.Tensor2D)) as tf.Scalar;
        return { loss, carry: { stepLoss: tf.clone(loss), ids: tf.tensor1d(batch.indices, 'int32') } };
      },
      afterStep(_batch, _context, carry) {
        lastLoss.assign(carry!.stepLoss);
        lastIds.assign(carry!.ids);
        seen.assign(tf.add(seen, tf.scatterND(tf.expandDims(carry!.ids, 1), tf.onesLike(carry!.ids).toFloat(), [sampleCount])));
      },
    };
  },
});

const probeRegistry = () =>
  createRegistry().use(
    definePlugin({ name: 'probe', version: '0.0.1', family: 'test', core: '>=0.0.0', methods: { 'carry-probe': carryProbe } }),
  );

/**
 * A plugin's own data kind (images in pairs: an image and its left-right mirror, as a stand-in for a
 * second modality) and its own encoder kind (a linear map of the pixels), used by a method of the same
 * plugin: none of them is known to core.
 */
interface MirrorPairBatch {
  readonly kind: 'mirror-pairs';
  readonly left: tf.Tensor4D;
  readonly right: tf.Tensor4D;
  readonly indices: Int32Array;
}

declare module '../method' {
  interface DataKinds {
    'mirror-pairs': MirrorPairBatch;
  }
}

interface PixelLinearSpec {
  readonly kind: 'pixel-linear';
  readonly inputShape: readonly [number, number, number];
  readonly units: number;
  readonly seed?: number;
}

declare module '../registry/parts' {
  interface PluginEncoderSpecs {
    'pixel-linear': PixelLinearSpec;
  }
}

const mirrorPairs = defineDataKind({
  name: 'mirror-pairs',
  description: 'each image with its mirror image',
  open(data, methodId) {
    const dataset = data as ImageDataset;
    if (!dataset?.images) throw new SslError('data', `${methodId} needs an ImageDataset.`);
    return {
      name: dataset.name,
      inputShape: dataset.shape,
      sampleCount: dataset.size,
      initialPools: { pairs: { ids: rangeIds(dataset.size) } },
      epochPool: 'pairs',
      images: (ids) => gatherSampleImages([dataset], ids),
      batch({ ids }) {
        const left = gatherSampleImages([dataset], ids);
        const right = tf.reverse(left, 2) as tf.Tensor4D;
        return { batch: { kind: 'mirror-pairs' as const, left, right, indices: ids }, owned: [left, right], imageCount: 2 * ids.length };
      },
      describe: () => ({ name: dataset.name, size: dataset.size }),
    };
  },
});

const pixelLinear = defineEncoder<PixelLinearSpec>({
  kind: 'pixel-linear',
  description: 'a linear map of the pixels',
  validate: (spec) => {
    if (!(Number.isInteger(spec.units) && spec.units > 0))
      throw new SslError('invalid-config', `units must be a positive integer, got ${spec.units}.`);
  },
  create(spec) {
    const model = tfl.sequential({
      layers: [
        tfl.layers.flatten({ inputShape: [...spec.inputShape] }),
        tfl.layers.dense({ units: spec.units, kernelInitializer: tfl.initializers.glorotUniform({ seed: spec.seed }) }),
      ],
    });
    return {
      kind: 'pixel-linear',
      inputShape: spec.inputShape,
      featureDim: spec.units,
      model,
      features: (x) => model.apply(x) as tf.Tensor2D,
    };
  },
});

const mirrorInvariance = defineMethod<Record<string, never>, 'mirror-pairs'>({
  name: 'mirror-invariance',
  description: 'pulls the features of an image and its mirror together',
  data: 'mirror-pairs',
  defaults: {},
  views: () => ({}),
  build({ createEncoder }) {
    const encoder = createEncoder();
    return {
      encoder,
      trainable: { encoder: encoder.model },
      step: (batch) => ({ loss: tf.mean(tf.square(tf.sub(encoder.features(batch.left), encoder.features(batch.right)))) as tf.Scalar }),
    };
  },
});

describe('method contract v2', () => {
  it("a plugin's own data kind and encoder kind train a method of that plugin; unknown kinds are named", async () => {
    const plugin = definePlugin({
      name: 'ssl-plugin-mirror',
      version: '0.0.1',
      family: 'mirror',
      core: '>=0.0.0',
      methods: { 'mirror-invariance': mirrorInvariance },
      dataKinds: { 'mirror-pairs': mirrorPairs },
      encoders: { 'pixel-linear': pixelLinear as EncoderDefinition },
    });
    const registry = createRegistry().use(plugin);
    const encoder: PixelLinearSpec = { kind: 'pixel-linear', inputShape: [12, 12, 1], units: 4, seed: 1 };
    const result = await train({
      method: registry.create('mirror:mirror-invariance'),
      data: toyDataset(16),
      encoder,
      batchSize: 4,
      epochs: 3,
      seed: 1,
    });
    try {
      expect(result.encoder.kind).toBe('pixel-linear');
      expect(result.history).toHaveLength(12);
      expect(result.history.at(-1)!.loss).toBeLessThan(result.history[0].loss);
    } finally {
      result.dispose();
    }
    // Without the plugin, neither the data kind nor the encoder exists.
    const bare = createRegistry().use(definePlugin({ ...plugin, name: 'bare', dataKinds: {}, encoders: {} }));
    await expect(train({ method: bare.create('mirror:mirror-invariance'), data: toyDataset(16), encoder, batchSize: 4 })).rejects.toThrow(
      /kind "mirror-pairs"/,
    );
    await expect(
      train({ method: registry.create('mirror:mirror-invariance'), data: toyDataset(16), encoder: { ...encoder, units: 0 }, batchSize: 4 }),
    ).rejects.toThrow(/units/);
  });

  it("afterStep receives its step's own outputs, and batches carry the sample ids of their images", async () => {
    const data = toyDataset(16);
    const result = await train({
      method: probeRegistry().create('test:carry-probe'),
      data,
      encoder: toyEncoder,
      batchSize: 4,
      epochs: 2,
      seed: 3,
    });
    try {
      const state = (name: string) => result.runtime.state![name].dataSync();
      // The last step's loss, as the step computed it (no second forward pass in afterStep).
      expect(state('lastLoss')[0]).toBeCloseTo(result.history.at(-1)!.loss, 6);
      // Two epochs over 16 images in batches of 4: every sample id was in exactly two batches.
      expect(Array.from(state('seen'))).toEqual(Array.from({ length: 16 }, () => 2));
      expect(new Set(state('lastIds')).size).toBe(4);
    } finally {
      result.dispose();
    }
  });

  it('runs the rounds a method declares: pools change between rounds, the previous round teaches the next', async () => {
    const outDir = mkdtempSync(join(tmpdir(), 'ssl-rounds-'));
    const counts: number[] = [];
    const result = await train({
      method: toyRegistry().create('test:rounds'),
      data: toySemiSupervised(),
      encoder: toyEncoder,
      epochs: 2,
      batchSize: 4,
      seed: 7,
      outDir,
      callbacks: [{ name: 'count', onStepEnd: () => void counts.push(tf.memory().numTensors) }],
    });
    try {
      // Round 0: 2 epochs of 40 unlabeled images in batches of 4; round 1: 32 left after 8 were pseudo-labeled.
      expect(result.history).toHaveLength(20 + 16);
      expect(result.history.map((r) => r.epoch).filter((e, i, all) => all.indexOf(e) === i)).toEqual([0, 1, 2, 3]);
      // Per-sample state: labeled ids never visited as unlabeled; the 8 moved after round 0 twice; the rest 4 times.
      const visits = Array.from(result.runtime.state!.visits.dataSync());
      expect(visits).toEqual([...Array(8).fill(0), ...Array(8).fill(2), ...Array(32).fill(4)]);
      expect(Object.keys(result.runtime.frozen ?? {})).toEqual(['teacherEncoder', 'teacherClassifier']);
      const pools = latestCheckpoint(join(outDir, 'checkpoints'))!.manifest.meta.pools as Record<
        string,
        { ids: number[]; weights: number[] | null }
      >;
      expect(pools.labeled.ids).toEqual(Array.from({ length: 16 }, (_, i) => i));
      expect(pools.labeled.weights!.slice(8).every((w) => w > 0 && w <= 1)).toBe(true);
      expect(pools.unlabeled.ids).toHaveLength(32);
      // No tensor leaks within a round, and a round change frees the networks the next round does not keep.
      expect(counts[19 + 16]).toBe(counts[19 + 3]);
      expect(counts[10]).toBe(counts[3]);
    } finally {
      result.dispose();
    }
  });

  it('resumes a multi-round run killed with SIGKILL in its second round to the state of an uninterrupted run', () => {
    const child = join(import.meta.dirname, 'fixtures', 'resume-child.ts');
    const node = (args: string[]) =>
      spawnSync(process.execPath, ['--conditions=@ssl/source', '--import', 'tsx', child, ...args, 'rounds'], {
        encoding: 'utf8',
        timeout: 120_000,
      });
    const straight = mkdtempSync(join(tmpdir(), 'ssl-rounds-straight-'));
    const killed = mkdtempSync(join(tmpdir(), 'ssl-rounds-killed-'));
    expect(node([straight, '-1', 'fresh']).status).toBe(0);
    // Round 1 starts at step 20 (checkpoint of the hand-over) and checkpoints at 24: killed after step 25.
    const first = node([killed, '25', 'fresh']);
    expect(first.signal).toBe('SIGKILL');
    const atKill = latestCheckpoint(join(killed, 'checkpoints'))!;
    expect(atKill.manifest.step).toBe(24);
    expect(atKill.manifest.meta.round).toBe(1);
    const resumed = node([killed, '-1', 'resume']);
    expect(resumed.status, resumed.stderr).toBe(0);
    const a = latestCheckpoint(join(straight, 'checkpoints'))!;
    const b = latestCheckpoint(join(killed, 'checkpoints'))!;
    expect(b.manifest.step).toBe(36);
    expect(b.manifest.meta.pools).toEqual(a.manifest.meta.pools);
    const keys = [...a.tensors.keys()];
    expect(keys).toContain('state/visits');
    expect(keys.some((k) => k.startsWith('frozen/teacherClassifier'))).toBe(true);
    for (const key of keys) expect(Array.from(b.tensors.get(key)!.values), key).toEqual(Array.from(a.tensors.get(key)!.values));
    const steps = readFileSync(join(killed, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((r) => r.type === 'step')
      .map((r) => r.step);
    expect(steps).toEqual(Array.from({ length: 36 }, (_, i) => i));
  });
});
