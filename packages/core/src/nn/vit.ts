import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { SslError, formatShape } from '../errors';
import type { ForwardOptions, ImageShape } from './encoder';
import { forwardKwargs } from './encoder';
import { ClassToken, PositionEmbedding } from './layers/embeddings';
import { LayerNorm } from './layers/layer-norm';
import { conv2dLayer } from './conv';
import { InitializerSource } from './layers/initializers';
import { Dropout, dropPathRates } from './layers/noise';
import { TokenPooling } from './layers/pooling';
import { TransformerBlock } from './layers/transformer-block';
import { LayersEncoder, checkImageInput, layersOfClass, requireLayer } from './layers-encoder';
import type { VitSpec } from './spec';

type Symbolic = tfl.SymbolicTensor;

/** `encodeTokens`' options: a forward's, plus prefix-causal attention. */
export interface VitTokenOptions extends ForwardOptions {
  /**
   * Prefix-causal attention in every block (AIM, El-Nouby et al. 2024, Sec. 3), whatever `spec.causal`: per image,
   * the number K ≥ 1 of leading patch tokens that attend to each other bidirectionally; patch token k attends to
   * patch j iff j ≤ k or j < K. Counted in patches: the class token, if any, is always in the prefix (it is first,
   * and every token sees it). Unset: the spec's attention (causal or bidirectional), unchanged.
   */
  prefixLengths?: readonly number[];
}

/** LayerNorm epsilon of timm's ViT. */
const VIT_LAYER_NORM_EPSILON = 1e-6;

function gridOf(spec: VitSpec): [number, number] {
  return [spec.inputShape[0] / spec.patchSize, spec.inputShape[1] / spec.patchSize];
}

function usesClassToken(spec: VitSpec): boolean {
  return spec.classToken ?? true;
}

/** The pooled feature: the class token by default, the mean of the patch tokens without one or under causal attention. */
function poolingOf(spec: VitSpec): 'class' | 'mean' {
  return spec.pooling ?? (usesClassToken(spec) && spec.causal !== true ? 'class' : 'mean');
}

/**
 * Vision Transformer (Dosovitskiy et al. 2021): patch embedding as a conv with kernel = stride = patch
 * size, optional class token, learned or fixed 2-D sin-cos position embeddings, pre-norm transformer
 * blocks, final LayerNorm, then the class token or the mean of the patch tokens. Optional noise as timm's
 * ViT: dropout on the tokens entering the blocks and inside them, drop path on the blocks' branches.
 * With `causal`, each block's attention logits get the constant mask of TransformerBlock (−1e9 above the
 * diagonal) before the softmax, so token i sees tokens j ≤ i of the raster order only.
 */
export function buildVitModel(spec: VitSpec): tfl.LayersModel {
  const init = new InitializerSource(spec.seed);
  const [gridHeight, gridWidth] = gridOf(spec);
  const numPatches = gridHeight * gridWidth;
  const positionKind = spec.positionEmbedding ?? 'learned';
  const classToken = usesClassToken(spec);

  const input = tfl.input({ shape: [...spec.inputShape] });
  // MAE initializes the patch projection like a linear layer (xavier uniform on the flattened kernel).
  let x = conv2dLayer({
    filters: spec.embedDim,
    kernelSize: spec.patchSize,
    strides: spec.patchSize,
    padding: 'valid',
    kernelInitializer: init.glorotUniform(),
  }).apply(input) as Symbolic;
  x = tfl.layers.reshape({ targetShape: [numPatches, spec.embedDim] }).apply(x) as Symbolic;
  x = new PositionEmbedding({
    numPositions: numPatches,
    embedDim: spec.embedDim,
    kind: positionKind,
    gridSize: [gridHeight, gridWidth],
    seed: init.layerSeed(),
  }).apply(x) as Symbolic;
  if (classToken) x = new ClassToken({ embedDim: spec.embedDim, positionKind, seed: init.layerSeed() }).apply(x) as Symbolic;
  const dropout = spec.dropout ?? 0;
  // timm's pos_drop, on the tokens with their position embeddings (class token included).
  if (dropout > 0) x = new Dropout({ rate: dropout }).apply(x) as Symbolic;
  const blockDropPath = dropPathRates(spec.dropPath ?? 0, spec.depth);
  for (let i = 0; i < spec.depth; i++) {
    x = new TransformerBlock({
      embedDim: spec.embedDim,
      numHeads: spec.numHeads,
      mlpRatio: spec.mlpRatio ?? 4,
      causal: spec.causal ?? false,
      layerNormEpsilon: VIT_LAYER_NORM_EPSILON,
      gelu: spec.gelu,
      dropout,
      dropPath: blockDropPath[i],
      seed: init.layerSeed(),
    }).apply(x) as Symbolic;
  }
  x = new LayerNorm({ epsilon: VIT_LAYER_NORM_EPSILON }).apply(x) as Symbolic;
  const pooled = new TokenPooling({ mode: poolingOf(spec) === 'class' ? 'first' : 'mean', skipFirst: classToken }).apply(x) as Symbolic;
  return tfl.model({ inputs: input, outputs: pooled });
}

/**
 * ViT encoder. Besides `features`/`tokens` on whole images it exposes the two halves MAE needs:
 * `embedPatches` (patch + position embedding, no class token) and `encodeTokens` (class token, blocks,
 * final norm) on any subset of patch tokens.
 *
 * Images of another size (a multiple of the patch size) run through the same weights with the position
 * embedding resized to their patch grid (`PositionEmbedding.embeddingsForGrid`): the learned table
 * interpolated bilinearly, the sin-cos table recomputed; the class token's embedding is unchanged.
 */
export class VitEncoder extends LayersEncoder<VitSpec> {
  readonly inputShape: ImageShape;
  readonly featureDim: number;
  readonly patchSize: number;
  readonly embedDim: number;
  /** Patch grid [rows, columns]. */
  readonly gridSize: [number, number];
  readonly numPatches: number;
  readonly hasClassToken: boolean;
  /** The transformer blocks, in order. */
  readonly blocks: readonly TransformerBlock[];

  private readonly patchProjection: tfl.layers.Layer;
  private readonly patchReshape: tfl.layers.Layer;
  private readonly positionLayer: PositionEmbedding;
  private readonly classTokenLayer: ClassToken | null;
  private readonly tokenDropout: tfl.layers.Layer | null;
  private readonly finalNorm: tfl.layers.Layer;
  private readonly poolingLayer: tfl.layers.Layer;
  private readonly tokensNetwork: tfl.LayersModel;
  /** Features are the class token after the blocks (bidirectional): inference can skip the last block's other rows. */
  private readonly classTokenPooled: boolean;

  constructor(spec: VitSpec, model: tfl.LayersModel = buildVitModel(spec)) {
    super(spec, model);
    this.inputShape = [...spec.inputShape];
    this.featureDim = spec.embedDim;
    this.patchSize = spec.patchSize;
    this.embedDim = spec.embedDim;
    this.gridSize = gridOf(spec);
    this.numPatches = this.gridSize[0] * this.gridSize[1];
    this.hasClassToken = usesClassToken(spec);
    this.patchProjection = requireLayer(model, 'Conv2D', 'vit');
    this.patchReshape = requireLayer(model, 'Reshape', 'vit');
    this.positionLayer = requireLayer(model, PositionEmbedding.className, 'vit') as PositionEmbedding;
    this.classTokenLayer = this.hasClassToken ? (requireLayer(model, ClassToken.className, 'vit') as ClassToken) : null;
    this.blocks = layersOfClass(model, TransformerBlock.className) as TransformerBlock[];
    this.tokenDropout = layersOfClass(model, Dropout.className)[0] ?? null;
    this.finalNorm = requireLayer(model, LayerNorm.className, 'vit');
    this.poolingLayer = requireLayer(model, TokenPooling.className, 'vit');
    this.tokensNetwork = tfl.model({ inputs: model.inputs, outputs: this.finalNorm.output as Symbolic });
    const pooling = this.poolingLayer as TokenPooling;
    this.classTokenPooled =
      this.hasClassToken && pooling.mode === 'first' && this.blocks.length > 0 && this.blocks.every((block) => !block.causal);
  }

  /** Accepts [N, H, W, C] with H and W multiples of the patch size. */
  protected override checkInput(inputs: tf.Tensor): void {
    checkImageInput('vit encoder', inputs, {
      channels: this.inputShape[2],
      minimumSize: this.patchSize,
      multipleOf: this.patchSize,
      reason: `patches of ${this.patchSize}×${this.patchSize} px`,
    });
  }

  /** Pooled features [N, D]; images of another size than `inputShape` use the resized position embedding. */
  override features(inputs: tf.Tensor4D, options: ForwardOptions = {}): tf.Tensor2D {
    if (options.training !== true && this.classTokenPooled) return this.classTokenFeatures(inputs);
    if (this.isBuildSize(inputs)) return super.features(inputs, options);
    return tf.tidy(() => this.poolingLayer.apply(this.tokens(inputs, options), forwardKwargs(options)) as tf.Tensor2D);
  }

  /**
   * Inference features with class-token pooling: the last block computes the class token's row only
   * (TransformerBlock.firstTokenOutput; the patch tokens' outputs are never read), then the final norm on it — the
   * same features as the full forward with about a quarter less work for a 4-block ViT.
   */
  private classTokenFeatures(images: tf.Tensor4D): tf.Tensor2D {
    this.checkInput(images);
    const classTokenLayer = this.classTokenLayer as ClassToken;
    return tf.tidy(() => {
      let x = classTokenLayer.apply(this.embedPatches(images)) as tf.Tensor3D;
      for (const block of this.blocks.slice(0, -1)) x = block.apply(x) as tf.Tensor3D;
      const classToken = this.blocks[this.blocks.length - 1].firstTokenOutput(x);
      return tf.reshape(this.finalNorm.apply(classToken) as tf.Tensor3D, [images.shape[0], this.embedDim]) as tf.Tensor2D;
    });
  }

  /** All output tokens after the final norm [N, (1 +) numPatches, D]; the class token first if there is one. */
  tokens(inputs: tf.Tensor4D, options: ForwardOptions = {}): tf.Tensor3D {
    this.checkInput(inputs);
    if (this.isBuildSize(inputs)) return this.tokensNetwork.apply(inputs, forwardKwargs(options)) as tf.Tensor3D;
    return tf.tidy(() => this.encodeTokens(this.embedPatches(inputs, options), options));
  }

  /** Patch embedding plus position embedding [N, gridHeight · gridWidth, D], row-major patch order, no class token. */
  embedPatches(images: tf.Tensor4D, options: ForwardOptions = {}): tf.Tensor3D {
    this.checkInput(images);
    const kwargs = forwardKwargs(options);
    return tf.tidy(() => {
      const projected = this.patchProjection.apply(images, kwargs) as tf.Tensor4D;
      if (this.isBuildSize(images)) {
        const flattened = this.patchReshape.apply(projected, kwargs) as tf.Tensor;
        return this.positionLayer.apply(flattened, kwargs) as tf.Tensor3D;
      }
      const [batch, gridHeight, gridWidth] = projected.shape;
      const flattened = tf.reshape(projected, [batch, gridHeight * gridWidth, this.embedDim]);
      return tf.add(flattened, this.positionLayer.embeddingsForGrid(gridHeight, gridWidth)) as tf.Tensor3D;
    });
  }

  private isBuildSize(images: tf.Tensor): boolean {
    return images.shape[1] === this.inputShape[0] && images.shape[2] === this.inputShape[1];
  }

  /**
   * Runs the class token (with its position embedding), the blocks and the final norm on patch tokens
   * [N, L, D] that already carry their position embeddings — any L, e.g. MAE's visible subset.
   * Returns [N, (1 +) L, D]. `options.prefixLengths`: prefix-causal attention (see `VitTokenOptions`).
   */
  encodeTokens(tokens: tf.Tensor3D, options: VitTokenOptions = {}): tf.Tensor3D {
    if (tokens.rank !== 3 || tokens.shape[2] !== this.embedDim) {
      throw new SslError(
        'shape-mismatch',
        `vit encoder: encodeTokens expects tokens [N, L, ${this.embedDim}], got ${formatShape(tokens.shape)}.`,
      );
    }
    const kwargs = forwardKwargs(options);
    const { prefixLengths } = options;
    // In tokens: the class token, first, joins every image's prefix.
    const blockKwargs =
      prefixLengths === undefined ? kwargs : { ...kwargs, prefixLengths: prefixLengths.map((k) => k + (this.classTokenLayer ? 1 : 0)) };
    return tf.tidy(() => {
      let x: tf.Tensor = this.classTokenLayer ? (this.classTokenLayer.apply(tokens, kwargs) as tf.Tensor) : tokens;
      if (this.tokenDropout) x = this.tokenDropout.apply(x, kwargs) as tf.Tensor;
      for (const block of this.blocks) x = block.apply(x, blockKwargs) as tf.Tensor;
      return this.finalNorm.apply(x, kwargs) as tf.Tensor3D;
    });
  }

  /**
   * The last block's attention of the class token to every patch, per head, as maps [N, heads, gridHeight,
   * gridWidth] (each map sums to at most 1: the rest goes to the class token itself). DINO's fig. 1 shows these
   * maps segmenting objects without labels. Needs a class token; inference mode (no dropout).
   */
  classTokenAttention(images: tf.Tensor4D): tf.Tensor4D {
    if (!this.classTokenLayer) {
      throw new SslError('invalid-config', 'vit encoder: classTokenAttention needs a class token (spec.classToken true).');
    }
    const classTokenLayer = this.classTokenLayer;
    return tf.tidy(() => {
      const patches = this.embedPatches(images);
      const [batch, gridHeight, gridWidth] = [images.shape[0], images.shape[1] / this.patchSize, images.shape[2] / this.patchSize];
      let x = classTokenLayer.apply(patches) as tf.Tensor3D;
      for (const block of this.blocks.slice(0, -1)) x = block.apply(x) as tf.Tensor3D;
      const weights = this.blocks[this.blocks.length - 1].attentionWeights(x);
      const classRow = tf.slice(weights, [0, 0, 0, 1], [-1, -1, 1, -1]);
      return tf.reshape(classRow, [batch, weights.shape[1], gridHeight, gridWidth]) as tf.Tensor4D;
    });
  }

  /** The patch position embeddings [numPatches, D] (a new tensor; learned or fixed sin-cos). */
  positionEmbedding(): tf.Tensor2D {
    return this.positionLayer.embeddings();
  }

  /** Class token plus its position embedding [D] (a new tensor), or null without a class token. */
  classTokenEmbedding(): tf.Tensor1D | null {
    return this.classTokenLayer ? this.classTokenLayer.embedding() : null;
  }
}
