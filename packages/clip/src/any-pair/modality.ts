import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { SslError, WordTokenizer, createEncoder, frameCount } from '@ssl/core';
import type { Encoder, JsonValue, Random } from '@ssl/core';
import { clipTextEncoder } from '../clip/clip';
import type { ClipConfig } from '../clip/clip';
import { logMelOptions, standardisedLogMel } from '../audio-visual/audio-visual';
import { augmentedWaveforms } from '../audio-visual/image-audio-data';

/**
 * One side of a contrastive pair: what its samples are, the encoder (tower) that reads them and how a batch of
 * samples becomes that encoder's input. `pairContrastive({ first, second })` trains two of them against each other.
 *
 * A third party pairs its own data by writing one: `tower` builds the encoder (any registered encoder kind —
 * its plugin's own through `createEncoder({ kind: 'my-kind', ... })`), `toInput` turns samples (number arrays,
 * strings, byte images...) into the encoder's input tensor, and `restore` rebuilds the tower of a finished run
 * from its saved encoder and `state` (e.g. a tokenizer).
 */
export interface Modality<Sample = unknown> {
  /** Short name, e.g. 'audio', 'text'; names the run's products (`<side>Encoder`) only through its side. */
  readonly name: string;
  /** In words, for describe() and errors. */
  readonly description: string;
  /** The tower of a new run. `texts`: the training data's strings (a tokenizer fits on them). */
  tower(context: ModalityContext): ModalityTower<Sample>;
  /** The tower of a finished run: its saved encoder and the `state()` it saved. */
  restore(encoder: Encoder, state: JsonValue | undefined): ModalityTower<Sample>;
}

export interface ModalityContext {
  /**
   * The strings among the training samples of either side (core hands a method its training texts only, as
   * BuildContext.captions): what a text modality fits its tokenizer on.
   */
  readonly texts: readonly string[];
  readonly seed: number;
  /** The run's image encoder (from its encoder spec); only an image modality calls it. */
  createImageEncoder(): Encoder;
}

export interface ModalityTower<Sample> {
  readonly encoder: Encoder;
  /** A batch of samples as the encoder's input. `rng` is given in training (augmentation), absent at inference. */
  toInput(samples: readonly Sample[], options?: { rng?: Random }): Tensor2D | Tensor4D;
  /** What `restore` needs besides the encoder's weights (a tokenizer), saved as a JSON product. */
  state?(): JsonValue;
}

/** Images as bytes in [0, 255], HWC, one Uint8Array (or number array) per image. */
export type ImageSample = Uint8Array | readonly number[];

/** Images of `shape`, read by the run's image encoder (the one `train({ encoder })` names). */
export function imageModality(shape: readonly [number, number, number]): Modality<ImageSample> {
  const size = shape[0] * shape[1] * shape[2];
  const toInput = (samples: readonly ImageSample[]): Tensor4D => {
    const bytes = new Float32Array(samples.length * size);
    samples.forEach((sample, row) => {
      if (sample.length !== size)
        throw new SslError('shape-mismatch', `image modality: an image has ${sample.length} values, ${shape.join('×')} needs ${size}.`);
      for (let k = 0; k < size; k++) bytes[row * size + k] = sample[k] / 255;
    });
    return tf.tensor4d(bytes, [samples.length, ...shape]);
  };
  return {
    name: 'image',
    description: `${shape.join('×')} images`,
    tower: ({ createImageEncoder }) => ({ encoder: createImageEncoder(), toInput }),
    restore: (encoder) => ({ encoder, toInput }),
  };
}

/** Options of the text tower (clip:clip's `text` config). */
export type TextModalityOptions = ClipConfig['text'];

export const DEFAULT_TEXT_OPTIONS: TextModalityOptions = {
  embedDim: 64,
  depth: 2,
  numHeads: 4,
  maxLength: 16,
  mlpRatio: 2,
  vocabLimit: 2000,
  causal: true,
};

/** Strings, read by clip:clip's text transformer with a word tokenizer fitted on the training texts. */
export function textModality(options: Partial<TextModalityOptions> = {}): Modality<string> {
  const text = { ...DEFAULT_TEXT_OPTIONS, ...options };
  const tower = (encoder: Encoder, tokenizer: WordTokenizer): ModalityTower<string> => ({
    encoder,
    toInput: (samples) => tf.tensor2d(tokenizer.encodeBatch(samples), [samples.length, tokenizer.maxLength], 'int32'),
    state: () => ({ tokenizer: { ...tokenizer.toJSON() } }) as JsonValue,
  });
  return {
    name: 'text',
    description: `texts (≤ ${text.maxLength} tokens, a ${text.depth}-layer transformer)`,
    tower({ texts, seed }) {
      if (texts.length === 0) throw new SslError('data', 'text modality: no training texts to fit the tokenizer on.');
      const tokenizer = WordTokenizer.fromCorpus(texts, { maxLength: text.maxLength, vocabLimit: text.vocabLimit });
      return tower(clipTextEncoder(text, tokenizer, seed), tokenizer);
    },
    restore(encoder, state) {
      const saved = (state as { tokenizer?: unknown } | undefined)?.tokenizer;
      if (!saved) throw new SslError('io', 'text modality: the run saved no tokenizer.');
      return tower(encoder, WordTokenizer.fromJSON(saved as never));
    },
  };
}

/** Options of the audio tower (clip:audio-visual's): log-mel input and a CNN. */
export interface AudioModalityOptions {
  sampleRate: number;
  clipSamples: number;
  melBins: number;
  frameStepSeconds: number;
  channels: number[];
  /** Random gain and time shift of each clip in training (audio-visual's augmentations). */
  augment: boolean;
}

export const DEFAULT_AUDIO_OPTIONS: AudioModalityOptions = {
  sampleRate: 8000,
  clipSamples: 12000,
  melBins: 40,
  frameStepSeconds: 0.03,
  channels: [16, 32, 64],
  augment: true,
};

/** Waveforms in [-1, 1] (one Float32Array of `clipSamples` per clip), read by audio-visual's CNN over standardised log-mel spectrograms. */
export function audioModality(options: Partial<AudioModalityOptions> = {}): Modality<Float32Array> {
  const audio = { ...DEFAULT_AUDIO_OPTIONS, ...options };
  const toInput = (samples: readonly Float32Array[], { rng }: { rng?: Random } = {}): Tensor4D => {
    const length = audio.clipSamples;
    const joined = new Float32Array(samples.length * length);
    samples.forEach((clip, row) => {
      if (clip.length !== length)
        throw new SslError('shape-mismatch', `audio modality: a clip has ${clip.length} samples, clipSamples is ${length}.`);
      joined.set(clip, row * length);
    });
    const waveform =
      audio.augment && rng
        ? augmentedWaveforms(
            { samples: joined, length },
            samples.map((_, row) => row),
            rng,
          )
        : joined;
    return tf.tidy(() => standardisedLogMel(tf.tensor2d(waveform, [samples.length, length]), audio));
  };
  return {
    name: 'audio',
    description: `${audio.clipSamples / audio.sampleRate} s clips at ${audio.sampleRate} Hz (log-mel, ${audio.melBins} bands, CNN)`,
    tower({ seed }) {
      const { frameLength, frameStep } = logMelOptions(audio);
      const encoder = createEncoder({
        kind: 'cnn',
        inputShape: [frameCount(audio.clipSamples, { frameLength, frameStep }), audio.melBins, 1],
        channels: audio.channels,
        seed,
      });
      return { encoder, toInput };
    },
    restore: (encoder) => ({ encoder, toInput }),
  };
}
