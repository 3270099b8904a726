import * as tf from '@tensorflow/tfjs-core';
import { SslError, initBackend } from '@ssl/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { randomInitControl } from './pretrain-and-compare';
import { maskedRegistry, stackedDae, stackedDaeSpec as spec, trainedStackedDae, weightsOf } from './stacked-dae.fixture';

beforeAll(() => initBackend({ backend: 'wasm', threads: 1, log: () => {} }));

const encoders = maskedRegistry.parts().encoders;

describe('randomInitControl of a plugin encoder kind (masked:stacked-dae)', () => {
  it("rebuilds the spec's initial weights from { encoders } or from a method handle, the same class, leaking nothing", () => {
    const trained = trainedStackedDae(50);
    const initial = stackedDae.create(spec);
    const before = tf.memory().numTensors;
    const fromKinds = randomInitControl(trained, { encoders });
    const fromHandle = randomInitControl(trained, maskedRegistry.create('masked:stacked-dae'));
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
    const trained = trainedStackedDae(50);
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
