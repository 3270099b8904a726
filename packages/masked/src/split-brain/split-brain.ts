import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { SslError, defineMethod, hardLabelCrossEntropy, invalidConfig, tfl } from '@ssl/core';
import type { CnnSpec, HeldOutFigure, ImageDataset, MethodRuntime, ResNetSpec } from '@ssl/core';
import { contextFreeHeldOutTask, contextFreeReferenceName, heldOutVersusContextFree } from '../blocks/held-out';
import { abGamutBins, lightnessBin, nearestAbBin, rgbToLab } from '../blocks/lab';
import { SplitBrainEncoder, labInputOfLab } from './split-brain-encoder';

export interface SplitBrainConfig {
  /** Side of the ab grid whose in-gamut cells are the classes of L → ab (Zhang et al.: 10). */
  abGridSize: number;
  /** Equal bins of L in [0, 100], the classes of ab → L. */
  lightnessBins: number;
  /** Per-run override of the views: `cropFlip` options, default crop scale 0.5–1 and a flip. */
  views: { cropScale?: [number, number] };
}

export const SPLIT_BRAIN_DEFAULTS: SplitBrainConfig = Object.freeze({ abGridSize: 10, lightnessBins: 50, views: {} });

declare module '@ssl/core' {
  interface MethodConfigs {
    'masked:split-brain': SplitBrainConfig;
  }
}

export interface SplitBrainParts {
  readonly encoder: SplitBrainEncoder;
  /** 1×1 conv on F1's feature map → logits over the ab bins. */
  readonly abHead: tfl.LayersModel;
  /** 1×1 conv on F2's feature map → logits over the L bins. */
  readonly lightnessHead: tfl.LayersModel;
  /** The ab bin centres [Q, 2]. */
  readonly abBins: Tensor2D;
  readonly lightnessBins: number;
}

export interface SplitBrainRuntime extends MethodRuntime<'unlabeled'>, SplitBrainParts {
  readonly encoder: SplitBrainEncoder;
}

export function validateSplitBrainConfig(config: SplitBrainConfig): void {
  if (typeof config.abGridSize !== 'number' || !(config.abGridSize >= 2 && config.abGridSize <= 110))
    invalidConfig('abGridSize', config.abGridSize, 'a number of ab units in [2, 110] (the paper: 10)');
  if (!Number.isInteger(config.lightnessBins) || config.lightnessBins < 2 || config.lightnessBins > 100)
    invalidConfig('lightnessBins', config.lightnessBins, 'an integer in [2, 100]');
  if (typeof config.views !== 'object' || config.views === null) invalidConfig('views', config.views, 'an object of cropFlip options');
}

/**
 * Each position's target classes at the feature map's resolution [h, w]: the image's Lab averaged over the
 * cell a position covers, its ab to the nearest bin and its L to its bin. Returns int32 [N·h·w] each.
 */
export function splitBrainTargets(
  lab: Tensor4D,
  mapSize: readonly [number, number],
  abBins: Tensor2D,
  lightnessBins: number,
): { ab: Tensor1D; lightness: Tensor1D } {
  const [n, height, width] = lab.shape;
  const [h, w] = mapSize;
  if (height % h !== 0 || width % w !== 0) {
    throw new SslError(
      'shape-mismatch',
      `split-brain: the feature map ${h}×${w} must divide the image ${height}×${width} (each position's target is the mean of its cell).`,
    );
  }
  return tf.tidy(() => {
    const cells = height === h && width === w ? lab : tf.avgPool(lab, [height / h, width / w], [height / h, width / w], 'valid');
    const flat = tf.reshape(cells, [n * h * w, 3]);
    const lightness = tf.reshape(tf.slice(flat, [0, 0], [n * h * w, 1]), [n * h * w]) as Tensor1D;
    return {
      ab: nearestAbBin(tf.slice(flat, [0, 1], [n * h * w, 2]) as Tensor2D, abBins),
      lightness: lightnessBin(lightness, lightnessBins),
    };
  });
}

/** Logits of a 1×1-conv head on a feature map [N, h, w, C] as rows [N·h·w, Q]. */
function positionLogits(head: tfl.LayersModel, featureMap: Tensor4D, training: boolean): Tensor2D {
  const logits = head.apply(featureMap, { training }) as Tensor4D;
  return tf.reshape(logits, [-1, logits.shape[3]]) as Tensor2D;
}

/**
 * The two cross-channel losses of a batch of RGB images in [0, 1] (Zhang et al. 2017, eq. 3–5 with the
 * classification loss ℓ_cl): L → ab, the cross-entropy of F1's per-position logits against the quantised ab,
 * and ab → L, F2's against the quantised L. Their sum trains both halves (each only through its own task).
 */
export function splitBrainLosses(parts: SplitBrainParts, images: Tensor4D, training = false): { abLoss: Scalar; lightnessLoss: Scalar } {
  return tf.tidy(() => {
    const { abLogits, lightnessLogits, targets } = splitBrainPredictions(parts, images, training);
    return {
      abLoss: hardLabelCrossEntropy(abLogits, targets.ab),
      lightnessLoss: hardLabelCrossEntropy(lightnessLogits, targets.lightness),
    };
  });
}

/** Both heads' logits at every feature-map position [N·h·w, Q] and their targets; `mapSize` is that map's [h, w]. */
function splitBrainPredictions(parts: SplitBrainParts, images: Tensor4D, training: boolean) {
  const lab = rgbToLab(images);
  const { lightness, colour } = parts.encoder;
  const lightnessMap = lightness.featureMap(labInputOfLab(lab, 'lightness'), { training });
  const colourMap = colour.featureMap(labInputOfLab(lab, 'ab'), { training });
  const mapSize: [number, number] = [lightnessMap.shape[1], lightnessMap.shape[2]];
  return {
    abLogits: positionLogits(parts.abHead, lightnessMap, training),
    lightnessLogits: positionLogits(parts.lightnessHead, colourMap, training),
    targets: splitBrainTargets(lab, mapSize, parts.abBins, parts.lightnessBins),
    mapSize,
  };
}

/**
 * Split-brain's own tasks on held-out colour images (inference mode): the cross-entropy of L → ab and of ab → L at
 * every feature-map position, each beside the best guess that ignores the input channels and the position: the bins'
 * frequencies over all positions of the held-out images (their entropy). Not one distribution per position: a few
 * hundred images (the emoji test split) fit hundreds of bins at each of the map's positions too well, an entropy
 * biased far below what any predictor reaches. No randomness: `seed` is unused.
 */
export async function splitBrainHeldOutTask(
  parts: SplitBrainParts,
  dataset: Pick<ImageDataset, 'images' | 'shape' | 'size'>,
  seed: number,
): Promise<HeldOutFigure[]> {
  const abClasses = parts.abBins.shape[0];
  const [ab, lightness] = await heldOutVersusContextFree(
    dataset,
    [
      { kind: 'frequencies', classes: abClasses },
      { kind: 'frequencies', classes: parts.lightnessBins },
    ],
    (images) => {
      const { abLogits, lightnessLogits, targets, mapSize } = splitBrainPredictions(parts, images, false);
      // Every position of every image is one row: a single distribution is fitted over all of them.
      const positions = [images.shape[0] * mapSize[0] * mapSize[1], 1];
      const ones = tf.ones([1, 1]);
      return [
        { value: hardLabelCrossEntropy(abLogits, targets.ab).dataSync()[0], targets: tf.reshape(targets.ab, positions), weights: ones },
        {
          value: hardLabelCrossEntropy(lightnessLogits, targets.lightness).dataSync()[0],
          targets: tf.reshape(targets.lightness, positions),
          weights: ones,
        },
      ];
    },
    { seed },
  );
  const reference = contextFreeReferenceName('the bin frequencies, one distribution for every position,');
  return [
    {
      name: `L → ab cross-entropy (nats, ${abClasses} ab bins)`,
      kind: 'error',
      value: ab.value,
      reference: { name: reference, value: ab.reference },
    },
    {
      name: `ab → L cross-entropy (nats, ${parts.lightnessBins} L bins)`,
      kind: 'error',
      value: lightness.value,
      reference: { name: reference, value: lightness.reference },
    },
  ];
}

function classifierHead(inputChannels: number, classes: number, seed: number): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({
        inputShape: [null, null, inputChannels],
        filters: classes,
        kernelSize: 1,
        kernelInitializer: tfl.initializers.glorotUniform({ seed }),
      }),
    ],
  });
}

/**
 * Split-brain autoencoder (Zhang, Isola, Efros, CVPR 2017): the network is split into two disjoint sub-networks
 * over the channels of the image in Lab. F1 sees the lightness L and classifies, at every position of its
 * feature map, the quantised ab colour there; F2 sees ab and classifies the quantised L. Neither can copy its
 * input, so both must learn what things are; the representation is [F1(L), F2(ab)]. Needs colour images.
 */
export const splitBrain = defineMethod<SplitBrainConfig, 'unlabeled'>({
  name: 'split-brain',
  description:
    'Split-brain autoencoder: one sub-network predicts ab from L, the other L from ab (Lab, classification over bins); features concatenated.',
  paper: {
    title: 'Split-Brain Autoencoders: Unsupervised Learning by Cross-Channel Prediction',
    authors: 'Zhang, Isola, Efros',
    year: 2017,
    url: 'https://arxiv.org/abs/1611.09842',
  },
  data: 'unlabeled',
  defaults: SPLIT_BRAIN_DEFAULTS,
  validate: validateSplitBrainConfig,
  // Crops and flips only: any colour augmentation would change the very targets.
  views: (config) => ({ unlabeled: { name: 'cropFlip', overrides: { cropScale: [0.5, 1], ...config.views } } }),
  // Adam, constant; lr 1e-3 (chosen for short runs on 32×32 images, not tuned).
  training: {
    optimizer: { kind: 'adam', lr: 1e-3 },
    batchSize: 64,
    epochs: 20,
    encoder: 'cnn',
  },
  build({ config, inputShape, createEncoder, rng }): SplitBrainRuntime {
    if (inputShape[2] !== 3) {
      invalidConfig(
        'data',
        `${inputShape.join('×')} images`,
        'colour (RGB) images: split-brain predicts colour from lightness and back (e.g. --data emoji, or loadEmoji())',
      );
    }
    // The run's encoder spec is the spec of each half.
    const runEncoder = createEncoder();
    const half = (runEncoder as { spec?: CnnSpec | ResNetSpec }).spec;
    runEncoder.model.dispose();
    if (!half) invalidConfig('encoder', runEncoder.kind, 'an encoder built from a spec (cnn or resnet)');
    const encoder = new SplitBrainEncoder({ kind: 'split-brain', inputShape: [inputShape[0], inputShape[1], 3], half, seed: half.seed });
    const bins = abGamutBins(config.abGridSize);
    const abBins = tf.tensor2d(bins);
    // A CNN's or ResNet's pooled features are the global average of its last feature map: same channels.
    const abHead = classifierHead(encoder.lightness.featureDim, bins.length, rng.seed());
    const lightnessHead = classifierHead(encoder.colour.featureDim, config.lightnessBins, rng.seed());
    const parts: SplitBrainParts = { encoder, abHead, lightnessHead, abBins, lightnessBins: config.lightnessBins };
    return {
      ...parts,
      trainable: { encoder: encoder.model, abHead, lightnessHead },
      products: () => ({ abHead, lightnessHead }),
      heldOutTask: contextFreeHeldOutTask('masked:split-brain', (images, seed) => splitBrainHeldOutTask(parts, images, seed)),
      step(batch) {
        const images = batch.views[0] ?? batch.images;
        const { abLoss, lightnessLoss } = splitBrainLosses(parts, images, true);
        return { loss: tf.add(abLoss, lightnessLoss) as Scalar, metrics: { abLoss, lightnessLoss } };
      },
      dispose() {
        abBins.dispose();
      },
    };
  },
});
