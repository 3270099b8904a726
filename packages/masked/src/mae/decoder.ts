import * as tf from '@tensorflow/tfjs-core';
import { LayerNorm, SslError, formatShape, invalidConfig, sincosPositionEmbedding2d, tfl, transformerBlock } from '@ssl/core';
import { gatherTokens } from '../blocks/gather-tokens';

type LayerShape = (number | null)[];
type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;

/** LayerNorm epsilon of the MAE reference (`partial(nn.LayerNorm, eps=1e-6)`). */
const MAE_LAYER_NORM_EPSILON = 1e-6;

export interface MaeMaskTokensArgs extends LayerArgs {
  /** Token width of the decoder. A multiple of 4 (2-D sin-cos embedding). */
  embedDim: number;
  /** Patch grid [rows, columns]; L = rows · columns patches per image. */
  gridSize: [number, number];
  /** Tokens before the patch tokens (1 for a class token, 0 without). */
  prefixTokens: number;
  seed?: number;
}

/**
 * The first step of the MAE decoder (He et al. 2022, Sec. 3 "MAE decoder"; `forward_decoder` in the
 * reference code): takes the embedded encoder output [N, P + K, D] (P prefix tokens, K visible patches
 * in shuffled order) and the restore indices [N, L]; appends L − K copies of the shared, learned mask
 * token, un-shuffles the sequence back to patch order, puts the prefix back in front and adds the fixed
 * 2-D sin-cos position embedding (zero for the prefix), so that mask tokens know where they are.
 * Output [N, P + L, D].
 */
export class MaeMaskTokens extends tfl.layers.Layer {
  static className = 'SslMaeMaskTokens';

  readonly embedDim: number;
  readonly gridSize: [number, number];
  readonly prefixTokens: number;
  private readonly seed: number | undefined;
  private maskToken!: tfl.LayerVariable;
  private positions!: tfl.LayerVariable;

  constructor(args: MaeMaskTokensArgs) {
    super(args);
    if (!Number.isInteger(args.embedDim) || args.embedDim < 4 || args.embedDim % 4 !== 0) {
      invalidConfig('decoderEmbedDim', args.embedDim, 'a positive multiple of 4 (the decoder uses a 2-D sin-cos position embedding)');
    }
    if (args.prefixTokens !== 0 && args.prefixTokens !== 1) invalidConfig('prefixTokens', args.prefixTokens, '0 or 1');
    this.embedDim = args.embedDim;
    this.gridSize = [args.gridSize[0], args.gridSize[1]];
    this.prefixTokens = args.prefixTokens;
    this.seed = args.seed;
  }

  get numPatches(): number {
    return this.gridSize[0] * this.gridSize[1];
  }

  override build(_inputShape: LayerShape | LayerShape[]): void {
    const d = this.embedDim;
    // MAE initializes the mask token with normal(std = 0.02) (`torch.nn.init.normal_(self.mask_token, std=.02)`).
    this.maskToken = this.addWeight('mask_token', [d], 'float32', tfl.initializers.randomNormal({ stddev: 0.02, seed: this.seed }));
    // Fixed (non-trainable) decoder position embedding: a zero row for the class token, then 2-D sin-cos
    // over the patch grid, as `get_2d_sincos_pos_embed(..., cls_token=True)`.
    this.positions = this.addWeight(
      'position_embedding',
      [this.prefixTokens + this.numPatches, d],
      'float32',
      tfl.initializers.zeros(),
      undefined,
      false,
    );
    const fixed = tf.tidy(() => {
      const grid = sincosPositionEmbedding2d(this.gridSize[0], this.gridSize[1], d);
      return this.prefixTokens > 0 ? tf.concat([tf.zeros([this.prefixTokens, d]), grid], 0) : grid;
    });
    this.positions.write(fixed);
    fixed.dispose();
    this.built = true;
  }

  override computeOutputShape(inputShape: LayerShape | LayerShape[]): LayerShape {
    const tokensShape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as LayerShape;
    return [tokensShape[0], this.prefixTokens + this.numPatches, this.embedDim];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Record<string, unknown>): tf.Tensor {
    if (!Array.isArray(inputs) || inputs.length !== 2) {
      throw new SslError('shape-mismatch', `${this.name}: expects [tokens [N, P + K, D], restoreIndices [N, L]].`);
    }
    const [tokens, restore] = inputs;
    const length = this.numPatches;
    const prefix = this.prefixTokens;
    if (
      tokens.rank !== 3 ||
      tokens.shape[2] !== this.embedDim ||
      (tokens.shape[1] as number) <= prefix ||
      (tokens.shape[1] as number) - prefix > length
    ) {
      throw new SslError(
        'shape-mismatch',
        `${this.name}: tokens ${formatShape(tokens.shape)} must be [N, ${prefix} + K, ${this.embedDim}] with 1 ≤ K ≤ ${length} visible patches.`,
      );
    }
    if (restore.rank !== 2 || restore.shape[0] !== tokens.shape[0] || restore.shape[1] !== length) {
      throw new SslError(
        'shape-mismatch',
        `${this.name}: restoreIndices ${formatShape(restore.shape)} must be [${tokens.shape[0]}, ${length}].`,
      );
    }
    return tf.tidy(() => {
      const [batch, total, width] = tokens.shape as [number, number, number];
      const visibleCount = total - prefix;
      const visible = tf.slice(tokens, [0, prefix, 0], [batch, visibleCount, width]) as tf.Tensor3D;
      // Mask tokens as a product with ones so that the gradient sums over all copies.
      const maskTokens = tf.mul(tf.ones([batch, length - visibleCount, 1]), tf.reshape(this.maskToken.read(), [1, 1, width]));
      const shuffled = tf.concat([visible, maskTokens], 1) as tf.Tensor3D;
      const ordered = gatherTokens(shuffled, restore as tf.Tensor2D);
      const sequence = prefix > 0 ? tf.concat([tf.slice(tokens, [0, 0, 0], [batch, prefix, width]), ordered], 1) : ordered;
      return tf.add(sequence, this.positions.read());
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), embedDim: this.embedDim, gridSize: [...this.gridSize], prefixTokens: this.prefixTokens };
  }
}
tf.serialization.registerClass(MaeMaskTokens);

export interface MaeDecoderOptions {
  /** Width of the encoder's tokens. */
  encoderDim: number;
  /** Patch grid [rows, columns] of the encoder. */
  gridSize: [number, number];
  /** 1 when the encoder has a class token, else 0. */
  prefixTokens: number;
  /** Values per patch the decoder predicts: p · p · C. */
  patchValues: number;
  embedDim: number;
  depth: number;
  numHeads: number;
  mlpRatio: number;
  /** GELU form of the blocks (the encoder's, so one spec setting speeds up both); default 'exact'. */
  gelu?: 'exact' | 'tanh';
  /** Seed of every initial weight. */
  seed: number;
}

/**
 * The lightweight MAE decoder (He et al. 2022, Sec. 3 and Table 1): a linear embedding of the encoder
 * output to the decoder width, mask tokens and fixed position embeddings (`MaeMaskTokens`), a few
 * transformer blocks, LayerNorm and a linear prediction of the p·p·C pixel values of every patch.
 *
 * A two-input tfjs-layers model: [encoded tokens [N, P + K, encoderDim], restoreIndices [N, L] int32]
 * → [N, P + L, p·p·C] (the prefix row included; callers drop it, as the reference code does).
 * Linear layers start Xavier-uniform as MAE's `_init_weights`; the transformer blocks use core's
 * timm initialization (truncated normal 0.02).
 */
export function buildMaeDecoder(options: MaeDecoderOptions): tfl.LayersModel {
  const numPatches = options.gridSize[0] * options.gridSize[1];
  let seed = options.seed >>> 0;
  const nextSeed = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed;
  };
  const encoded = tfl.input({ shape: [null, options.encoderDim] });
  const restore = tfl.input({ shape: [numPatches], dtype: 'int32' });
  let x = tfl.layers
    .dense({ units: options.embedDim, kernelInitializer: tfl.initializers.glorotUniform({ seed: nextSeed() }) })
    .apply(encoded) as tfl.SymbolicTensor;
  x = new MaeMaskTokens({
    embedDim: options.embedDim,
    gridSize: options.gridSize,
    prefixTokens: options.prefixTokens,
    seed: nextSeed(),
  }).apply([x, restore]) as tfl.SymbolicTensor;
  for (let i = 0; i < options.depth; i++) {
    x = transformerBlock({
      embedDim: options.embedDim,
      numHeads: options.numHeads,
      mlpRatio: options.mlpRatio,
      layerNormEpsilon: MAE_LAYER_NORM_EPSILON,
      gelu: options.gelu,
      seed: nextSeed(),
    }).apply(x) as tfl.SymbolicTensor;
  }
  x = new LayerNorm({ epsilon: MAE_LAYER_NORM_EPSILON }).apply(x) as tfl.SymbolicTensor;
  const prediction = tfl.layers
    .dense({ units: options.patchValues, kernelInitializer: tfl.initializers.glorotUniform({ seed: nextSeed() }) })
    .apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: [encoded, restore], outputs: prediction });
}
