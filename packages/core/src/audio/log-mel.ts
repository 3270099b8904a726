import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D, Tensor3D } from '@tensorflow/tfjs-core';
import { invalidConfig } from '../errors';

export interface LogMelOptions {
  readonly sampleRate: number;
  /** Samples per analysis window; default 25 ms. */
  readonly frameLength?: number;
  /** Samples between window starts; default 10 ms. */
  readonly frameStep?: number;
  /** DFT size (the window is zero-padded to it); default the next power of two ≥ frameLength. */
  readonly fftLength?: number;
  /** Mel bands; default 40. */
  readonly melBins?: number;
  /** Lowest and highest band edges in Hz; default 0 and the Nyquist frequency. */
  readonly fMin?: number;
  readonly fMax?: number;
  /** Added to the mel power before the log, so silence gives log(floor) instead of −∞; default 1e-6. */
  readonly floor?: number;
}

export interface ResolvedLogMelOptions {
  readonly sampleRate: number;
  readonly frameLength: number;
  readonly frameStep: number;
  readonly fftLength: number;
  readonly melBins: number;
  readonly fMin: number;
  readonly fMax: number;
  readonly floor: number;
}

export function resolveLogMelOptions(options: LogMelOptions): ResolvedLogMelOptions {
  const { sampleRate } = options;
  if (!(Number.isInteger(sampleRate) && sampleRate > 0)) invalidConfig('sampleRate', sampleRate, 'a positive integer (Hz)');
  const frameLength = options.frameLength ?? Math.round(0.025 * sampleRate);
  const resolved = {
    sampleRate,
    frameLength,
    frameStep: options.frameStep ?? Math.round(0.01 * sampleRate),
    fftLength: options.fftLength ?? 2 ** Math.ceil(Math.log2(frameLength)),
    melBins: options.melBins ?? 40,
    fMin: options.fMin ?? 0,
    fMax: options.fMax ?? sampleRate / 2,
    floor: options.floor ?? 1e-6,
  };
  for (const field of ['frameLength', 'frameStep', 'fftLength', 'melBins'] as const) {
    if (!(Number.isInteger(resolved[field]) && resolved[field] > 0)) invalidConfig(field, resolved[field], 'a positive integer');
  }
  if (resolved.fftLength < frameLength) invalidConfig('fftLength', resolved.fftLength, `at least frameLength (${frameLength})`);
  if (!(resolved.fMin >= 0 && resolved.fMin < resolved.fMax && resolved.fMax <= sampleRate / 2)) {
    invalidConfig('fMax', resolved.fMax, `above fMin (${resolved.fMin}) and at most the Nyquist frequency (${sampleRate / 2} Hz)`);
  }
  if (!(resolved.floor > 0)) invalidConfig('floor', resolved.floor, 'a positive number');
  return resolved;
}

/** The HTK mel scale, m = 2595 · log10(1 + f / 700) (what torchaudio's MelSpectrogram uses by default). */
export function hzToMel(hz: number): number {
  return 2595 * Math.log10(1 + hz / 700);
}

export function melToHz(mel: number): number {
  return 700 * (10 ** (mel / 2595) - 1);
}

/**
 * Triangular mel filters [fftLength / 2 + 1, melBins]: band b rises from edge b to edge b + 1 and falls to
 * edge b + 2, the melBins + 2 edges equally spaced in mel between fMin and fMax (unnormalised, as HTK).
 */
export function melFilterbank(options: ResolvedLogMelOptions): Float32Array {
  const bins = options.fftLength / 2 + 1;
  const edges = Array.from({ length: options.melBins + 2 }, (_, i) =>
    melToHz(hzToMel(options.fMin) + ((hzToMel(options.fMax) - hzToMel(options.fMin)) * i) / (options.melBins + 1)),
  );
  const filters = new Float32Array(bins * options.melBins);
  for (let k = 0; k < bins; k++) {
    const hz = (k * options.sampleRate) / options.fftLength;
    for (let band = 0; band < options.melBins; band++) {
      const rising = (hz - edges[band]) / (edges[band + 1] - edges[band]);
      const falling = (edges[band + 2] - hz) / (edges[band + 2] - edges[band + 1]);
      filters[k * options.melBins + band] = Math.max(0, Math.min(rising, falling));
    }
  }
  return filters;
}

/** Frames a signal of `samples` samples yields: windows that fit whole, no padding at either end. */
export function frameCount(samples: number, options: Pick<ResolvedLogMelOptions, 'frameLength' | 'frameStep'>): number {
  return samples < options.frameLength ? 0 : 1 + Math.floor((samples - options.frameLength) / options.frameStep);
}

/** Windowed DFT bases [frameLength, bins] by size: a training step transforms every batch with the same sizes. */
const dftBasesBySize = new Map<string, { cosines: Float32Array; sines: Float32Array }>();

/** The periodic-Hann-windowed DFT bases [frameLength, bins] (frames zero-padded to fftLength), once per size. */
function windowedDftBases(frameLength: number, fftLength: number): { cosines: Float32Array; sines: Float32Array } {
  const key = `${frameLength}/${fftLength}`;
  const cached = dftBasesBySize.get(key);
  if (cached) return cached;
  const bins = fftLength / 2 + 1;
  const cosines = new Float32Array(frameLength * bins);
  const sines = new Float32Array(frameLength * bins);
  for (let n = 0; n < frameLength; n++) {
    const window = 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / frameLength);
    for (let k = 0; k < bins; k++) {
      const angle = (2 * Math.PI * k * n) / fftLength;
      cosines[n * bins + k] = window * Math.cos(angle);
      sines[n * bins + k] = -window * Math.sin(angle);
    }
  }
  const bases = { cosines, sines };
  dftBasesBySize.set(key, bases);
  return bases;
}

/**
 * The DFT of every frame of signals [batch, samples] under a periodic Hann window w: real and imaginary parts
 * [batch · frames, fftLength / 2 + 1] of X_t[k] = Σ_n w[n] · x[t·step + n] · e^{−2πikn/N} (N = fftLength, the
 * frame zero-padded to it). Two matrix products with cosine and sine bases, so it runs, and differentiates, on
 * every backend (tfjs's FFT has no wasm kernel) and costs little at speech frame sizes. Call inside tf.tidy.
 */
export function framedDft(
  signals: Tensor2D,
  options: Pick<ResolvedLogMelOptions, 'frameLength' | 'frameStep' | 'fftLength'>,
): { real: Tensor2D; imaginary: Tensor2D } {
  const [batch, samples] = signals.shape;
  const { frameLength, frameStep, fftLength } = options;
  const frames = frameCount(samples, options);
  if (frames === 0) invalidConfig('signals', `${samples} samples`, `at least frameLength (${frameLength}) samples per signal`);
  const bins = fftLength / 2 + 1;
  const { cosines, sines } = windowedDftBases(frameLength, fftLength);
  const frameStarts = Int32Array.from(
    { length: frames * frameLength },
    (_, i) => Math.floor(i / frameLength) * frameStep + (i % frameLength),
  );
  const framed = tf.reshape(tf.gather(signals, tf.tensor1d(frameStarts, 'int32'), 1), [batch * frames, frameLength]);
  return {
    real: tf.matMul(framed, tf.tensor2d(cosines, [frameLength, bins])),
    imaginary: tf.matMul(framed, tf.tensor2d(sines, [frameLength, bins])),
  };
}

/** Mel filterbanks by options, computed once each. */
const filtersByOptions = new Map<string, Float32Array>();

function cachedMelFilterbank(options: ResolvedLogMelOptions): Float32Array {
  const key = JSON.stringify(options);
  let filters = filtersByOptions.get(key);
  if (!filters) {
    filters = melFilterbank(options);
    filtersByOptions.set(key, filters);
  }
  return filters;
}

/**
 * Log-mel spectrograms [batch, frames, melBins] of signals [batch, samples]:
 * log(Σ_k |X_t[k]|² · M[k, b] + floor), with X_t the frame's windowed DFT (`framedDft`) and M the mel filterbank.
 */
export function logMelSpectrogram(signals: Tensor2D, options: LogMelOptions): Tensor3D {
  const resolved = resolveLogMelOptions(options);
  const [batch, samples] = signals.shape;
  const frames = frameCount(samples, resolved);
  const bins = resolved.fftLength / 2 + 1;
  const filters = cachedMelFilterbank(resolved);
  return tf.tidy(() => {
    const { real, imaginary } = framedDft(signals, resolved);
    const power = tf.add(tf.square(real), tf.square(imaginary));
    const mel = tf.matMul(power, tf.tensor2d(filters, [bins, resolved.melBins]));
    return tf.reshape(tf.log(tf.add(mel, resolved.floor)), [batch, frames, resolved.melBins]) as Tensor3D;
  });
}
