import { BATCH_NORM_EPSILON, BATCH_NORM_MOMENTUM, fastBatchNormalization, invalidConfig, projectionHead, tfl as tflayers } from '@ssl/core';
import type { tfl } from '@ssl/core';

export interface PatchClassifierConfig {
  /** How many patches' features are concatenated (jigsaw 9, context prediction 2). */
  readonly patches: number;
  /** The encoder's feature size per patch. */
  readonly featureDim: number;
  /**
   * Width of the layer every patch's features pass through on their own before they are joined (the papers'
   * fc6, shared by the patches); 0: the encoder's features are joined as they are.
   */
  readonly patchLayerDim: number;
  /** Width of the hidden layer on the joined features (the papers' fc7). */
  readonly hiddenDim: number;
  /** Classes of the task (permutations, neighbour positions). */
  readonly classes: number;
  readonly seed?: number;
}

export function validatePatchLayerDim(patchLayerDim: number): void {
  if (!(Number.isInteger(patchLayerDim) && patchLayerDim >= 0))
    invalidConfig('patchLayerDim', patchLayerDim, 'a non-negative integer (0: no per-patch layer)');
}

/**
 * The classifier of the spatial pretext tasks, on the concatenated features of `patches` patches [N, patches·D]:
 * optionally Linear → BN → ReLU on each patch's D features with weights shared by the patches (Noroozi & Favaro's
 * fc6 in each branch of the context-free network; Doersch et al.'s fc6 in each tower), then Linear → BN → ReLU →
 * Linear to the classes. The per-patch layer gives the task's patch-specific code a place outside the encoder, as
 * SimCLR's projection head does for its loss.
 */
export function patchClassifier(config: PatchClassifierConfig): tfl.LayersModel {
  validatePatchLayerDim(config.patchLayerDim);
  const head = (inputDim: number, seed?: number): tfl.LayersModel =>
    projectionHead({ inputDim, hiddenDim: config.hiddenDim, outputDim: config.classes, batchNorm: true, seed });
  if (config.patchLayerDim === 0) return head(config.patches * config.featureDim, config.seed);
  const input = tflayers.input({ shape: [config.patches * config.featureDim] });
  // [N, patches, D]: Dense and batch norm act on the last axis, so the same weights serve every patch.
  let x = tflayers.layers.reshape({ targetShape: [config.patches, config.featureDim] }).apply(input) as tfl.SymbolicTensor;
  x = tflayers.layers
    .dense({ units: config.patchLayerDim, useBias: false, kernelInitializer: tflayers.initializers.glorotUniform({ seed: config.seed }) })
    .apply(x) as tfl.SymbolicTensor;
  x = fastBatchNormalization({ momentum: BATCH_NORM_MOMENTUM, epsilon: BATCH_NORM_EPSILON }).apply(x) as tfl.SymbolicTensor;
  x = tflayers.layers.reLU().apply(x) as tfl.SymbolicTensor;
  x = tflayers.layers.flatten().apply(x) as tfl.SymbolicTensor;
  const classifier = head(config.patches * config.patchLayerDim, config.seed === undefined ? undefined : config.seed + 1);
  return tflayers.model({ inputs: input, outputs: classifier.apply(x) as tfl.SymbolicTensor });
}
