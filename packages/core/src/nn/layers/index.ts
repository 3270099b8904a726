export { TransformerBlock, prefixCausalMask, transformerBlock, validateTransformerDims } from './transformer-block';
export type { GeluForm, TransformerBlockArgs } from './transformer-block';
export {
  PositionEmbedding,
  ClassToken,
  interpolatePositionEmbedding,
  sincosPositionEmbedding1d,
  sincosPositionEmbedding2d,
} from './embeddings';
export type { PositionEmbeddingArgs, PositionEmbeddingKind, ClassTokenArgs } from './embeddings';
export { TokenPooling, SequencePooling } from './pooling';
export type { TokenPoolingArgs, TokenPoolingMode, SequencePoolingArgs, SequencePoolingMode } from './pooling';
export { L2Normalization, WeightNormDense, PrototypeLayer, l2NormalizeLastAxis } from './head-layers';
export type { L2NormalizationArgs, WeightNormDenseArgs, PrototypeLayerArgs } from './head-layers';
export { layerNorm, gelu, geluTanh } from './common';
export { LayerNorm } from './layer-norm';
export type { LayerNormArgs } from './layer-norm';

export { Dropout, DropPath, dropoutNoise, dropPathNoise, dropPathRates, validateNoiseRate } from './noise';
export type { NoiseLayerArgs } from './noise';
