import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D, Tensor3D } from '@tensorflow/tfjs-core';
import { frameCount, framedDft, invalidConfig, melFilterbank, requireSameShape, resolveLogMelOptions } from '@ssl/core';

export interface MagnitudeSpectrogramOptions {
  readonly sampleRate: number;
  /** Samples per Hann window (also the DFT size, a power of two). */
  readonly frameLength: number;
  /** Samples between window starts. */
  readonly frameStep: number;
  /** Log-spaced (mel) frequency bands the linear bins are warped to. */
  readonly bands: number;
}

/** The band-averaging matrix [bins, bands] by options: a training step transforms every batch with the same ones. */
const bandMatricesByOptions = new Map<string, Float32Array>();

function bandMatrix(options: MagnitudeSpectrogramOptions): Float32Array {
  const key = JSON.stringify([options.sampleRate, options.frameLength, options.bands]);
  const cached = bandMatricesByOptions.get(key);
  if (cached) return cached;
  const bins = options.frameLength / 2 + 1;
  // Mel triangles normalised to unit sum: each band is a weighted average of the magnitudes it covers, so a
  // band of the mixture is the same kind of quantity as a bin (Sound of Pixels resamples its STFT to a
  // log-frequency axis; the mel axis is the same idea and core already has its filters).
  const triangles = melFilterbank(
    resolveLogMelOptions({
      sampleRate: options.sampleRate,
      fftLength: options.frameLength,
      frameLength: options.frameLength,
      melBins: options.bands,
    }),
  );
  const bands = new Float32Array(bins * options.bands);
  for (let band = 0; band < options.bands; band++) {
    let sum = 0;
    for (let k = 0; k < bins; k++) sum += triangles[k * options.bands + band];
    for (let k = 0; k < bins; k++) bands[k * options.bands + band] = triangles[k * options.bands + band] / Math.max(sum, 1e-12);
  }
  bandMatricesByOptions.set(key, bands);
  return bands;
}

export function checkMagnitudeSpectrogramOptions(options: MagnitudeSpectrogramOptions): void {
  const { frameLength, frameStep, bands } = options;
  if (!(Number.isInteger(frameLength) && frameLength >= 4 && (frameLength & (frameLength - 1)) === 0))
    invalidConfig('frameLength', frameLength, 'a power of two ≥ 4 (it is also the DFT size)');
  if (!(Number.isInteger(frameStep) && frameStep > 0)) invalidConfig('frameStep', frameStep, 'a positive integer');
  if (!(Number.isInteger(bands) && bands > 0 && bands <= frameLength / 2))
    invalidConfig('bands', bands, `a positive integer ≤ frameLength / 2 = ${frameLength / 2}`);
}

/**
 * Band magnitudes [batch, frames, bands] of signals [batch, samples]: S_t[b] = Σ_k |X_t[k]| · W[k, b], with
 * X_t[k] = Σ_n w[n] · x[t·step + n] · e^{−2πikn/N} the DFT of frame t under a periodic Hann window (N =
 * frameLength) and W the mel triangles normalised to unit sum. Like core's logMelSpectrogram, the DFT is core's
 * `framedDft` (two matrix products, so it runs on every backend); unlike it, this keeps magnitudes (not log power), which is
 * what Sound of Pixels masks: the estimate of a source is mask ⊙ S(mixture).
 */
export function magnitudeSpectrogram(signals: Tensor2D, options: MagnitudeSpectrogramOptions): Tensor3D {
  checkMagnitudeSpectrogramOptions(options);
  const [batch, samples] = signals.shape;
  const { frameLength, frameStep } = options;
  const frames = frameCount(samples, { frameLength, frameStep });
  const bands = bandMatrix(options);
  return tf.tidy(() => {
    const { real, imaginary } = framedDft(signals, { frameLength, frameStep, fftLength: frameLength });
    // The 1e-12 keeps the gradient of √ finite at an all-zero frame.
    const magnitude = tf.sqrt(tf.add(tf.add(tf.square(real), tf.square(imaginary)), 1e-12));
    const bins = frameLength / 2 + 1;
    return tf.reshape(tf.matMul(magnitude, tf.tensor2d(bands, [bins, options.bands])), [batch, frames, options.bands]) as Tensor3D;
  });
}

/**
 * The bin weights of Sound of Pixels' loss (Zhao et al. 2018, released training code): w = log(1 + S_mix),
 * clipped to [1e-3, 10], so that silent bins, whose mask is arbitrary, count little.
 */
export function separationWeights(mixture: Tensor3D): Tensor3D {
  return tf.tidy(() => tf.clipByValue(tf.log1p(mixture), 1e-3, 10) as Tensor3D);
}

/**
 * Sound of Pixels' binary-mask loss (sec. 3.2): the target of source n is the ideal binary mask
 * M_n = [S_n ≥ ½ S_mix] (with two sources: n dominates the bin), and the loss is the per-bin sigmoid
 * cross-entropy, weighted by `separationWeights(S_mix)` and averaged:
 *   L = Σ w · (softplus(z) − M·z) / Σ w.
 * maskLogits, source, mixture: [B, frames, bands].
 */
export function binaryMaskLoss(maskLogits: Tensor3D, source: Tensor3D, mixture: Tensor3D): Scalar {
  requireSameShape('maskLogits', maskLogits, 'source', source, 'one mask per bin of the source');
  requireSameShape('source', source, 'mixture', mixture, "the source is one of the mixture's parts");
  return tf.tidy(() => {
    const target = tf.cast(tf.greaterEqual(source, tf.mul(0.5, mixture)), 'float32');
    const weights = separationWeights(mixture);
    // softplus(z) − M·z = −[M log σ(z) + (1 − M) log(1 − σ(z))], the stable form.
    const perBin = tf.sub(tf.softplus(maskLogits), tf.mul(target, maskLogits));
    return tf.div(tf.sum(tf.mul(weights, perBin)), tf.sum(weights)) as Scalar;
  });
}

/**
 * Sound of Pixels' ratio-mask loss (sec. 3.2): the target is S_n / S_mix, clipped to [0, 5] (magnitudes do not
 * add exactly: phases can cancel), and the loss the weighted L1 distance to the predicted mask:
 *   L = Σ w · |m − S_n / S_mix| / Σ w.
 */
export function ratioMaskLoss(mask: Tensor3D, source: Tensor3D, mixture: Tensor3D): Scalar {
  requireSameShape('mask', mask, 'source', source, 'one mask per bin of the source');
  requireSameShape('source', source, 'mixture', mixture, "the source is one of the mixture's parts");
  return tf.tidy(() => {
    const target = tf.clipByValue(tf.div(source, tf.add(mixture, 1e-8)), 0, 5);
    const weights = separationWeights(mixture);
    return tf.div(tf.sum(tf.mul(weights, tf.abs(tf.sub(mask, target)))), tf.sum(weights)) as Scalar;
  });
}

/**
 * Spectrogram signal-to-noise ratio of each estimate, dB [B]: 10 · log10(Σ S² / Σ (Ŝ − S)²) over a clip's
 * bins. The separation figure of the README is its mean over sources, for the masked mixture Ŝ = m ⊙ S_mix
 * against the unseparated mixture Ŝ = S_mix.
 */
export function spectrogramSnr(estimate: Tensor3D, target: Tensor3D): tf.Tensor1D {
  requireSameShape('estimate', estimate, 'target', target, 'the estimate is of the target spectrogram');
  return tf.tidy(() => {
    const signal = tf.sum(tf.square(target), [1, 2]);
    const error = tf.sum(tf.square(tf.sub(estimate, target)), [1, 2]);
    return tf.mul(10 / Math.LN10, tf.log(tf.div(tf.add(signal, 1e-12), tf.add(error, 1e-12)))) as tf.Tensor1D;
  });
}
