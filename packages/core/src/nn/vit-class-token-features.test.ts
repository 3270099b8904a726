import '../setup';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, describe, expect, it } from 'vitest';

import { registerWasmTrainingKernels } from '../backend/kernels';
import { createEncoder } from './create-encoder';
import { vitPreset } from './spec';
import type { VitEncoder } from './vit';

/** Features as the full forward computes them: every token through every block, then the class token. */
function fullForwardFeatures(encoder: VitEncoder, images: tf.Tensor4D): tf.Tensor2D {
  return tf.tidy(() => {
    const tokens = encoder.tokens(images);
    return tf.reshape(tf.slice(tokens, [0, 0, 0], [images.shape[0], 1, encoder.embedDim]), [
      images.shape[0],
      encoder.embedDim,
    ]) as tf.Tensor2D;
  });
}

const maxGap = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

describe('VitEncoder inference features with class-token pooling (the last block computes the class token only)', () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`equal the full forward's class token on ${backend}: the build size and another size, exact and tanh GELU`, async () => {
      await tf.setBackend(backend);
      await tf.ready();
      if (backend === 'wasm') registerWasmTrainingKernels();
      for (const spec of [
        vitPreset('vit28', { embedDim: 32, numHeads: 4, depth: 2, seed: 3 }),
        vitPreset('vit28', { patchSize: 7, embedDim: 64, gelu: 'tanh', seed: 4 }),
      ]) {
        const encoder = createEncoder(spec) as VitEncoder;
        const last = encoder.blocks[encoder.blocks.length - 1];
        const firstTokenOutput = last.firstTokenOutput.bind(last);
        let shortcutCalls = 0;
        last.firstTokenOutput = (tokens: tf.Tensor3D) => {
          shortcutCalls++;
          return firstTokenOutput(tokens);
        };
        for (const size of [28, spec.patchSize === 7 ? 14 : 12]) {
          const images = tf.randomUniform([5, size, size, 1], 0, 1, 'float32', size) as tf.Tensor4D;
          const before = tf.memory().numTensors;
          const fast = encoder.features(images);
          expect(tf.memory().numTensors).toBe(before + 1);
          const full = fullForwardFeatures(encoder, images);
          expect(fast.shape).toEqual([5, spec.embedDim]);
          expect(maxGap(fast, full)).toBeLessThan(2e-5);
          // Training mode takes the full forward (dropout, gradients through every token).
          const training = encoder.features(images, { training: true });
          expect(maxGap(training, full)).toBeLessThan(2e-5);
          tf.dispose([images, fast, full, training]);
        }
        expect(shortcutCalls).toBe(2);
        encoder.model.dispose();
      }
    });
  }

  it('takes the full forward for mean pooling and causal blocks', async () => {
    await tf.setBackend('cpu');
    for (const spec of [
      vitPreset('vit28', { embedDim: 32, numHeads: 4, depth: 2, pooling: 'mean', seed: 5 }),
      vitPreset('vit28', { embedDim: 32, numHeads: 4, depth: 2, causal: true, seed: 6 }),
    ]) {
      const encoder = createEncoder(spec) as VitEncoder;
      const last = encoder.blocks[encoder.blocks.length - 1];
      let shortcutCalls = 0;
      const original = last.firstTokenOutput.bind(last);
      last.firstTokenOutput = (tokens: tf.Tensor3D) => {
        shortcutCalls++;
        return original(tokens);
      };
      const images = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 7) as tf.Tensor4D;
      tf.dispose(encoder.features(images));
      expect(shortcutCalls).toBe(0);
      images.dispose();
      encoder.model.dispose();
    }
    const causal = createEncoder(vitPreset('vit28', { embedDim: 32, numHeads: 4, depth: 1, causal: true, seed: 8 })) as VitEncoder;
    expect(() => causal.blocks[0].firstTokenOutput(tf.zeros([1, 50, 32]))).toThrow(/bidirectional/);
    causal.model.dispose();
  });
});
