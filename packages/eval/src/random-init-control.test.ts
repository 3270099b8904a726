import * as tf from '@tensorflow/tfjs-core';
import { SslError, createRegistry, initBackend } from '@ssl/core';
import type { Encoder, EncoderDefinition, Plugin } from '@ssl/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { randomInitControl } from './pretrain-and-compare';

// By URL, as multi-task.fixture.ts does: eval cannot depend on @ssl/masked (it depends on eval), and its typecheck
// should not compile masked's sources.
const { default: masked } = (await import(new URL('../../masked/src/index.ts', import.meta.url).href)) as { default: () => Plugin };

beforeAll(() => initBackend({ backend: 'wasm', threads: 1, log: () => {} }));

const registry = createRegistry().use(masked());
const encoders = registry.parts().encoders;
const stackedDae = encoders['stacked-dae'] as EncoderDefinition;
/** A stacked denoising autoencoder's encoder as a run saves it: a small CNN and one dense code layer. */
const spec = {
  kind: 'stacked-dae',
  base: { kind: 'cnn', inputShape: [8, 8, 1], channels: [4], seed: 3 },
  layers: [{ units: 6, seed: 11 }],
  seed: 3,
} as const;

const weightsOf = (encoder: Encoder) => encoder.model.getWeights().map((w) => Array.from(w.dataSync()));

/** The encoder of `spec` with weights no seed gives: a trained one. */
function trainedStackedDae(): Encoder {
  const encoder = stackedDae.create(spec);
  tf.tidy(() => {
    encoder.model.setWeights(
      encoder.model.weights.map((weight, i) => tf.randomNormal(weight.shape as number[], 0, 0.3, 'float32', 50 + i)),
    );
  });
  return encoder;
}

describe('randomInitControl of a plugin encoder kind (masked:stacked-dae)', () => {
  it("rebuilds the spec's initial weights from { encoders } or from a method handle, the same class, leaking nothing", () => {
    const trained = trainedStackedDae();
    const initial = stackedDae.create(spec);
    const before = tf.memory().numTensors;
    const fromKinds = randomInitControl(trained, { encoders });
    const fromHandle = randomInitControl(trained, registry.create('masked:stacked-dae'));
    for (const control of [fromKinds, fromHandle]) {
      expect(control.kind).toBe('stacked-dae');
      expect(control.constructor).toBe(initial.constructor);
      expect(weightsOf(control)).toEqual(weightsOf(initial));
      expect(weightsOf(control)).not.toEqual(weightsOf(trained));
      control.model.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    [trained, initial].forEach((encoder) => encoder.model.dispose());
  });

  it("without the kind's definition it is one line saying the kind is a plugin's and how to pass it", () => {
    const trained = trainedStackedDae();
    for (const kinds of [undefined, {}, { encoders: {} }]) {
      let error: unknown;
      try {
        randomInitControl(trained, kinds);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(SslError);
      expect((error as SslError).code).toBe('plugin');
      expect((error as SslError).message).toContain("a 'stacked-dae' encoder, a kind a plugin registers");
      expect((error as SslError).message).toContain('randomInitControl(encoder, { encoders: registry.parts().encoders })');
      expect((error as SslError).message).not.toContain('\n');
    }
    trained.model.dispose();
  });
});
