import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import {
  BATCH_NORM_EPSILON,
  BATCH_NORM_MOMENTUM,
  SslError,
  defineMethod,
  fastBatchNormalization,
  formatShape,
  invalidConfig,
  linearClassifier,
  projectionHead,
  tfl as tflayers,
} from '@ssl/core';
import type { Encoder, ImageDataset, MethodViews, tfl } from '@ssl/core';
import { pretextHeldOutTask } from '../blocks/evaluate';

/**
 * RotNet (Gidaris, Singh, Komodakis, ICLR 2018): every image is shown in the four rotations 0°, 90°,
 * 180°, 270° and a classifier on top of the encoder predicts which one it sees. To tell an upright
 * shoe from an upside-down one the network has to locate and recognise the object, so the encoder
 * learns semantic features without a single label.
 */

/** Number of rotation classes: 0°, 90°, 180°, 270° (the paper's best choice, table 2). */
export const NUM_ROTATIONS = 4;

export interface RotationConfig {
  /**
   * Hidden layers of the rotation head between the pooled encoder features and the 4 logits: 0 = linear,
   * 1 or 2 = MLP (Linear → BN → ReLU per hidden layer). Default 1. The paper (sec. 3.2.1, table 1) finds
   * that the last blocks of a RotNet specialise in the rotation task and the best transferable features
   * sit in earlier blocks; a non-linear head plays the part of those specialised last blocks, so the
   * encoder output we evaluate is an "earlier block" of the full rotation network.
   */
  headHiddenLayers: 0 | 1 | 2;
  /** Width of the head's hidden layers. Default 256. */
  headHiddenDim: number;
  /**
   * What the head reads: 'pooled' = the encoder's pooled features (the representation that is evaluated);
   * 'feature-map' = the last spatial feature map, flattened (CNN/ResNet encoders only). With 'feature-map'
   * the rotation is read from *where* things are in the map, as the higher conv blocks of the paper's RotNet
   * do, so the pooled channels need not turn into orientation detectors and stay semantic.
   * 'conv-block' = one more conv block in the head (3x3 conv with the map's width → BN → ReLU → global
   * average pool → the MLP): the paper's RotNet with the encoder as its earlier blocks, whose features
   * transfer best (table 1), while the head's block specialises in orientation.
   */
  headInput: 'pooled' | 'feature-map' | 'conv-block';
  /**
   * Augmentation before rotating. Default true, as in the official RotNet code (gidariss/FeatureLearningRotNet:
   * a random crop of the zero-padded image and a horizontal flip on CIFAR-10), although the paper's text
   * mentions none. Neither changes which way is up, so the rotation label stays exact. `false` is the
   * behaviour before 0.2 (and of the full-data figures in the README).
   */
  augment: boolean;
  /**
   * Which augmentation `augment` turns on: 'pad-crop-flip' (default; the official code: zero padding by
   * `padding` px, a crop of the original size, a flip with probability `flipP`) or 'resized-crop-flip'
   * (a random resized crop of area `cropScale` and a flip: what `augment: true` meant before 0.2).
   */
  augmentation: 'pad-crop-flip' | 'resized-crop-flip';
  /** Zero padding of 'pad-crop-flip', in pixels (the official code: 4 on 32×32). Default 4. */
  padding: number;
  /** Area range of the crop of 'resized-crop-flip'. Default [0.6, 1]. */
  cropScale: [number, number];
  /** Flip probability when `augment` is on. Default 0.5. */
  flipP: number;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'pretext:rotation': RotationConfig;
  }
}

/** One counter-clockwise quarter turn of square NHWC images (numpy.rot90 convention): out[i][j] = in[j][W-1-i]. */
function quarterTurn(images: Tensor4D): Tensor4D {
  return tf.reverse(tf.transpose(images, [0, 2, 1, 3]), 1) as Tensor4D;
}

/**
 * The RotNet batch (Gidaris et al. 2018, sec. 2.2, eq. 2-3): each of the N images in all four rotations,
 * as one 4N batch, which the paper found better than sampling one rotation per image (sec. 2.4).
 * Layout: rows k·N .. k·N+N−1 hold every image rotated by k × 90° counter-clockwise, with label k.
 * Rotations are exact (transposes and flips, no interpolation), so no artefact reveals the label.
 * The caller disposes both outputs; the input is not disposed.
 */
export function rotationBatch(images: Tensor4D): { images: Tensor4D; labels: Tensor1D } {
  if (images.rank !== 4) {
    throw new SslError('shape-mismatch', `rotationBatch: expected NHWC images of rank 4, got shape ${formatShape(images.shape)}.`);
  }
  const [n, height, width] = images.shape;
  if (height !== width) {
    throw new SslError(
      'shape-mismatch',
      `rotationBatch: 90° rotations need square images, got ${height}×${width}; crop or resize to a square first.`,
    );
  }
  return tf.tidy(() => {
    const rot90 = quarterTurn(images);
    const rot180 = tf.reverse(images, [1, 2]) as Tensor4D;
    const rot270 = quarterTurn(rot180);
    const labels = new Int32Array(NUM_ROTATIONS * n);
    for (let k = 0; k < NUM_ROTATIONS; k++) labels.fill(k, k * n, (k + 1) * n);
    return { images: tf.concat([images, rot90, rot180, rot270], 0) as Tensor4D, labels: tf.tensor1d(labels, 'int32') };
  });
}

/**
 * Mean cross-entropy of rotation logits [M, 4] against labels [M] (the paper's loss, eq. 1-3) and the
 * share of rows whose arg-max is the label. Labels must lie in 0..3.
 */
export function rotationLoss(logits: Tensor2D, labels: Tensor1D): { loss: Scalar; accuracy: Scalar } {
  if (logits.rank !== 2 || logits.shape[1] !== NUM_ROTATIONS || labels.rank !== 1 || labels.shape[0] !== logits.shape[0]) {
    throw new SslError(
      'shape-mismatch',
      `rotationLoss: expected logits [M, ${NUM_ROTATIONS}] and labels [M], got ${formatShape(logits.shape)} and ${formatShape(labels.shape)}.`,
    );
  }
  return tf.tidy(() => {
    const oneHot = tf.oneHot(tf.cast(labels, 'int32'), NUM_ROTATIONS);
    // −log softmax(logits)[label], averaged over the batch.
    const loss = tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), 1))) as Scalar;
    const correct = tf.cast(tf.equal(tf.argMax(logits, 1), tf.cast(labels, 'int32')), 'float32');
    return { loss, accuracy: tf.mean(correct) as Scalar };
  });
}

export interface RotationHeadConfig {
  /** Size of the head's input: a feature dimension, or [h, w, c] of a feature map (flattened first). */
  inputDim: number | readonly [number, number, number];
  /** 0 = linear classifier; 1 or 2 hidden layers of Linear → BN → ReLU. */
  hiddenLayers: 0 | 1 | 2;
  hiddenDim: number;
  /** With a feature-map input: a conv block (3x3 conv → BN → ReLU → global average pool) before the MLP instead of flattening. */
  convBlock?: boolean;
  seed?: number;
}

/** The 4-way rotation classifier on pooled encoder features (see RotationConfig.headHiddenLayers for the choice). */
export function rotationHead(config: RotationHeadConfig): tfl.LayersModel {
  if (typeof config.inputDim !== 'number' && config.convBlock) {
    const mapShape = config.inputDim;
    const width = mapShape[2];
    const input = tflayers.input({ shape: [...mapShape] });
    let x = tflayers.layers
      .conv2d({
        filters: width,
        kernelSize: 3,
        padding: 'same',
        useBias: false,
        kernelInitializer: tflayers.initializers.heNormal({ seed: config.seed }),
      })
      .apply(input) as tfl.SymbolicTensor;
    x = fastBatchNormalization({ momentum: BATCH_NORM_MOMENTUM, epsilon: BATCH_NORM_EPSILON }).apply(x) as tfl.SymbolicTensor;
    x = tflayers.layers.reLU().apply(x) as tfl.SymbolicTensor;
    x = tflayers.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
    const mlp = rotationHead({
      ...config,
      inputDim: width,
      convBlock: false,
      seed: config.seed === undefined ? undefined : config.seed + 1,
    });
    return tflayers.model({ inputs: input, outputs: mlp.apply(x) as tfl.SymbolicTensor });
  }
  if (typeof config.inputDim !== 'number') {
    const mapShape = config.inputDim;
    const flatDim = mapShape[0] * mapShape[1] * mapShape[2];
    const mlp = rotationHead({ ...config, inputDim: flatDim });
    const input = tflayers.input({ shape: [...mapShape] });
    const flat = tflayers.layers.flatten().apply(input) as tfl.SymbolicTensor;
    return tflayers.model({ inputs: input, outputs: mlp.apply(flat) as tfl.SymbolicTensor });
  }
  if (config.hiddenLayers === 0) return linearClassifier({ inputDim: config.inputDim, numClasses: NUM_ROTATIONS, seed: config.seed });
  return projectionHead({
    inputDim: config.inputDim,
    hiddenDim: config.hiddenDim,
    outputDim: NUM_ROTATIONS,
    layers: (config.hiddenLayers + 1) as 2 | 3,
    batchNorm: true,
    seed: config.seed,
  });
}

/**
 * Rotation accuracy of a trained (encoder, head) pair on held-out images, in inference mode: each image
 * is scored in all four rotations. Returns the share of the 4N rotated images classified correctly
 * (chance: 0.25).
 */
export async function evaluateRotationAccuracy(
  encoder: Encoder,
  head: tfl.LayersModel,
  dataset: Pick<ImageDataset, 'images' | 'shape' | 'size'>,
  options: { batchSize?: number; limit?: number } = {},
): Promise<number> {
  const batchSize = options.batchSize ?? 256;
  if (!(Number.isInteger(batchSize) && batchSize > 0)) invalidConfig('batchSize', batchSize, 'a positive integer');
  const count = Math.min(options.limit ?? dataset.size, dataset.size);
  const [height, width, channels] = dataset.shape;
  const pixels = height * width * channels;
  let correct = 0;
  for (let start = 0; start < count; start += batchSize) {
    const rows = Math.min(batchSize, count - start);
    const bytes = dataset.images.subarray(start * pixels, (start + rows) * pixels);
    const hits = tf.tidy(() => {
      const images = tf.div(tf.tensor4d(Float32Array.from(bytes), [rows, height, width, channels]), 255) as Tensor4D;
      const rotated = rotationBatch(images);
      const logits = head.apply(headFeatures(encoder, head, rotated.images, false), { training: false }) as Tensor2D;
      return tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), rotated.labels), 'float32'));
    });
    correct += (await hits.data())[0];
    hits.dispose();
  }
  return count === 0 ? 0 : correct / (NUM_ROTATIONS * count);
}

/** The encoder output a rotation head reads: the feature map when the head takes one (rank-4 input), else pooled features. */
function headFeatures(encoder: Encoder, head: tfl.LayersModel, images: Tensor4D, training: boolean): tf.Tensor {
  const readsMap = head.inputs[0].shape.length === 4;
  if (!readsMap) return encoder.features(images, { training });
  if (!encoder.featureMap)
    throw new SslError('invalid-config', `rotation head reads a feature map, but the ${encoder.kind} encoder has none.`);
  return encoder.featureMap(images, { training });
}

function validateRotationConfig(config: RotationConfig): void {
  if (![0, 1, 2].includes(config.headHiddenLayers)) invalidConfig('headHiddenLayers', config.headHiddenLayers, '0 (linear head), 1 or 2');
  if (!(Number.isInteger(config.headHiddenDim) && config.headHiddenDim > 0))
    invalidConfig('headHiddenDim', config.headHiddenDim, 'a positive integer');
  if (!['pooled', 'feature-map', 'conv-block'].includes(config.headInput))
    invalidConfig('headInput', config.headInput, "'pooled', 'feature-map' or 'conv-block'");
  if (typeof config.augment !== 'boolean') invalidConfig('augment', config.augment, 'true or false');
  if (!['pad-crop-flip', 'resized-crop-flip'].includes(config.augmentation))
    invalidConfig('augmentation', config.augmentation, "'pad-crop-flip' or 'resized-crop-flip'");
  if (!(Number.isInteger(config.padding) && config.padding >= 0))
    invalidConfig('padding', config.padding, 'an integer number of pixels >= 0');
  const scale = config.cropScale;
  if (!Array.isArray(scale) || scale.length !== 2 || !(scale[0] > 0 && scale[0] <= scale[1] && scale[1] <= 1)) {
    invalidConfig('cropScale', scale, '[low, high] with 0 < low ≤ high ≤ 1');
  }
  if (!(typeof config.flipP === 'number' && config.flipP >= 0 && config.flipP <= 1))
    invalidConfig('flipP', config.flipP, 'a probability in [0, 1]');
}

export const rotation = defineMethod<RotationConfig, 'unlabeled'>({
  name: 'rotation',
  description: 'RotNet: predict which of four rotations (0°, 90°, 180°, 270°) was applied to each image.',
  paper: {
    title: 'Unsupervised Representation Learning by Predicting Image Rotations',
    authors: 'Gidaris, Singh, Komodakis',
    year: 2018,
    url: 'https://arxiv.org/abs/1803.07728',
  },
  data: 'unlabeled',
  defaults: {
    headHiddenLayers: 1,
    headHiddenDim: 256,
    headInput: 'pooled',
    augment: true,
    augmentation: 'pad-crop-flip',
    padding: 4,
    cropScale: [0.6, 1],
    flipP: 0.5,
  },
  validate: validateRotationConfig,
  views(config): MethodViews {
    // The pretext label comes from the rotation, not from a view; augmentation (if any) is one mild view.
    if (!config.augment) return { unlabeled: 'none' };
    if (config.augmentation === 'pad-crop-flip')
      return { unlabeled: { name: 'padCropFlip', overrides: { padding: config.padding, flipP: config.flipP } } };
    return { unlabeled: { name: 'cropFlip', overrides: { cropScale: config.cropScale, flipP: config.flipP } } };
  },
  // Paper (sec. 3.1, CIFAR-10): SGD, momentum 0.9, weight decay 5e-4, lr 0.1 divided by 5 after 30, 60
  // and 80 of 100 epochs, batch 128 images (512 rotated). The official code's optimizer is Nesterov
  // momentum (nesterov: True in its CIFAR configs); pass optimizer { nesterov: false } for the plain
  // momentum used before 0.2. Milestones are kept as fractions of a shorter run.
  training: {
    optimizer: { kind: 'sgd', lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 5e-4 },
    schedule: { kind: 'step', milestones: [0.3, 0.6, 0.8], gamma: 0.2 },
    batchSize: 128,
    epochs: 10,
  },
  build({ config, createEncoder, rng, inputShape }) {
    const encoder = createEncoder();
    let inputDim: RotationHeadConfig['inputDim'] = encoder.featureDim;
    if (config.headInput !== 'pooled') {
      if (!encoder.featureMap)
        invalidConfig('headInput', config.headInput, `'pooled': the ${encoder.kind} encoder has no spatial feature map`);
      const zeros = tf.zeros([1, ...inputShape]) as Tensor4D;
      const map = encoder.featureMap(zeros);
      inputDim = [map.shape[1], map.shape[2], map.shape[3]];
      tf.dispose([zeros, map]);
    }
    const head = rotationHead({
      inputDim,
      hiddenLayers: config.headHiddenLayers,
      hiddenDim: config.headHiddenDim,
      convBlock: config.headInput === 'conv-block',
      seed: rng.seed(),
    });
    return {
      encoder,
      trainable: { encoder: encoder.model, head },
      // The rotation head: evaluateRotationAccuracy(run.encoder, run.network('head'), data) after loadRun(outDir).
      products: () => ({ head }),
      heldOutTask: pretextHeldOutTask('pretext:rotation', 'rotation accuracy (4 rotations)', 1 / NUM_ROTATIONS, (test) =>
        evaluateRotationAccuracy(encoder, head, test),
      ),
      step(batch) {
        const source = config.augment ? batch.views[0] : batch.images;
        const rotated = rotationBatch(source);
        const logits = head.apply(headFeatures(encoder, head, rotated.images, true), { training: true }) as Tensor2D;
        const { loss, accuracy } = rotationLoss(logits, rotated.labels);
        return { loss, metrics: { rotationAccuracy: accuracy } };
      },
    };
  },
});
