export { patchify, unpatchify } from './blocks/patchify';
export { randomMasking, numKeptPatches } from './blocks/random-masking';
export type { RandomMasking } from './blocks/random-masking';
export { gatherTokens } from './blocks/gather-tokens';
export { maeLoss, normalizedPatches } from './losses/mae-loss';
export { heldOutVersusContextFree, contextFreeHeldOutTask, contextFreeReferenceName } from './blocks/held-out';
export type { ContextFreeGuess, ContextFreeComparison, HeldOutBatchScore, HeldOutLoopOptions } from './blocks/held-out';
export type { MaeLossOptions } from './losses/mae-loss';
export {
  mae,
  maeHeldOutTask,
  maeEncoder,
  maeForward,
  maeBatchLoss,
  maeLearningRate,
  validateMaeConfig,
  requireVitEncoder,
  MAE_DEFAULTS,
} from './mae/mae';
export type { MaeConfig, MaeParts, MaeRuntime } from './mae/mae';
export { buildMaeDecoder, MaeMaskTokens } from './mae/decoder';
export type { MaeDecoderOptions, MaeMaskTokensArgs } from './mae/decoder';
export { reconstruct } from './mae/reconstruct';
export { corrupt as corruptTensor, corruptionMask, validateCorruption } from './blocks/corruption';
export type { CorruptionOptions } from './blocks/corruption';
export { denoisingLoss } from './losses/denoising-loss';
export type { DenoisingLossOptions } from './losses/denoising-loss';
export { corrupt } from './views/corrupt';
export type { CorruptOptions } from './views/corrupt';
export { dae, denoisingHeldOutTask, daeBatchLoss, daeReconstruct, validateDaeConfig, DAE_DEFAULTS } from './dae/dae';
export type { DaeConfig, DaeParts, DaeRuntime } from './dae/dae';
export { buildPixelDecoder } from './dae/decoder';
export { stackedDae, stackedDaeRounds, decodeToPixels, validateStackedDaeConfig, STACKED_DAE_DEFAULTS } from './stacked-dae/stacked-dae';
export type { StackedDaeConfig, StackedDaeRuntime } from './stacked-dae/stacked-dae';
export { StackedEncoder, codeLayer, stackedDaeEncoderDefinition } from './stacked-dae/stacked-encoder';
export type { CodeLayerSpec, StackedDaeEncoderSpec } from './stacked-dae/stacked-encoder';
export { simmimLoss } from './losses/simmim-loss';
export {
  simmim,
  simmimHeldOutTask,
  simmimForward,
  buildMaskedPixelParts,
  simmimBatchLoss,
  validateSimMimConfig,
  SIMMIM_DEFAULTS,
} from './simmim/simmim';
export type { SimMimConfig, SimMimParts, SimMimRuntime } from './simmim/simmim';
export type { PixelDecoderOptions } from './dae/decoder';
export { regionMasks, dropRegion, centerRegionSide, randomRegionPixels, validateRegionMask } from './blocks/region-mask';
export type { RegionKind, RegionMaskOptions, RegionMasks } from './blocks/region-mask';
export { contextEncoderLoss, discriminatorLoss, generatorAdversarialLoss } from './losses/context-encoder-loss';
export type { ContextEncoderLossOptions } from './losses/context-encoder-loss';
export {
  contextEncoder,
  contextEncoderFill,
  contextEncoderBatchLoss,
  contextEncoderHeldOutTask,
  buildDiscriminator,
  validateContextEncoderConfig,
  CONTEXT_ENCODER_DEFAULTS,
} from './context-encoder/context-encoder';
export type {
  ContextEncoderConfig,
  ContextEncoderParts,
  ContextEncoderRuntime,
  ContextEncoderCarry,
  ContextEncoderFill,
} from './context-encoder/context-encoder';
export type { MaeReconstruction, ReconstructOptions } from './mae/reconstruct';
export { blockwiseMask, blockwiseMasking, numBlockMaskedPatches } from './blocks/blockwise-masking';
export type { BlockwiseMaskingOptions } from './blocks/blockwise-masking';
export { maskedTokenLoss } from './losses/masked-token-loss';
export {
  buildPatchCodebook,
  codebookVectors,
  nearestCodes,
  tokenizeImages,
  detokenize,
  codebookLoss,
  codeCounts,
} from './beit/patch-tokenizer';
export { beit, beitHeldOutTask, beitForward, beitBatchLoss, beitTokens, validateBeitConfig, BEIT_DEFAULTS } from './beit/beit';
export type { BeitConfig, BeitParts, BeitRuntime, BeitPhase } from './beit/beit';
export {
  autoregressive,
  autoregressiveForward,
  autoregressiveBatchLoss,
  autoregressiveHeldOutTask,
  causalEncoder,
  prefixEncoder,
  validateAutoregressiveConfig,
  AUTOREGRESSIVE_DEFAULTS,
} from './autoregressive/autoregressive';
export { prefixNextPatchLoss, drawPrefixLengths } from './autoregressive/prefix-next-patch-loss';
export type { AutoregressiveConfig, AutoregressiveParts, AutoregressiveRuntime } from './autoregressive/autoregressive';
export { nextPatchLoss } from './losses/next-patch-loss';
export type { NextPatchLossOptions } from './losses/next-patch-loss';
export { rgbToLab, rgbToLabPixel, labToRgbPixel, abGamutBins, nearestAbBin, lightnessBin, AB_RANGE } from './blocks/lab';
export {
  splitBrain,
  splitBrainHeldOutTask,
  splitBrainLosses,
  splitBrainTargets,
  validateSplitBrainConfig,
  SPLIT_BRAIN_DEFAULTS,
} from './split-brain/split-brain';
export type { SplitBrainConfig, SplitBrainParts, SplitBrainRuntime } from './split-brain/split-brain';
export {
  SplitBrainEncoder,
  LabChannels,
  labInput,
  labInputOfLab,
  validateSplitBrainSpec,
  splitBrainEncoderDefinition,
} from './split-brain/split-brain-encoder';
export type { SplitBrainSpec, LabPart } from './split-brain/split-brain-encoder';
export { MASK_TOKEN, bertMasking, maskIdOf, mlmTokenizer } from './blocks/bert-masking';
export type { BertMasking, BertMaskingOptions } from './blocks/bert-masking';
export { mlm, mlmForward, mlmBatchLoss, mlmHeldOutScore, mlmHeldOutTask, mlmPartsOf, validateMlmConfig, MLM_DEFAULTS } from './mlm/mlm';
export type { MlmConfig, MlmParts, MlmRuntime, MlmHeldOutScore } from './mlm/mlm';

import { definePlugin, supportedCoreRange, textData } from '@ssl/core';
import type { Plugin } from '@ssl/core';
import packageJson from '../package.json';
import { autoregressive as autoregressiveMethod } from './autoregressive/autoregressive';
import { beit as beitMethod } from './beit/beit';
import { contextEncoder as contextEncoderMethod } from './context-encoder/context-encoder';
import { dae as daeMethod } from './dae/dae';
import { mae as maeMethod } from './mae/mae';
import { mlm as mlmMethod } from './mlm/mlm';
import { simmim as simmimMethod } from './simmim/simmim';
import { splitBrain as splitBrainMethod } from './split-brain/split-brain';
import { splitBrainEncoderDefinition } from './split-brain/split-brain-encoder';
import { stackedDae as stackedDaeMethod } from './stacked-dae/stacked-dae';
import { stackedDaeEncoderDefinition } from './stacked-dae/stacked-encoder';
import { corrupt as corruptPolicy } from './views/corrupt';

const plugin = definePlugin({
  name: '@ssl/masked',
  version: packageJson.version,
  family: 'masked',
  core: supportedCoreRange(packageJson),
  methods: {
    mae: maeMethod,
    dae: daeMethod,
    'stacked-dae': stackedDaeMethod,
    simmim: simmimMethod,
    'context-encoder': contextEncoderMethod,
    beit: beitMethod,
    autoregressive: autoregressiveMethod,
    'split-brain': splitBrainMethod,
    mlm: mlmMethod,
  },
  viewPolicies: { corrupt: corruptPolicy },
  encoders: { 'split-brain': splitBrainEncoderDefinition, 'stacked-dae': stackedDaeEncoderDefinition },
  // Core's 'text' kind, which masked:mlm trains on (@ssl/contrastive registers the same definition: one kind, no conflict).
  dataKinds: { text: textData },
});

/** The plugin factory: `createRegistry().use(masked())` registers `masked:mae`, `masked:dae`, `masked:stacked-dae`, `masked:simmim`, `masked:context-encoder`, `masked:beit`, `masked:autoregressive`, `masked:split-brain`, `masked:mlm`, the 'corrupt' view policy, the 'split-brain' and 'stacked-dae' encoder kinds and core's 'text' data kind. */
export default function masked(): Plugin {
  return plugin;
}
