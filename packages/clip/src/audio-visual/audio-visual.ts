import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import {
  SslError,
  accuracy,
  createEncoder,
  defineMethod,
  frameCount,
  hardLabelCrossEntropy,
  l2Normalize,
  logMelSpectrogram,
  projectionHead,
  requirePositiveInteger,
  tfl,
} from '@ssl/core';
import type { Encoder, MethodRuntime } from '@ssl/core';
import { audioVisualHeldOutTask } from './evaluate-audio-visual';
import type { ImageAudioBatch } from './image-audio-data';

/**
 * Audio-visual correspondence: does this image and this sound belong together? The label is free: pairs are
 * drawn from the same class (here, the class a clip speaks) or from different ones, as a frame and a second
 * of audio come from the same video or not. Two towers: the run's encoder for images (evaluated and saved)
 * and a CNN over log-mel spectrograms for sound.
 *
 * - variant 'ave' (default): Objects that Sound's AVE-Net (Arandjelović & Zisserman 2018, sec. 3.1) — each
 *   tower → fc → fc → L2-normalised 128-d embedding; the Euclidean distance alone → fc(1 → 2) → softmax.
 * - variant 'l3': Look, Listen and Learn's L3-Net (2017, sec. 3) — the pooled features concatenated → fc → fc(2).
 *
 * At CI budgets the B given pairs of a batch (both papers' objective) teach nothing in 90–186 steps (50–51%
 * held out); the default objective 'contrastive' trains AVE-Net's embeddings with an InfoNCE over all B × B
 * image–clip pairs of the batch (several positives per row: the clips of the image's class) plus the
 * distance classifier on the B pairs. See the README for the figures of each.
 */
export interface AudioVisualConfig {
  /** Sample rate of the clips, Hz (the bundled speech: 8000). */
  sampleRate: number;
  /** Samples per clip (the bundled speech: 12 000 = 1.5 s). */
  clipSamples: number;
  /** Mel bands of the audio tower's log-mel input. */
  melBins: number;
  /** Output channels per stage of the audio CNN. */
  audioChannels: number[];
  /** Hop between log-mel frames, seconds. 30 ms (not the usual 10 ms) so that the small CNN's receptive field spans a word. */
  frameStepSeconds: number;
  /**
   * 'ave': Objects that Sound's AVE-Net — each tower → fc → fc to an L2-normalised embedding, the Euclidean
   * distance between the two, and fc(1 → 2) + softmax on that distance. 'l3': Look, Listen and Learn's
   * L3-Net — the two pooled features concatenated → fc → fc(2).
   */
  variant: 'ave' | 'l3';
  /**
   * Which pairs of a batch the loss sees. 'pairs': the batch's B given pairs (both papers). 'all': every one of
   * the B × B image–clip pairs, labelled by `correspondMatrix` (AVE-Net only), with positives and negatives
   * weighted to equal total mass. 'contrastive': AVE-Net's embeddings under a symmetric InfoNCE over the
   * batch (several positives per row: the clips of the image's class), plus the distance classifier on the
   * B pairs so that correspondence() stays calibrated.
   */
  objective: 'pairs' | 'all' | 'contrastive';
  /** Temperature of the 'contrastive' objective (on cosine similarities). */
  temperature: number;
  /** Width of the hidden fusion layer (L3-Net's fc1: 128) or of the embedding MLP's hidden layer (AVE-Net). */
  fusionDim: number;
  /** Embedding size of AVE-Net (the paper: 128). */
  embeddingDim: number;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'clip:audio-visual': AudioVisualConfig;
  }
}

/** What a clip:audio-visual run adds to its runtime: the audio tower and the correspondence read-out. */
export interface AudioVisualRuntime extends MethodRuntime<'image-audio'> {
  readonly audioVisual: AudioVisualModel;
}

export interface AudioVisualModel {
  readonly imageEncoder: Encoder;
  readonly audioEncoder: Encoder;
  /** Log-mel spectrograms [B, frames, melBins, 1] of waveforms [B, samples], standardised per clip. */
  spectrograms(waveforms: Tensor2D): Tensor4D;
  /** Probability [B] that each image and the sound in the same row correspond, in inference mode. */
  correspondence(images: Tensor4D, waveforms: Tensor2D): Tensor1D;
  /** AVE-Net only: L2-normalised image embeddings [B, embeddingDim], in inference mode (retrieval, zero-shot). */
  imageEmbeddings?(images: Tensor4D): Tensor2D;
  /** AVE-Net only: L2-normalised audio embeddings [B, embeddingDim], in inference mode. */
  audioEmbeddings?(waveforms: Tensor2D): Tensor2D;
}

interface Networks {
  imageEncoder: Encoder;
  audioEncoder: Encoder;
  /** L3-Net: fc → fc(2) on the concatenated features. AVE-Net: fc(1 → 2) on the embedding distance. */
  fusion: tfl.LayersModel;
  /** AVE-Net: the towers' embedding MLPs. */
  imageEmbedding?: tfl.LayersModel;
  audioEmbedding?: tfl.LayersModel;
}

function assembleModel(networks: Networks, config: AudioVisualConfig) {
  const { imageEncoder, audioEncoder, fusion, imageEmbedding, audioEmbedding } = networks;
  const spectrograms = (waveforms: Tensor2D): Tensor4D => standardisedLogMel(waveforms, config);
  const embedImages = (images: Tensor4D, training: boolean): Tensor2D =>
    l2Normalize(imageEmbedding!.apply(imageEncoder.features(images, { training }), { training }) as Tensor2D);
  const embedAudio = (waveforms: Tensor2D, training: boolean): Tensor2D =>
    l2Normalize(audioEmbedding!.apply(audioEncoder.features(spectrograms(waveforms), { training }), { training }) as Tensor2D);
  const logits = (images: Tensor4D, waveforms: Tensor2D, training: boolean): Tensor2D => {
    if (config.variant === 'ave') {
      // Objects that Sound, sec. 3.1: the Euclidean distance of the two unit embeddings (in [0, 2]) is the only
      // input of the correspondence classifier, so the embeddings alone must carry what matches.
      const difference = tf.sub(embedImages(images, training), embedAudio(waveforms, training));
      const distance = tf.sqrt(tf.add(tf.sum(tf.square(difference), 1, true), 1e-12));
      return fusion.apply(distance, { training }) as Tensor2D;
    }
    const joint = tf.concat([imageEncoder.features(images, { training }), audioEncoder.features(spectrograms(waveforms), { training })], 1);
    return fusion.apply(joint, { training }) as Tensor2D;
  };
  const model: AudioVisualModel = {
    imageEncoder,
    audioEncoder,
    spectrograms,
    correspondence: (images, waveforms) =>
      tf.tidy(() => tf.squeeze(tf.slice(tf.softmax(logits(images, waveforms, false)), [0, 1], [-1, 1]), [1]) as Tensor1D),
    ...(config.variant === 'ave'
      ? {
          imageEmbeddings: (images: Tensor4D) => tf.tidy(() => embedImages(images, false)),
          audioEmbeddings: (waveforms: Tensor2D) => tf.tidy(() => embedAudio(waveforms, false)),
        }
      : {}),
  };
  /** AVE-Net: logits [B·B, 2] of every image i with every clip j (row i·B + j), and the cosine similarities [B, B]. */
  const allPairs = (images: Tensor4D, waveforms: Tensor2D, training: boolean) => {
    const similarity = tf.matMul(embedImages(images, training), embedAudio(waveforms, training), false, true) as Tensor2D;
    // |a − b|² = 2 − 2 a·b for unit vectors.
    const distance = tf.sqrt(tf.relu(tf.sub(2 + 1e-12, tf.mul(2, tf.reshape(similarity, [-1, 1])))));
    return { logits: fusion.apply(distance, { training }) as Tensor2D, similarity };
  };
  return { model, logits, allPairs };
}

/**
 * The audio tower's input: log-mel spectrograms [B, frames, melBins, 1] of waveforms [B, samples] (25 ms windows,
 * `frameStepSeconds` hop), standardised per clip.
 */
export function standardisedLogMel(
  waveforms: Tensor2D,
  config: Pick<AudioVisualConfig, 'sampleRate' | 'melBins' | 'frameStepSeconds'>,
): Tensor4D {
  return tf.tidy(() => {
    const logMel = logMelSpectrogram(waveforms, logMelOptions(config));
    // Per-clip standardisation: loudness (already randomised by the gain augmentation) carries no class.
    const { mean, variance } = tf.moments(logMel, [1, 2], true);
    return tf.expandDims(tf.div(tf.sub(logMel, mean), tf.sqrt(tf.add(variance, 1e-5))), 3) as Tensor4D;
  });
}

export function logMelOptions(config: Pick<AudioVisualConfig, 'sampleRate' | 'melBins' | 'frameStepSeconds'>) {
  return {
    sampleRate: config.sampleRate,
    melBins: config.melBins,
    frameLength: Math.round(0.025 * config.sampleRate),
    frameStep: Math.round(config.frameStepSeconds * config.sampleRate),
  };
}

export const audioVisual = defineMethod<AudioVisualConfig, 'image-audio'>({
  name: 'audio-visual',
  description: 'audio-visual correspondence: do this image and this sound belong together (AVE-Net embeddings, L3-Net)',
  paper: { title: 'Look, Listen and Learn', authors: 'Arandjelović & Zisserman', year: 2017, url: 'https://arxiv.org/abs/1705.08168' },
  data: 'image-audio',
  defaults: {
    sampleRate: 8000,
    clipSamples: 12000,
    melBins: 40,
    frameStepSeconds: 0.03,
    audioChannels: [16, 32, 64],
    variant: 'ave',
    objective: 'contrastive',
    temperature: 0.1,
    fusionDim: 128,
    embeddingDim: 128,
  },
  validate(config) {
    for (const field of ['sampleRate', 'clipSamples', 'melBins', 'fusionDim', 'embeddingDim'] as const) {
      requirePositiveInteger(field, config[field]);
    }
    if (config.variant !== 'ave' && config.variant !== 'l3') {
      throw new SslError(
        'invalid-config',
        `variant must be 'ave' (Objects that Sound) or 'l3' (Look, Listen and Learn), got ${JSON.stringify(config.variant)}.`,
      );
    }
    if (!['pairs', 'all', 'contrastive'].includes(config.objective)) {
      throw new SslError('invalid-config', `objective must be 'pairs', 'all' or 'contrastive', got ${JSON.stringify(config.objective)}.`);
    }
    if (config.objective !== 'pairs' && config.variant !== 'ave') {
      throw new SslError(
        'invalid-config',
        `objective '${config.objective}' needs AVE-Net's embeddings: set variant 'ave' or objective 'pairs'.`,
      );
    }
    if (!(config.temperature > 0)) throw new SslError('invalid-config', `temperature must be positive, got ${config.temperature}.`);
    if (!(config.frameStepSeconds > 0 && config.frameStepSeconds * config.sampleRate >= 1)) {
      throw new SslError(
        'invalid-config',
        `frameStepSeconds must be positive and at least one sample long, got ${config.frameStepSeconds}.`,
      );
    }
    if (!Array.isArray(config.audioChannels) || config.audioChannels.length === 0) {
      throw new SslError(
        'invalid-config',
        `audioChannels must be a non-empty array of channel counts, got ${JSON.stringify(config.audioChannels)}.`,
      );
    }
    config.audioChannels.forEach((channels, i) => requirePositiveInteger(`audioChannels[${i}]`, channels));
  },
  views: () => ({ unlabeled: 'none' }),
  training: { optimizer: { kind: 'adam', lr: 1e-3 }, schedule: { kind: 'warmup-cosine', warmupFraction: 0.05 }, batchSize: 64, epochs: 10 },
  build({ config, createEncoder: createImageEncoder, rng }): AudioVisualRuntime {
    const imageEncoder = createImageEncoder();
    const { frameLength, frameStep } = logMelOptions(config);
    const audioEncoder = createEncoder({
      kind: 'cnn',
      inputShape: [frameCount(config.clipSamples, { frameLength, frameStep }), config.melBins, 1],
      channels: config.audioChannels,
      seed: rng.seed(),
    });
    const embedding = (inputDim: number) =>
      projectionHead({ inputDim, hiddenDim: config.fusionDim, outputDim: config.embeddingDim, seed: rng.seed() });
    const networks: Networks =
      config.variant === 'ave'
        ? {
            imageEncoder,
            audioEncoder,
            imageEmbedding: embedding(imageEncoder.featureDim),
            audioEmbedding: embedding(audioEncoder.featureDim),
            fusion: tfl.sequential({
              // Starts as "correspond iff the distance is below 1" with a slope of 10: unit embeddings are √2 apart when
              // orthogonal, and a glorot-initialised 1 → 2 layer moves too slowly under Adam to reach such a slope (it
              // predicted one class throughout a 186-step run).
              layers: [
                tfl.layers.dense({
                  inputShape: [1],
                  units: 2,
                  kernelInitializer: tfl.initializers.constant({ value: 0 }),
                  biasInitializer: tfl.initializers.constant({ value: 0 }),
                }),
              ],
            }),
          }
        : {
            imageEncoder,
            audioEncoder,
            fusion: projectionHead({
              inputDim: imageEncoder.featureDim + audioEncoder.featureDim,
              hiddenDim: config.fusionDim,
              outputDim: 2,
              seed: rng.seed(),
            }),
          };
    if (config.variant === 'ave') {
      const [kernel, bias] = [tf.tensor2d([[5, -5]]), tf.tensor1d([-5, 5])];
      networks.fusion.setWeights([kernel, bias]);
      tf.dispose([kernel, bias]);
    }
    const { model, logits, allPairs } = assembleModel(networks, config);
    const heads = {
      audioEncoder: audioEncoder.model,
      fusion: networks.fusion,
      ...(networks.imageEmbedding ? { imageEmbedding: networks.imageEmbedding } : {}),
      ...(networks.audioEmbedding ? { audioEmbedding: networks.audioEmbedding } : {}),
    };
    return {
      encoder: imageEncoder,
      trainable: { imageEncoder: imageEncoder.model, ...heads },
      audioVisual: model,
      products: () => ({ ...heads, audioEncoder }),
      heldOutTask: (heldOut, { seed }) => audioVisualHeldOutTask(model, heldOut, seed),
      step(batch: ImageAudioBatch) {
        if (batch.waveforms.shape[1] !== config.clipSamples) {
          throw new SslError(
            'shape-mismatch',
            `clip:audio-visual: clips have ${batch.waveforms.shape[1]} samples, the config says clipSamples ${config.clipSamples}.`,
          );
        }
        if (config.variant === 'l3' || config.objective === 'pairs') {
          const batchLogits = logits(batch.views[0], batch.waveforms, true);
          return {
            loss: hardLabelCrossEntropy(batchLogits, batch.correspond),
            metrics: { correspondenceAccuracy: accuracy(batchLogits, batch.correspond) },
          };
        }
        const size = batch.correspond.shape[0];
        const { logits: pairLogits, similarity } = allPairs(batch.views[0], batch.waveforms, true);
        const diagonal = tf.range(0, size * size, size + 1, 'int32');
        const diagonalLogits = tf.gather(pairLogits, diagonal) as Tensor2D;
        const metrics = { correspondenceAccuracy: accuracy(diagonalLogits, batch.correspond) };
        if (config.objective === 'all') {
          const labels = tf.reshape(batch.correspondMatrix, [-1]) as Tensor1D;
          const positives = tf.maximum(tf.sum(labels), 1);
          const negatives = tf.maximum(tf.sub(size * size, tf.sum(labels)), 1);
          // Equal total weight for the ~1/classes positives and the rest; hardLabelCrossEntropy divides by B·B.
          const weights = tf.mul(size * size * 0.5, tf.add(tf.div(labels, positives), tf.div(tf.sub(1, labels), negatives))) as Tensor1D;
          return { loss: hardLabelCrossEntropy(pairLogits, labels, weights), metrics };
        }
        const scaled = tf.div(similarity, config.temperature) as Tensor2D;
        const contrastive = tf.add(
          multiPositiveInfoNce(scaled, batch.correspondMatrix),
          multiPositiveInfoNce(tf.transpose(scaled) as Tensor2D, tf.transpose(batch.correspondMatrix) as Tensor2D),
        );
        return { loss: tf.add(tf.mul(0.5, contrastive), hardLabelCrossEntropy(diagonalLogits, batch.correspond)) as Scalar, metrics };
      },
    };
  },
});

/** The audio-visual model of a clip:audio-visual run (`train(...).runtime`). */
export function audioVisualModelOf(runtime: MethodRuntime): AudioVisualModel {
  const model = (runtime as Partial<AudioVisualRuntime>).audioVisual;
  if (!model) throw new SslError('invalid-config', 'Expected the runtime of a clip:audio-visual run (train(...).runtime).');
  return model;
}

/**
 * InfoNCE with several positives per row (the CLIP loss when each row has one): the mean over rows that have a
 * positive of −Σ_j t_ij log softmax(z_i)_j, with t_i uniform over the row's positives (Khosla et al. 2020's
 * L_out with one anchor modality). logits [B, B], positives [B, B] of 0/1.
 */
export function multiPositiveInfoNce(logits: Tensor2D, positives: Tensor2D): Scalar {
  return tf.tidy(() => {
    const counts = tf.sum(positives, 1);
    const target = tf.div(positives, tf.maximum(tf.expandDims(counts, 1), 1));
    const perRow = tf.neg(tf.sum(tf.mul(target, tf.logSoftmax(logits, 1)), 1));
    const hasPositive = tf.cast(tf.greater(counts, 0), 'float32');
    return tf.div(tf.sum(tf.mul(perRow, hasPositive)), tf.maximum(tf.sum(hasPositive), 1)) as Scalar;
  });
}
