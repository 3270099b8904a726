import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import {
  BATCH_NORM_EPSILON,
  BATCH_NORM_MOMENTUM,
  SslError,
  defineMethod,
  fastBatchNormalization,
  heldOutImages,
  invalidConfig,
  makeDataset,
  tfl as tflayers,
} from '@ssl/core';
import type { Encoder, HeldOutFigure, ImageDataset, tfl } from '@ssl/core';
import { labToRgb, mixChannels, rgbToLab, rgbToLabPixel, srgbGamutBins } from '@ssl/core';
import { annealedMeanAb, colorizationLoss, rebalancingWeights, softEncodeAb, validateAbBins } from '../blocks/lab';

/**
 * Colorization (Zhang, Isola, Efros, ECCV 2016): the encoder sees only the lightness L of an image and predicts,
 * at every position of its feature map, a distribution over quantised ab colours. The targets are soft-encoded
 * (each true ab spread over its 5 nearest bins), rare colours are up-weighted by class rebalancing, and a colour
 * image is read out with the annealed mean. To know that a banana is yellow and the sky blue the network must
 * recognise bananas and skies, so its features are semantic.
 */

export interface ColorizationConfig {
  /**
   * The ab bins the head predicts: null (default) for the bins of grid size `gridSize` that sRGB colours reach
   * (262 at grid size 10), or explicit [a, b] centres, e.g. `abBinsOfImages(train.images).bins`: the bins the training data occupies,
   * which is how the paper chose its 313 on ImageNet. Stored with the run (state and product).
   */
  bins: [number, number][] | null;
  /** Grid size of the sRGB-gamut bins (bins: null). Default 10 (the paper). */
  gridSize: number;
  /** Soft-encoding: nearest bins per target. Default 5. */
  neighbours: number;
  /** Soft-encoding: Gaussian width on the distance to them. Default 5. */
  sigma: number;
  /** Class rebalancing (eq. 3-4); false trains the plain soft cross-entropy (the paper's "Ours (L2)"-free ablation, λ = 1 limit). Default true. */
  rebalance: boolean;
  /** λ of eq. 4: mix of the smoothed prior with the uniform distribution. Default 0.5. */
  lambda: number;
  /** Width of the Gaussian that smooths the empirical prior. Default 5. */
  priorSigma: number;
  /** Temperature of the annealed-mean read-out (colorize). Default 0.38. */
  temperature: number;
  /** Width of the head's 3×3 conv block before the 1×1 classifier over the bins; 0 = the 1×1 classifier only. Default 128. */
  headHiddenDim: number;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'pretext:colorization': ColorizationConfig;
  }
}

/** The bin centres [Q, 2] a config names. */
export function colorizationBins(config: Pick<ColorizationConfig, 'bins' | 'gridSize'>): [number, number][] {
  return config.bins === null ? srgbGamutBins(config.gridSize) : config.bins.map(([a, b]) => [a, b] as [number, number]);
}

/**
 * The L channel an encoder sees, from images in [0, 1]: L/100 of their Lab (grey images: of the grey colour),
 * with as many channels as the encoder takes (a 3-channel encoder gets L/100 in every channel, so it too sees
 * lightness only). Also returns the Lab images (a = b = 0 for grey input).
 */
export function lightnessInput(images: Tensor4D, encoderChannels: number): { input: Tensor4D; lab: Tensor4D } {
  return tf.tidy(() => {
    if (images.shape[3] !== 1 && images.shape[3] !== 3)
      throw new SslError('shape-mismatch', `colorization: images need 1 or 3 channels, got ${images.shape[3]}.`);
    const rgb = images.shape[3] === 1 ? mixChannels(images, [[1, 1, 1]]) : images;
    const lab = rgbToLab(rgb);
    // L/100 in each of the encoder's channels.
    const input = mixChannels(lab, [
      new Array<number>(encoderChannels).fill(0.01),
      new Array<number>(encoderChannels).fill(0),
      new Array<number>(encoderChannels).fill(0),
    ]);
    return { input, lab };
  });
}

/**
 * A dataset as the colorization encoder sees it: one channel of round(2.55·L) bytes (so bytes/255 = L/100), from
 * RGB (CIE L* of each pixel) or grey images (the L* of that grey). Evaluate a colorization encoder with a
 * 1-channel input on this version of a colour set, as the paper evaluates its features on greyscale images.
 */
export function lightnessDataset<D extends ImageDataset>(dataset: D): D {
  const [height, width, channels] = dataset.shape;
  const table = new Map<number, number>();
  const images = new Uint8Array(dataset.size * height * width);
  for (let p = 0; p < images.length; p++) {
    const [r, g, b] =
      channels === 3 ? dataset.images.subarray(3 * p, 3 * p + 3) : [dataset.images[p], dataset.images[p], dataset.images[p]];
    const code = (r << 16) | (g << 8) | b;
    let value = table.get(code);
    if (value === undefined) {
      value = Math.round(2.55 * rgbToLabPixel(r / 255, g / 255, b / 255)[0]);
      table.set(code, value);
    }
    images[p] = value;
  }
  return { ...dataset, ...makeDataset({ ...dataset, images, shape: [height, width, 1], name: `${dataset.name} (lightness)` }) };
}

/** The head: [3×3 conv → BN → ReLU] → 1×1 conv to Q logits, on the encoder's feature map [h, w, C] (any h, w). */
export function colorizationHead(config: { inputChannels: number; hiddenDim: number; bins: number; seed?: number }): tfl.LayersModel {
  const input = tflayers.input({ shape: [null, null, config.inputChannels] });
  let x: tfl.SymbolicTensor = input;
  if (config.hiddenDim > 0) {
    x = tflayers.layers
      .conv2d({
        filters: config.hiddenDim,
        kernelSize: 3,
        padding: 'same',
        useBias: false,
        kernelInitializer: tflayers.initializers.heNormal({ seed: config.seed }),
      })
      .apply(x) as tfl.SymbolicTensor;
    x = fastBatchNormalization({ momentum: BATCH_NORM_MOMENTUM, epsilon: BATCH_NORM_EPSILON }).apply(x) as tfl.SymbolicTensor;
    x = tflayers.layers.reLU().apply(x) as tfl.SymbolicTensor;
  }
  const logits = tflayers.layers
    .conv2d({
      filters: config.bins,
      kernelSize: 1,
      kernelInitializer: tflayers.initializers.glorotUniform({ seed: config.seed === undefined ? undefined : config.seed + 1 }),
    })
    .apply(x) as tfl.SymbolicTensor;
  return tflayers.model({ inputs: input, outputs: logits });
}

/**
 * One colorization forward pass: logits [M, Q] over the bins for the M = N·h·w positions of the encoder's
 * feature map, and the true ab there [M, 2] (the image's ab area-averaged to the map, as the paper predicts at
 * a quarter of the resolution), plus the map's size.
 */
export function colorizationForward(
  encoder: Encoder,
  head: tfl.LayersModel,
  images: Tensor4D,
  training: boolean,
): { logits: Tensor2D; ab: Tensor2D; mapSize: [number, number] } {
  if (!encoder.featureMap)
    throw new SslError(
      'invalid-config',
      `colorization predicts per position and needs a spatial feature map; the ${encoder.kind} encoder has none.`,
    );
  const featureMap = encoder.featureMap.bind(encoder);
  return tf.tidy(() => {
    const { input, lab } = lightnessInput(images, encoder.inputShape[2]);
    const map = featureMap(input, { training });
    const logitMap = head.apply(map, { training }) as Tensor4D;
    const [n, h, w, q] = logitMap.shape;
    const abMap = abAtResolution(lab, [h, w]);
    return { logits: tf.reshape(logitMap, [n * h * w, q]) as Tensor2D, ab: abMap, mapSize: [h, w] as [number, number] };
  });
}

/** Picks a and b out of L, a, b. */
const AB_CHANNELS = [
  [0, 0],
  [1, 0],
  [0, 1],
];

/**
 * The ab channels of Lab images [N, H, W, 3] at the map resolution [h, w], as [N·h·w, 2]: area averages when h
 * and w divide the image (the CNN's max-pooling stages), bilinear otherwise.
 */
export function abAtResolution(lab: Tensor4D, mapSize: readonly [number, number]): Tensor2D {
  return tf.tidy(() => {
    const [n, height, width] = lab.shape;
    const [h, w] = mapSize;
    const ab = mixChannels(lab, AB_CHANNELS);
    const pooled =
      height % h === 0 && width % w === 0
        ? tf.avgPool(ab, [height / h, width / w], [height / h, width / w], 'valid')
        : tf.image.resizeBilinear(ab, [h, w], false, true);
    return tf.reshape(pooled, [n * h * w, 2]) as Tensor2D;
  });
}

/**
 * How many soft targets Z [M, Q] have each bin as their most likely one, which is the nearest bin of the ab value
 * they encode: the raw counts of the empirical prior (eq. 4).
 */
export function nearestBinCounts(targets: Tensor2D): Tensor1D {
  return tf.tidy(() => tf.sum(tf.oneHot(tf.argMax(targets, 1), targets.shape[1]), 0) as Tensor1D);
}

/**
 * Colour images predicted from the lightness of `images` [N, H, W, 1 or 3] in [0, 1]: the annealed-mean ab
 * (temperature T) of every map position, upsampled bilinearly to the image, joined with the true L, back to
 * sRGB. Returns [N, H, W, 3] in [0, 1].
 */
export function colorize(
  encoder: Encoder,
  head: tfl.LayersModel,
  images: Tensor4D,
  bins: readonly (readonly number[])[],
  temperature = 0.38,
): Tensor4D {
  return tf.tidy(() => {
    const { logits, mapSize } = colorizationForward(encoder, head, images, false);
    const [n, height, width] = images.shape;
    const ab = tf.reshape(annealedMeanAb(logits, tf.tensor2d(bins.map((bin) => [...bin])), temperature), [n, ...mapSize, 2]) as Tensor4D;
    const abFull = tf.image.resizeBilinear(ab, [height, width], false, true);
    const { lab } = lightnessInput(images, 1);
    // The true L with the predicted ab: (L, 0, 0) + (0, a, b).
    const lightness = mixChannels(lab, [
      [1, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
    ]);
    return labToRgb(
      tf.add(
        lightness,
        mixChannels(abFull, [
          [0, 1, 0],
          [0, 0, 1],
        ]),
      ) as Tensor4D,
    );
  });
}

/** What a colour-blind predictor knows of a training set, at the map resolution (see colorizationStatistics). */
export interface ColorizationStatistics {
  /** Frequency of each bin as the nearest bin of a position: the empirical prior p of eq. 4 (the method's weights). */
  readonly binFrequencies: number[];
  /** The mean soft target: the best constant prediction for the plain soft cross-entropy (the "training-set prior"). */
  readonly meanTarget: number[];
  /** The best constant prediction for the rebalanced loss: Σ_m v(Z_m)·Z_m / Σ_m v(Z_m). */
  readonly rebalancedMeanTarget: number[];
}

/**
 * The training-set statistics of colorization at the map resolution `mapSize` (the encoder's feature map on these
 * images), in one pass: the bin frequencies the rebalancing weights come from, and the best constant predictions
 * of the plain and of the rebalanced loss, which a model must beat to show it predicts colours from the image.
 */
export async function colorizationStatistics(
  dataset: Pick<ImageDataset, 'images' | 'shape' | 'size'>,
  bins: readonly (readonly number[])[],
  mapSize: readonly [number, number],
  config: Pick<ColorizationConfig, 'neighbours' | 'sigma' | 'lambda' | 'priorSigma'>,
  options: { batchSize?: number } = {},
): Promise<ColorizationStatistics> {
  const q = bins.length;
  const binTensor = tf.tensor2d(bins.map((bin) => [...bin]));
  // byMode[r] = Σ of the soft targets whose most likely bin is r: enough to weight them afterwards.
  const byMode = tf.variable(tf.zeros([q, q]), false);
  let count = 0;
  await forBatches(dataset, options.batchSize ?? 256, (images) => {
    const ab = abAtResolution(lightnessInput(images, 1).lab, mapSize);
    const targets = softEncodeAb(ab, binTensor, config);
    byMode.assign(tf.add(byMode, tf.matMul(tf.oneHot(tf.argMax(targets, 1), q), targets, true, false)));
    count += ab.shape[0];
  });
  const result = tf.tidy(() => {
    // The mode of a soft target is its nearest bin, so the row sums of byMode count nearest bins.
    const counts = tf.sum(byMode, 1) as Tensor1D;
    const weights = rebalancingWeights(counts, binTensor, { lambda: config.lambda, sigma: config.priorSigma });
    const weighted = tf.sum(tf.mul(byMode, tf.reshape(weights, [-1, 1])), 0);
    return [tf.div(counts, count), tf.div(tf.sum(byMode, 0), count), tf.div(weighted, tf.sum(weighted))];
  });
  const [binFrequencies, meanTarget, rebalancedMeanTarget] = result.map((t) => Array.from(t.dataSync()));
  tf.dispose([binTensor, byMode, ...result]);
  return { binFrequencies, meanTarget, rebalancedMeanTarget };
}

export interface ColorizationEvaluation {
  /** Mean soft cross-entropy of the predictions on the held-out images (nats per map position). */
  readonly crossEntropy: number;
  /** The same for the constant training-set prior (its mean soft target, the best constant for this loss). */
  readonly priorCrossEntropy: number;
  /** The method's loss: rebalanced cross-entropy (eq. 2) with the weights of the training set's bin frequencies. */
  readonly rebalancedLoss: number;
  /** The same for the best constant under it (the training set's rebalanced mean target). */
  readonly priorRebalancedLoss: number;
}

/**
 * Held-out losses of a trained encoder and head next to those of the best colour-blind predictors of the
 * training set (`statistics`, from colorizationStatistics of the training images): a model beats them only by
 * predicting colours from what it sees.
 */
export async function evaluateColorization(
  encoder: Encoder,
  head: tfl.LayersModel,
  dataset: Pick<ImageDataset, 'images' | 'shape' | 'size'>,
  config: Pick<ColorizationConfig, 'neighbours' | 'sigma' | 'lambda' | 'priorSigma'> & { bins: readonly (readonly number[])[] },
  statistics: ColorizationStatistics,
  options: { batchSize?: number } = {},
): Promise<ColorizationEvaluation> {
  const binTensor = tf.tensor2d(config.bins.map((bin) => [...bin]));
  const frequencies = tf.tensor1d(statistics.binFrequencies);
  const weights = rebalancingWeights(frequencies, binTensor, { lambda: config.lambda, sigma: config.priorSigma });
  const logPrior = tf.log(tf.maximum(tf.tensor1d(statistics.meanTarget), 1e-12)) as Tensor1D;
  const logRebalancedPrior = tf.log(tf.maximum(tf.tensor1d(statistics.rebalancedMeanTarget), 1e-12)) as Tensor1D;
  const totals = [0, 0, 0, 0];
  let count = 0;
  await forBatches(dataset, options.batchSize ?? 256, (images) => {
    const { logits, ab } = colorizationForward(encoder, head, images, false);
    const targets = softEncodeAb(ab, binTensor, config);
    const m = ab.shape[0];
    const constant = (logProbabilities: Tensor1D): Tensor2D => tf.tile(tf.reshape(logProbabilities, [1, -1]), [m, 1]) as Tensor2D;
    const losses = [
      colorizationLoss(logits, targets),
      colorizationLoss(constant(logPrior), targets),
      colorizationLoss(logits, targets, weights),
      colorizationLoss(constant(logRebalancedPrior), targets, weights),
    ];
    losses.forEach((loss, k) => (totals[k] += loss.dataSync()[0] * m));
    count += m;
  });
  tf.dispose([binTensor, frequencies, weights, logPrior, logRebalancedPrior]);
  const [crossEntropy, priorCrossEntropy, rebalancedLoss, priorRebalancedLoss] = totals.map((total) => total / count);
  return { crossEntropy, priorCrossEntropy, rebalancedLoss, priorRebalancedLoss };
}

async function forBatches(
  dataset: Pick<ImageDataset, 'images' | 'shape' | 'size'>,
  batchSize: number,
  visit: (images: Tensor4D) => void,
): Promise<void> {
  if (!(Number.isInteger(batchSize) && batchSize > 0)) invalidConfig('batchSize', batchSize, 'a positive integer');
  const [height, width, channels] = dataset.shape;
  const pixels = height * width * channels;
  for (let start = 0; start < dataset.size; start += batchSize) {
    const n = Math.min(batchSize, dataset.size - start);
    tf.tidy(() =>
      visit(
        tf.div(
          tf.tensor4d(Float32Array.from(dataset.images.subarray(start * pixels, (start + n) * pixels)), [n, height, width, channels]),
          255,
        ) as Tensor4D,
      ),
    );
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function validateColorizationConfig(config: ColorizationConfig): void {
  if (config.bins !== null) validateAbBins(config.bins);
  if (!(Number.isFinite(config.gridSize) && config.gridSize >= 2 && config.gridSize <= 50))
    invalidConfig('gridSize', config.gridSize, 'a number of ab units in [2, 50]');
  if (!(Number.isInteger(config.neighbours) && config.neighbours >= 1))
    invalidConfig('neighbours', config.neighbours, 'a positive integer');
  const bins = config.bins === null ? Infinity : config.bins.length;
  if (config.neighbours > bins) invalidConfig('neighbours', config.neighbours, `at most the number of bins (${bins})`);
  if (!(config.sigma > 0)) invalidConfig('sigma', config.sigma, 'a number > 0');
  if (typeof config.rebalance !== 'boolean') invalidConfig('rebalance', config.rebalance, 'true or false');
  if (!(config.lambda >= 0 && config.lambda <= 1)) invalidConfig('lambda', config.lambda, 'a number in [0, 1]');
  if (!(config.priorSigma > 0)) invalidConfig('priorSigma', config.priorSigma, 'a number > 0');
  if (!(config.temperature > 0)) invalidConfig('temperature', config.temperature, 'a number > 0');
  if (!(Number.isInteger(config.headHiddenDim) && config.headHiddenDim >= 0))
    invalidConfig('headHiddenDim', config.headHiddenDim, 'an integer ≥ 0');
}

/**
 * The held-out read-out: the predictions' soft cross-entropy beside the best colour-blind constant, here the
 * held-out images' own mean target (a stricter reference than the training set's prior).
 */
async function heldOutColorization(
  encoder: Encoder,
  head: tfl.LayersModel,
  test: ImageDataset,
  config: ColorizationConfig,
  bins: readonly (readonly number[])[],
): Promise<HeldOutFigure> {
  const [height, width] = test.shape;
  const mapSize = tf.tidy(() => encoder.featureMap!(tf.zeros([1, height, width, encoder.inputShape[2]]) as Tensor4D).shape.slice(1, 3)) as [
    number,
    number,
  ];
  const statistics = await colorizationStatistics(test, bins, mapSize, config);
  const result = await evaluateColorization(encoder, head, test, { ...config, bins }, statistics);
  return {
    name: 'ab cross-entropy (nats per map position)',
    kind: 'error',
    value: result.crossEntropy,
    reference: { name: "best constant: the held-out images' own colour prior", value: result.priorCrossEntropy },
  };
}

export const colorization = defineMethod<ColorizationConfig, 'unlabeled', Tensor1D>({
  name: 'colorization',
  description:
    'Colorization: predict a distribution over quantised ab colours from the L channel (soft targets, class rebalancing, annealed mean).',
  paper: {
    title: 'Colorful Image Colorization',
    authors: 'Zhang, Isola, Efros',
    year: 2016,
    url: 'https://arxiv.org/abs/1603.08511',
  },
  data: 'unlabeled',
  defaults: {
    bins: null,
    gridSize: 10,
    neighbours: 5,
    sigma: 5,
    rebalance: true,
    lambda: 0.5,
    priorSigma: 5,
    temperature: 0.38,
    headHiddenDim: 128,
  },
  validate: validateColorizationConfig,
  // The encoder sees lightness only, during training (lightnessInput) and evaluation alike.
  encoderInput: { description: 'the lightness L* of the images', channels: () => 1, dataset: lightnessDataset },
  // The colours are the task: no augmentation view (the paper used none beyond crops of large images).
  views: () => ({ unlabeled: 'none' }),
  // The paper trains with Adam (β1 0.9, β2 0.99, lr 3e-5, weight decay 1e-3) for 450k iterations on ImageNet; a
  // small network and a few hundred steps need a much larger rate: on the emoji sample 3e-3 beat 1e-3 (README).
  training: {
    optimizer: { kind: 'adam', lr: 3e-3 },
    schedule: { kind: 'constant' },
    batchSize: 64,
    epochs: 20,
  },
  build({ config, createEncoder, rng }) {
    const bins = colorizationBins(config);
    const encoder = createEncoder();
    if (!encoder.featureMap)
      invalidConfig('encoder', encoder.kind, 'an encoder with a spatial feature map (cnn, resnet): colorization predicts per position');
    const mapChannels = tf.tidy(() => encoder.featureMap!(tf.zeros([1, 8, 8, encoder.inputShape[2]]) as Tensor4D).shape[3]);
    const head = colorizationHead({ inputChannels: mapChannels, hiddenDim: config.headHiddenDim, bins: bins.length, seed: rng.seed() });
    const binTensor = tf.tensor2d(bins);
    // Raw counts of the nearest bin of every training target seen so far: the empirical prior of eq. 4, estimated
    // over the batches (after one epoch it is the whole training set's). State, so a checkpoint keeps it.
    const zeros = tf.zeros([bins.length]);
    const binCounts = tf.variable(zeros, false);
    zeros.dispose();
    const binTable = tf.variable(binTensor, false);
    return {
      encoder,
      trainable: { encoder: encoder.model, head },
      state: { abBins: binTable, abBinCounts: binCounts },
      // colorize(run.encoder, run.network('head'), images, run.json('bins')) after loadRun(outDir).
      products: () => ({ head, bins: { json: bins } }),
      heldOutTask: async (heldOut) => [
        await heldOutColorization(encoder, head, heldOutImages(heldOut, 'pretext:colorization'), config, bins),
      ],
      step(batch) {
        const { logits, ab } = colorizationForward(encoder, head, batch.images, true);
        const targets = softEncodeAb(ab, binTensor, config);
        const batchCounts = nearestBinCounts(targets);
        const weights = config.rebalance
          ? rebalancingWeights(tf.add(binCounts, batchCounts), binTensor, { lambda: config.lambda, sigma: config.priorSigma })
          : undefined;
        const loss = colorizationLoss(logits, targets, weights);
        return { loss, metrics: { crossEntropy: colorizationLoss(logits, targets) }, carry: batchCounts };
      },
      afterStep(_batch, _context, batchCounts) {
        if (batchCounts) binCounts.assign(tf.add(binCounts, batchCounts));
      },
      dispose() {
        binTensor.dispose();
      },
    };
  },
});
