import type * as tfl from '@tensorflow/tfjs-layers';

import { SslError } from '../errors';
import { DEFAULT_CNN_CHANNELS, type CnnEncoder } from '../nn/cnn';
import type { MlpEncoder } from '../nn/mlp';
import type { AnyEncoder } from '../nn/create-encoder';
import { resolveResNetStem, type ResNetEncoder } from '../nn/resnet';
import { dropPathRates } from '../nn/layers/noise';
import type { SafetensorsEntry } from '../train/safetensors';

type Layer = tfl.layers.Layer;

/** A tensor of the exported state dict: its PyTorch name and layout, and the tfjs weight it came from. */
export interface PyTorchTensor extends SafetensorsEntry {
  /** The tfjs weight (`conv2d_3/kernel`), or a note for tensors tfjs has no counterpart of. */
  readonly source: string;
}

/**
 * What the generated PyTorch module is built from: the encoder spec resolved to plain sizes (stage widths,
 * blocks, stem), so the Python side does no arithmetic that could drift from @ssl's builders.
 */
export type PyTorchArchitecture =
  | {
      family: 'cnn';
      in_channels: number;
      channels: number[];
      convs_per_stage: number;
      batch_norm: boolean;
      dropout: number;
      eps: number;
      momentum: number;
    }
  | {
      family: 'resnet';
      kind: string;
      in_channels: number;
      stem: 'cifar' | 'imagenet';
      stem_width: number;
      bottleneck: boolean;
      /** Blocks per stage and each stage's width (a bottleneck block outputs 4× its width). */
      blocks: number[];
      widths: number[];
      dropout: number;
      /** Drop-path rate of each block, in order (l/L · dropPath). */
      drop_path: number[];
      eps: number;
      momentum: number;
    }
  | { family: 'mlp'; in_features: number; hidden: number[]; batch_norm: boolean; eps: number; momentum: number };

export interface PyTorchStateDict {
  readonly architecture: PyTorchArchitecture;
  /** In the order the module registers them, which is the order `state_dict()` lists them. */
  readonly tensors: PyTorchTensor[];
  readonly featureDim: number;
}

/** Encoder kinds the PyTorch export covers; the ViT and the text transformer are not (their attention blocks would need their own mapping). */
export const PYTORCH_EXPORT_KINDS = ['cnn', 'resnet18', 'resnet34', 'resnet50', 'mlp'] as const;

interface ConvLayer extends Layer {
  kernel: tfl.LayerVariable;
  bias: tfl.LayerVariable | null;
  strides: number[];
  kernelSize: number[];
}
interface DenseLayer extends Layer {
  kernel: tfl.LayerVariable;
  bias: tfl.LayerVariable | null;
}
interface BatchNormLayer extends Layer {
  epsilon: number;
  momentum: number;
  gamma?: tfl.LayerVariable;
  beta?: tfl.LayerVariable;
  movingMean: tfl.LayerVariable;
  movingVariance: tfl.LayerVariable;
}

function values(variable: tfl.LayerVariable): Float32Array {
  return variable.read().dataSync() as Float32Array;
}

/** tfjs conv kernels are [height, width, in, out] (HWIO); PyTorch's Conv2d weight is [out, in, height, width] (OIHW). */
export function hwioToOihw(kernel: Float32Array, shape: readonly number[]): { values: Float32Array; shape: number[] } {
  const [height, width, inChannels, outChannels] = shape;
  const out = new Float32Array(kernel.length);
  for (let h = 0; h < height; h++)
    for (let w = 0; w < width; w++)
      for (let i = 0; i < inChannels; i++)
        for (let o = 0; o < outChannels; o++) {
          out[((o * inChannels + i) * height + h) * width + w] = kernel[((h * width + w) * inChannels + i) * outChannels + o];
        }
  return { values: out, shape: [outChannels, inChannels, height, width] };
}

/** tfjs Dense kernels are [in, out]; PyTorch's Linear weight is [out, in]. */
export function transposeMatrix(kernel: Float32Array, shape: readonly number[]): { values: Float32Array; shape: number[] } {
  const [rows, columns] = shape;
  const out = new Float32Array(kernel.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < columns; c++) out[c * rows + r] = kernel[r * columns + c];
  return { values: out, shape: [columns, rows] };
}

function outChannels(conv: Layer): number {
  return (conv as ConvLayer).kernel.shape[3] as number;
}

function layerError(kind: string, problem: string): SslError {
  return new SslError('invalid-config', `Cannot map this ${kind} encoder to PyTorch: ${problem}. Was it built by @ssl's ${kind} builder?`);
}

function expectClass(layer: Layer | undefined, className: string, kind: string, where: string): Layer {
  if (layer === undefined || layer.getClassName() !== className) {
    throw layerError(kind, `expected a ${className} layer ${where}, found ${layer === undefined ? 'none' : layer.getClassName()}`);
  }
  return layer;
}

/** The layer feeding `layer` in the encoder's own graph (its first inbound node: the one the builder made). */
function inbound(layer: Layer): Layer[] {
  return layer.inboundNodes[0]?.inboundLayers ?? [];
}

function onlyInbound(layer: Layer, kind: string): Layer {
  const layers = inbound(layer);
  if (layers.length !== 1) throw layerError(kind, `${layer.name} has ${layers.length} inputs where one was expected`);
  return layers[0];
}

/** Collects the state dict in PyTorch names, converting each layout; also checks the batch norms share eps and momentum. */
class StateDictBuilder {
  readonly tensors: PyTorchTensor[] = [];
  private batchNormSettings?: { epsilon: number; momentum: number };

  constructor(private readonly batchesTracked: bigint) {}

  conv(prefix: string, layer: Layer): void {
    const conv = layer as ConvLayer;
    const kernel = hwioToOihw(values(conv.kernel), conv.kernel.shape as number[]);
    this.tensors.push({ name: `${prefix}.weight`, dtype: 'F32', ...kernel, source: conv.kernel.originalName });
    if (conv.bias)
      this.tensors.push({
        name: `${prefix}.bias`,
        dtype: 'F32',
        shape: [...conv.bias.shape] as number[],
        values: values(conv.bias),
        source: conv.bias.originalName,
      });
  }

  dense(prefix: string, layer: Layer): void {
    const dense = layer as DenseLayer;
    const kernel = transposeMatrix(values(dense.kernel), dense.kernel.shape as number[]);
    this.tensors.push({ name: `${prefix}.weight`, dtype: 'F32', ...kernel, source: dense.kernel.originalName });
    if (dense.bias)
      this.tensors.push({
        name: `${prefix}.bias`,
        dtype: 'F32',
        shape: [...dense.bias.shape] as number[],
        values: values(dense.bias),
        source: dense.bias.originalName,
      });
  }

  /**
   * BatchNorm2d/1d: weight = γ, bias = β, running_mean / running_var = tfjs's moving statistics (what eval
   * mode normalizes with), and num_batches_tracked, which tfjs does not keep: the run's step count (PyTorch
   * reads it only with momentum=None).
   */
  batchNorm(prefix: string, layer: Layer): void {
    const bn = layer as BatchNormLayer;
    if (!bn.gamma || !bn.beta)
      throw layerError('image', `${bn.name} has no γ or β (an affine-free batch norm), which no encoder builder makes`);
    const settings = { epsilon: bn.epsilon, momentum: bn.momentum };
    this.batchNormSettings ??= settings;
    if (settings.epsilon !== this.batchNormSettings.epsilon || settings.momentum !== this.batchNormSettings.momentum) {
      throw new SslError(
        'invalid-config',
        `Batch norms with different epsilon or momentum (${bn.name}) cannot share one PyTorch definition.`,
      );
    }
    const channels = [...bn.gamma.shape] as number[];
    const entry = (name: string, variable: tfl.LayerVariable): PyTorchTensor => ({
      name: `${prefix}.${name}`,
      dtype: 'F32',
      shape: channels,
      values: values(variable),
      source: variable.originalName,
    });
    this.tensors.push(
      entry('weight', bn.gamma),
      entry('bias', bn.beta),
      entry('running_mean', bn.movingMean),
      entry('running_var', bn.movingVariance),
    );
    this.tensors.push({
      name: `${prefix}.num_batches_tracked`,
      dtype: 'I64',
      shape: [],
      values: BigInt64Array.of(this.batchesTracked),
      source: '(not kept by tfjs: the run’s step count)',
    });
  }

  /**
   * PyTorch's eps is tfjs's epsilon; its momentum weighs the new batch (running ← (1 − m)·running + m·batch),
   * tfjs's weighs the old value, so m_torch = 1 − m_tfjs (tfjs 0.9 = PyTorch 0.1). Rounded to 9 digits so
   * 1 − 0.9 prints as 0.1. Without batch norm, PyTorch's defaults.
   */
  torchBatchNorm(): { eps: number; momentum: number } {
    if (!this.batchNormSettings) return { eps: 1e-5, momentum: 0.1 };
    return { eps: this.batchNormSettings.epsilon, momentum: Math.round((1 - this.batchNormSettings.momentum) * 1e9) / 1e9 };
  }
}

function cnnStateDict(encoder: CnnEncoder, builder: StateDictBuilder): PyTorchArchitecture {
  const spec = encoder.spec;
  const channels = [...(spec.channels ?? DEFAULT_CNN_CHANNELS)];
  const convsPerStage = spec.convsPerStage ?? 1;
  const batchNorm = spec.batchNorm ?? true;
  // The CNN is a chain, so the model's layer order is the builder's.
  const convs = encoder.model.layers.filter((layer) => layer.getClassName() === 'Conv2D');
  const norms = encoder.model.layers.filter((layer) => layer.getClassName() === 'BatchNormalization');
  if (convs.length !== channels.length * convsPerStage || norms.length !== (batchNorm ? convs.length : 0)) {
    throw layerError(
      'cnn',
      `it has ${convs.length} convs and ${norms.length} batch norms for ${channels.length} stages of ${convsPerStage}`,
    );
  }
  convs.forEach((conv, index) => {
    const prefix = `stages.${Math.floor(index / convsPerStage)}.${index % convsPerStage}`;
    builder.conv(`${prefix}.conv`, conv);
    if (batchNorm) builder.batchNorm(`${prefix}.bn`, norms[index]);
  });
  return {
    family: 'cnn',
    in_channels: spec.inputShape[2],
    channels,
    convs_per_stage: convsPerStage,
    batch_norm: batchNorm,
    dropout: spec.dropout ?? 0,
    ...builder.torchBatchNorm(),
  };
}

/**
 * The ResNet graph walked from its residual additions, named as torchvision names its ResNets (conv1, bn1,
 * layer<s>.<b>.conv<k> / bn<k>, layer<s>.<b>.downsample.0 / .1). Each Add's inputs are the residual branch
 * (ending in a batch norm, or a drop path on one) and the skip (the block's input, or the projection's batch
 * norm); the branch is followed back conv by conv until it reaches the block's input.
 */
function resnetStateDict(encoder: ResNetEncoder, builder: StateDictBuilder): PyTorchArchitecture {
  const kind = encoder.kind;
  const spec = encoder.spec;
  const adds = encoder.model.layers.filter((layer) => layer.getClassName() === 'Add');
  if (adds.length === 0) throw layerError(kind, 'it has no residual additions');
  interface Block {
    pairs: { conv: Layer; bn: Layer }[];
    downsample?: { conv: Layer; bn: Layer };
    stride: number;
    width: number;
  }
  const blocks: Block[] = [];
  let firstBlockInput: Layer | undefined;
  for (const add of adds) {
    const [branchEnd, skipEnd] = inbound(add);
    if (branchEnd === undefined || skipEnd === undefined) throw layerError(kind, `${add.name} does not add two tensors`);
    const projection = skipEnd.getClassName() === 'BatchNormalization';
    const downsample = projection
      ? { conv: expectClass(onlyInbound(skipEnd, kind), 'Conv2D', kind, `before ${skipEnd.name}`), bn: skipEnd }
      : undefined;
    const blockInput = downsample ? onlyInbound(downsample.conv, kind) : skipEnd;
    firstBlockInput ??= blockInput;
    const pairs: { conv: Layer; bn: Layer }[] = [];
    let cursor = branchEnd.getClassName() === 'SslDropPath' ? onlyInbound(branchEnd, kind) : branchEnd;
    for (;;) {
      const bn = expectClass(cursor, 'BatchNormalization', kind, `in the residual branch of ${add.name}`);
      const conv = expectClass(onlyInbound(bn, kind), 'Conv2D', kind, `before ${bn.name}`);
      pairs.unshift({ conv, bn });
      const before = onlyInbound(conv, kind);
      if (before === blockInput) break;
      // Between two convs of a branch: ReLU, and dropout after the block's 3×3 conv when the spec asks for it.
      cursor = before.getClassName() === 'SslDropout' ? onlyInbound(before, kind) : before;
      cursor = onlyInbound(expectClass(cursor, 'ReLU', kind, `between the convs of ${add.name}'s branch`), kind);
    }
    if (pairs.length !== 2 && pairs.length !== 3) throw layerError(kind, `${add.name}'s residual branch has ${pairs.length} convs`);
    // A basic block strides on its first conv, a bottleneck (v1.5) on its 3×3, the second.
    const strideConv = (pairs.length === 3 ? pairs[1] : pairs[0]).conv as ConvLayer;
    blocks.push({ pairs, downsample, stride: strideConv.strides[0], width: outChannels(pairs[0].conv) });
  }
  const bottleneck = blocks[0].pairs.length === 3;
  // Stem: [max-pool ←] ReLU ← batch norm ← conv ← input.
  let stemEnd = firstBlockInput as Layer;
  if (stemEnd.getClassName() === 'MaxPooling2D') stemEnd = onlyInbound(stemEnd, kind);
  const stemBn = expectClass(
    onlyInbound(expectClass(stemEnd, 'ReLU', kind, 'at the end of the stem'), kind),
    'BatchNormalization',
    kind,
    'in the stem',
  );
  const stemConv = expectClass(onlyInbound(stemBn, kind), 'Conv2D', kind, 'in the stem');
  builder.conv('conv1', stemConv);
  builder.batchNorm('bn1', stemBn);
  // Stages after the first start with a stride-2 block (the builder's rule), which is how blocks are grouped.
  const stageSizes: number[] = [];
  const widths: number[] = [];
  blocks.forEach((block, index) => {
    if (index === 0 || block.stride !== 1) {
      stageSizes.push(0);
      widths.push(block.width);
    }
    const prefix = `layer${stageSizes.length}.${stageSizes[stageSizes.length - 1]++}`;
    block.pairs.forEach(({ conv, bn }, k) => {
      builder.conv(`${prefix}.conv${k + 1}`, conv);
      builder.batchNorm(`${prefix}.bn${k + 1}`, bn);
    });
    if (block.downsample) {
      builder.conv(`${prefix}.downsample.0`, block.downsample.conv);
      builder.batchNorm(`${prefix}.downsample.1`, block.downsample.bn);
    }
  });
  return {
    family: 'resnet',
    kind,
    in_channels: spec.inputShape[2],
    stem: resolveResNetStem(spec),
    stem_width: outChannels(stemConv),
    bottleneck,
    blocks: stageSizes,
    widths,
    dropout: spec.dropout ?? 0,
    drop_path: dropPathRates(spec.dropPath ?? 0, blocks.length),
    ...builder.torchBatchNorm(),
  };
}

function mlpStateDict(encoder: MlpEncoder, builder: StateDictBuilder): PyTorchArchitecture {
  const spec = encoder.spec;
  const batchNorm = spec.batchNorm ?? true;
  const denses = encoder.model.layers.filter((layer) => layer.getClassName() === 'Dense');
  const norms = encoder.model.layers.filter((layer) => layer.getClassName() === 'BatchNormalization');
  if (denses.length !== spec.hidden.length || norms.length !== (batchNorm ? denses.length : 0)) {
    throw layerError('mlp', `it has ${denses.length} dense layers and ${norms.length} batch norms for ${spec.hidden.length} hidden widths`);
  }
  denses.forEach((dense, index) => {
    builder.dense(`layers.${index}.linear`, dense);
    if (batchNorm) builder.batchNorm(`layers.${index}.bn`, norms[index]);
  });
  return { family: 'mlp', in_features: spec.inputDim, hidden: [...spec.hidden], batch_norm: batchNorm, ...builder.torchBatchNorm() };
}

/**
 * The encoder's weights as a PyTorch state dict: names of the generated module (torchvision's for ResNets),
 * conv kernels HWIO → OIHW, dense kernels [in, out] → [out, in], batch norms with PyTorch's four tensors and
 * num_batches_tracked. `batchesTracked` is written as every num_batches_tracked (default 0).
 */
export function pytorchStateDict(encoder: AnyEncoder, options: { batchesTracked?: number } = {}): PyTorchStateDict {
  const builder = new StateDictBuilder(BigInt(Math.max(0, Math.floor(options.batchesTracked ?? 0))));
  let architecture: PyTorchArchitecture;
  switch (encoder.kind) {
    case 'cnn':
      architecture = cnnStateDict(encoder, builder);
      break;
    case 'resnet18':
    case 'resnet34':
    case 'resnet50':
      architecture = resnetStateDict(encoder, builder);
      break;
    case 'mlp':
      architecture = mlpStateDict(encoder, builder);
      break;
    default:
      throw new SslError(
        'invalid-config',
        `The PyTorch export covers ${PYTORCH_EXPORT_KINDS.join(', ')} encoders, not '${(encoder as AnyEncoder).kind}' (its transformer blocks have no mapping yet).`,
        { details: { kind: (encoder as AnyEncoder).kind } },
      );
  }
  return { architecture, tensors: builder.tensors, featureDim: encoder.featureDim };
}
