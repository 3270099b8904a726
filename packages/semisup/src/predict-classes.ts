import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor4D } from '@tensorflow/tfjs-core';
import { SslError, invalidConfig } from '@ssl/core';
import type { MethodRuntime } from '@ssl/core';
import type { SemisupNetworks } from './shared/classifier-network';
import { predictProbabilities } from './shared/classifier-network';

function networksOf(runtime: MethodRuntime): SemisupNetworks {
  const networks = (runtime as { semisup?: SemisupNetworks }).semisup;
  if (!networks)
    throw new SslError(
      'invalid-config',
      'predictClasses() needs the runtime of a semisup:* run other than FixMatch (train(...).runtime); for FixMatch use classify().',
    );
  return networks;
}

export interface PredictClassesOptions {
  /**
   * 'ema' (FixMatch's EMA model, Mean Teacher's teacher: the model those methods report; the default when
   * the run keeps one) or 'student' (the network the optimizer trains; the default otherwise).
   */
  model?: 'ema' | 'student';
  /** Images per forward pass; default 256. */
  batchSize?: number;
}

/**
 * Class predictions [N] (int32) of the classifier a semisup run trained (pseudo-label, Mean Teacher, Π-model,
 * temporal ensembling, self-training, entropy minimisation, co-training: both learners combined) for float32 [0, 1] images
 * [N, H, W, C], in inference mode (batch norm uses its moving statistics, no dropout).
 */
export function predictClasses(runtime: MethodRuntime, images: Tensor4D, options: PredictClassesOptions = {}): Tensor1D {
  const networks = networksOf(runtime);
  const model = options.model ?? (networks.ema ? 'ema' : 'student');
  if (model === 'ema' && !networks.ema) invalidConfig('model', model, `'student': this run keeps no EMA model`);
  const batchSize = options.batchSize ?? 256;
  if (!(Number.isInteger(batchSize) && batchSize > 0)) invalidConfig('batchSize', batchSize, 'a positive integer');
  if (networks.predict && options.model !== undefined)
    invalidConfig('model', options.model, 'nothing: this run reports one combined model (co-training: both learners)');
  const probabilities = networks.predict
    ? networks.predict(images, batchSize)
    : predictProbabilities(model === 'ema' ? networks.ema! : networks.student, images, batchSize);
  const predictions = tf.argMax(probabilities, 1) as Tensor1D;
  probabilities.dispose();
  return predictions;
}
