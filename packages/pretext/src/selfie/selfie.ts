import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor2D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { accuracy, defineMethod, hardLabelCrossEntropy, invalidConfig, tfl as tflayers } from '@ssl/core';
import type { Encoder, ImageDataset, Random, tfl } from '@ssl/core';
import { pretextAccuracy, pretextHeldOutTask } from '../blocks/evaluate';
import type { PretextEvaluationOptions, PretextPrediction } from '../blocks/evaluate';
import { extractPatches, resizePatches, sampleGridBoxes, validateGridLayout, validatePatchInputSize } from '../blocks/patches';
import type { GridLayout, PatchBox } from '../blocks/patches';

/**
 * Selfie (Trinh, Luong, Le 2019): cut an image into a grid of patches, hide some of them, and for each hidden
 * position pick the patch that belongs there among the hidden patches of the same image (the distractors).
 * The patch network (the encoder) encodes every patch; an attention pooling network summarises the visible
 * patches with their position embeddings into one vector u, and the query for hidden position i is
 * u + (embedding of position i) (the paper's eq. in sec. 2.1); the loss is a cross-entropy over the
 * candidates' dot products with the query, a contrastive loss over patches.
 */

export interface SelfieConfig {
  /** Patches per row and per column; the patch side is floor(image side / grid). Default 4 (7×7 patches on 28×28). */
  grid: number;
  /** Hidden patches per image, which are also the candidates of each hidden position (chance 1/maskedPatches). Default 4. */
  maskedPatches: number;
  /** Width of the attention scorer's hidden layer and of the query MLP. Default 64. */
  attentionDim: number;
  /**
   * Side the patches are resized to (bilinear) before the encoder; 0 keeps them as cut. The encoder is evaluated
   * on whole images, so on 28×28 images 7×7 patches train its stages on maps a quarter of the size they are
   * evaluated at (see `resizePatches`). Default 0.
   */
  patchInputSize: number;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'pretext:selfie': SelfieConfig;
  }
}

/** What the task itself reads of a config: the grid, the hidden patches and (optionally) the patches' input side. */
export type SelfieTask = Pick<SelfieConfig, 'grid' | 'maskedPatches'> & Partial<Pick<SelfieConfig, 'patchInputSize'>>;

function layoutOf(config: Pick<SelfieConfig, 'grid'>, imageSide: number): GridLayout {
  return { grid: config.grid, patchSize: Math.floor(imageSide / config.grid), gap: 0, jitter: 0 };
}

/**
 * The attention pooling network. Inputs: visible patch features [V, D] and the one-hot positions [V + M, G] of
 * the visible patches (first V rows) and of the hidden ones (last M rows); output: one query [M, D] per hidden
 * position. Position embeddings are a bias-free dense layer on the one-hot positions, applied once to all V + M
 * rows so that visible and hidden positions share them (a tfjs layer applied twice would be counted twice and
 * never freed by model.dispose()). Pooling is additive attention (a tanh scorer, softmax over the visible
 * patches); the pooled u plus the embedding of each hidden position goes through a small MLP to the query.
 */
export function selfiePoolingNetwork(config: {
  featureDim: number;
  positions: number;
  visible: number;
  masked: number;
  attentionDim: number;
  seed?: number;
}): tfl.LayersModel {
  const { featureDim, positions, visible, masked, attentionDim } = config;
  const seed = config.seed ?? 0;
  const glorot = (offset: number) => tflayers.initializers.glorotUniform({ seed: seed + offset });
  const layers = tflayers.layers;
  const features = tflayers.input({ shape: [visible, featureDim] });
  const allPositions = tflayers.input({ shape: [visible + masked, positions] });
  const embedded = layers.dense({ units: featureDim, useBias: false, kernelInitializer: glorot(1) }).apply(allPositions);
  // Rows 0..V−1 and V..V+M−1 of the embeddings, split with a 2-D crop of [V + M, D, 1].
  const asImage = layers.reshape({ targetShape: [visible + masked, featureDim, 1] }).apply(embedded);
  const rows = (top: number, bottom: number, count: number) =>
    layers.reshape({ targetShape: [count, featureDim] }).apply(
      layers
        .cropping2D({
          cropping: [
            [top, bottom],
            [0, 0],
          ],
        })
        .apply(asImage),
    ) as tfl.SymbolicTensor;
  const keys = layers.add().apply([features, rows(0, masked, visible)]) as tfl.SymbolicTensor;
  const hidden = layers.dense({ units: attentionDim, activation: 'tanh', kernelInitializer: glorot(2) }).apply(keys);
  const scores = layers.dense({ units: 1, kernelInitializer: glorot(3) }).apply(hidden) as tfl.SymbolicTensor;
  // tfjs softmax runs on the last axis only: [N, V, 1] → [N, V] → softmax → [N, V, 1].
  const flatWeights = layers.softmax().apply(layers.flatten().apply(scores));
  const weights = layers.reshape({ targetShape: [visible, 1] }).apply(flatWeights) as tfl.SymbolicTensor;
  // Σ_v weight_v · key_v: [N, 1, D].
  const pooled = layers.dot({ axes: [1, 1] }).apply([weights, keys]) as tfl.SymbolicTensor;
  const summary = layers.repeatVector({ n: masked }).apply(layers.flatten().apply(pooled)) as tfl.SymbolicTensor;
  const perPosition = layers.add().apply([summary, rows(visible, 0, masked)]) as tfl.SymbolicTensor;
  const mlp = layers.dense({ units: attentionDim, activation: 'relu', kernelInitializer: glorot(4) }).apply(perPosition);
  const queries = layers.dense({ units: featureDim, kernelInitializer: glorot(5) }).apply(mlp) as tfl.SymbolicTensor;
  return tflayers.model({ inputs: [features, allPositions], outputs: queries });
}

/**
 * Logits [N·M, M] of the Selfie task: row i·M + j scores the M hidden patches of image i as the patch of its
 * j-th hidden position; the label is j (the true patch), the other M − 1 are the distractors. Each image gets
 * its own random choice of hidden positions.
 */
export function selfieLogits(
  encoder: Encoder,
  pooling: tfl.LayersModel,
  images: Tensor4D,
  rng: Random,
  config: SelfieTask,
  training: boolean,
): PretextPrediction {
  const [n, height, width] = images.shape;
  const layout = layoutOf(config, Math.min(height, width));
  const positions = config.grid * config.grid;
  const masked = config.maskedPatches;
  const visible = positions - masked;
  const boxes: PatchBox[] = [];
  const visibleRows = new Int32Array(n * visible);
  const maskedRows = new Int32Array(n * masked);
  // One-hot positions per image: rows 0..V−1 the visible patches, rows V..V+M−1 the hidden ones.
  const oneHot = new Float32Array(n * positions * positions);
  for (let i = 0; i < n; i++) {
    boxes.push(...sampleGridBoxes(rng, i, height, width, layout));
    // A random order of the positions (Fisher-Yates): the first M are hidden.
    const order = Array.from({ length: positions }, (_, p) => p);
    for (let p = positions - 1; p > 0; p--) {
      const q = rng.int(p + 1);
      [order[p], order[q]] = [order[q], order[p]];
    }
    order.forEach((position, k) => {
      if (k < masked) {
        maskedRows[i * masked + k] = i * positions + position;
        oneHot[(i * positions + visible + k) * positions + position] = 1;
      } else {
        visibleRows[i * visible + k - masked] = i * positions + position;
        oneHot[(i * positions + k - masked) * positions + position] = 1;
      }
    });
  }
  return tf.tidy(() => {
    const patches = resizePatches(extractPatches(images, boxes, layout.patchSize), config.patchInputSize ?? 0);
    const features = encoder.features(patches, { training });
    const dim = encoder.featureDim;
    const visibleFeatures = tf.reshape(tf.gather(features, tf.tensor1d(visibleRows, 'int32')), [n, visible, dim]);
    const candidates = tf.reshape(tf.gather(features, tf.tensor1d(maskedRows, 'int32')), [n, masked, dim]) as Tensor3D;
    const queries = pooling.apply([visibleFeatures, tf.tensor3d(oneHot, [n, positions, positions])], { training }) as Tensor3D;
    const logits = tf.reshape(tf.matMul(queries, candidates, false, true), [n * masked, masked]) as Tensor2D;
    const labels = tf.tensor1d(
      Int32Array.from({ length: n * masked }, (_, r) => r % masked),
      'int32',
    ) as Tensor1D;
    return { logits, labels };
  });
}

/** Held-out accuracy of picking the true patch among the M candidates (chance 1/M), in inference mode. */
export function evaluateSelfie(
  encoder: Encoder,
  pooling: tfl.LayersModel,
  dataset: Pick<ImageDataset, 'images' | 'shape' | 'size'>,
  config: SelfieTask,
  options: PretextEvaluationOptions = {},
): Promise<number> {
  return pretextAccuracy(dataset, (images, rng) => selfieLogits(encoder, pooling, images, rng, config, false), options);
}

export const selfie = defineMethod<SelfieConfig, 'unlabeled'>({
  name: 'selfie',
  description: 'Selfie: for each masked patch position, pick the true patch among the masked patches of the same image.',
  paper: {
    title: 'Selfie: Self-supervised Pretraining for Image Embedding',
    authors: 'Trinh, Luong, Le',
    year: 2019,
    url: 'https://arxiv.org/abs/1906.02940',
  },
  data: 'unlabeled',
  defaults: { grid: 4, maskedPatches: 4, attentionDim: 64, patchInputSize: 0 },
  validate(config) {
    if (!(Number.isInteger(config.grid) && config.grid >= 2)) invalidConfig('grid', config.grid, 'an integer ≥ 2');
    const positions = config.grid * config.grid;
    if (!(Number.isInteger(config.maskedPatches) && config.maskedPatches >= 2 && config.maskedPatches < positions))
      invalidConfig('maskedPatches', config.maskedPatches, `an integer in 2..${positions - 1} (grid² − 1: one patch must stay visible)`);
    if (!(Number.isInteger(config.attentionDim) && config.attentionDim > 0))
      invalidConfig('attentionDim', config.attentionDim, 'a positive integer');
    // The patch side depends on the input size: build() checks patchInputSize against it.
    if (!(Number.isInteger(config.patchInputSize) && config.patchInputSize >= 0))
      invalidConfig('patchInputSize', config.patchInputSize, '0 (patches as cut) or an integer side ≥ the patch side');
  },
  views: () => ({ unlabeled: 'none' }),
  // Adam at 1e-3 for a CI-sized budget (the paper: Momentum SGD on ImageNet-scale runs).
  training: {
    optimizer: { kind: 'adam', lr: 1e-3 },
    schedule: { kind: 'constant' },
    batchSize: 128,
    epochs: 10,
  },
  build({ config, createEncoder, rng, inputShape }) {
    const layout = layoutOf(config, Math.min(inputShape[0], inputShape[1]));
    validateGridLayout(layout, [inputShape[0], inputShape[1]], '');
    validatePatchInputSize(config.patchInputSize, layout.patchSize);
    const encoder = createEncoder();
    const positions = config.grid * config.grid;
    const pooling = selfiePoolingNetwork({
      featureDim: encoder.featureDim,
      positions,
      visible: positions - config.maskedPatches,
      masked: config.maskedPatches,
      attentionDim: config.attentionDim,
      seed: rng.seed(),
    });
    return {
      encoder,
      trainable: { encoder: encoder.model, pooling },
      // evaluateSelfie(run.encoder, run.network('pooling'), test, config) after loadRun(outDir).
      products: () => ({ pooling }),
      heldOutTask: pretextHeldOutTask(
        'pretext:selfie',
        `true-patch accuracy (${config.maskedPatches} candidates)`,
        1 / config.maskedPatches,
        (test, seed) => evaluateSelfie(encoder, pooling, test, config, { seed }),
      ),
      step(batch, context) {
        const { logits, labels } = selfieLogits(encoder, pooling, batch.images, context.rng, config, true);
        return { loss: hardLabelCrossEntropy(logits, labels), metrics: { patchAccuracy: accuracy(logits, labels) } };
      },
    };
  },
});
