import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { invalidConfig, SslError, formatShape } from '../../errors';
import type { BaseLayerArgs, CallKwargs, LayerShape } from './common';
import { singleShape, singleTensor } from './common';

export type PositionEmbeddingKind = 'learned' | 'sincos';

/**
 * 1-D sine-cosine embedding of the given positions (Vaswani et al. 2017, sec. 3.5; MAE's
 * get_1d_sincos_pos_embed_from_grid): [sin(p·ω_k) for k, cos(p·ω_k) for k], ω_k = 10000^(-k/(D/2)).
 */
function sincos1d(embedDim: number, positions: number[]): Float32Array {
  const half = embedDim / 2;
  const out = new Float32Array(positions.length * embedDim);
  positions.forEach((p, row) => {
    for (let k = 0; k < half; k++) {
      const angle = p / Math.pow(10000, k / half);
      out[row * embedDim + k] = Math.sin(angle);
      out[row * embedDim + half + k] = Math.cos(angle);
    }
  });
  return out;
}

/**
 * Fixed 2-D sine-cosine position embedding for a grid of patches [gridHeight · gridWidth, D] in
 * row-major patch order (as Conv2D + reshape produces), as MAE uses (He et al. 2022, sec. 3): half of
 * the channels encode the column, half the row (MAE's get_2d_sincos_pos_embed order: column first).
 */
export function sincosPositionEmbedding2d(gridHeight: number, gridWidth: number, embedDim: number): tf.Tensor2D {
  if (embedDim % 4 !== 0) invalidConfig('embedDim', embedDim, 'a multiple of 4 for 2-D sin-cos position embeddings');
  const columns: number[] = [];
  const rows: number[] = [];
  for (let i = 0; i < gridHeight; i++) {
    for (let j = 0; j < gridWidth; j++) {
      rows.push(i);
      columns.push(j);
    }
  }
  const half = embedDim / 2;
  const columnPart = sincos1d(half, columns);
  const rowPart = sincos1d(half, rows);
  const out = new Float32Array(rows.length * embedDim);
  for (let p = 0; p < rows.length; p++) {
    out.set(columnPart.subarray(p * half, (p + 1) * half), p * embedDim);
    out.set(rowPart.subarray(p * half, (p + 1) * half), p * embedDim + half);
  }
  return tf.tensor2d(out, [rows.length, embedDim]);
}

/** Fixed 1-D sine-cosine position embedding [numPositions, D] (Vaswani et al. 2017). */
export function sincosPositionEmbedding1d(numPositions: number, embedDim: number): tf.Tensor2D {
  if (embedDim % 2 !== 0) invalidConfig('embedDim', embedDim, 'an even number for sin-cos position embeddings');
  const positions = Array.from({ length: numPositions }, (_, i) => i);
  return tf.tensor2d(sincos1d(embedDim, positions), [numPositions, embedDim]);
}

/**
 * Weights [toSize, fromSize] of 1-D linear interpolation with PyTorch's F.interpolate(mode='bilinear',
 * align_corners=False) convention: output cell d samples the input at (d + 0.5)·from/to − 0.5, clamped
 * to the edge cells. At toSize = fromSize it is the identity matrix.
 */
function linearResizeWeights(fromSize: number, toSize: number): tf.Tensor2D {
  const weights = new Float32Array(toSize * fromSize);
  const scale = fromSize / toSize;
  for (let d = 0; d < toSize; d++) {
    const source = Math.max((d + 0.5) * scale - 0.5, 0);
    const lower = Math.min(Math.floor(source), fromSize - 1);
    const upper = Math.min(lower + 1, fromSize - 1);
    const fraction = source - lower;
    weights[d * fromSize + lower] += 1 - fraction;
    weights[d * fromSize + upper] += fraction;
  }
  return tf.tensor2d(weights, [toSize, fromSize]);
}

/**
 * Resamples a 2-D grid of position embeddings [fromHeight · fromWidth, D] (row-major) to another grid by
 * bilinear interpolation, as ViTs do to run at a new resolution (Dosovitskiy et al. 2021, sec. 3.2;
 * DeiT/timm's resample_abs_pos_embed, which uses bicubic). Two matrix products, one per axis, so the
 * result is differentiable (to any order) in the table on every backend; the same grid gives the table
 * back exactly.
 */
export function interpolatePositionEmbedding(
  table: tf.Tensor2D,
  fromGrid: readonly [number, number],
  toGrid: readonly [number, number],
): tf.Tensor2D {
  const [fromHeight, fromWidth] = fromGrid;
  const [toHeight, toWidth] = toGrid;
  const dim = table.shape[1];
  if (table.shape[0] !== fromHeight * fromWidth) {
    throw new SslError(
      'shape-mismatch',
      `interpolatePositionEmbedding: a table of ${table.shape[0]} rows is not a ${fromHeight}×${fromWidth} grid; pass the grid it was built for.`,
    );
  }
  return tf.tidy(() => {
    // Rows: [toH, fromH] × [fromH, fromW·D].
    const rowsResized = tf.matMul(linearResizeWeights(fromHeight, toHeight), tf.reshape(table, [fromHeight, fromWidth * dim]));
    // Columns: bring the width axis first, [toW, fromW] × [fromW, toH·D], and back.
    const widthFirst = tf.reshape(tf.transpose(tf.reshape(rowsResized, [toHeight, fromWidth, dim]), [1, 0, 2]), [
      fromWidth,
      toHeight * dim,
    ]);
    const resized = tf.matMul(linearResizeWeights(fromWidth, toWidth), widthFirst);
    return tf.reshape(tf.transpose(tf.reshape(resized, [toWidth, toHeight, dim]), [1, 0, 2]), [toHeight * toWidth, dim]) as tf.Tensor2D;
  });
}

export interface PositionEmbeddingArgs extends BaseLayerArgs {
  numPositions: number;
  embedDim: number;
  /** 'learned' (trainable, truncated normal 0.02) or fixed 'sincos'. */
  kind?: PositionEmbeddingKind;
  /** For 2-D sin-cos: the patch grid [height, width]; numPositions must be height · width. */
  gridSize?: [number, number];
  seed?: number;
}

/**
 * Adds a position embedding to tokens [N, L, D] (L ≤ numPositions; position i goes to token i). The
 * embedding is a weight of the layer in both kinds (non-trainable for sin-cos), so it is saved with
 * the model and `embeddings()` reads it the same way.
 */
export class PositionEmbedding extends tfl.layers.Layer {
  static className = 'SslPositionEmbedding';

  readonly numPositions: number;
  readonly embedDim: number;
  readonly kind: PositionEmbeddingKind;
  readonly gridSize: [number, number] | undefined;
  private readonly seed: number | undefined;
  private table!: tfl.LayerVariable;

  constructor(args: PositionEmbeddingArgs) {
    super(args);
    if (!Number.isInteger(args.numPositions) || args.numPositions < 1) {
      invalidConfig('numPositions', args.numPositions, 'a positive integer');
    }
    if (!Number.isInteger(args.embedDim) || args.embedDim < 1) invalidConfig('embedDim', args.embedDim, 'a positive integer');
    const kind = args.kind ?? 'learned';
    if (kind !== 'learned' && kind !== 'sincos') invalidConfig('positionEmbedding', kind, "'learned' or 'sincos'");
    if (args.gridSize !== undefined && args.gridSize[0] * args.gridSize[1] !== args.numPositions) {
      invalidConfig('gridSize', args.gridSize, `a grid with numPositions = ${args.numPositions} cells`);
    }
    this.numPositions = args.numPositions;
    this.embedDim = args.embedDim;
    this.kind = kind;
    this.gridSize = args.gridSize;
    this.seed = args.seed;
  }

  override build(_inputShape: LayerShape | LayerShape[]): void {
    const shape: [number, number] = [this.numPositions, this.embedDim];
    if (this.kind === 'learned') {
      this.table = this.addWeight('embeddings', shape, 'float32', tfl.initializers.truncatedNormal({ stddev: 0.02, seed: this.seed }));
    } else {
      this.table = this.addWeight('embeddings', shape, 'float32', tfl.initializers.zeros(), undefined, false);
      const fixed = this.gridSize
        ? sincosPositionEmbedding2d(this.gridSize[0], this.gridSize[1], this.embedDim)
        : sincosPositionEmbedding1d(this.numPositions, this.embedDim);
      this.table.write(fixed);
      fixed.dispose();
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: LayerShape | LayerShape[]): LayerShape {
    return singleShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: CallKwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = singleTensor(inputs);
      const length = x.shape[1] as number;
      if (x.rank !== 3 || length > this.numPositions || x.shape[2] !== this.embedDim) {
        throw new SslError(
          'shape-mismatch',
          `${this.name}: tokens of shape ${formatShape(x.shape)} do not fit a position embedding of ${this.numPositions} × ${this.embedDim}; expected [N, L ≤ ${this.numPositions}, ${this.embedDim}].`,
        );
      }
      const table = this.table.read();
      const used = length === this.numPositions ? table : tf.slice(table, [0, 0], [length, this.embedDim]);
      return tf.add(x, used);
    });
  }

  /**
   * The embedding for a patch grid of another size [gridHeight · gridWidth, D]: the sin-cos table of that
   * grid, or the learned table interpolated bilinearly (differentiable in the table). Needs a 2-D layer.
   */
  embeddingsForGrid(gridHeight: number, gridWidth: number): tf.Tensor2D {
    if (this.gridSize === undefined) {
      throw new SslError(
        'shape-mismatch',
        `${this.name}: a 1-D position embedding has no grid to resize; only 2-D (image) embeddings built with gridSize can change size.`,
      );
    }
    if (this.kind === 'sincos') return sincosPositionEmbedding2d(gridHeight, gridWidth, this.embedDim);
    return interpolatePositionEmbedding(this.table.read() as tf.Tensor2D, this.gridSize, [gridHeight, gridWidth]);
  }

  /** A copy of the embedding table [numPositions, D]. */
  embeddings(): tf.Tensor2D {
    return tf.clone(this.table.read()) as tf.Tensor2D;
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config: tf.serialization.ConfigDict = {
      ...super.getConfig(),
      numPositions: this.numPositions,
      embedDim: this.embedDim,
      kind: this.kind,
    };
    if (this.gridSize) config.gridSize = [...this.gridSize];
    return config;
  }
}
tf.serialization.registerClass(PositionEmbedding);

export interface ClassTokenArgs extends BaseLayerArgs {
  embedDim: number;
  /** 'learned': the class token's position embedding is trained; 'sincos': it is fixed to zero (MAE). */
  positionKind?: PositionEmbeddingKind;
  seed?: number;
}

/**
 * Prepends a class token to tokens [N, L, D] → [N, 1 + L, D] (ViT eq. 1: z₀ = [x_class; x_p E] + E_pos).
 * Holds the token and its own position embedding (row 0 of ViT's E_pos), so patch tokens can be
 * embedded, subsampled (MAE) and only then given the class token.
 */
export class ClassToken extends tfl.layers.Layer {
  static className = 'SslClassToken';

  readonly embedDim: number;
  readonly positionKind: PositionEmbeddingKind;
  private readonly seed: number | undefined;
  private token!: tfl.LayerVariable;
  private position!: tfl.LayerVariable;

  constructor(args: ClassTokenArgs) {
    super(args);
    if (!Number.isInteger(args.embedDim) || args.embedDim < 1) invalidConfig('embedDim', args.embedDim, 'a positive integer');
    this.embedDim = args.embedDim;
    this.positionKind = args.positionKind ?? 'learned';
    this.seed = args.seed;
  }

  override build(_inputShape: LayerShape | LayerShape[]): void {
    const d = this.embedDim;
    this.token = this.addWeight('token', [d], 'float32', tfl.initializers.truncatedNormal({ stddev: 0.02, seed: this.seed }));
    this.position =
      this.positionKind === 'learned'
        ? this.addWeight(
            'position',
            [d],
            'float32',
            tfl.initializers.truncatedNormal({ stddev: 0.02, seed: this.seed === undefined ? undefined : this.seed + 1 }),
          )
        : this.addWeight('position', [d], 'float32', tfl.initializers.zeros(), undefined, false);
    this.built = true;
  }

  override computeOutputShape(inputShape: LayerShape | LayerShape[]): LayerShape {
    const shape = singleShape(inputShape);
    return [shape[0], shape[1] === null ? null : shape[1] + 1, shape[2]];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: CallKwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = singleTensor(inputs);
      const classToken = tf.reshape(this.embedding(), [1, 1, this.embedDim]);
      // A product with ones rather than tf.tile: tile's gradient is one slice and one add per copy.
      return tf.concat([tf.mul(tf.ones([x.shape[0] as number, 1, 1]), classToken), x], 1);
    });
  }

  /** The class token plus its position embedding [D], as it enters the first block. */
  embedding(): tf.Tensor1D {
    return tf.tidy(() => tf.add(this.token.read(), this.position.read()) as tf.Tensor1D);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), embedDim: this.embedDim, positionKind: this.positionKind };
  }
}
tf.serialization.registerClass(ClassToken);
