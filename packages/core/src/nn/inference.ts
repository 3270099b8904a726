import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

import { SslError, formatShape } from '../errors';
import type { Encoder } from './encoder';
import type { StockConv2D } from './conv';
import { LayersEncoder } from './layers-encoder';

/*
 * Feature extraction without the training machinery: batch norm folded into the convolution before it.
 *
 * In inference a batch norm is a per-channel affine map, y = γ (x − μ) / √(σ² + ε) + β with the moving
 * statistics, so after a convolution it folds into the filter and bias (Jacob et al. 2018, sec. 3.2):
 *   W' = W · s,  b' = (b − μ) · s + β,  s = γ / √(σ² + ε)   (per output channel).
 * A ReLU right after the batch norm becomes the fused convolution's activation, so conv + BN + ReLU is one
 * kernel (on wasm, one Winograd pass with bias and ReLU in its output transform) instead of three passes
 * over the activations. Every other layer runs as in `encoder.features(x, { training: false })`.
 *
 * The folded weights are a snapshot: an encoder trained after `inferenceEncoder` was called needs a new one.
 */

/** An encoder's pooled features in inference mode, computed with batch norm folded into its convolutions. */
export interface InferenceEncoder {
  /** [N, featureDim]; the same function as `encoder.features(inputs, { training: false })`. */
  features(inputs: tf.Tensor4D | tf.Tensor2D): tf.Tensor2D;
  /** Batch norms folded into the convolution before them (0: the encoder's own forward is used). */
  readonly foldedBatchNorms: number;
  /** Frees the folded weights (the encoder's own weights are untouched). */
  dispose(): void;
}

interface BatchNormLayer extends tfl.layers.Layer {
  axis: number;
  epsilon: number;
  scale: boolean;
  center: boolean;
  gamma?: tfl.LayerVariable;
  beta?: tfl.LayerVariable;
  movingMean: tfl.LayerVariable;
  movingVariance: tfl.LayerVariable;
}

interface SymbolicLike {
  id: number;
}

/** One step of the folded graph: reads some symbolic tensors' values, writes one. */
interface Step {
  inputs: number[];
  output: number;
  run(inputs: tf.Tensor[]): tf.Tensor;
}

/**
 * The inference path of `encoder`: conv → batch norm (→ ReLU) chains of a CNN or ResNet run as one fused
 * convolution with folded weights; encoders without such chains (ViT, MLP, text, plugin encoders) run
 * their own `features(x, { training: false })`. No gradient tape is involved either way (tfjs records
 * only inside a gradient function). Call `dispose()` when done.
 */
export function inferenceEncoder(encoder: Encoder): InferenceEncoder {
  const plan =
    encoder instanceof LayersEncoder && encoder.features === LayersEncoder.prototype.features ? foldedPlan(encoder.model) : undefined;
  if (plan === undefined || plan.folded === 0) {
    plan?.dispose();
    return {
      features: (inputs) => encoder.features(inputs, { training: false }),
      foldedBatchNorms: 0,
      dispose: () => {},
    };
  }
  const model = encoder.model;
  const inputId = (model.inputs[0] as unknown as SymbolicLike).id;
  const outputId = (model.outputs[0] as unknown as SymbolicLike).id;
  const expected = model.inputs[0].shape;
  return {
    foldedBatchNorms: plan.folded,
    dispose: () => plan.dispose(),
    features: (inputs) => {
      const matches = inputs.rank === expected.length && expected.every((d, i) => i === 0 || d === null || d === inputs.shape[i]);
      if (!matches) {
        throw new SslError(
          'shape-mismatch',
          `${encoder.kind} encoder: input of shape ${formatShape(inputs.shape)} does not match the model's input ${formatShape(expected.map((d) => d ?? -1))}.`,
          { details: { shape: inputs.shape } },
        );
      }
      return tf.tidy(() => {
        const values = new Map<number, tf.Tensor>([[inputId, inputs]]);
        for (const [index, step] of plan.steps.entries()) {
          const args = step.inputs.map((id) => values.get(id) as tf.Tensor);
          values.set(step.output, step.run(args));
          // Activations are freed as soon as their last reader has run, so peak memory is a few of them.
          for (const id of step.inputs) {
            if (plan.lastUse.get(id) === index && id !== inputId && id !== outputId) {
              values.get(id)?.dispose();
              values.delete(id);
            }
          }
        }
        return values.get(outputId) as tf.Tensor2D;
      });
    },
  };
}

/** Steps in topological order with conv → BN (→ ReLU) folded; undefined when the model is not a plain single-input graph. */
function foldedPlan(model: tfl.LayersModel): { steps: Step[]; lastUse: Map<number, number>; folded: number; dispose(): void } | undefined {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) return undefined;
  const nodes: { layer: tfl.layers.Layer; inputs: number[]; output: number }[] = [];
  for (const layer of model.layers) {
    if (layer.getClassName() === 'InputLayer') continue;
    // A layer shared between several calls has several inbound nodes; such graphs keep the stock forward.
    const inbound = (layer as unknown as { inboundNodes: { inputTensors: SymbolicLike[]; outputTensors: SymbolicLike[] }[] }).inboundNodes;
    if (inbound.length !== 1 || inbound[0].outputTensors.length !== 1) return undefined;
    nodes.push({ layer, inputs: inbound[0].inputTensors.map((t) => t.id), output: inbound[0].outputTensors[0].id });
  }
  const readers = new Map<number, number>();
  for (const node of nodes) for (const id of node.inputs) readers.set(id, (readers.get(id) ?? 0) + 1);
  const outputId = (model.outputs[0] as unknown as SymbolicLike).id;
  const onlyReader = (id: number): number | undefined => {
    if (readers.get(id) !== 1 || id === outputId) return undefined;
    const index = nodes.findIndex((node) => node.inputs.includes(id));
    return index < 0 ? undefined : index;
  };

  const folded: tf.Tensor[] = [];
  const steps: Step[] = [];
  const absorbed = new Set<number>();
  let foldedCount = 0;
  nodes.forEach((node, index) => {
    if (absorbed.has(index)) return;
    const bnIndex = foldableConv(node.layer) ? onlyReader(node.output) : undefined;
    const bnNode = bnIndex === undefined ? undefined : nodes[bnIndex];
    if (bnNode !== undefined && bnIndex !== undefined && foldableBatchNorm(bnNode.layer)) {
      const reluIndex = onlyReader(bnNode.output);
      const fuseRelu = reluIndex !== undefined && isPlainRelu(nodes[reluIndex].layer);
      const conv = node.layer as StockConv2D;
      const { filter, bias } = foldBatchNorm(conv, bnNode.layer as BatchNormLayer);
      folded.push(filter, bias);
      absorbed.add(bnIndex);
      if (fuseRelu && reluIndex !== undefined) absorbed.add(reluIndex);
      foldedCount++;
      steps.push({
        inputs: node.inputs,
        output: fuseRelu && reluIndex !== undefined ? nodes[reluIndex].output : bnNode.output,
        run: ([x]) =>
          tf.fused.conv2d({
            x: x as tf.Tensor4D,
            filter,
            strides: conv.strides,
            pad: conv.padding as 'same' | 'valid',
            dataFormat: 'NHWC',
            dilations: conv.dilationRate,
            bias,
            activation: fuseRelu ? 'relu' : 'linear',
          }),
      });
      return;
    }
    const layer = node.layer;
    steps.push({
      inputs: node.inputs,
      output: node.output,
      run: (inputs) => layer.apply(inputs.length === 1 ? inputs[0] : inputs, { training: false }) as tf.Tensor,
    });
  });
  // Every step must read values that exist: the model input or an earlier step's output.
  const available = new Set<number>([(model.inputs[0] as unknown as SymbolicLike).id]);
  for (const step of steps) {
    if (!step.inputs.every((id) => available.has(id))) {
      tf.dispose(folded);
      return undefined;
    }
    available.add(step.output);
  }
  if (!available.has(outputId)) {
    tf.dispose(folded);
    return undefined;
  }
  const lastUse = new Map<number, number>();
  steps.forEach((step, index) => step.inputs.forEach((id) => lastUse.set(id, index)));
  return { steps, lastUse, folded: foldedCount, dispose: () => tf.dispose(folded) };
}

function foldableConv(layer: tfl.layers.Layer): boolean {
  if (layer.getClassName() !== 'Conv2D') return false;
  const conv = layer as StockConv2D;
  const linear = conv.activation === null || conv.activation.getClassName() === 'linear';
  return conv.rank === 2 && conv.dataFormat === 'channelsLast' && linear && (conv.padding === 'same' || conv.padding === 'valid');
}

function foldableBatchNorm(layer: tfl.layers.Layer): boolean {
  if (layer.getClassName() !== 'BatchNormalization') return false;
  const axis = (layer as BatchNormLayer).axis;
  return axis === -1 || axis === 3;
}

function isPlainRelu(layer: tfl.layers.Layer): boolean {
  if (layer.getClassName() === 'ReLU') {
    const maxValue = (layer as unknown as { maxValue?: number | null }).maxValue;
    return maxValue === null || maxValue === undefined;
  }
  if (layer.getClassName() === 'Activation') {
    const activation = (layer as unknown as { activation?: { getClassName(): string } }).activation;
    return activation?.getClassName() === 'Relu';
  }
  return false;
}

/** W' = W · s and b' = (b − μ) · s + β with s = γ / √(σ² + ε), per output channel. */
function foldBatchNorm(conv: StockConv2D, norm: BatchNormLayer): { filter: tf.Tensor4D; bias: tf.Tensor1D } {
  return tf.tidy(() => {
    const kernel = conv.kernel.read() as tf.Tensor4D;
    const channels = kernel.shape[3];
    const gamma = norm.scale && norm.gamma ? norm.gamma.read() : tf.ones([channels]);
    const beta = norm.center && norm.beta ? norm.beta.read() : tf.zeros([channels]);
    const scale = tf.div(gamma, tf.sqrt(tf.add(norm.movingVariance.read(), norm.epsilon)));
    const convBias = conv.bias === null ? tf.zeros([channels]) : conv.bias.read();
    const filter = tf.mul(kernel, scale) as tf.Tensor4D;
    const bias = tf.add(tf.mul(tf.sub(convBias, norm.movingMean.read()), scale), beta) as tf.Tensor1D;
    return { filter, bias };
  });
}
