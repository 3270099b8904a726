export { clipLoss } from './losses/clip-loss';

export { clip, clipModelOf, clipModelFromRun, clipZeroShotClassifier } from './clip/clip';
export type { ClipConfig, ClipModel, ClipRuntime } from './clip/clip';
export { clipPlugin, clipPlugin as default } from './clip/plugin';
export { zeroShotClassifier, ensembleClassEmbeddings, retrievalRecall } from './zero-shot/zero-shot';
export type { ZeroShotClassifier, RetrievalRecall } from './zero-shot/zero-shot';
export { fashionMnistCaptions, fashionMnistPairs, FASHION_MNIST_VOCABULARY, FASHION_MNIST_PROMPTS } from './captions/fashion-mnist';
export {
  ATTRIBUTE_WORDS,
  MEASURES,
  attributeThresholds,
  fashionMnistMeasuredCaptions,
  fashionMnistMeasuredPairs,
  measureImages,
  uniqueCaptionIndices,
} from './captions/measured-captions';
export type { AttributeThresholds, ImageMeasures, Measure, MeasuredCaptions } from './captions/measured-captions';
export { heldOutRetrieval } from './zero-shot/held-out-retrieval';
export type { HeldOutRetrieval } from './zero-shot/held-out-retrieval';
export { audioVisual, audioVisualModelOf, multiPositiveInfoNce } from './audio-visual/audio-visual';
export type { AudioVisualConfig, AudioVisualModel, AudioVisualRuntime } from './audio-visual/audio-visual';
export {
  classRetrievalRecall,
  evaluateAudioVisual,
  spokenClassEmbeddings,
  spokenZeroShotAccuracy,
  zeroShotPredict,
} from './audio-visual/evaluate-audio-visual';
export type { AudioVisualEvaluation } from './audio-visual/evaluate-audio-visual';
export { imageAudioData, augmentedWaveforms, clipsByClass } from './audio-visual/image-audio-data';
export type { ImageAudioBatch, ImageAudioData } from './audio-visual/image-audio-data';
export {
  mixAndSeparate,
  separationModelOf,
  separationModelFromRun,
  evaluateSeparation,
  separationMixtures,
  audioUNet,
  pairMixtures,
  unetFrames,
} from './mix-and-separate/mix-and-separate';
export type {
  MixAndSeparateConfig,
  MixAndSeparateModel,
  MixAndSeparateRuntime,
  SeparationEvaluation,
} from './mix-and-separate/mix-and-separate';
export { magnitudeSpectrogram, binaryMaskLoss, ratioMaskLoss, separationWeights, spectrogramSnr } from './mix-and-separate/separation';
export type { MagnitudeSpectrogramOptions } from './mix-and-separate/separation';
export { clipWithTextTower } from './clip/clip';
export type { ClipTextTower } from './clip/clip';
export { textTowerFromRun } from './text-pretraining/text-tower';
export type { PretrainedTextTower } from './text-pretraining/text-tower';
export { clipTextEncoder, clipProjection, logitScaleNetwork } from './clip/clip';
export { standardisedLogMel } from './audio-visual/audio-visual';
export { imageModality, textModality, audioModality, DEFAULT_AUDIO_OPTIONS, DEFAULT_TEXT_OPTIONS } from './any-pair/modality';
export type { Modality, ModalityContext, ModalityTower, ImageSample, AudioModalityOptions, TextModalityOptions } from './any-pair/modality';
export {
  pairContrastive,
  pairModelOf,
  pairModelFromRun,
  pairRetrieval,
  pairZeroShot,
  pairHeldOutFigures,
  groupedClipLoss,
  resolveModality,
  PAIR_CONTRASTIVE_DEFAULTS,
} from './any-pair/pair-contrastive';
export type { ModalityOf, PairContrastiveConfig, PairContrastiveOptions, PairModel, PairRuntime } from './any-pair/pair-contrastive';
export { pairData, audioTextPairs, asPairData, pairGroups } from './any-pair/pair-data';
export type { PairData, PairBatch } from './any-pair/pair-data';
export {
  audioText,
  audioTextHeldOutTask,
  audioTextModelFromRun,
  audioTextModalities,
  classPrompts,
  AUDIO_TEXT_DEFAULTS,
} from './any-pair/audio-text';
export type { AudioTextConfig } from './any-pair/audio-text';
