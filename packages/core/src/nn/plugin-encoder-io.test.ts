import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SslError } from '../errors';
import type { EncoderDefinition } from '../registry/parts';
import { CnnEncoder } from './cnn';
import { createEncoder } from './create-encoder';
import { loadEncoderFrom, saveEncoderTo } from './encoder-io';
import { ToyStackEncoder, toyStackEncoderDefinition, type ToyStackSpec } from './fixtures/toy-plugin-encoder';
import { loadEncoder, saveEncoder } from './io';
import { encoderFromSpec } from './plugin-encoder';

const encoders = { 'toy-stack': toyStackEncoderDefinition as unknown as EncoderDefinition };
const spec: ToyStackSpec = { kind: 'toy-stack', inputDim: 6, hidden: 12, units: 5, seed: 7 };
let root: string;

/** A toy-stack encoder whose weights are not its seeds' (a trained one): its own values and moved batch-norm statistics. */
function trainedToyEncoder(): ToyStackEncoder {
  const encoder = new ToyStackEncoder(spec);
  tf.tidy(() => {
    encoder.model.setWeights(
      encoder.model.weights.map((weight, i) => tf.randomNormal(weight.shape as number[], 0.5, 0.3, 'float32', 100 + i)),
    );
  });
  return encoder;
}

async function saveToy(name: string): Promise<{ dir: string; encoder: ToyStackEncoder }> {
  const encoder = trainedToyEncoder();
  const dir = path.join(root, name);
  await saveEncoder(encoder as unknown as Parameters<typeof saveEncoder>[0], dir);
  return { dir, encoder };
}

/** The encoder saved by `saveEncoderTo` into memory, as a page's IOHandler (downloads, files) hands it back. */
async function savedInMemory(encoder: ToyStackEncoder): Promise<tf.io.IOHandler> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  const handler = tf.io.withSaveHandler((saved) => {
    artifacts = saved;
    return Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } });
  });
  await saveEncoderTo(encoder as unknown as Parameters<typeof saveEncoderTo>[0], handler);
  return tf.io.fromMemory(artifacts!);
}

function thrown(promise: Promise<unknown>): Promise<SslError> {
  return promise.then(
    () => {
      throw new Error('expected the load to fail');
    },
    (error: unknown) => {
      expect(error).toBeInstanceOf(SslError);
      return error as SslError;
    },
  );
}

describe('loadEncoder of a plugin encoder kind', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    root = mkdtempSync(path.join(tmpdir(), 'ssl-plugin-encoder-io-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('save → load with the kind in options.encoders gives the same features, the same class and spec, and leaks nothing', async () => {
    const { dir, encoder } = await saveToy('round-trip');
    const inputs = tf.randomNormal([4, 6], 0, 1, 'float32', 3) as tf.Tensor2D;
    const expected = encoder.features(inputs);
    // The rebuilt layers get other generated names than the saved ones (tfjs-layers numbers them per process).
    const before = tf.memory().numTensors;
    const loaded = await loadEncoder(dir, { encoders });
    expect(loaded).toBeInstanceOf(ToyStackEncoder);
    expect(loaded.kind).toBe('toy-stack');
    expect((loaded as ToyStackEncoder).spec).toEqual(spec);
    const features = loaded.features(inputs);
    expect(Array.from(await features.data())).toEqual(Array.from(await expected.data()));
    // Not the seeds' weights: the saved ones were loaded.
    const fresh = new ToyStackEncoder(spec);
    const freshFeatures = fresh.features(inputs);
    expect(Array.from(await freshFeatures.data())).not.toEqual(Array.from(await expected.data()));
    tf.dispose([features, freshFeatures]);
    fresh.model.dispose();
    loaded.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([inputs, expected]);
    encoder.model.dispose();
  });

  it("weights that do not match the spec's network are a one-line io error naming the file, and leak nothing", async () => {
    const { dir, encoder } = await saveToy('mismatch');
    encoder.model.dispose();
    const modelPath = path.join(dir, 'model.json');
    const modelJson = JSON.parse(readFileSync(modelPath, 'utf8'));
    modelJson.userDefinedMetadata.sslEncoder.spec.hidden = 10;
    writeFileSync(modelPath, JSON.stringify(modelJson));
    const before = tf.memory().numTensors;
    const error = await thrown(loadEncoder(dir, { encoders }));
    expect(error.code).toBe('io');
    expect(error.message).toContain(modelPath);
    expect(error.message).toMatch(/weight 0 is .*kernel float32 \[6, 12\], the network's .*kernel float32 \[6, 10\]/);
    expect(error.message).not.toContain('\n');
    expect(tf.memory().numTensors).toBe(before);

    modelJson.userDefinedMetadata.sslEncoder.spec.hidden = 12;
    modelJson.weightsManifest[0].weights = modelJson.weightsManifest[0].weights.slice(0, -1);
    writeFileSync(modelPath, JSON.stringify(modelJson));
    const fewer = await thrown(loadEncoder(dir, { encoders }));
    expect(fewer.code).toBe('io');
    expect(fewer.message).toMatch(/7 saved weights, the network has 8/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a plugin kind with no definition given is a one-line error saying it is a plugin kind and how to pass it', async () => {
    const { dir, encoder } = await saveToy('unknown');
    encoder.model.dispose();
    const before = tf.memory().numTensors;
    for (const options of [undefined, { encoders: {} }]) {
      const error = await thrown(options ? loadEncoder(dir, options) : loadEncoder(dir));
      expect(error.code).toBe('plugin');
      expect(error.message).toContain("'toy-stack' encoder, a kind a plugin registers");
      expect(error.message).toContain('loadEncoder(dir, { encoders: registry.parts().encoders })');
      expect(error.message).toContain("the ssl CLI needs the plugin package that defines 'toy-stack' installed");
      expect(error.message).not.toContain('\n');
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('core kinds load as before when plugin kinds are given: the definitions are not consulted', async () => {
    const cnn = createEncoder({ kind: 'cnn', inputShape: [8, 8, 1], channels: [4], seed: 2 });
    const dir = path.join(root, 'cnn');
    await saveEncoder(cnn, dir);
    const trap = {
      cnn: { ...toyStackEncoderDefinition, kind: 'cnn', create: () => expect.unreachable('a core kind went to options.encoders') },
    };
    const loaded = await loadEncoder(dir, { encoders: trap as unknown as Record<string, EncoderDefinition> });
    expect(loaded).toBeInstanceOf(CnnEncoder);
    const inputs = tf.randomUniform([2, 8, 8, 1], 0, 1, 'float32', 4) as tf.Tensor4D;
    const [a, b] = [cnn.features(inputs), loaded.features(inputs)];
    expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
    tf.dispose([inputs, a, b]);
    cnn.model.dispose();
    loaded.model.dispose();
  });
});

describe('loadEncoderFrom of a plugin encoder kind', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
  });

  it('an IOHandler holding the kind loads with options.encoders: the same class, spec and features', async () => {
    const encoder = trainedToyEncoder();
    const source = await savedInMemory(encoder);
    const inputs = tf.randomNormal([3, 6], 0, 1, 'float32', 5) as tf.Tensor2D;
    const expected = encoder.features(inputs);
    const before = tf.memory().numTensors;
    const loaded = await loadEncoderFrom(source, { encoders });
    expect(loaded).toBeInstanceOf(ToyStackEncoder);
    expect((loaded as ToyStackEncoder).spec).toEqual(spec);
    const features = loaded.features(inputs);
    expect(Array.from(await features.data())).toEqual(Array.from(await expected.data()));
    features.dispose();
    loaded.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([inputs, expected]);
    encoder.model.dispose();
  });

  it('a URL (over fetch, as in a page) holding the kind loads with options.encoders; without them the error names the URL', async () => {
    const encoder = trainedToyEncoder();
    const servedDir = mkdtempSync(path.join(tmpdir(), 'ssl-plugin-encoder-url-'));
    await saveEncoder(encoder as unknown as Parameters<typeof saveEncoder>[0], servedDir);
    // The saved directory served on loopback, as an app serves its model files.
    const server = createServer((request, response) => {
      try {
        response.end(readFileSync(path.join(servedDir, path.basename(request.url ?? ''))));
      } catch {
        response.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/model.json`;
    try {
      const inputs = tf.randomNormal([3, 6], 0, 1, 'float32', 6) as tf.Tensor2D;
      const loaded = await loadEncoderFrom(url, { encoders });
      expect(loaded).toBeInstanceOf(ToyStackEncoder);
      const [expected, features] = [encoder.features(inputs), loaded.features(inputs)];
      expect(Array.from(await features.data())).toEqual(Array.from(await expected.data()));
      tf.dispose([inputs, expected, features]);
      loaded.model.dispose();
      const error = await thrown(loadEncoderFrom(url));
      expect(error.message).toContain(`${url} holds a 'toy-stack' encoder, a kind a plugin registers`);
    } finally {
      server.close();
      rmSync(servedDir, { recursive: true, force: true });
      encoder.model.dispose();
    }
  });

  it("without the kind's definition it is loadEncoder's one-line plugin error, naming loadEncoderFrom's option", async () => {
    const encoder = trainedToyEncoder();
    const source = await savedInMemory(encoder);
    encoder.model.dispose();
    const before = tf.memory().numTensors;
    for (const options of [undefined, { encoders: {} }]) {
      const error = await thrown(options ? loadEncoderFrom(source, options) : loadEncoderFrom(source));
      expect(error.code).toBe('plugin');
      expect(error.message).toContain("the model holds a 'toy-stack' encoder, a kind a plugin registers");
      expect(error.message).toContain('loadEncoderFrom(source, { encoders: registry.parts().encoders })');
      expect(error.message).not.toContain('\n');
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('encoderFromSpec', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
  });

  it("builds a plugin kind by its definition at the weights its seeds give, and core's kinds by createEncoder", async () => {
    // `as never`: core's own PluginEncoderSpecs is empty, a plugin's spec type comes from its augmentation.
    const built = encoderFromSpec(spec as never, { encoders });
    expect(built).toBeInstanceOf(ToyStackEncoder);
    const reference = new ToyStackEncoder(spec);
    const inputs = tf.randomNormal([2, 6], 0, 1, 'float32', 9) as tf.Tensor2D;
    const [a, b] = [reference.features(inputs), (built as ToyStackEncoder).features(inputs)];
    expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
    tf.dispose([inputs, a, b]);
    [reference.model, built.model].forEach((model) => model.dispose());
    const cnn = encoderFromSpec({ kind: 'cnn', inputShape: [8, 8, 1], channels: [4], seed: 2 });
    expect(cnn).toBeInstanceOf(CnnEncoder);
    cnn.model.dispose();
  });

  it("checks the spec with the kind's validate first", () => {
    expect(() => encoderFromSpec({ ...spec, hidden: 0 } as never, { encoders })).toThrow(/encoder.hidden = 0: expected a positive integer/);
  });

  it('a plugin kind without its definition is the one-line plugin error, naming the caller given as usage', () => {
    const usage = 'randomInitControl(encoder, { encoders: registry.parts().encoders })';
    for (const [options, named] of [
      [{}, 'encoderFromSpec(spec, { encoders: registry.parts().encoders })'],
      [{ encoders: {}, usage }, usage],
    ] as const) {
      let error: unknown;
      try {
        encoderFromSpec(spec as never, options);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(SslError);
      expect((error as SslError).code).toBe('plugin');
      expect((error as SslError).message).toContain("The spec describes a 'toy-stack' encoder, a kind a plugin registers (core's are cnn,");
      expect((error as SslError).message).toContain(named);
      expect((error as SslError).message).not.toContain('\n');
    }
  });
});
