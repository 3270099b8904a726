// What @ssl/core exports the same way in Node and in a web page; index.ts (Node) and browser-base.ts add the rest.
export { CORE_VERSION } from './version';
export { SslError, isSslError, invalidConfig, formatShape, formatValue } from './errors';
export type { SslErrorCode } from './errors';
export { Random } from './random';
export { stopGradient, l2Normalize } from './ops';
export {
  requireRank,
  requireSameShape,
  requireNonEmpty,
  requireFloat,
  requirePositive,
  requireNonNegative,
  requirePositiveInteger,
} from './checks';

export * from './augment';
export * from './audio/portable';

export { defineMethod, encoderInputShape, encoderView } from './method';
export { hardLabelCrossEntropy, accuracy, forwardViews, heldOutImages } from './method-helpers';
export type { ViewForwarding } from './method-helpers';
export type {
  Batch,
  BatchOf,
  BuildContext,
  DataKinds,
  EncoderChanges,
  EncoderInput,
  ImageDataKind,
  ImageTextBatch,
  ImageViews,
  LabeledBatch,
  LabeledImageViews,
  RoundEndContext,
  MethodDataKind,
  MethodDefinition,
  MethodProducts,
  HeldOutFigure,
  MethodClassifier,
  MethodRuntime,
  MethodViews,
  MomentumPairs,
  OptimizerSpec,
  PaperReference,
  Product,
  ScheduleSpec,
  SemiSupervisedBatch,
  StepContext,
  StepOutput,
  TrainingDefaults,
  UnlabeledBatch,
  ViewPolicyRef,
} from './method';

/**
 * tfjs-layers, as @ssl/core uses it: plugins build heads and decoders from it without adding a second copy
 * of tfjs-layers (two copies would not share layer registrations).
 */
export * as tfl from '@tensorflow/tfjs-layers';
