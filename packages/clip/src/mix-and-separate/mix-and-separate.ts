import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor1D, Tensor2D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { Random, SslError, defineMethod, frameCount, gatherSampleImages, requirePositiveInteger, tfl } from '@ssl/core';
import type { AudioDataset, Encoder, HeldOutFigure, ImageDataset, LoadedRun, MethodRuntime } from '@ssl/core';
import { augmentedWaveforms, clipsByClass } from '../audio-visual/image-audio-data';
import type { ImageAudioBatch, ImageAudioData } from '../audio-visual/image-audio-data';
import { binaryMaskLoss, checkMagnitudeSpectrogramOptions, magnitudeSpectrogram, ratioMaskLoss, spectrogramSnr } from './separation';

/**
 * Mix-and-separate (Sound of Pixels, Zhao, Gan, Rouditchenko, Vondrick, McDermott & Torralba, ECCV 2018): add the
 * sounds of two image–sound pairs and learn to take the mixture apart again, one source per image. The
 * supervision is free — the sources were known before they were mixed — and the only way to tell which part
 * of the mixture to keep is to look at the image.
 *
 * - Audio: a U-Net over the mixture's log band magnitudes gives K feature maps s_k (sec. 3.1, "audio
 *   analysis network").
 * - Image: the run's encoder, pooled, → fc → sigmoid gives K numbers i_k (the "video analysis network").
 * - Synthesizer (sec. 3.1): the mask of the image's source is σ(Σ_k α_k · i_k · s_k + β) — the image vector
 *   modulates the audio network's K output channels.
 * - Loss (sec. 3.2): per-bin sigmoid cross-entropy to the ideal binary mask [S_n ≥ ½ S_mix] ('binary'), or
 *   L1 to the ratio S_n / S_mix ('ratio'), weighted by log(1 + S_mix).
 *
 * Trains on the 'image-audio' data of clip:audio-visual: each batch's images and clips, with the matrix that
 * says which clips speak which image's class. Each image is given a clip of its class from the batch, and the
 * pairs are mixed two by two with a partner of another class (a mixture of two renditions of one class has
 * no image that tells them apart).
 */
export interface MixAndSeparateConfig {
  /** Sample rate of the clips, Hz (the bundled speech: 8000). */
  sampleRate: number;
  /** Samples per clip (the bundled speech: 12 000 = 1.5 s). */
  clipSamples: number;
  /** Hann window = DFT size, samples (a power of two). 256 at 8 kHz: 32 ms, 31 Hz bins. */
  frameLength: number;
  /** Hop between frames, samples (256 at 8 kHz: 32 ms; Sound of Pixels: 256 at 11 kHz, 23 ms). */
  frameStep: number;
  /** Log-spaced (mel) frequency bands the magnitudes are averaged into (Sound of Pixels: a log-frequency axis). */
  bands: number;
  /** U-Net channels per level, coarsest last: each level but the last halves time and frequency. */
  audioChannels: number[];
  /** K: the audio network's output maps, and the size of the image vector that weighs them. */
  maskChannels: number;
  /** 'binary': ideal binary mask, sigmoid cross-entropy. 'ratio': S_n / S_mix, L1. Both weighted by log(1 + S_mix). */
  mask: 'binary' | 'ratio';
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'clip:mix-and-separate': MixAndSeparateConfig;
  }
}

export interface MixAndSeparateModel {
  readonly imageEncoder: Encoder;
  readonly audioNetwork: tfl.LayersModel;
  /** Band magnitudes [B, frames, bands] of waveforms [B, samples], cut to the frames the U-Net takes. */
  spectrograms(waveforms: Tensor2D): Tensor3D;
  /**
   * The mask [B, frames, bands] that keeps the part of each mixture (row i of `mixtures`) that belongs with
   * image i, in inference mode: a probability ('binary') or a ratio ('ratio'). The source's estimate is
   * mask ⊙ spectrograms(mixtures).
   */
  masks(images: Tensor4D, mixtures: Tensor2D): Tensor3D;
}

export interface MixAndSeparateRuntime extends MethodRuntime<'image-audio'> {
  readonly separation: MixAndSeparateModel;
}

/**
 * The audio analysis network of Sound of Pixels (sec. 3.1): a U-Net — 3 × 3 conv + batch norm + ReLU per level,
 * 2 × 2 max-pooling down, nearest upsampling and a skip concatenation up — from [frames, bands, 1] to K maps
 * [frames, bands, K] of the input's size. frames and bands must be divisible by 2^(levels − 1).
 */
export function audioUNet(options: { frames: number; bands: number; channels: readonly number[]; outputChannels: number; seed: number }) {
  let seed = options.seed;
  const conv = (filters: number, kernelSize: number) =>
    tfl.layers.conv2d({ filters, kernelSize, padding: 'same', kernelInitializer: tfl.initializers.heNormal({ seed: seed++ }) });
  const block = (input: tfl.SymbolicTensor, filters: number) => {
    const convolved = conv(filters, 3).apply(input) as tfl.SymbolicTensor;
    return tfl.layers.reLU().apply(tfl.layers.batchNormalization().apply(convolved)) as tfl.SymbolicTensor;
  };
  const input = tfl.input({ shape: [options.frames, options.bands, 1] });
  const skips: tfl.SymbolicTensor[] = [];
  let x = input;
  options.channels.forEach((filters, level) => {
    x = block(x, filters);
    if (level < options.channels.length - 1) {
      skips.push(x);
      x = tfl.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tfl.SymbolicTensor;
    }
  });
  for (let level = options.channels.length - 2; level >= 0; level--) {
    const up = tfl.layers.upSampling2d({ size: [2, 2] }).apply(x) as tfl.SymbolicTensor;
    x = block(tfl.layers.concatenate().apply([up, skips[level]]) as tfl.SymbolicTensor, options.channels[level]);
  }
  const output = conv(options.outputChannels, 1).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: output });
}

/** Frames of a clip that the U-Net takes: the spectrogram's frames cut to a multiple of 2^(levels − 1). */
export function unetFrames(config: MixAndSeparateConfig): number {
  const multiple = 2 ** (config.audioChannels.length - 1);
  return Math.floor(frameCount(config.clipSamples, config) / multiple) * multiple;
}

/**
 * Mixtures of a batch of image–clip pairs (host side): each image gets a clip of its class (its own when it
 * corresponds, else the next one in the batch that speaks its class), then rows are paired greedily, in batch
 * order, with the next unpaired row of another class. Returns rows of (image, clip) for the first and second
 * source of each mixture.
 */
export function pairMixtures(correspondMatrix: ArrayLike<number>, size: number) {
  const clipOf = Array.from({ length: size }, (_, image) => {
    for (let offset = 0; offset < size; offset++) {
      const clip = (image + offset) % size;
      if (correspondMatrix[image * size + clip] === 1) return clip;
    }
    return -1;
  });
  const first = { images: [] as number[], clips: [] as number[] };
  const second = { images: [] as number[], clips: [] as number[] };
  const paired = new Uint8Array(size);
  for (let a = 0; a < size; a++) {
    if (paired[a] || clipOf[a] < 0) continue;
    for (let b = a + 1; b < size; b++) {
      // Another class: b's clip does not speak a's class.
      if (paired[b] || clipOf[b] < 0 || correspondMatrix[a * size + clipOf[b]] === 1) continue;
      paired[a] = paired[b] = 1;
      first.images.push(a);
      first.clips.push(clipOf[a]);
      second.images.push(b);
      second.clips.push(clipOf[b]);
      break;
    }
  }
  return { first, second };
}

interface Parts {
  imageEncoder: Encoder;
  audioNetwork: tfl.LayersModel;
  imageVector: tfl.LayersModel;
  synthesizer: tfl.LayersModel;
}

function assemble(parts: Parts, config: MixAndSeparateConfig) {
  const frames = unetFrames(config);
  const spectrograms = (waveforms: Tensor2D): Tensor3D =>
    tf.tidy(() => tf.slice(magnitudeSpectrogram(waveforms, config), [0, 0, 0], [-1, frames, -1]));
  /** Audio features [B, frames, bands, K] of band magnitudes: log, standardised per clip (the gain augmentation makes loudness random). */
  const audioFeatures = (mixture: Tensor3D, training: boolean): Tensor4D => {
    const logMagnitude = tf.log(tf.add(mixture, 1e-3));
    const { mean, variance } = tf.moments(logMagnitude, [1, 2], true);
    const input = tf.expandDims(tf.div(tf.sub(logMagnitude, mean), tf.sqrt(tf.add(variance, 1e-5))), 3);
    return parts.audioNetwork.apply(input, { training }) as Tensor4D;
  };
  /** Mask logits [B, frames, bands]: σ⁻¹ of Σ_k α_k i_k s_k + β, the image vector i of row b weighing row b's maps. */
  const maskLogits = (images: Tensor4D, features: Tensor4D, training: boolean): Tensor3D => {
    const vector = parts.imageVector.apply(parts.imageEncoder.features(images, { training }), { training }) as Tensor2D;
    const [batch, height, width, channels] = features.shape;
    const modulated = tf.mul(features, tf.reshape(vector, [batch, 1, 1, channels]));
    const combined = parts.synthesizer.apply(tf.reshape(modulated, [-1, channels]), { training }) as Tensor2D;
    return tf.reshape(combined, [batch, height, width]) as Tensor3D;
  };
  const toMask = (logits: Tensor3D): Tensor3D => (config.mask === 'binary' ? tf.sigmoid(logits) : tf.relu(logits)) as Tensor3D;
  const model: MixAndSeparateModel = {
    imageEncoder: parts.imageEncoder,
    audioNetwork: parts.audioNetwork,
    spectrograms,
    masks: (images, mixtures) => tf.tidy(() => toMask(maskLogits(images, audioFeatures(spectrograms(mixtures), false), false))),
  };
  return { model, spectrograms, audioFeatures, maskLogits, toMask };
}

export const mixAndSeparate = defineMethod<MixAndSeparateConfig, 'image-audio'>({
  name: 'mix-and-separate',
  description:
    'mix-and-separate: mix the sounds of two image–sound pairs and separate each back out, guided by its image (Sound of Pixels)',
  paper: {
    title: 'The Sound of Pixels',
    authors: 'Zhao, Gan, Rouditchenko, Vondrick, McDermott & Torralba',
    year: 2018,
    url: 'https://arxiv.org/abs/1804.03160',
  },
  data: 'image-audio',
  defaults: {
    sampleRate: 8000,
    clipSamples: 12000,
    frameLength: 256,
    frameStep: 256,
    bands: 32,
    audioChannels: [16, 32, 64],
    maskChannels: 16,
    mask: 'binary',
  },
  validate(config) {
    for (const field of ['sampleRate', 'clipSamples', 'maskChannels'] as const) requirePositiveInteger(field, config[field]);
    checkMagnitudeSpectrogramOptions(config);
    if (!Array.isArray(config.audioChannels) || config.audioChannels.length === 0) {
      throw new SslError(
        'invalid-config',
        `audioChannels must be a non-empty array of channel counts, got ${JSON.stringify(config.audioChannels)}.`,
      );
    }
    config.audioChannels.forEach((channels, i) => requirePositiveInteger(`audioChannels[${i}]`, channels));
    if (config.mask !== 'binary' && config.mask !== 'ratio')
      throw new SslError(
        'invalid-config',
        `mask must be 'binary' or 'ratio' (Sound of Pixels sec. 3.2), got ${JSON.stringify(config.mask)}.`,
      );
    const multiple = 2 ** (config.audioChannels.length - 1);
    if (config.bands % multiple !== 0) {
      throw new SslError(
        'invalid-config',
        `bands (${config.bands}) must be divisible by 2^(audioChannels.length − 1) = ${multiple}: the U-Net halves it at each of its levels.`,
      );
    }
    if (unetFrames(config) === 0) {
      throw new SslError(
        'invalid-config',
        `clipSamples (${config.clipSamples}) gives fewer than ${multiple} frames at frameLength ${config.frameLength}, frameStep ${config.frameStep}: use longer clips or fewer audioChannels levels.`,
      );
    }
  },
  views: () => ({ unlabeled: 'none' }),
  training: { optimizer: { kind: 'adam', lr: 1e-3 }, schedule: { kind: 'warmup-cosine', warmupFraction: 0.05 }, batchSize: 64, epochs: 10 },
  build({ config, createEncoder: createImageEncoder, rng }): MixAndSeparateRuntime {
    const imageEncoder = createImageEncoder();
    const audioNetwork = audioUNet({
      frames: unetFrames(config),
      bands: config.bands,
      channels: config.audioChannels,
      outputChannels: config.maskChannels,
      seed: rng.seed(),
    });
    const imageVector = tfl.sequential({
      layers: [
        tfl.layers.dense({
          inputShape: [imageEncoder.featureDim],
          units: config.maskChannels,
          activation: 'sigmoid',
          kernelInitializer: tfl.initializers.glorotUniform({ seed: rng.seed() }),
        }),
      ],
    });
    // α (K weights) and β: the synthesizer's linear combination of the image-weighted maps.
    const synthesizer = tfl.sequential({
      layers: [
        tfl.layers.dense({
          inputShape: [config.maskChannels],
          units: 1,
          kernelInitializer: tfl.initializers.glorotUniform({ seed: rng.seed() }),
        }),
      ],
    });
    const { model, spectrograms, audioFeatures, maskLogits, toMask } = assemble(
      { imageEncoder, audioNetwork, imageVector, synthesizer },
      config,
    );
    const heads = { audioNetwork, imageVector, synthesizer };
    return {
      encoder: imageEncoder,
      trainable: { imageEncoder: imageEncoder.model, ...heads },
      separation: model,
      products: () => heads,
      heldOutTask: (heldOut, { seed }) => Promise.resolve(separationHeldOutTask(model, heldOut, config, seed)),
      step(batch: ImageAudioBatch) {
        if (batch.waveforms.shape[1] !== config.clipSamples) {
          throw new SslError(
            'shape-mismatch',
            `clip:mix-and-separate: clips have ${batch.waveforms.shape[1]} samples, the config says clipSamples ${config.clipSamples}.`,
          );
        }
        const size = batch.correspond.shape[0];
        const { first, second } = pairMixtures(batch.correspondMatrix.dataSync(), size);
        if (first.images.length === 0) {
          throw new SslError('data', 'clip:mix-and-separate: no two images of different classes in the batch to mix; use a larger batch.');
        }
        const rows = (indices: number[]) => tf.tensor1d(indices, 'int32');
        const images = batch.views[0];
        const sourceImages = tf.concat([tf.gather(images, rows(first.images)), tf.gather(images, rows(second.images))]) as Tensor4D;
        const firstSound = tf.gather(batch.waveforms, rows(first.clips)) as Tensor2D;
        const secondSound = tf.gather(batch.waveforms, rows(second.clips)) as Tensor2D;
        const mixture = spectrograms(tf.add(firstSound, secondSound) as Tensor2D);
        const sources = tf.concat([spectrograms(firstSound), spectrograms(secondSound)]) as Tensor3D;
        // One pass of the audio network per mixture; each of its two sources is read out with its own image.
        const features = audioFeatures(mixture, true);
        const logits = maskLogits(sourceImages, tf.concat([features, features]) as Tensor4D, true);
        const mixtures = tf.concat([mixture, mixture]) as Tensor3D;
        const loss: Scalar =
          config.mask === 'binary' ? binaryMaskLoss(logits, sources, mixtures) : ratioMaskLoss(toMask(logits), sources, mixtures);
        const estimates = tf.mul(toMask(logits), mixtures) as Tensor3D;
        const snrGain = tf.mean(tf.sub(spectrogramSnr(estimates, sources), spectrogramSnr(mixtures, sources))) as Scalar;
        return { loss, metrics: { snrGain } };
      },
    };
  },
});

/** The separation model of a clip:mix-and-separate run (`train(...).runtime`). */
export function separationModelOf(runtime: MethodRuntime): MixAndSeparateModel {
  const model = (runtime as Partial<MixAndSeparateRuntime>).separation;
  if (!model) throw new SslError('invalid-config', 'Expected the runtime of a clip:mix-and-separate run (train(...).runtime).');
  return model;
}

/**
 * The separation model of a finished clip:mix-and-separate run directory (`loadRun(dir)`): its image encoder and
 * the three networks it saved as products, assembled with the run's config, e.g. to separate new mixtures or to
 * draw a run's spectrograms without training again.
 */
export function separationModelFromRun(run: LoadedRun): MixAndSeparateModel {
  if (run.method !== 'clip:mix-and-separate')
    throw new SslError('io', `${run.dir} is a ${run.method} run, not a clip:mix-and-separate run.`);
  if (!run.encoder) throw new SslError('io', `${run.dir} has no saved image encoder (encoder/model.json).`);
  const config = run.config.config as unknown as MixAndSeparateConfig;
  const [audioNetwork, imageVector, synthesizer] = ['audioNetwork', 'imageVector', 'synthesizer'].map((name) => run.network(name));
  return assemble({ imageEncoder: run.encoder as Encoder, audioNetwork, imageVector, synthesizer }, config).model;
}

/** Held-out figures of a separation model, dB of spectrogram SNR averaged over the two sources of every mixture. */
export interface SeparationEvaluation {
  readonly mixtures: number;
  /** The unseparated mixture as the estimate of each source: the baseline. */
  readonly mixtureSnr: number;
  /** The model's mask (binary: thresholded at ½, as Sound of Pixels evaluates) times the mixture. */
  readonly separatedSnr: number;
  /** The model's mask as it comes (binary: the probability, a soft mask) times the mixture. */
  readonly softSeparatedSnr: number;
  /** A mask of ½ everywhere: what splitting the mixture without listening or looking gives. */
  readonly halfMaskSnr: number;
  /** The model's mask for each source computed with the other source's image: how much the image steers it. */
  readonly swappedImageSnr: number;
  /** The ideal binary mask [S_n ≥ ½ S_mix]: the ceiling of binary masking. */
  readonly idealMaskSnr: number;
}

/** Rows [N] of SNRs (dB) as a plain array. */
function read(values: Tensor1D): number[] {
  const out = Array.from(values.dataSync());
  values.dispose();
  return out;
}

/**
 * Separation figures on held-out two-source mixtures: `firstImages`/`firstSounds` row i mixed with
 * `secondImages`/`secondSounds` row i (images of different classes, each with a sound of its class).
 */
export function evaluateSeparation(
  model: MixAndSeparateModel,
  mixtures: { firstImages: Tensor4D; firstSounds: Tensor2D; secondImages: Tensor4D; secondSounds: Tensor2D },
  options: { mask: 'binary' | 'ratio' },
): SeparationEvaluation {
  const { firstImages, firstSounds, secondImages, secondSounds } = mixtures;
  const snrs = tf.tidy(() => {
    const mixtureWaveforms = tf.add(firstSounds, secondSounds) as Tensor2D;
    const mixture = model.spectrograms(mixtureWaveforms);
    const sources = tf.concat([model.spectrograms(firstSounds), model.spectrograms(secondSounds)]) as Tensor3D;
    const both = tf.concat([mixture, mixture]) as Tensor3D;
    const images = tf.concat([firstImages, secondImages]) as Tensor4D;
    const swapped = tf.concat([secondImages, firstImages]) as Tensor4D;
    const doubled = tf.concat([mixtureWaveforms, mixtureWaveforms]) as Tensor2D;
    const finalMask = (mask: Tensor3D) => (options.mask === 'binary' ? tf.cast(tf.greater(mask, 0.5), 'float32') : mask);
    const snr = (mask: Tensor3D | number) => spectrogramSnr(tf.mul(mask, both) as Tensor3D, sources);
    const masks = model.masks(images, doubled);
    return {
      mixtureSnr: snr(1),
      separatedSnr: snr(finalMask(masks) as Tensor3D),
      softSeparatedSnr: snr(masks),
      halfMaskSnr: snr(0.5),
      swappedImageSnr: snr(finalMask(model.masks(swapped, doubled)) as Tensor3D),
      idealMaskSnr: snr(tf.cast(tf.greaterEqual(sources, tf.mul(0.5, both)), 'float32') as Tensor3D),
    };
  });
  const mean = (values: Tensor1D) => {
    const rows = read(values);
    return rows.reduce((sum, v) => sum + v, 0) / rows.length;
  };
  return {
    mixtures: firstImages.shape[0],
    mixtureSnr: mean(snrs.mixtureSnr),
    separatedSnr: mean(snrs.separatedSnr),
    softSeparatedSnr: mean(snrs.softSeparatedSnr),
    halfMaskSnr: mean(snrs.halfMaskSnr),
    swappedImageSnr: mean(snrs.swappedImageSnr),
    idealMaskSnr: mean(snrs.idealMaskSnr),
  };
}

/** Held-out mixtures per held-out task: the README's protocol (300 test images, each with a partner of another class). */
const HELD_OUT_MIXTURES = 300;

/**
 * The runtime's `heldOutTask`: `evaluateSeparation` on mixtures of held-out `{ images, audio }` (the CLI passes the
 * test images and the test voices), each SNR beside the control it must beat — the unseparated mixture for the
 * thresholded mask, a ½ mask everywhere (splitting without listening or looking) for the soft mask, and the mask
 * computed from the other source's image (looking at the wrong picture).
 */
function separationHeldOutTask(model: MixAndSeparateModel, heldOut: unknown, config: MixAndSeparateConfig, seed: number): HeldOutFigure[] {
  const pairs = heldOut as Partial<ImageAudioData> | undefined;
  if (!pairs?.images || !pairs.audio)
    throw new SslError(
      'data',
      "clip:mix-and-separate's held-out task reads { images, audio }: test images and clips of voices not trained on.",
    );
  const mixtures = separationMixtures(pairs.images, pairs.audio, { count: HELD_OUT_MIXTURES, seed });
  try {
    const snr = evaluateSeparation(model, mixtures, { mask: config.mask });
    const figure = (name: string, value: number, reference: string, referenceValue: number): HeldOutFigure => ({
      name,
      kind: 'score',
      unit: 'dB',
      value,
      reference: { name: reference, value: referenceValue },
    });
    return [
      figure(`separated spectrogram SNR (${config.mask} mask)`, snr.separatedSnr, 'unseparated mixture', snr.mixtureSnr),
      figure('soft-mask spectrogram SNR', snr.softSeparatedSnr, '½ mask everywhere', snr.halfMaskSnr),
      figure(`separated SNR with each source's own image`, snr.separatedSnr, "the other source's image", snr.swappedImageSnr),
    ];
  } finally {
    tf.dispose([mixtures.firstImages, mixtures.firstSounds, mixtures.secondImages, mixtures.secondSounds]);
  }
}

/**
 * Two-source mixtures for `evaluateSeparation` from labeled images and clips (e.g. the test images and the test
 * voice): image i (the first `count`) with a partner image of another class, each with a random clip of its
 * class under the training augmentation (gain, time shift). The caller disposes the tensors.
 */
export function separationMixtures(images: ImageDataset, audio: AudioDataset, options: { count?: number; seed?: number } = {}) {
  const byClass = clipsByClass({ images, audio }, 'separationMixtures');
  const labels = images.labels!;
  const rng = new Random(options.seed ?? 0);
  const count = Math.min(options.count ?? images.size, images.size);
  const firstIds = Int32Array.from({ length: count }, (_, i) => i);
  const secondIds = Int32Array.from(firstIds, (id) => {
    for (;;) {
      const partner = rng.int(images.size);
      if (labels[partner] !== labels[id]) return partner;
    }
  });
  const clipOf = (ids: Int32Array) => Array.from(ids, (id) => byClass[labels[id]][rng.int(byClass[labels[id]].length)]);
  const sounds = (ids: Int32Array) => tf.tensor2d(augmentedWaveforms(audio, clipOf(ids), rng), [ids.length, audio.length]);
  return {
    firstImages: gatherSampleImages([images], firstIds),
    firstSounds: sounds(firstIds),
    secondImages: gatherSampleImages([images], secondIds),
    secondSounds: sounds(secondIds),
    firstLabels: Array.from(firstIds, (id) => labels[id]),
    secondLabels: Array.from(secondIds, (id) => labels[id]),
  };
}
