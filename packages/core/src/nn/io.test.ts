import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isSslError } from '../errors';
import type { AnyEncoder } from './create-encoder';
import { createEncoder } from './create-encoder';
import { dinoHead, dinoHeadLastLayer, prototypeLayer } from './heads';
import { loadEncoderFrom, saveEncoderTo } from './encoder-io';
import { ENCODER_METADATA_KEY, loadEncoder, loadNetwork, saveEncoder, saveNetwork } from './io';
import { PrototypeLayer } from './layers/head-layers';
import { vitPreset } from './spec';
import { CnnEncoder } from './cnn';
import { VitEncoder } from './vit';

let root: string;

async function expectSameOutputs(a: tf.Tensor, b: tf.Tensor): Promise<void> {
  expect(b.shape).toEqual(a.shape);
  expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
}

/** A training-mode pass moves the batch-norm averages away from their initial (0, 1), so a round trip must carry them. */
function moveBatchNormStatistics(encoder: AnyEncoder, inputs: tf.Tensor): void {
  tf.dispose(encoder.features(inputs as tf.Tensor4D, { training: true }));
}

describe('save / load', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    root = mkdtempSync(path.join(tmpdir(), 'ssl-nn-io-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const encoderCases: Array<{ name: string; build: () => AnyEncoder; input: () => tf.Tensor }> = [
    { name: 'cnn', build: () => createEncoder({ kind: 'cnn', inputShape: [28, 28, 1] }), input: () => tf.randomNormal([2, 28, 28, 1]) },
    {
      name: 'resnet18 32px',
      build: () => createEncoder({ kind: 'resnet18', inputShape: [32, 32, 3] }),
      input: () => tf.randomNormal([2, 32, 32, 3]),
    },
    { name: 'vit28', build: () => createEncoder(vitPreset('vit28')), input: () => tf.randomNormal([2, 28, 28, 1]) },
    {
      name: 'vit28 sincos, no class token',
      build: () => createEncoder({ ...vitPreset('vit28'), depth: 1, classToken: false, positionEmbedding: 'sincos' }),
      input: () => tf.randomNormal([2, 28, 28, 1]),
    },
    { name: 'mlp', build: () => createEncoder({ kind: 'mlp', inputDim: 6, hidden: [16, 8] }), input: () => tf.randomNormal([3, 6]) },
    {
      name: 'text',
      build: () => createEncoder({ kind: 'text', vocabSize: 30, maxLength: 7, embedDim: 16, depth: 2, numHeads: 2 }),
      input: () =>
        tf.tensor2d(
          [
            [2, 5, 9, 3, 0, 0, 0],
            [2, 7, 8, 11, 12, 3, 0],
          ],
          undefined,
          'int32',
        ),
    },
  ];

  for (const testCase of encoderCases) {
    it(`${testCase.name}: saveEncoder → loadEncoder gives identical inference outputs`, async () => {
      const encoder = testCase.build();
      const inputs = testCase.input();
      moveBatchNormStatistics(encoder, inputs);
      const dir = path.join(root, testCase.name.replace(/\W+/g, '-'));
      await saveEncoder(encoder, dir);
      expect(readdirSync(dir).sort()).toEqual(['model.json', 'weights.bin']);
      const loaded = await loadEncoder(dir);
      expect(loaded.kind).toBe(encoder.kind);
      expect(loaded.spec).toEqual(encoder.spec);
      expect(loaded.featureDim).toBe(encoder.featureDim);
      const expected = encoder.features(inputs as tf.Tensor4D);
      const actual = loaded.features(inputs as tf.Tensor4D);
      await expectSameOutputs(expected, actual);
      tf.dispose([inputs, expected, actual]);
      encoder.model.dispose();
      loaded.model.dispose();
    });
  }

  it('loadEncoder restores the encoder class and its extra API (ViT tokens, CNN feature map)', async () => {
    const vit = createEncoder({ ...vitPreset('vit28'), depth: 1, embedDim: 16 });
    await saveEncoder(vit, path.join(root, 'vit-api'));
    const loadedVit = await loadEncoder(path.join(root, 'vit-api'));
    expect(loadedVit).toBeInstanceOf(VitEncoder);
    const images = tf.randomNormal([1, 28, 28, 1]) as tf.Tensor4D;
    const patches = (loadedVit as VitEncoder).embedPatches(images);
    const expected = vit.embedPatches(images);
    await expectSameOutputs(expected, patches);
    const cnn = createEncoder({ kind: 'cnn', inputShape: [8, 8, 1], channels: [4] });
    await saveEncoder(cnn, path.join(root, 'cnn-api'));
    const loadedCnn = await loadEncoder(path.join(root, 'cnn-api'));
    expect(loadedCnn).toBeInstanceOf(CnnEncoder);
    const map = (loadedCnn as CnnEncoder).featureMap(tf.zeros([1, 8, 8, 1]));
    expect(map.shape).toEqual([1, 8, 8, 4]);
    tf.dispose([images, patches, expected, map]);
    [vit, loadedVit, cnn, loadedCnn].forEach((encoder) => encoder.model.dispose());
  });

  it("saveEncoderTo / loadEncoderFrom go through any tfjs IOHandler (a page's downloads, files, memory)", async () => {
    const inMemory = async (network: { save: tfl.LayersModel['save'] } | AnyEncoder) => {
      let artifacts: tf.io.ModelArtifacts | undefined;
      const handler = tf.io.withSaveHandler((saved) => {
        artifacts = saved;
        return Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } });
      });
      if ('features' in network) await saveEncoderTo(network, handler);
      else await network.save(handler);
      return tf.io.fromMemory(artifacts!);
    };
    const cnn = createEncoder({ kind: 'cnn', inputShape: [8, 8, 1], channels: [4], seed: 5 });
    const loaded = await loadEncoderFrom(await inMemory(cnn));
    expect(loaded).toBeInstanceOf(CnnEncoder);
    const images = tf.randomNormal([2, 8, 8, 1]) as tf.Tensor4D;
    const [expected, actual] = [cnn.features(images), loaded.features(images)];
    await expectSameOutputs(expected, actual);
    const plain = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [2], units: 1 })] });
    await expect(loadEncoderFrom(await inMemory(plain))).rejects.toThrow(/no encoder spec/);
    tf.dispose([images, expected, actual]);
    [cnn.model, loaded.model, plain].forEach((model) => model.dispose());
  });

  it('model.json is the standard tfjs format; plain tf.loadLayersModel loads it (custom layers registered)', async () => {
    const encoder = createEncoder({ ...vitPreset('vit28'), depth: 1, embedDim: 16 });
    const dir = path.join(root, 'standard');
    await saveEncoder(encoder, dir);
    const modelJson = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8'));
    expect(modelJson.format).toBe('layers-model');
    expect(modelJson.weightsManifest[0].paths).toEqual(['./weights.bin']);
    expect(modelJson.userDefinedMetadata[ENCODER_METADATA_KEY].spec.kind).toBe('vit');
    const weightBytes = readFileSync(path.join(dir, 'weights.bin'));
    const plain = await tfl.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: modelJson.modelTopology,
        weightSpecs: modelJson.weightsManifest[0].weights,
        weightData: weightBytes.buffer.slice(weightBytes.byteOffset, weightBytes.byteOffset + weightBytes.byteLength),
      }),
    );
    const x = tf.randomNormal([2, 28, 28, 1]) as tf.Tensor4D;
    const expected = encoder.features(x);
    const actual = plain.apply(x) as tf.Tensor;
    await expectSameOutputs(expected, actual);
    tf.dispose([x, expected, actual]);
    encoder.model.dispose();
    plain.dispose();
  });

  it('dino head with weight norm and a prototype layer round-trip through saveNetwork / loadNetwork', async () => {
    const head = dinoHead({ inputDim: 8, hiddenDim: 16, bottleneckDim: 6, outputDim: 12, normLastLayer: false });
    const headDir = path.join(root, 'dino-head');
    await saveNetwork(head, headDir);
    const loadedHead = await loadNetwork(headDir);
    expect(dinoHeadLastLayer(loadedHead).fixedMagnitude).toBe(false);
    const z = tf.randomNormal([4, 8]);
    const expectedHead = head.apply(z) as tf.Tensor;
    const actualHead = loadedHead.apply(z) as tf.Tensor;
    await expectSameOutputs(expectedHead, actualHead);

    const prototypes = prototypeLayer({ inputDim: 8, numPrototypes: 5 });
    prototypes.normalizePrototypes();
    const prototypeModel = tfl.sequential({ layers: [prototypes] });
    const prototypeDir = path.join(root, 'prototypes');
    await saveNetwork(prototypeModel, prototypeDir);
    const loadedPrototypes = await loadNetwork(prototypeDir);
    expect(loadedPrototypes.layers[0]).toBeInstanceOf(PrototypeLayer);
    const expectedScores = prototypeModel.apply(z) as tf.Tensor;
    const actualScores = loadedPrototypes.apply(z) as tf.Tensor;
    await expectSameOutputs(expectedScores, actualScores);
    tf.dispose([z, expectedHead, actualHead, expectedScores, actualScores]);
    [head, loadedHead, prototypeModel, loadedPrototypes].forEach((model) => model.dispose());
  });

  it('overwrites an existing save without leaving temporary files; missing files are io errors', async () => {
    const dir = path.join(root, 'overwrite');
    const first = createEncoder({ kind: 'mlp', inputDim: 3, hidden: [4] });
    const second = createEncoder({ kind: 'mlp', inputDim: 3, hidden: [5] });
    await saveEncoder(first, dir);
    await saveEncoder(second, dir);
    expect(readdirSync(dir).sort()).toEqual(['model.json', 'weights.bin']);
    const loaded = await loadEncoder(dir);
    expect(loaded.featureDim).toBe(5);
    await expect(loadNetwork(path.join(root, 'does-not-exist'))).rejects.toSatisfy((error: unknown) => isSslError(error, 'io'));
    // A plain network has no encoder spec.
    await saveNetwork(first.model, path.join(root, 'plain'));
    await expect(loadEncoder(path.join(root, 'plain'))).rejects.toThrow(/saveEncoder/);
    [first, second, loaded].forEach((encoder) => encoder.model.dispose());
  });
});
