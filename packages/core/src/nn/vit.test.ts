import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';

import { isSslError } from '../errors';
import { createEncoder } from './create-encoder';
import type { VitSpec } from './spec';
import { validateEncoderSpec, vitPreset } from './spec';

// 7×7 grid of 4×4 patches; patch 17 is row 2, column 3 of the raster order.
const GRID = 7;
const PATCH = 4;
const POSITION = 17;

function spec(causal: boolean, classToken = true): VitSpec {
  return vitPreset('vit28', { embedDim: 32, depth: 2, numHeads: 4, mlpRatio: 2, classToken, causal, seed: 5 });
}

/** [1, 28, 28, 1]: 1 on the pixels of the patches after `position` in raster order, 0 elsewhere. */
function laterPatchPixels(position: number): tf.Tensor4D {
  const mask = new Float32Array(28 * 28);
  for (let row = 0; row < 28; row++) {
    for (let column = 0; column < 28; column++) {
      const patch = Math.floor(row / PATCH) * GRID + Math.floor(column / PATCH);
      if (patch > position) mask[row * 28 + column] = 1;
    }
  }
  return tf.tensor4d(mask, [1, 28, 28, 1]);
}

/** The output token of patch `position` ([N, D]); the class token, if any, is token 0. */
function outputAt(tokens: tf.Tensor3D, position: number, classToken: boolean): tf.Tensor2D {
  const index = position + (classToken ? 1 : 0);
  return tf.reshape(tf.slice(tokens, [0, index, 0], [tokens.shape[0], 1, tokens.shape[2]]), [tokens.shape[0], tokens.shape[2]]);
}

async function maxAbs(x: tf.Tensor): Promise<number> {
  const value = tf.max(tf.abs(x));
  const result = (await value.data())[0];
  value.dispose();
  return result;
}

describe('vit: causal attention', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
  });

  it('rejects a non-boolean causal and class pooling under causal attention; pools the mean of patch tokens by default', async () => {
    for (const [bad, field] of [
      [{ ...spec(true), causal: 'yes' }, 'causal'],
      [{ ...spec(true), pooling: 'class' }, 'pooling'],
    ] as const) {
      let caught: unknown;
      try {
        validateEncoderSpec(bad as unknown as VitSpec);
      } catch (error) {
        caught = error;
      }
      expect(isSslError(caught, 'invalid-config')).toBe(true);
      expect((caught as Error).message).toContain(field);
    }
    const encoder = createEncoder(spec(true));
    const x = tf.randomNormal([2, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const tokens = encoder.tokens(x);
    const patchMean = tf.mean(tf.slice(tokens, [0, 1, 0], [2, GRID * GRID, 32]), 1);
    const features = encoder.features(x);
    expect(await maxAbs(tf.sub(features, patchMean))).toBeLessThan(1e-5);
    tf.dispose([x, tokens, patchMean, features]);
    encoder.model.dispose();
  });

  for (const classToken of [true, false]) {
    it(`${classToken ? 'with' : 'without'} a class token: the output at patch i ignores patches after i, in value and gradient`, async () => {
      const later = laterPatchPixels(POSITION);
      const earlier = tf.sub(1, later);
      const x = tf.randomNormal([2, 28, 28, 1], 0, 1, 'float32', 2) as tf.Tensor4D;
      // The same images with every patch after POSITION replaced by other noise.
      const changed = tf.add(tf.mul(x, earlier), tf.mul(tf.randomNormal([2, 28, 28, 1], 0, 1, 'float32', 3), later)) as tf.Tensor4D;
      const projection = tf.randomNormal([32, 1], 0, 1, 'float32', 4);

      const measure = async (causal: boolean) => {
        const encoder = createEncoder(spec(causal, classToken));
        const valueChange = await maxAbs(
          tf.tidy(() => tf.sub(outputAt(encoder.tokens(x), POSITION, classToken), outputAt(encoder.tokens(changed), POSITION, classToken))),
        );
        const gradient = tf.grad((images: tf.Tensor) =>
          tf.sum(tf.matMul(outputAt(encoder.tokens(images as tf.Tensor4D), POSITION, classToken), projection)),
        )(x);
        const laterGradient = await maxAbs(tf.mul(gradient, later));
        const earlierGradient = await maxAbs(tf.mul(gradient, earlier));
        gradient.dispose();
        encoder.model.dispose();
        return { valueChange, laterGradient, earlierGradient };
      };

      const causal = await measure(true);
      const bidirectional = await measure(false);
      tf.dispose([later, earlier, x, changed, projection]);
      // Masked logits are −1e9, whose exp is exactly 0 in float32: later patches contribute nothing.
      expect(causal.valueChange).toBeLessThan(1e-6);
      expect(causal.laterGradient).toBe(0);
      expect(causal.earlierGradient).toBeGreaterThan(1e-4);
      // The same ViT without the mask does see them, so the checks above can fail.
      expect(bidirectional.valueChange).toBeGreaterThan(1e-3);
      expect(bidirectional.laterGradient).toBeGreaterThan(1e-4);
    });
  }
});
