import { definePlugin, supportedCoreRange } from '@ssl/core';
import type { Plugin } from '@ssl/core';
import packageJson from '../package.json';
import { colorization } from './colorization/colorization';
import { contextPrediction } from './context-prediction/context-prediction';
import { jigsaw } from './jigsaw/jigsaw';
import { rotation } from './rotation/rotation';
import { selfie } from './selfie/selfie';
import { padCropFlip } from './views/pad-crop-flip';

export { rotation, rotationBatch, rotationLoss, rotationHead, evaluateRotationAccuracy, NUM_ROTATIONS } from './rotation/rotation';
export type { RotationConfig, RotationHeadConfig } from './rotation/rotation';
export {
  contextPrediction,
  contextPredictionPairs,
  contextPredictionLogits,
  contextPredictionHead,
  evaluateContextPrediction,
  NEIGHBOUR_POSITIONS,
} from './context-prediction/context-prediction';
export type { ContextPredictionConfig, ContextPredictionTask } from './context-prediction/context-prediction';
export { jigsaw, jigsawPuzzles, jigsawLogits, jigsawHead, jigsawPermutations, evaluateJigsaw, JIGSAW_TILES } from './jigsaw/jigsaw';
export type { JigsawConfig, JigsawTaskConfig } from './jigsaw/jigsaw';
export { selfie, selfieLogits, selfiePoolingNetwork, evaluateSelfie } from './selfie/selfie';
export type { SelfieConfig, SelfieTask } from './selfie/selfie';
export { padCrop, padCropFlip } from './views/pad-crop-flip';
export type { PadCropFlipOptions } from './views/pad-crop-flip';
export {
  extractPatches,
  gridExtent,
  gridStride,
  normalizeTiles,
  resizePatches,
  sampleGridBoxes,
  validateGridLayout,
  validatePatchInputSize,
} from './blocks/patches';
export type { GridLayout, PatchBox } from './blocks/patches';
export { patchClassifier, validatePatchLayerDim } from './blocks/patch-classifier';
export type { PatchClassifierConfig } from './blocks/patch-classifier';
export { hammingDistance, hammingPermutationSet } from './blocks/permutations';
export type { PermutationSet, PermutationSetOptions } from './blocks/permutations';
export {
  colorization,
  colorizationBins,
  colorizationForward,
  colorizationHead,
  colorizationStatistics,
  colorize,
  evaluateColorization,
  lightnessInput,
  lightnessDataset,
  abAtResolution,
  nearestBinCounts,
} from './colorization/colorization';
export type { ColorizationConfig, ColorizationEvaluation, ColorizationStatistics } from './colorization/colorization';
// The Lab conversions moved to @ssl/core (split-brain shares them); re-exported here so imports keep working.
export { rgbToLab, labToRgb, rgbToLabPixel, mixChannels, srgbGamutBins, nearestAbBin } from '@ssl/core';
export { abBinsOfImages, softEncodeAb, smoothPrior, rebalancingWeights, colorizationLoss, annealedMeanAb } from './blocks/lab';
export type { SoftEncodingOptions, RebalancingOptions } from './blocks/lab';
export { pretextAccuracy } from './blocks/evaluate';
export type { PretextEvaluationOptions, PretextPrediction } from './blocks/evaluate';

const plugin = definePlugin({
  name: '@ssl/pretext',
  version: packageJson.version,
  family: 'pretext',
  core: supportedCoreRange(packageJson),
  methods: { rotation, 'context-prediction': contextPrediction, jigsaw, selfie, colorization },
  viewPolicies: { padCropFlip },
});

/**
 * The pretext-task plugin: `createRegistry().use(pretext())` registers `pretext:rotation` (RotNet),
 * `pretext:context-prediction`, `pretext:jigsaw`, `pretext:selfie` and `pretext:colorization`, and the `padCropFlip` view policy.
 * Returns the same plugin object on every call, so registering it twice is a no-op.
 */
export default function pretext(): Plugin {
  return plugin;
}
