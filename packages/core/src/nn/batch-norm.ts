import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { BATCH_NORM_BACKWARD_FROM_INPUT, BATCH_NORM_FORWARD_KEEPING_INPUT, fusedBatchNormAvailable } from '../backend/kernels/batch-norm';

/*
 * Batch normalization whose training step costs a handful of passes over the activations.
 *
 * tfjs-layers' BatchNormalization trains through tf.moments and the FusedBatchNorm gradient, which
 * tiles 1/σ to the activation's full size and differentiates mean and variance as separate graphs:
 * about 20 full-size passes per layer, and on wasm `Tile` alone was 30 % of a SimCLR step of a
 * small CNN. The closed form (Ioffe & Szegedy 2015, sec. 3), with x̂ = (x − μ)/σ, N values per channel:
 *   dβ = Σ dy,  dγ = Σ dy·x̂,  dx = γ/σ · (dy − dβ/N − x̂·dγ/N)
 * needs the normalized activations and five passes. Inference, the moving-average update and
 * everything else are the stock layer's; the class serializes under the stock name, so saved
 * models load anywhere as a plain BatchNormalization with the same weights. On wasm, the same forward
 * and backward run as two fused kernels of ours (three and two passes; backend/kernels/batch-norm.ts).
 */

type LayerArgs = Parameters<typeof tfl.layers.batchNormalization>[0];

interface StockBatchNormalization extends tfl.layers.Layer {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma: tfl.LayerVariable | undefined;
  beta: tfl.LayerVariable | undefined;
  movingMean: tfl.LayerVariable;
  movingVariance: tfl.LayerVariable;
}

// tfjs-layers exports the factory, not the class; the class is what we extend.
const StockBatchNormalization = tfl.layers.batchNormalization({}).constructor as new (args?: LayerArgs) => StockBatchNormalization;

/** Training-mode batch norm over every axis but the last, with the closed-form gradient. */
export function batchNormTraining(
  x: tf.Tensor,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  epsilon: number,
): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const channels = x.shape[x.rank - 1] as number;
  const count = x.size / channels;
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const channelSum = (t: tf.Tensor): tf.Tensor1D => tf.sum(t, axes);
  let mean: tf.Tensor1D | undefined;
  let variance: tf.Tensor1D | undefined;
  const fused = fusedBatchNormAvailable() && x.dtype === 'float32';
  const normalize = tf.customGrad(((input: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor, save: tf.GradSaveFunc) => {
    if (fused) {
      // Saves the input rather than x̂ (the backward recomputes x̂ as it reads x): the input is the
      // previous layer's output, alive until the gradients are done anyway, so the layer adds no
      // activation-sized tensor to the step's peak (resnet18-cifar32: wasm heap 2 731 → 2 214 MB).
      const [value, batchMean, batchVariance, inverseStd] = tf
        .engine()
        .runKernel(BATCH_NORM_FORWARD_KEEPING_INPUT, { x: input, gamma: scale, beta: offset }, { epsilon }) as tf.Tensor[];
      // `save` keeps clones (shared data), so the layer may dispose `mean` after its moving-average update.
      save([input, batchMean, inverseStd, scale]);
      mean = tf.keep(batchMean) as tf.Tensor1D;
      variance = tf.keep(batchVariance) as tf.Tensor1D;
      return {
        value,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xSaved, meanSaved, invStd, gammaSaved] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
          return tf
            .engine()
            .runKernel(
              BATCH_NORM_BACKWARD_FROM_INPUT,
              { dy, x: xSaved, mean: meanSaved, gamma: gammaSaved, inverseStd: invStd },
              {},
            ) as tf.Tensor[];
        },
      };
    }
    // The forward's full-size temporaries (centered, its square, the scaled x̂) are freed here, not at the
    // end of the training step: a tidy around the whole step keeps every tensor made inside it alive until
    // the gradients are done, and these were 3 of the 5 activation-sized tensors per layer (a ResNet-18
    // step at batch 256 did not fit the wasm heap).
    const { batchMean, batchVariance, inverseStd, normalized, value } = tf.tidy(() => {
      const batchMean = tf.div(channelSum(input), count) as tf.Tensor1D;
      const centered = tf.sub(input, batchMean);
      const batchVariance = tf.div(channelSum(tf.square(centered)), count) as tf.Tensor1D;
      const inverseStd = tf.rsqrt(tf.add(batchVariance, epsilon));
      const normalized = tf.mul(centered, inverseStd);
      return { batchMean, batchVariance, inverseStd, normalized, value: tf.add(tf.mul(normalized, scale), offset) };
    });
    save([normalized, inverseStd, scale]);
    mean = tf.keep(batchMean);
    variance = tf.keep(batchVariance);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xHat, invStd, gammaSaved] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const dBeta = channelSum(dy);
        const dGamma = channelSum(tf.mul(dy, xHat));
        const correction = tf.add(tf.mul(xHat, tf.div(dGamma, count)), tf.div(dBeta, count));
        const dx = tf.mul(tf.sub(dy, correction), tf.mul(gammaSaved, invStd));
        return [dx, dGamma, dBeta];
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  const y = normalize(x, gamma, beta);
  return { y, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}

class FastBatchNormalization extends StockBatchNormalization {
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    // A frozen batch norm normalizes with its moving statistics and leaves them as they are, while the
    // rest of a training forward (dropout, drop path) stays in training mode.
    if (kwargs['freezeBatchNorm'] === true) return super.call(inputs, { ...kwargs, training: false });
    const training = kwargs['training'] === true;
    const lastAxis = this.axis === -1 || this.axis === (input as tf.Tensor).rank - 1;
    if (!training || !lastAxis) return super.call(inputs, kwargs);
    const channels = (input as tf.Tensor).shape[(input as tf.Tensor).rank - 1] as number;
    // Without γ/β (SimSiam's BatchNorm1d(affine=False)) the stock layer's training path reads the missing
    // γ and throws; fixed γ = 1, β = 0 are the same function.
    const gamma = this.scale && this.gamma ? this.gamma.read() : null;
    const beta = this.center && this.beta ? this.beta.read() : null;
    return tf.tidy(() => {
      const scale = (gamma ?? tf.ones([channels])) as tf.Tensor1D;
      const offset = (beta ?? tf.zeros([channels])) as tf.Tensor1D;
      const { y, mean, variance } = batchNormTraining(input as tf.Tensor, scale, offset, this.epsilon);
      // Moving averages exactly as the stock layer: moving ← moving − (moving − batch)·(1 − momentum).
      for (const [moving, batch] of [
        [this.movingMean, mean],
        [this.movingVariance, variance],
      ] as const) {
        tf.tidy(() => {
          const current = moving.read();
          moving.write(tf.sub(current, tf.mul(tf.sub(current, batch), 1 - this.momentum)));
        });
      }
      tf.dispose([mean, variance]);
      return y;
    });
  }
}

/**
 * A BatchNormalization layer (stock name, config and weights) that trains with the closed-form gradient.
 * Called with `freezeBatchNorm: true` among its keyword arguments it runs as in inference.
 */
export function fastBatchNormalization(args: LayerArgs): tfl.layers.Layer {
  return new FastBatchNormalization(args);
}
