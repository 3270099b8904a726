import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { accuracy, defineMethod, hardLabelCrossEntropy, invalidConfig } from '@ssl/core';
import type { Encoder, ImageDataset, Random, tfl } from '@ssl/core';
import { patchClassifier, validatePatchLayerDim } from '../blocks/patch-classifier';
import { pretextAccuracy, pretextHeldOutTask } from '../blocks/evaluate';
import type { PretextEvaluationOptions, PretextPrediction } from '../blocks/evaluate';
import {
  extractPatches,
  normalizeTiles,
  resizePatches,
  sampleGridBoxes,
  validateGridLayout,
  validatePatchInputSize,
} from '../blocks/patches';
import type { GridLayout, PatchBox } from '../blocks/patches';
import { hammingPermutationSet } from '../blocks/permutations';

/**
 * Jigsaw puzzles (Noroozi & Favaro, ECCV 2016): cut a 3×3 grid of tiles with gaps and jitter, shuffle them by
 * one of P fixed permutations, and ask which one. Each tile goes through the same encoder on its own (the
 * paper's context-free network), so the encoder must recognise object parts to place them; the features are
 * joined only in the classifier. The paper finds it easier than context prediction, faster to train and
 * better in transfer.
 */

export const JIGSAW_TILES = 9;

export interface JigsawConfig {
  /** Side of each square tile in pixels. Default 6 (3×3 tiles with gap 2 and jitter 1 then fill 28×28). */
  patchSize: number;
  /** Smallest gap between neighbouring tiles, in pixels (the paper: 75 px cells, 64 px tiles). Default 2. */
  gap: number;
  /** Largest shift of each tile from its grid position, per direction. Default 1. */
  jitter: number;
  /** Number of permutations P, the classes of the task (the paper: 100 or 1000; 1000 is best on ImageNet). Default 100. */
  permutations: number;
  /** Seed of the permutation set; it is part of the task, so it is fixed by default and stored with the run. Default 1. */
  permutationSeed: number;
  /** Refuse a permutation set whose smallest Hamming distance is below this (0: no requirement). Default 0. */
  minHammingDistance: number;
  /** Normalise every tile by its own mean and standard deviation (the paper's guard against low-level shortcuts). Default true. */
  normalizeTiles: boolean;
  /** Width of the hidden layer of the classifier on the 9 concatenated tile features (the paper's fc7). Default 256. */
  headHiddenDim: number;
  /** Width of the layer each tile's features pass through before they are joined (the paper's fc6); 0: none. Default 0. */
  patchLayerDim: number;
  /**
   * Side the tiles are resized to (bilinear) before normalisation and the encoder; 0: as cut. Set it to the
   * images' side so the encoder trains at the scale it is evaluated at (whole images). Default 0.
   */
  patchInputSize: number;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'pretext:jigsaw': JigsawConfig;
  }
}

function layoutOf(config: Pick<JigsawConfig, 'patchSize' | 'gap' | 'jitter'>): GridLayout {
  return { grid: 3, patchSize: config.patchSize, gap: config.gap, jitter: config.jitter };
}

/**
 * The jigsaw puzzles of a batch: for each of the N images a fresh 3×3 layout and a permutation index drawn
 * uniformly from `permutations`; slot k of puzzle i shows the tile of grid position permutations[label][k].
 * Returns the 9N tiles (rows 9i..9i+8 the slots of image i), the labels and the boxes cut, in that order.
 * The caller disposes the tensors.
 */
export function jigsawPuzzles(
  images: Tensor4D,
  rng: Random,
  layout: Pick<JigsawConfig, 'patchSize' | 'gap' | 'jitter'>,
  permutations: readonly (readonly number[])[],
): { tiles: Tensor4D; labels: Tensor1D; boxes: PatchBox[] } {
  const [n, height, width] = images.shape;
  validateGridLayout(layoutOf(layout), [height, width]);
  const boxes: PatchBox[] = [];
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const grid = sampleGridBoxes(rng, i, height, width, layoutOf(layout));
    labels[i] = rng.int(permutations.length);
    for (const position of permutations[labels[i]]) boxes.push(grid[position]);
  }
  return { tiles: extractPatches(images, boxes, layout.patchSize), labels: tf.tensor1d(labels, 'int32'), boxes };
}

export interface JigsawTaskConfig extends Pick<JigsawConfig, 'patchSize' | 'gap' | 'jitter' | 'normalizeTiles'> {
  readonly permutations: readonly (readonly number[])[];
  /** See `JigsawConfig.patchInputSize`; default 0 (tiles as cut). */
  readonly patchInputSize?: number;
}

/** Logits [N, P]: every tile through the shared encoder (one batch of 9N), features concatenated in slot order. */
export function jigsawLogits(
  encoder: Encoder,
  head: tfl.LayersModel,
  images: Tensor4D,
  rng: Random,
  task: JigsawTaskConfig,
  training: boolean,
): PretextPrediction {
  return tf.tidy(() => {
    const { tiles, labels } = jigsawPuzzles(images, rng, task, task.permutations);
    const resized = resizePatches(tiles, task.patchInputSize ?? 0);
    const input = task.normalizeTiles ? normalizeTiles(resized) : resized;
    const features = encoder.features(input, { training });
    const puzzles = tf.reshape(features, [images.shape[0], JIGSAW_TILES * encoder.featureDim]) as Tensor2D;
    return { logits: head.apply(puzzles, { training }) as Tensor2D, labels };
  });
}

/** The P-way classifier on the 9 concatenated tile features (`patchClassifier`). */
export function jigsawHead(config: {
  featureDim: number;
  hiddenDim: number;
  permutations: number;
  patchLayerDim?: number;
  seed?: number;
}): tfl.LayersModel {
  return patchClassifier({
    patches: JIGSAW_TILES,
    featureDim: config.featureDim,
    patchLayerDim: config.patchLayerDim ?? 0,
    hiddenDim: config.hiddenDim,
    classes: config.permutations,
    seed: config.seed,
  });
}

/**
 * Held-out accuracy of a trained encoder and head at classifying the permutation (chance 1/P), in inference
 * mode, with the task the method trained with (layout, normalisation and the permutation set: the run's
 * `permutations` product, or `hammingPermutationSet` with the run's size and seed).
 */
export function evaluateJigsaw(
  encoder: Encoder,
  head: tfl.LayersModel,
  dataset: Pick<ImageDataset, 'images' | 'shape' | 'size'>,
  task: JigsawTaskConfig,
  options: PretextEvaluationOptions = {},
): Promise<number> {
  return pretextAccuracy(dataset, (images, rng) => jigsawLogits(encoder, head, images, rng, task, false), options);
}

/** The permutation set a config stands for (deterministic; cached). */
export function jigsawPermutations(config: Pick<JigsawConfig, 'permutations' | 'permutationSeed' | 'minHammingDistance'>): number[][] {
  return hammingPermutationSet({
    size: config.permutations,
    tiles: JIGSAW_TILES,
    seed: config.permutationSeed,
    ...(config.minHammingDistance > 0 ? { minDistance: config.minHammingDistance } : {}),
  }).permutations;
}

export const jigsaw = defineMethod<JigsawConfig, 'unlabeled'>({
  name: 'jigsaw',
  description: 'Jigsaw puzzles: which of P permutations (maximal Hamming distance) shuffled 3×3 tiles cut with gaps and jitter.',
  paper: {
    title: 'Unsupervised Learning of Visual Representations by Solving Jigsaw Puzzles',
    authors: 'Noroozi, Favaro',
    year: 2016,
    url: 'https://arxiv.org/abs/1603.09246',
  },
  data: 'unlabeled',
  defaults: {
    patchSize: 6,
    gap: 2,
    jitter: 1,
    permutations: 100,
    permutationSeed: 1,
    minHammingDistance: 0,
    normalizeTiles: true,
    headHiddenDim: 256,
    patchLayerDim: 0,
    patchInputSize: 0,
  },
  validate(config) {
    validateGridLayout(layoutOf(config));
    if (!(Number.isInteger(config.permutations) && config.permutations >= 2 && config.permutations <= 362_880))
      invalidConfig('permutations', config.permutations, 'an integer in 2..362880 (9! permutations exist)');
    if (!(Number.isInteger(config.permutationSeed) && config.permutationSeed >= 0))
      invalidConfig('permutationSeed', config.permutationSeed, 'a non-negative integer');
    if (!(Number.isInteger(config.minHammingDistance) && config.minHammingDistance >= 0 && config.minHammingDistance <= JIGSAW_TILES))
      invalidConfig('minHammingDistance', config.minHammingDistance, 'an integer in 0..9 (0: no requirement)');
    if (typeof config.normalizeTiles !== 'boolean') invalidConfig('normalizeTiles', config.normalizeTiles, 'true or false');
    if (!(Number.isInteger(config.headHiddenDim) && config.headHiddenDim > 0))
      invalidConfig('headHiddenDim', config.headHiddenDim, 'a positive integer');
    validatePatchLayerDim(config.patchLayerDim);
    validatePatchInputSize(config.patchInputSize, config.patchSize);
    // Builds (or finds cached) the set now, so an unreachable minHammingDistance fails at construction.
    if (config.minHammingDistance > 0) jigsawPermutations(config);
  },
  // The tiles are the task: no augmentation view.
  views: () => ({ unlabeled: 'none' }),
  // Adam at 1e-3 for a CI-sized budget; the paper trained with SGD for 350k iterations.
  training: {
    optimizer: { kind: 'adam', lr: 1e-3 },
    schedule: { kind: 'constant' },
    batchSize: 128,
    epochs: 10,
  },
  build({ config, createEncoder, rng, inputShape }) {
    validateGridLayout(layoutOf(config), [inputShape[0], inputShape[1]]);
    const permutations = jigsawPermutations(config);
    const encoder = createEncoder();
    const head = jigsawHead({
      featureDim: encoder.featureDim,
      hiddenDim: config.headHiddenDim,
      permutations: permutations.length,
      patchLayerDim: config.patchLayerDim,
      seed: rng.seed(),
    });
    // The set is part of the trained head's meaning: saved in checkpoints (state) and exported (product).
    const initialTable = tf.tensor2d(permutations, [permutations.length, JIGSAW_TILES], 'float32');
    const permutationTable = tf.variable(initialTable, false);
    initialTable.dispose();
    const task: JigsawTaskConfig = { ...config, permutations };
    return {
      encoder,
      trainable: { encoder: encoder.model, head },
      state: { permutations: permutationTable },
      // evaluateJigsaw(run.encoder, run.network('head'), test, { ...config, permutations: run.json('permutations') }).
      products: () => ({ head, permutations: { json: permutations } }),
      heldOutTask: pretextHeldOutTask(
        'pretext:jigsaw',
        `permutation accuracy (${permutations.length} permutations)`,
        1 / permutations.length,
        (test, seed) => evaluateJigsaw(encoder, head, test, task, { seed }),
      ),
      step(batch, context) {
        const { logits, labels } = jigsawLogits(encoder, head, batch.images, context.rng, task, true);
        return { loss: hardLabelCrossEntropy(logits, labels), metrics: { permutationAccuracy: accuracy(logits, labels) } };
      },
    };
  },
});
