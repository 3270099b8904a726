import { invalidConfig, isSslError } from '../errors';
import type { ImageShape } from './encoder';
import type { PositionEmbeddingKind } from './layers/embeddings';
import { validateNoiseRate } from './layers/noise';

/** Small convolutional network: per stage conv3×3 (+BN) + ReLU, 2×2 max-pool between stages, global average pool. */
export interface CnnSpec {
  kind: 'cnn';
  /** The usual image size; other heights and widths from 2^(stages − 1) px up are accepted too. */
  inputShape: Readonly<ImageShape>;
  /** Output channels per stage; default [32, 64, 128]. */
  channels?: readonly number[];
  /** Batch norm after each conv; default true. */
  batchNorm?: boolean;
  /** Convolutions per stage; default 1. */
  convsPerStage?: number;
  /** Dropout after each stage's last ReLU (Srivastava et al. 2014), training only; default 0. */
  dropout?: number;
  seed?: number;
}

export type ResNetDepth = 'resnet18' | 'resnet34' | 'resnet50';

export interface ResNetSpec {
  kind: ResNetDepth;
  /** The usual image size (it picks the default stem); images of any other size are accepted too. */
  inputShape: Readonly<ImageShape>;
  /** 'cifar': 3×3/1 conv, no max-pool; 'imagenet': 7×7/2 conv + 3×3/2 max-pool. Default: cifar if the input is ≤ 64 px. */
  stem?: 'cifar' | 'imagenet';
  /** Multiplies every stage width (64, 128, 256, 512); default 1. */
  widthMultiplier?: number;
  /** Dropout inside each residual block, after its first 3×3 conv's ReLU (wide ResNets, Zagoruyko & Komodakis 2016); training only; default 0. */
  dropout?: number;
  /**
   * Drop path (stochastic depth, Huang et al. 2016) on the residual branches: block l of L drops its branch
   * for an example with probability l/L · dropPath; training only; default 0.
   */
  dropPath?: number;
  seed?: number;
}

export interface VitSpec {
  kind: 'vit';
  /** The size the position embedding is built for; other multiples of patchSize run with it resized. */
  inputShape: Readonly<ImageShape>;
  patchSize: number;
  embedDim: number;
  depth: number;
  numHeads: number;
  /** MLP hidden width / embedDim; default 4. */
  mlpRatio?: number;
  /** Prepend a learned class token; default true. */
  classToken?: boolean;
  /** Default 'learned'. 'sincos' is the fixed 2-D embedding MAE uses. */
  positionEmbedding?: PositionEmbeddingKind;
  /**
   * Causal self-attention over the raster order of the patches (autoregressive image models: iGPT, AIM): token i
   * attends to tokens j ≤ i only, the class token (if any) being position 0. Default false.
   */
  causal?: boolean;
  /**
   * Pooled feature: 'class' (needs classToken, and not causal: the class token would see only itself) or 'mean'
   * of patch tokens; default 'class' when there is a class token and attention is not causal.
   */
  pooling?: 'class' | 'mean';
  /** GELU of the blocks' MLPs: 'exact' (default) or 'tanh' (faster on wasm; see TransformerBlockArgs.gelu). */
  gelu?: 'exact' | 'tanh';
  /** Dropout after the position embedding and inside each block (timm's drop_rate), training only; default 0. */
  dropout?: number;
  /** Drop path (stochastic depth) on block l of L with probability l/L · dropPath (Huang et al. 2016; DeiT uses 0.1), training only; default 0. */
  dropPath?: number;
  seed?: number;
}

export interface MlpSpec {
  kind: 'mlp';
  inputDim: number;
  /** Hidden widths; the last one is the feature dimension. */
  hidden: readonly number[];
  /** Batch norm after each linear layer; default true. */
  batchNorm?: boolean;
  seed?: number;
}

export interface TextSpec {
  kind: 'text';
  vocabSize: number;
  maxLength: number;
  embedDim: number;
  depth: number;
  numHeads: number;
  mlpRatio?: number;
  /** Causal self-attention (CLIP's text transformer); default true. */
  causal?: boolean;
  /** 'last': output at the last non-padding token (EOS, as CLIP); 'mean': mean over non-padding tokens. Default 'last'. */
  pooling?: 'last' | 'mean';
  /** Padding token id; default 0 (WordTokenizer's <pad>). */
  padId?: number;
  seed?: number;
}

export type EncoderSpec = CnnSpec | ResNetSpec | VitSpec | MlpSpec | TextSpec;
export type EncoderKind = EncoderSpec['kind'];

export type VitPresetName = 'tiny' | 'small' | 'base' | 'vit28';

/**
 * Standard ViT sizes (Touvron et al. 2021, DeiT table 1) and a small one for 28×28 images.
 * `overrides` replace fields, e.g. `vitPreset('small', { inputShape: [32, 32, 3], patchSize: 4 })`.
 */
export function vitPreset(name: VitPresetName, overrides: Partial<Omit<VitSpec, 'kind'>> = {}): VitSpec {
  const presets: Record<VitPresetName, VitSpec> = {
    tiny: { kind: 'vit', inputShape: [224, 224, 3], patchSize: 16, embedDim: 192, depth: 12, numHeads: 3, mlpRatio: 4 },
    small: { kind: 'vit', inputShape: [224, 224, 3], patchSize: 16, embedDim: 384, depth: 12, numHeads: 6, mlpRatio: 4 },
    base: { kind: 'vit', inputShape: [224, 224, 3], patchSize: 16, embedDim: 768, depth: 12, numHeads: 12, mlpRatio: 4 },
    // 28×28 (MNIST-sized): 7×7 = 49 patches of 4×4, 4 blocks of width 128.
    vit28: { kind: 'vit', inputShape: [28, 28, 1], patchSize: 4, embedDim: 128, depth: 4, numHeads: 4, mlpRatio: 4 },
  };
  const preset = presets[name];
  if (preset === undefined) invalidConfig('preset', name, `one of ${Object.keys(presets).join(', ')}`);
  return { ...preset, classToken: true, positionEmbedding: 'learned', ...overrides, kind: 'vit' };
}

/**
 * Encoders by the names the `ssl` command's `--encoder` takes and a method may recommend: the small CNN,
 * ResNets and ViT presets, each built for the data's input shape (`vit28`: 4×4 patches, 4 blocks).
 */
export const ENCODER_PRESETS = ['cnn', 'resnet18', 'resnet34', 'resnet50', 'vit28', 'vit-tiny', 'vit-small', 'vit-base'] as const;
export type EncoderPresetName = (typeof ENCODER_PRESETS)[number];

/** The encoder spec of a preset name for images of `inputShape`. */
export function encoderPreset(name: EncoderPresetName, inputShape: ImageShape): EncoderSpec {
  switch (name) {
    case 'cnn':
      return { kind: 'cnn', inputShape };
    case 'resnet18':
    case 'resnet34':
    case 'resnet50':
      return { kind: name, inputShape };
    case 'vit28':
      return vitPreset('vit28', { inputShape });
    case 'vit-tiny':
      return vitPreset('tiny', { inputShape });
    case 'vit-small':
      return vitPreset('small', { inputShape });
    case 'vit-base':
      return vitPreset('base', { inputShape });
    default:
      return invalidConfig('encoder', name, `one of ${ENCODER_PRESETS.join(', ')}`);
  }
}

/** A text transformer's size: @ssl/clip's `text` config and masked:mlm's share it, so a tower one trains starts the other. */
export interface TextTowerSize {
  readonly embedDim: number;
  readonly depth: number;
  readonly numHeads: number;
  /** Tokens per text, special ones included. */
  readonly maxLength: number;
  readonly mlpRatio: number;
}

/** The spec of a text tower of `size` over a tokenizer's vocabulary, padded with its pad id. */
export function textTowerSpec(
  size: TextTowerSize,
  tokenizer: { readonly vocabSize: number; readonly padId: number },
  options: { readonly causal: boolean; readonly seed: number },
): TextSpec {
  const { embedDim, depth, numHeads, maxLength, mlpRatio } = size;
  return {
    kind: 'text',
    vocabSize: tokenizer.vocabSize,
    maxLength,
    embedDim,
    depth,
    numHeads,
    mlpRatio,
    padId: tokenizer.padId,
    ...options,
  };
}

/** The fields a caller may set on top of a preset, per encoder family: every field but `kind` and `inputShape`. */
const ENCODER_OPTION_FIELDS: Record<'cnn' | 'resnet' | 'vit', readonly string[]> = {
  cnn: ['channels', 'batchNorm', 'convsPerStage', 'dropout', 'seed'],
  resnet: ['stem', 'widthMultiplier', 'dropout', 'dropPath', 'seed'],
  vit: [
    'patchSize',
    'embedDim',
    'depth',
    'numHeads',
    'mlpRatio',
    'classToken',
    'positionEmbedding',
    'causal',
    'pooling',
    'gelu',
    'dropout',
    'dropPath',
    'seed',
  ],
};

/**
 * A preset's spec with some fields replaced, e.g. `withEncoderOptions(encoderPreset('vit28', shape), { patchSize: 7 })`
 * (a 4×4 grid of 7×7 patches). A field the encoder does not have is refused by name, since a misspelt one would
 * otherwise be ignored and the run would train another network than the one asked for; the result is validated.
 * With `field` (the config field holding `options`, e.g. 'studentEncoder') errors name `studentEncoder.channels`.
 */
export function withEncoderOptions(spec: EncoderSpec, options: Readonly<Record<string, unknown>>, field?: string): EncoderSpec {
  const name = (key: string) => (field === undefined ? key : `${field}.${key}`);
  const family = spec.kind === 'cnn' || spec.kind === 'vit' ? spec.kind : spec.kind.startsWith('resnet') ? 'resnet' : undefined;
  const allowed = family === undefined ? [] : ENCODER_OPTION_FIELDS[family];
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key))
      invalidConfig(name(key), options[key], `an option of a ${spec.kind} encoder: ${allowed.join(', ') || 'none'}`);
  }
  const merged = { ...spec, ...options } as EncoderSpec;
  try {
    validateEncoderSpec(merged);
  } catch (error) {
    const { field: key, value, expected } = isSslError(error, 'invalid-config') ? error.details : {};
    if (field === undefined || typeof key !== 'string' || typeof expected !== 'string') throw error;
    invalidConfig(name(key), value, expected);
  }
  return merged;
}

function positiveInteger(field: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) invalidConfig(field, value, 'a positive integer');
}

function validateImageShape(value: unknown): void {
  if (!Array.isArray(value) || value.length !== 3 || value.some((d) => !Number.isInteger(d) || d < 1)) {
    invalidConfig('inputShape', value, '[height, width, channels] of positive integers');
  }
}

function optionalBoolean(field: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'boolean') invalidConfig(field, value, 'true or false');
}

function optionalRate(field: string, value: unknown): void {
  if (value !== undefined) validateNoiseRate(field, value);
}

function optionalSeed(value: unknown): void {
  if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) invalidConfig('seed', value, 'a finite number');
}

function validateCnnSpec(spec: CnnSpec): void {
  validateImageShape(spec.inputShape);
  const channels = spec.channels ?? [32, 64, 128];
  if (!Array.isArray(channels) || channels.length === 0) invalidConfig('channels', channels, 'a non-empty array of positive integers');
  channels.forEach((c, i) => positiveInteger(`channels[${i}]`, c));
  optionalBoolean('batchNorm', spec.batchNorm);
  if (spec.convsPerStage !== undefined) positiveInteger('convsPerStage', spec.convsPerStage);
  optionalRate('dropout', spec.dropout);
  const minSize = 2 ** (channels.length - 1);
  if (spec.inputShape[0] < minSize || spec.inputShape[1] < minSize) {
    invalidConfig(
      'inputShape',
      spec.inputShape,
      `at least ${minSize} px per side for ${channels.length} stages (each but the last halves the size)`,
    );
  }
}

function validateResNetSpec(spec: ResNetSpec): void {
  validateImageShape(spec.inputShape);
  if (spec.stem !== undefined && spec.stem !== 'cifar' && spec.stem !== 'imagenet')
    invalidConfig('stem', spec.stem, "'cifar' or 'imagenet'");
  const width = spec.widthMultiplier ?? 1;
  if (typeof width !== 'number' || !(width > 0) || !Number.isFinite(width)) invalidConfig('widthMultiplier', width, 'a positive number');
  if (Math.round(64 * width) < 1) invalidConfig('widthMultiplier', width, 'at least 1/64 so every stage has a channel');
  optionalRate('dropout', spec.dropout);
  optionalRate('dropPath', spec.dropPath);
}

/** Shared by the ViT and the text transformer: widths, depth, heads and MLP ratio. */
function validateTransformerSpec(spec: { embedDim: number; depth: number; numHeads: number; mlpRatio?: number }): void {
  positiveInteger('embedDim', spec.embedDim);
  positiveInteger('depth', spec.depth);
  positiveInteger('numHeads', spec.numHeads);
  if (spec.embedDim % spec.numHeads !== 0) invalidConfig('numHeads', spec.numHeads, `a divisor of embedDim = ${spec.embedDim}`);
  const mlpRatio = spec.mlpRatio ?? 4;
  if (typeof mlpRatio !== 'number' || !(mlpRatio > 0) || !Number.isInteger(mlpRatio * spec.embedDim)) {
    invalidConfig('mlpRatio', mlpRatio, 'a positive number with mlpRatio * embedDim an integer');
  }
}

function validateVitSpec(spec: VitSpec): void {
  validateImageShape(spec.inputShape);
  positiveInteger('patchSize', spec.patchSize);
  validateTransformerSpec(spec);
  const [height, width] = spec.inputShape;
  if (height % spec.patchSize !== 0 || width % spec.patchSize !== 0) {
    invalidConfig('patchSize', spec.patchSize, `a divisor of the image height and width ${height}×${width}`);
  }
  optionalBoolean('classToken', spec.classToken);
  const position = spec.positionEmbedding ?? 'learned';
  if (position !== 'learned' && position !== 'sincos') invalidConfig('positionEmbedding', position, "'learned' or 'sincos'");
  if (position === 'sincos' && spec.embedDim % 4 !== 0)
    invalidConfig('embedDim', spec.embedDim, "a multiple of 4 with positionEmbedding 'sincos'");
  if (spec.pooling !== undefined && spec.pooling !== 'class' && spec.pooling !== 'mean')
    invalidConfig('pooling', spec.pooling, "'class' or 'mean'");
  if (spec.pooling === 'class' && spec.classToken === false) invalidConfig('pooling', spec.pooling, "'mean' when classToken is false");
  optionalBoolean('causal', spec.causal);
  if (spec.pooling === 'class' && spec.causal === true)
    invalidConfig('pooling', spec.pooling, "'mean' with causal attention (the class token, at position 0, attends only to itself)");
  if (spec.gelu !== undefined && spec.gelu !== 'exact' && spec.gelu !== 'tanh') invalidConfig('gelu', spec.gelu, "'exact' or 'tanh'");
  optionalRate('dropout', spec.dropout);
  optionalRate('dropPath', spec.dropPath);
}

function validateMlpSpec(spec: MlpSpec): void {
  positiveInteger('inputDim', spec.inputDim);
  if (!Array.isArray(spec.hidden) || spec.hidden.length === 0)
    invalidConfig('hidden', spec.hidden, 'a non-empty array of positive integers');
  spec.hidden.forEach((h, i) => positiveInteger(`hidden[${i}]`, h));
  optionalBoolean('batchNorm', spec.batchNorm);
}

function validateTextSpec(spec: TextSpec): void {
  positiveInteger('vocabSize', spec.vocabSize);
  positiveInteger('maxLength', spec.maxLength);
  validateTransformerSpec(spec);
  optionalBoolean('causal', spec.causal);
  if (spec.pooling !== undefined && spec.pooling !== 'last' && spec.pooling !== 'mean')
    invalidConfig('pooling', spec.pooling, "'last' or 'mean'");
  const padId = spec.padId ?? 0;
  if (!Number.isInteger(padId) || padId < 0 || padId >= spec.vocabSize)
    invalidConfig('padId', padId, `an integer in [0, vocabSize = ${spec.vocabSize})`);
}

/** The encoder kinds core builds itself; any other kind is a plugin's (`definePlugin({ encoders })`). */
export const CORE_ENCODER_KINDS: ReadonlySet<string> = new Set(['cnn', 'resnet18', 'resnet34', 'resnet50', 'vit', 'mlp', 'text']);

/** Throws SslError('invalid-config') naming the first bad field. */
export function validateEncoderSpec(spec: EncoderSpec): void {
  if (spec === null || typeof spec !== 'object') invalidConfig('spec', spec, 'an encoder spec object');
  optionalSeed(spec.seed);
  switch (spec.kind) {
    case 'cnn':
      return validateCnnSpec(spec);
    case 'resnet18':
    case 'resnet34':
    case 'resnet50':
      return validateResNetSpec(spec);
    case 'vit':
      return validateVitSpec(spec);
    case 'mlp':
      return validateMlpSpec(spec);
    case 'text':
      return validateTextSpec(spec);
    default:
      invalidConfig('kind', (spec as { kind: unknown }).kind, "one of 'cnn', 'resnet18', 'resnet34', 'resnet50', 'vit', 'mlp', 'text'");
  }
}
