import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's ESM entry (what vitest loads) registers no gradients; the union package '@tensorflow/tfjs' normally does.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';

import { registerWasmTrainingKernels } from './index';

beforeAll(async () => {
  registerWasmTrainingKernels();
  await tf.setBackend('wasm');
  await tf.ready();
});

/** A CNN with every layer kind the encoders use: strided/valid convs, batch norm, pools, a ResNet block. */
function smallCnn(): (x: tf.Tensor4D) => tf.Tensor2D {
  const stem = tfl.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false });
  const stemNorm = tfl.layers.batchNormalization();
  const pool = tfl.layers.maxPooling2d({ poolSize: 2 });
  const blockConv1 = tfl.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false });
  const blockNorm1 = tfl.layers.batchNormalization();
  const blockConv2 = tfl.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false });
  const blockNorm2 = tfl.layers.batchNormalization();
  const down = tfl.layers.conv2d({ filters: 12, kernelSize: 3, strides: 2, padding: 'valid' });
  const averagePool = tfl.layers.averagePooling2d({ poolSize: 2, padding: 'same' });
  const globalPool = tfl.layers.globalAveragePooling2d({});
  const classifier = tfl.layers.dense({ units: 4 });
  const training = { training: true };
  return (x) => {
    let h = tf.relu(stemNorm.apply(stem.apply(x), training) as tf.Tensor4D);
    h = pool.apply(h) as tf.Tensor4D;
    // ResNet basic block: conv-bn-relu-conv-bn + identity, relu.
    const branchHidden = tf.relu(blockNorm1.apply(blockConv1.apply(h), training) as tf.Tensor4D);
    const branch = blockNorm2.apply(blockConv2.apply(branchHidden), training) as tf.Tensor4D;
    h = tf.relu(tf.add(h, branch)) as tf.Tensor4D;
    h = averagePool.apply(tf.relu(down.apply(h) as tf.Tensor4D)) as tf.Tensor4D;
    return classifier.apply(globalPool.apply(h)) as tf.Tensor2D;
  };
}

/** A pre-norm ViT block on a patch embedding: multi-head attention via matMul/reshape/transpose, GELU MLP. */
function smallVit(tokens: number, width: number, heads: number): (x: tf.Tensor4D) => tf.Tensor2D {
  const patchSize = 4;
  const embed = tfl.layers.dense({ units: width });
  const position = tf.variable(tf.randomNormal([tokens, width], 0, 0.02, 'float32', 3));
  const norm1 = tfl.layers.layerNormalization();
  const qkv = tfl.layers.dense({ units: 3 * width });
  const projection = tfl.layers.dense({ units: width });
  const norm2 = tfl.layers.layerNormalization();
  const hidden = tfl.layers.dense({ units: 2 * width, activation: 'gelu' });
  const out = tfl.layers.dense({ units: width });
  const head = tfl.layers.dense({ units: 4 });
  const headWidth = width / heads;
  return (x) => {
    const [batch, height, widthPixels, channels] = x.shape;
    const patches = tf.reshape(
      tf.transpose(tf.reshape(x, [batch, height / patchSize, patchSize, widthPixels / patchSize, patchSize, channels]), [0, 1, 3, 2, 4, 5]),
      [batch, tokens, patchSize * patchSize * channels],
    );
    const h = tf.add(embed.apply(patches) as tf.Tensor3D, position);
    const qkvHeads = tf.transpose(
      tf.reshape(qkv.apply(norm1.apply(h)) as tf.Tensor, [batch, tokens, 3, heads, headWidth]),
      [2, 0, 3, 1, 4],
    );
    const [q, k, v] = tf.unstack(qkvHeads);
    const attention = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(headWidth)));
    const mixed = tf.reshape(tf.transpose(tf.matMul(attention, v), [0, 2, 1, 3]), [batch, tokens, width]);
    const h1 = tf.add(h, projection.apply(mixed) as tf.Tensor3D);
    const h2 = tf.add(h1, out.apply(hidden.apply(norm2.apply(h1))) as tf.Tensor3D);
    return head.apply(tf.mean(h2, 1)) as tf.Tensor2D;
  };
}

describe('training on wasm', () => {
  it('trains a small CNN (batch norm, max/avg pool, ResNet block) and a ViT block for 2 steps: loss finite and falls', () => {
    const images = tf.randomNormal([3, 16, 16, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const labels = tf.oneHot(tf.tensor1d([0, 2, 3], 'int32'), 4);
    for (const [name, model] of [
      ['cnn', smallCnn()],
      ['vit', smallVit(16, 16, 2)],
    ] as const) {
      // Build the layers' weights first: minimize() only differentiates variables that already exist.
      tf.tidy(() => model(images));
      const optimizer = tf.train.adam(0.01);
      const loss = (): tf.Scalar => tf.losses.softmaxCrossEntropy(labels, model(images)) as tf.Scalar;
      const losses: number[] = [];
      for (let step = 0; step < 3; step++) {
        const value = optimizer.minimize(loss, true);
        if (value === null) throw new Error('minimize returned no loss');
        losses.push(value.dataSync()[0]);
        value.dispose();
      }
      expect(losses.every(Number.isFinite), `${name} losses ${losses}`).toBe(true);
      // Loss before step 3 (after 2 updates) is below the loss before step 1.
      expect(losses[2], `${name} losses ${losses}`).toBeLessThan(losses[0]);
      optimizer.dispose();
    }
    tf.dispose([images, labels]);
  });
});
