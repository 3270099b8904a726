import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { defineMethod, type MethodRuntime } from '../method';
import { ToyStackEncoder, toyStackEncoderDefinition } from '../nn/fixtures/toy-plugin-encoder';
import { createEncoder } from '../nn/create-encoder';
import { saveEncoder } from '../nn/io';
import { definePlugin } from '../registry/plugin';
import { createRegistry } from '../registry/registry';
import { useTestBackend } from './fixtures/backend';
import { tfl } from './fixtures/tfl';
import { toyDataset, toyEncoder } from './fixtures/toy-method';
import { loadRun, saveProducts } from './products';
import { train } from './trainer';

beforeAll(useTestBackend);

/** A method with a product of each kind: a head network, a second encoder, and a JSON artifact. */
const exporter = defineMethod<Record<string, never>, 'unlabeled'>({
  name: 'exporter',
  description: 'declares products',
  data: 'unlabeled',
  defaults: {},
  views: () => ({ unlabeled: 'none' }),
  training: { optimizer: { kind: 'adam', lr: 1e-2 }, schedule: { kind: 'constant' } },
  build({ createEncoder }) {
    const encoder = createEncoder();
    const other = createEncoder();
    const head = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [encoder.featureDim], units: 3 })] });
    return {
      encoder,
      trainable: { encoder: encoder.model, other: other.model, head },
      products: () => ({ head, other, classes: { json: { names: ['a', 'b', 'c'] } } }),
      step(batch) {
        const a = head.apply(encoder.features(batch.images, { training: true })) as tf.Tensor2D;
        const b = tf.slice(other.features(batch.images, { training: true }), [0, 0], [-1, 3]);
        return { loss: tf.mean(tf.square(tf.sub(a, tf.add(b, 1)))) as tf.Scalar };
      },
    };
  },
});

const registry = () =>
  createRegistry().use(definePlugin({ name: 'exporter', version: '0.0.1', family: 'test', core: '>=0.0.0', methods: { exporter } }));

describe('products', () => {
  it('are saved when a run ends and loadRun brings back each one with the outputs it had', async () => {
    const outDir = mkdtempSync(join(tmpdir(), 'ssl-products-'));
    const result = await train({
      method: registry().create('test:exporter'),
      data: toyDataset(16),
      encoder: toyEncoder,
      batchSize: 8,
      epochs: 2,
      seed: 1,
      outDir,
    });
    const run = await loadRun(outDir);
    const images = tf.randomUniform([4, 12, 12, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
    try {
      const index = JSON.parse(readFileSync(join(outDir, 'products', 'index.json'), 'utf8'));
      expect(index).toMatchObject({ format: 'ssl-products', version: 1, method: 'test:exporter', step: 4, interrupted: false });
      expect(index.products).toEqual({
        head: { kind: 'network', path: 'head' },
        other: { kind: 'encoder', path: 'other' },
        classes: { kind: 'json', path: 'classes.json' },
      });
      expect(run.method).toBe('test:exporter');
      const runtime = result.runtime as typeof result.runtime & { trainable: Record<string, tfl.LayersModel> };
      const before = tf.tidy(() => [
        runtime.trainable.head.apply(result.encoder.features(images)) as tf.Tensor,
        runtime.trainable.other.apply(images) as tf.Tensor,
      ]);
      const after = tf.tidy(() => [
        run.network('head').apply(run.encoder!.features(images)) as tf.Tensor,
        run.encoderProduct('other').features(images),
      ]);
      expect(Array.from(after[0].dataSync())).toEqual(Array.from(before[0].dataSync()));
      expect(Array.from(after[1].dataSync())).toEqual(Array.from(before[1].dataSync()));
      tf.dispose([...before, ...after]);
      expect(run.json('classes')).toEqual({ names: ['a', 'b', 'c'] });
      expect(() => run.network('classifier')).toThrowError(
        /has no network product "classifier"; its products: head \(network\), other \(encoder\), classes \(json\)/,
      );
      expect(() => run.json('head')).toThrowError(/no JSON product "head"/);
    } finally {
      images.dispose();
      run.dispose();
      result.dispose();
    }
    expect(existsSync(join(outDir, 'encoder', 'model.json'))).toBe(true);
  });

  it("loads a run whose encoder and encoder products are of a plugin's kind given the registry's encoders", async () => {
    const outDir = mkdtempSync(join(tmpdir(), 'ssl-plugin-kind-run-'));
    const encoder = new ToyStackEncoder({ kind: 'toy-stack', inputDim: 4, hidden: 6, units: 3, seed: 1 });
    const second = new ToyStackEncoder({ kind: 'toy-stack', inputDim: 4, hidden: 5, units: 2, seed: 9 });
    writeFileSync(join(outDir, 'config.json'), JSON.stringify({ method: 'test:toy-stack', encoder: encoder.spec }));
    await saveEncoder(encoder as unknown as Parameters<typeof saveEncoder>[0], join(outDir, 'encoder'));
    await saveProducts(outDir, { products: () => ({ second }) } as unknown as MethodRuntime, {
      method: 'test:toy-stack',
      step: 1,
      interrupted: false,
    });
    await expect(loadRun(outDir)).rejects.toThrowError(/'toy-stack' encoder, a kind a plugin registers/);
    // A core encoder with a product of the plugin's kind: the error, and the core encoder loaded first is freed.
    const mixedDir = mkdtempSync(join(tmpdir(), 'ssl-plugin-kind-product-'));
    const mlp = createEncoder({ kind: 'mlp', inputDim: 4, hidden: [3] });
    writeFileSync(join(mixedDir, 'config.json'), JSON.stringify({ method: 'test:toy-stack', encoder: mlp.spec }));
    await saveEncoder(mlp, join(mixedDir, 'encoder'));
    mlp.model.dispose();
    await saveProducts(mixedDir, { products: () => ({ second }) } as unknown as MethodRuntime, {
      method: 'test:toy-stack',
      step: 1,
      interrupted: false,
    });
    const tensorsBeforeFailure = tf.memory().numTensors;
    await expect(loadRun(mixedDir)).rejects.toThrowError(/product.*'toy-stack' encoder, a kind a plugin registers/);
    expect(tf.memory().numTensors).toBe(tensorsBeforeFailure);
    const encoders = createRegistry()
      .use(
        definePlugin({
          name: 'toy',
          version: '0.0.1',
          family: 'toy',
          core: '>=0.0.0',
          methods: {},
          encoders: { 'toy-stack': toyStackEncoderDefinition },
        }),
      )
      .parts().encoders;
    const vectors = tf.randomNormal([3, 4], 0, 1, 'float32', 5) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    const run = await loadRun(outDir, { encoders });
    const pairs = tf.tidy(() => [
      [encoder.features(vectors), run.encoder!.features(vectors)],
      [second.features(vectors), run.encoderProduct('second').features(vectors)],
    ]);
    expect(run.encoder).toBeInstanceOf(ToyStackEncoder);
    for (const [saved, loaded] of pairs) expect(Array.from(loaded.dataSync())).toEqual(Array.from(saved.dataSync()));
    tf.dispose(pairs.flat());
    run.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(vectors);
    encoder.model.dispose();
    second.model.dispose();
  });

  it('refuses a directory that is not a run', async () => {
    await expect(loadRun(mkdtempSync(join(tmpdir(), 'ssl-not-a-run-')))).rejects.toThrowError(/is not a run directory \(no config\.json\)/);
  });
});
