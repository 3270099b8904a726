import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { accuracy, defineMethod, hardLabelCrossEntropy, invalidConfig } from '@ssl/core';
import type { Encoder, ImageDataset, Random, tfl } from '@ssl/core';
import { patchClassifier, validatePatchLayerDim } from '../blocks/patch-classifier';
import { pretextAccuracy, pretextHeldOutTask } from '../blocks/evaluate';
import type { PretextEvaluationOptions, PretextPrediction } from '../blocks/evaluate';
import { extractPatches, resizePatches, sampleGridBoxes, validateGridLayout, validatePatchInputSize } from '../blocks/patches';
import type { GridLayout, PatchBox } from '../blocks/patches';

/**
 * Context prediction (Doersch, Gupta, Efros, ICCV 2015): cut a patch and one of its eight neighbours out of
 * an image, with a gap between them and a random jitter of each, and ask a siamese network (one encoder,
 * shared weights) which of the eight positions the second patch came from. Knowing that a wheel sits below
 * a car door needs object parts, so the encoder learns them without labels.
 */

/** The eight neighbour positions of the centre of a 3×3 grid, as row-major grid indices; label k is NEIGHBOUR_POSITIONS[k]. */
export const NEIGHBOUR_POSITIONS: readonly number[] = [0, 1, 2, 3, 5, 6, 7, 8];
const CENTRE = 4;

export interface ContextPredictionConfig {
  /** Side of each square patch in pixels. Default 6 (a 3×3 layout with gap 2 and jitter 1 then fills 28×28). */
  patchSize: number;
  /** Smallest gap between the centre patch and its neighbour, in pixels (the paper: half a patch). Default 2. */
  gap: number;
  /** Largest shift of each patch from its grid position, per direction (the paper: up to 7 of 96 px). Default 1. */
  jitter: number;
  /** Width of the hidden layer of the classifier on the concatenated features (the paper's fc7). Default 256. */
  headHiddenDim: number;
  /** Width of the layer each patch's features pass through before they are joined (the paper's fc6); 0: none. Default 0. */
  patchLayerDim: number;
  /**
   * Side the patches are resized to (bilinear) before the encoder; 0: as cut. Set it to the images' side so the
   * encoder trains at the scale it is evaluated at (whole images). Default 0.
   */
  patchInputSize: number;
}

/** What the pair sampler and the classifier need of the config. */
export type ContextPredictionTask = Pick<ContextPredictionConfig, 'patchSize' | 'gap' | 'jitter'> &
  Partial<Pick<ContextPredictionConfig, 'patchInputSize'>>;

declare module '@ssl/core' {
  interface MethodConfigs {
    'pretext:context-prediction': ContextPredictionConfig;
  }
}

function layoutOf(config: ContextPredictionConfig): GridLayout {
  return { grid: 3, patchSize: config.patchSize, gap: config.gap, jitter: config.jitter };
}

/**
 * The context-prediction pairs of a batch: for each of the N images a fresh 3×3 layout (random placement and
 * jitter) and one of the eight neighbours drawn uniformly. Returns the 2N patches (rows 0..N−1 the centres,
 * rows N..2N−1 their neighbours), the labels 0..7 (index into NEIGHBOUR_POSITIONS) and the boxes cut.
 * The caller disposes the tensors.
 */
export function contextPredictionPairs(
  images: Tensor4D,
  rng: Random,
  layout: Omit<GridLayout, 'grid'>,
): { patches: Tensor4D; labels: Tensor1D; boxes: PatchBox[] } {
  const [n, height, width] = images.shape;
  const grid: GridLayout = { ...layout, grid: 3 };
  validateGridLayout(grid, [height, width]);
  const centres: PatchBox[] = [];
  const neighbours: PatchBox[] = [];
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const boxes = sampleGridBoxes(rng, i, height, width, grid);
    labels[i] = rng.int(NEIGHBOUR_POSITIONS.length);
    centres.push(boxes[CENTRE]);
    neighbours.push(boxes[NEIGHBOUR_POSITIONS[labels[i]]]);
  }
  const boxes = [...centres, ...neighbours];
  return { patches: extractPatches(images, boxes, layout.patchSize), labels: tf.tensor1d(labels, 'int32'), boxes };
}

/**
 * Logits [N, 8] of the position classifier: both patches through the shared encoder in one batch (one set of
 * batch-norm statistics), their features concatenated [centre, neighbour] (the paper's late fusion, fig. 3).
 */
export function contextPredictionLogits(
  encoder: Encoder,
  head: tfl.LayersModel,
  images: Tensor4D,
  rng: Random,
  config: ContextPredictionTask,
  training: boolean,
): PretextPrediction {
  return tf.tidy(() => {
    const n = images.shape[0];
    const { patches, labels } = contextPredictionPairs(images, rng, config);
    const features = encoder.features(resizePatches(patches, config.patchInputSize ?? 0), { training });
    const pair = tf.concat([tf.slice(features, [0, 0], [n, -1]), tf.slice(features, [n, 0], [n, -1])], 1);
    return { logits: head.apply(pair, { training }) as Tensor2D, labels };
  });
}

/** The 8-way classifier on the concatenated pair of features [2·featureDim] (`patchClassifier`). */
export function contextPredictionHead(config: {
  featureDim: number;
  hiddenDim: number;
  patchLayerDim?: number;
  seed?: number;
}): tfl.LayersModel {
  return patchClassifier({
    patches: 2,
    featureDim: config.featureDim,
    patchLayerDim: config.patchLayerDim ?? 0,
    hiddenDim: config.hiddenDim,
    classes: NEIGHBOUR_POSITIONS.length,
    seed: config.seed,
  });
}

/**
 * Held-out 8-way accuracy of a trained encoder and head (chance 0.125), in inference mode, with the
 * layout the method trained with (`config`: patchSize, gap, jitter) and a seeded draw of pairs.
 */
export function evaluateContextPrediction(
  encoder: Encoder,
  head: tfl.LayersModel,
  dataset: Pick<ImageDataset, 'images' | 'shape' | 'size'>,
  config: ContextPredictionTask,
  options: PretextEvaluationOptions = {},
): Promise<number> {
  return pretextAccuracy(dataset, (images, rng) => contextPredictionLogits(encoder, head, images, rng, config, false), options);
}

export const contextPrediction = defineMethod<ContextPredictionConfig, 'unlabeled'>({
  name: 'context-prediction',
  description: 'Context prediction: which of the 8 neighbouring positions a second patch came from (gap + jitter, siamese encoder).',
  paper: {
    title: 'Unsupervised Visual Representation Learning by Context Prediction',
    authors: 'Doersch, Gupta, Efros',
    year: 2015,
    url: 'https://arxiv.org/abs/1505.05192',
  },
  data: 'unlabeled',
  defaults: { patchSize: 6, gap: 2, jitter: 1, headHiddenDim: 256, patchLayerDim: 0, patchInputSize: 0 },
  validate(config) {
    validateGridLayout(layoutOf(config));
    if (!(Number.isInteger(config.headHiddenDim) && config.headHiddenDim > 0))
      invalidConfig('headHiddenDim', config.headHiddenDim, 'a positive integer');
    validatePatchLayerDim(config.patchLayerDim);
    validatePatchInputSize(config.patchInputSize, config.patchSize);
  },
  // The patches are the task: no augmentation view.
  views: () => ({ unlabeled: 'none' }),
  // Adam at 1e-3 learns this task within a CI-sized budget on small images; the paper trained a Caffe
  // AlexNet-style network with SGD for weeks, a recipe that does not transfer to a few hundred steps.
  training: {
    optimizer: { kind: 'adam', lr: 1e-3 },
    schedule: { kind: 'constant' },
    batchSize: 128,
    epochs: 10,
  },
  build({ config, createEncoder, rng, inputShape }) {
    validateGridLayout(layoutOf(config), [inputShape[0], inputShape[1]]);
    const encoder = createEncoder();
    const head = contextPredictionHead({
      featureDim: encoder.featureDim,
      hiddenDim: config.headHiddenDim,
      patchLayerDim: config.patchLayerDim,
      seed: rng.seed(),
    });
    return {
      encoder,
      trainable: { encoder: encoder.model, head },
      // evaluateContextPrediction(run.encoder, run.network('head'), test, config) after loadRun(outDir).
      products: () => ({ head }),
      heldOutTask: pretextHeldOutTask('pretext:context-prediction', 'neighbour position accuracy (8 positions)', 1 / 8, (test, seed) =>
        evaluateContextPrediction(encoder, head, test, config, { seed }),
      ),
      step(batch, context) {
        const { logits, labels } = contextPredictionLogits(encoder, head, batch.images, context.rng, config, true);
        return { loss: hardLabelCrossEntropy(logits, labels), metrics: { positionAccuracy: accuracy(logits, labels) } };
      },
    };
  },
});
