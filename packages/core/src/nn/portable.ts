// What nn/ exports that runs anywhere (Node, a web page, a worker); index.ts adds the Node-only parts.
export type { Encoder, ForwardOptions, ImageShape } from './encoder';
export { forwardKwargs } from './encoder';
export { validateEncoderSpec, vitPreset, encoderPreset, withEncoderOptions, textTowerSpec, ENCODER_PRESETS } from './spec';
export type {
  CnnSpec,
  EncoderKind,
  EncoderPresetName,
  EncoderSpec,
  MlpSpec,
  ResNetDepth,
  ResNetSpec,
  TextSpec,
  TextTowerSize,
  VitPresetName,
  VitSpec,
} from './spec';
export { createEncoder } from './create-encoder';
export type { AnyEncoder } from './create-encoder';
export { LayersEncoder, countTrainableParams, checkImageInput, BATCH_NORM_MOMENTUM, BATCH_NORM_EPSILON } from './layers-encoder';
export type { ImageInputRule } from './layers-encoder';
export { batchNormTraining, fastBatchNormalization } from './batch-norm';
export { CnnEncoder, buildCnnModel, cnnMinimumSize } from './cnn';
export { ResNetEncoder, buildResNetModel, resolveResNetStem } from './resnet';
export { VitEncoder, buildVitModel } from './vit';
export type { VitTokenOptions } from './vit';
export { MlpEncoder, buildMlpModel } from './mlp';
export { TextTransformerEncoder, buildTextModel } from './text';
export { WordTokenizer, splitWords, PAD_TOKEN, UNKNOWN_TOKEN, BEGIN_TOKEN, END_TOKEN } from './tokenizer';
export type { Tokenizer, WordTokenizerJSON, WordTokenizerOptions } from './tokenizer';
export { projectionHead, predictionHead, dinoHead, dinoHeadLastLayer, prototypeLayer, linearClassifier } from './heads';
export type { ProjectionHeadConfig, PredictionHeadConfig, DinoHeadConfig, PrototypeLayerConfig, LinearClassifierConfig } from './heads';
export { inferenceEncoder } from './inference';
export type { InferenceEncoder } from './inference';
export { functionalForward, withWeights, trainableWeightMap } from './functional';
export { registerSslLayers, SSL_LAYER_CLASSES } from './register';
export * from './layers/index';
export { ENCODER_METADATA_KEY, loadEncoderFrom, saveEncoderTo } from './encoder-io';
export type { EncoderMetadata, LoadEncoderOptions } from './encoder-io';
export { encoderFromSpec } from './plugin-encoder';
export type { EncoderFromSpecOptions, EncoderKindsOptions } from './plugin-encoder';
