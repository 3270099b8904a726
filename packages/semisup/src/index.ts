export { fixMatchLoss } from './losses/fixmatch';
export type { FixMatchLossInput, FixMatchLossResult } from './losses/fixmatch';
export { sharpen } from './losses/sharpen';
export { mixup } from './losses/mixup';
export type { MixupResult } from './losses/mixup';
export { softCrossEntropy } from './losses/soft-cross-entropy';
export { consistencyMse } from './losses/consistency-mse';
export { entropyLoss } from './losses/entropy';
export { classwiseThresholdLoss } from './losses/classwise-threshold';
export type { ClasswiseThresholdLossInput, ClasswiseThresholdLossResult } from './losses/classwise-threshold';
export { softPseudoLabelLoss } from './losses/soft-pseudo-label';
export type { SoftPseudoLabelLossInput, SoftPseudoLabelLossResult } from './losses/soft-pseudo-label';
export { distributionAlignment } from './losses/distribution-alignment';
export { selfAdaptiveFairnessLoss } from './losses/fairness';
export { guessLabels } from './losses/guess-labels';
export { klDivergence, virtualAdversarialPerturbation } from './losses/virtual-adversarial';
export type { VirtualAdversarialOptions } from './losses/virtual-adversarial';

export { fixmatch, classify, fixMatchEmaDecay } from './fixmatch/fixmatch';
export type { FixMatchConfig, FixMatchCarry, FixMatchNetworks, FixMatchRuntime, ClassifyOptions } from './fixmatch/fixmatch';
export { weakStrong, CUTOUT_FILL, RAND_AUGMENT_TRANSLATE } from './views/weak-strong';
export { weakPair } from './views/weak-pair';
export type { WeakStrongOptions } from './views/weak-strong';
export { pseudoLabel } from './pseudo-label/pseudo-label';
export type { PseudoLabelConfig } from './pseudo-label/pseudo-label';
export { meanTeacher, meanTeacherDecay } from './mean-teacher/mean-teacher';
export type { MeanTeacherConfig } from './mean-teacher/mean-teacher';
export { piModel } from './pi-model/pi-model';
export type { PiModelConfig } from './pi-model/pi-model';
export { temporalEnsembling, ensembleTargets } from './temporal-ensembling/temporal-ensembling';
export type { TemporalEnsemblingConfig, TemporalEnsemblingCarry } from './temporal-ensembling/temporal-ensembling';
export { selfTraining, predictPool, topKPerClass, nextLabeledPool } from './self-training/self-training';
export type { SelfTrainingConfig, SelfTrainingSelection, PseudoLabels } from './self-training/self-training';
export { entropyMin } from './entropy-min/entropy-min';
export type { EntropyMinConfig } from './entropy-min/entropy-min';
export { flexmatch, flexMatchThresholds, flexMatchMapping } from './flexmatch/flexmatch';
export type { FlexMatchConfig, FlexMatchCarry } from './flexmatch/flexmatch';
export { freematch, freeMatchThresholds, freeMatchUpdate } from './freematch/freematch';
export type { FreeMatchConfig, FreeMatchState } from './freematch/freematch';
export { mixmatch } from './mixmatch/mixmatch';
export type { MixMatchConfig } from './mixmatch/mixmatch';
export { weakViews } from './views/weak-views';
export type { WeakViewsOptions } from './views/weak-views';
export { vat } from './vat/vat';
export type { VatConfig } from './vat/vat';
export { coTraining, combineViews, exchangeLabels, featureSplitMasks, CO_TRAINING_POOLS } from './co-training/co-training';
export type { CoTrainingConfig, FeatureSplit } from './co-training/co-training';
export { noisyStudent } from './noisy-student/noisy-student';
export type { NoisyStudentConfig, StudentEncoderOverrides } from './noisy-student/noisy-student';
export { noisyStudentLoss } from './losses/noisy-student';
export type { NoisyStudentLossInput, NoisyStudentLossResult } from './losses/noisy-student';
export { weakRandAugment } from './views/weak-rand-augment';
export type { WeakRandAugmentOptions } from './views/weak-rand-augment';
export {
  dataDistillation,
  distillationTransforms,
  ensemblePredictions,
  keptAnnotations,
  transformImages,
  DATA_DISTILLATION_POOL,
} from './data-distillation/data-distillation';
export type { DataDistillationConfig, DistillationTransform } from './data-distillation/data-distillation';
export { predictClasses } from './predict-classes';
export type { PredictClassesOptions } from './predict-classes';
export type { ClassifierNetwork, SemisupNetworks, SemisupRuntime } from './shared/classifier-network';
export { sigmoidRampUp, pseudoLabelWeight, linearRampUp } from './schedules/ramps';
export type { PseudoLabelRamp } from './schedules/ramps';
export { semisup, semisup as default } from './plugin';
