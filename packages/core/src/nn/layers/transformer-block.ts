import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { SslError, invalidConfig } from '../../errors';
import type { BaseLayerArgs, CallKwargs, LayerShape } from './common';
import { addResidual, denseLastAxis, gelu, geluTanh, layerNorm, singleShape, singleTensor } from './common';
import { dropPathNoise, dropoutNoise, validateNoiseRate } from './noise';

type LayerVariable = tfl.LayerVariable;

export type GeluForm = 'exact' | 'tanh';

export interface TransformerBlockArgs extends BaseLayerArgs {
  /** Token width D. */
  embedDim: number;
  /** Number of attention heads; must divide embedDim. */
  numHeads: number;
  /** Hidden width of the MLP as a multiple of embedDim (4 in ViT and GPT-2). */
  mlpRatio?: number;
  /** Causal self-attention: token i attends to tokens ≤ i only (text transformers, CLIP). */
  causal?: boolean;
  /** LayerNorm epsilon; 1e-6 as in timm's ViT. */
  layerNormEpsilon?: number;
  /**
   * The MLP's GELU: 'exact' x·Φ(x) (default, timm and MAE) or 'tanh', PyTorch's approximate='tanh'
   * (GPT-2, BERT), within ~1e-3 of it and several times cheaper on wasm, whose erf/tanh are scalar.
   */
  gelu?: GeluForm;
  /** Dropout after the attention projection, the GELU and the second MLP layer (timm's proj_drop and Mlp drop); default 0. Training only. */
  dropout?: number;
  /** Drop path (stochastic depth, Huang et al. 2016) on both residual branches; default 0. Training only. */
  dropPath?: number;
  /** Seed for the initial weights. */
  seed?: number;
}

/**
 * One pre-norm transformer block (Vaswani et al. 2017; ViT, Dosovitskiy et al. 2021, eq. 2-3):
 *   x = x + Proj(MultiHeadSelfAttention(LN1(x)))
 *   x = x + FC2(GELU(FC1(LN2(x))))
 * on tokens [N, L, D] for any L, so MAE can run it on the visible subset of patches and the text
 * transformer can reuse it with a causal mask. Weights follow timm's layout (fused qkv with bias,
 * projection with bias), so parameter counts match timm/PyTorch models.
 */
export class TransformerBlock extends tfl.layers.Layer {
  static className = 'SslTransformerBlock';

  readonly embedDim: number;
  readonly numHeads: number;
  readonly mlpRatio: number;
  readonly causal: boolean;
  readonly layerNormEpsilon: number;
  readonly gelu: GeluForm;
  readonly dropout: number;
  readonly dropPath: number;
  private readonly seed: number | undefined;

  private norm1Gamma!: LayerVariable;
  private norm1Beta!: LayerVariable;
  private qkvKernel!: LayerVariable;
  private qkvBias!: LayerVariable;
  private projectionKernel!: LayerVariable;
  private projectionBias!: LayerVariable;
  private norm2Gamma!: LayerVariable;
  private norm2Beta!: LayerVariable;
  private fc1Kernel!: LayerVariable;
  private fc1Bias!: LayerVariable;
  private fc2Kernel!: LayerVariable;
  private fc2Bias!: LayerVariable;

  constructor(args: TransformerBlockArgs) {
    super(args);
    validateTransformerDims('embedDim', args.embedDim, 'numHeads', args.numHeads);
    const mlpRatio = args.mlpRatio ?? 4;
    if (!(mlpRatio > 0) || !Number.isInteger(mlpRatio * args.embedDim)) {
      invalidConfig('mlpRatio', mlpRatio, 'a positive number with mlpRatio * embedDim an integer');
    }
    this.embedDim = args.embedDim;
    this.numHeads = args.numHeads;
    this.mlpRatio = mlpRatio;
    this.causal = args.causal ?? false;
    this.layerNormEpsilon = args.layerNormEpsilon ?? 1e-6;
    const geluForm = args.gelu ?? 'exact';
    if (geluForm !== 'exact' && geluForm !== 'tanh') invalidConfig('gelu', geluForm, "'exact' or 'tanh'");
    this.gelu = geluForm;
    this.dropout = args.dropout ?? 0;
    this.dropPath = args.dropPath ?? 0;
    validateNoiseRate('dropout', this.dropout);
    validateNoiseRate('dropPath', this.dropPath);
    this.seed = args.seed;
  }

  get mlpHiddenDim(): number {
    return Math.round(this.mlpRatio * this.embedDim);
  }

  override build(inputShape: LayerShape | LayerShape[]): void {
    const shape = singleShape(inputShape);
    const lastDim = shape[shape.length - 1];
    if (shape.length !== 3 || lastDim !== this.embedDim) {
      invalidConfig(`${this.name} input shape`, shape, `[batch, tokens, ${this.embedDim}]`);
    }
    const d = this.embedDim;
    const h = this.mlpHiddenDim;
    let seed = this.seed;
    // timm ViT init: truncated normal(0.02) linear weights, zero biases, LayerNorm (1, 0).
    const weightInit = () => {
      const init = tfl.initializers.truncatedNormal({ stddev: 0.02, seed });
      if (seed !== undefined) seed = (seed + 1) >>> 0;
      return init;
    };
    const ones = tfl.initializers.ones();
    const zeros = tfl.initializers.zeros();
    this.norm1Gamma = this.addWeight('norm1/gamma', [d], 'float32', ones);
    this.norm1Beta = this.addWeight('norm1/beta', [d], 'float32', zeros);
    this.qkvKernel = this.addWeight('attention/qkv/kernel', [d, 3 * d], 'float32', weightInit());
    this.qkvBias = this.addWeight('attention/qkv/bias', [3 * d], 'float32', zeros);
    this.projectionKernel = this.addWeight('attention/projection/kernel', [d, d], 'float32', weightInit());
    this.projectionBias = this.addWeight('attention/projection/bias', [d], 'float32', zeros);
    this.norm2Gamma = this.addWeight('norm2/gamma', [d], 'float32', ones);
    this.norm2Beta = this.addWeight('norm2/beta', [d], 'float32', zeros);
    this.fc1Kernel = this.addWeight('mlp/fc1/kernel', [d, h], 'float32', weightInit());
    this.fc1Bias = this.addWeight('mlp/fc1/bias', [h], 'float32', zeros);
    this.fc2Kernel = this.addWeight('mlp/fc2/kernel', [h, d], 'float32', weightInit());
    this.fc2Bias = this.addWeight('mlp/fc2/bias', [d], 'float32', zeros);
    this.built = true;
  }

  override computeOutputShape(inputShape: LayerShape | LayerShape[]): LayerShape {
    return singleShape(inputShape);
  }

  /**
   * kwargs: `training`, and `prefixLengths` — per sequence of the batch, the number K of leading tokens that attend to
   * each other bidirectionally under prefix-causal attention (AIM, El-Nouby et al. 2024, Sec. 3): token i attends to
   * token j iff j ≤ i or j < K, in place of the block's own mask (causal or none). Without it the block is unchanged.
   */
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: CallKwargs): tf.Tensor {
    const training = kwargs.training === true;
    const prefixLengths = kwargs.prefixLengths as readonly number[] | undefined;
    // Noise only in training; at rate 0 both are the identity, so the default block is unchanged.
    const dropout = (t: tf.Tensor): tf.Tensor => (training ? dropoutNoise(t, this.dropout) : t);
    const dropPath = (t: tf.Tensor): tf.Tensor => (training ? dropPathNoise(t, this.dropPath) : t);
    return tf.tidy(() => {
      const x = singleTensor(inputs) as tf.Tensor3D;
      const normed = layerNorm(x, this.norm1Gamma.read(), this.norm1Beta.read(), this.layerNormEpsilon);
      const attended = dropout(this.selfAttention(normed, prefixLengths));
      // addResidual: tf.add would keep both summands until the backward only for their shapes.
      const afterAttention = addResidual(x, dropPath(attended));
      return addResidual(afterAttention, dropPath(this.mlp(afterAttention, dropout)));
    });
  }

  /** The MLP branch of the second residual, fc2(gelu(fc1(LN2(x)))), with `dropout` after the GELU and after fc2. */
  private mlp(x: tf.Tensor, dropout: (t: tf.Tensor) => tf.Tensor = (t) => t): tf.Tensor {
    const normed = layerNorm(x, this.norm2Gamma.read(), this.norm2Beta.read(), this.layerNormEpsilon);
    const preActivation = denseLastAxis(normed, this.fc1Kernel.read(), this.fc1Bias.read());
    const hidden = dropout(this.gelu === 'tanh' ? geluTanh(preActivation) : gelu(preActivation));
    return dropout(denseLastAxis(hidden, this.fc2Kernel.read(), this.fc2Bias.read()));
  }

  /**
   * The block's attention weights on tokens [N, L, D] entering it: softmax(QKᵀ/√d_head [+ mask]) of LN1(x),
   * [N, heads, L, L], row i the weights token i gives every token (DINO's attention maps read the class token's row
   * of the last block). `prefixLengths` as in `call`.
   */
  attentionWeights(tokens: tf.Tensor3D, prefixLengths?: readonly number[]): tf.Tensor4D {
    return tf.tidy(
      () => this.headsOf(layerNorm(tokens, this.norm1Gamma.read(), this.norm1Beta.read(), this.layerNormEpsilon), prefixLengths).attention,
    );
  }

  /**
   * The block's output at the first token only, [N, 1, D], in inference (no dropout): every token is a key and a
   * value, only the first a query, so the other rows — which nothing reads when the features are the class token
   * after the last block — are not computed (their MLP is most of a block). Equal to `call`'s first row; bidirectional
   * blocks only (under the causal mask the first token sees itself alone, and nothing pools it).
   */
  firstTokenOutput(tokens: tf.Tensor3D): tf.Tensor3D {
    if (this.causal) throw new SslError('invalid-config', `${this.name}: firstTokenOutput is for bidirectional blocks.`);
    return tf.tidy(() => {
      const [batch, length] = tokens.shape;
      const [d, heads] = [this.embedDim, this.numHeads];
      const headDim = d / heads;
      const toHeads = (t: tf.Tensor, rows: number) => tf.transpose(tf.reshape(t, [batch, rows, heads, headDim]), [0, 2, 1, 3]);
      const normed = layerNorm(tokens, this.norm1Gamma.read(), this.norm1Beta.read(), this.layerNormEpsilon);
      const qkvKernel = this.qkvKernel.read();
      const qkvBias = this.qkvBias.read();
      // Columns [0, D) of the qkv projection are q, [D, 2D) k and [2D, 3D) v (call's split).
      const keysValues = denseLastAxis(normed, tf.slice(qkvKernel, [0, d], [d, 2 * d]), tf.slice(qkvBias, [d], [2 * d]));
      const [k, v] = tf.split(keysValues, 2, -1).map((part) => toHeads(part, length));
      const firstNormed = tf.slice(normed, [0, 0, 0], [batch, 1, d]);
      const q = toHeads(denseLastAxis(firstNormed, tf.slice(qkvKernel, [0, 0], [d, d]), tf.slice(qkvBias, [0], [d])), 1);
      const attention = tf.softmax(tf.matMul(tf.mul(q, 1 / Math.sqrt(headDim)), k, false, true), -1);
      const merged = tf.reshape(tf.transpose(tf.matMul(attention, v), [0, 2, 1, 3]), [batch, 1, d]);
      const first = tf.slice(tokens, [0, 0, 0], [batch, 1, d]);
      const afterAttention = tf.add(first, denseLastAxis(merged, this.projectionKernel.read(), this.projectionBias.read()));
      return tf.add(afterAttention, this.mlp(afterAttention)) as tf.Tensor3D;
    });
  }

  /** softmax(QKᵀ/√d_head [+ mask]) V per head, then the output projection. */
  private selfAttention(x: tf.Tensor, prefixLengths?: readonly number[]): tf.Tensor {
    const [batch, length] = x.shape;
    const { attention, v } = this.headsOf(x, prefixLengths);
    const merged = tf.reshape(tf.transpose(tf.matMul(attention, v), [0, 2, 1, 3]), [batch, length, this.embedDim]);
    return denseLastAxis(merged, this.projectionKernel.read(), this.projectionBias.read());
  }

  /** The attention weights [N, heads, L, L] and the values [N, heads, L, d_head] of normalised tokens. */
  private headsOf(x: tf.Tensor, prefixLengths?: readonly number[]): { attention: tf.Tensor4D; v: tf.Tensor4D } {
    const [batch, length] = x.shape;
    const headDim = this.embedDim / this.numHeads;
    const qkv = denseLastAxis(x, this.qkvKernel.read(), this.qkvBias.read());
    const [q, k, v] = tf
      .split(qkv, 3, -1)
      .map((part) => tf.transpose(tf.reshape(part, [batch, length, this.numHeads, headDim]), [0, 2, 1, 3]) as tf.Tensor4D);
    // Scaling q before the product keeps the logits' magnitude independent of headDim (Vaswani eq. 1).
    let logits = tf.matMul(tf.mul(q, 1 / Math.sqrt(headDim)), k, false, true);
    if (prefixLengths !== undefined) logits = tf.add(logits, prefixCausalMask(prefixLengths, batch, length, this.name));
    else if (this.causal) logits = tf.add(logits, causalMask(length));
    return { attention: tf.softmax(logits, -1) as tf.Tensor4D, v };
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      embedDim: this.embedDim,
      numHeads: this.numHeads,
      mlpRatio: this.mlpRatio,
      causal: this.causal,
      layerNormEpsilon: this.layerNormEpsilon,
      gelu: this.gelu,
      dropout: this.dropout,
      dropPath: this.dropPath,
    };
  }
}
tf.serialization.registerClass(TransformerBlock);

/** [L, L] additive mask: 0 on and below the diagonal, a large negative number above it. */
function causalMask(length: number): tf.Tensor2D {
  return tf.tidy(() => {
    const allowed = tf.linalg.bandPart(tf.ones([length, length]), -1, 0);
    return tf.mul(tf.sub(1, allowed), -1e9) as tf.Tensor2D;
  });
}

/**
 * [N, 1, L, L] additive prefix-causal mask (AIM, El-Nouby et al. 2024, Sec. 3): for sequence n, 0 where token i may
 * attend to token j — j ≤ i (causal) or j < prefixLengths[n] (the bidirectional prefix) — and −1e9 elsewhere, the
 * value of `causalMask`, so prefix length 1 gives its mask and L no mask at all.
 */
export function prefixCausalMask(prefixLengths: readonly number[], batch: number, length: number, layerName = 'attention'): tf.Tensor4D {
  if (prefixLengths.length !== batch || prefixLengths.some((k) => !Number.isInteger(k) || k < 1 || k > length)) {
    throw new SslError(
      'shape-mismatch',
      `${layerName}: prefixLengths must hold ${batch} integers in [1, ${length}] (one prefix length per sequence, in tokens), got [${prefixLengths.join(', ')}].`,
      { details: { prefixLengths: [...prefixLengths], batch, length } },
    );
  }
  return tf.tidy(() => {
    const rows = tf.reshape(tf.range(0, length, 1, 'int32'), [1, 1, length, 1]);
    const columns = tf.reshape(tf.range(0, length, 1, 'int32'), [1, 1, 1, length]);
    const prefix = tf.tensor4d(Int32Array.from(prefixLengths), [batch, 1, 1, 1], 'int32');
    const allowed = tf.logicalOr(tf.lessEqual(columns, rows), tf.less(columns, prefix));
    return tf.mul(tf.sub(1, tf.cast(allowed, 'float32')), -1e9) as tf.Tensor4D;
  });
}

export function validateTransformerDims(dimField: string, embedDim: number, headsField: string, numHeads: number): void {
  if (!Number.isInteger(embedDim) || embedDim < 1) invalidConfig(dimField, embedDim, 'a positive integer');
  if (!Number.isInteger(numHeads) || numHeads < 1) invalidConfig(headsField, numHeads, 'a positive integer');
  if (embedDim % numHeads !== 0) {
    invalidConfig(headsField, numHeads, `a divisor of ${dimField} = ${embedDim} (each head gets ${dimField} / ${headsField} channels)`);
  }
}

/** Builds a transformer block layer; apply it to symbolic or concrete tokens [N, L, D]. */
export function transformerBlock(args: TransformerBlockArgs): TransformerBlock {
  return new TransformerBlock(args);
}
