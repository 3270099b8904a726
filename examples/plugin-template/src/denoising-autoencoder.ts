import * as tf from '@tensorflow/tfjs-core';
import { SslError, defineMethod, invalidConfig, tfl } from '@ssl/core';
import { maskingNoise } from './masking-noise';

/**
 * Denoising autoencoder (Vincent et al., 2008): corrupt the input with masking noise, reconstruct the clean
 * image from the encoder's representation. The oldest self-supervised objective in the lectures, and a
 * complete example of a method defined outside @ssl through the public contract only: the corruption is
 * this plugin's own view policy (`maskingNoise`), and afterStep keeps a running mean of the per-pixel
 * reconstruction error from what the step computed (no second forward pass).
 */
export interface DenoisingAutoencoderConfig {
  /** Fraction of pixels set to zero in the corrupted input. */
  noiseRate: number;
  /** Hidden width of the decoder MLP. */
  decoderHidden: number;
  /** Momentum of the running per-pixel error map kept as state. */
  errorMapMomentum: number;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'template:denoising-autoencoder': DenoisingAutoencoderConfig;
  }
}

export const denoisingAutoencoder = defineMethod<DenoisingAutoencoderConfig, 'unlabeled', { pixelErrors: tf.Tensor1D }>({
  name: 'denoising-autoencoder',
  description: 'Reconstruct clean images from masked-noise corrupted ones (Vincent et al. 2008).',
  paper: {
    title: 'Extracting and Composing Robust Features with Denoising Autoencoders',
    authors: 'Vincent, Larochelle, Bengio, Manzagol',
    year: 2008,
    url: 'https://doi.org/10.1145/1390156.1390294',
  },
  data: 'unlabeled',
  defaults: { noiseRate: 0.3, decoderHidden: 256, errorMapMomentum: 0.99 },
  validate(config) {
    if (!(config.noiseRate >= 0 && config.noiseRate < 1)) invalidConfig('noiseRate', config.noiseRate, 'a number in [0, 1)');
    if (!(Number.isInteger(config.decoderHidden) && config.decoderHidden > 0))
      invalidConfig('decoderHidden', config.decoderHidden, 'a positive integer');
    if (!(config.errorMapMomentum >= 0 && config.errorMapMomentum < 1))
      invalidConfig('errorMapMomentum', config.errorMapMomentum, 'a number in [0, 1)');
  },
  // The plugin's own policy, by name: the registry that has this plugin resolves it.
  views: (config) => ({ unlabeled: { name: maskingNoise.name, overrides: { rate: config.noiseRate } } }),
  training: { optimizer: { kind: 'adam', lr: 1e-3 }, schedule: { kind: 'constant' }, batchSize: 64, epochs: 5 },
  build({ config, inputShape, createEncoder }) {
    const encoder = createEncoder();
    const [height, width, channels] = inputShape;
    const pixels = height * width * channels;
    const decoder = tfl.sequential({
      layers: [
        tfl.layers.dense({ inputShape: [encoder.featureDim], units: config.decoderHidden, activation: 'relu' }),
        tfl.layers.dense({ units: pixels, activation: 'sigmoid' }),
      ],
    });
    const errorMap = tf.variable(tf.zeros([pixels]), false);
    return {
      encoder,
      trainable: { encoder: encoder.model, decoder },
      state: { errorMap },
      step(batch) {
        const clean = batch.images;
        const [corrupted] = batch.views;
        if (clean.shape[1] * clean.shape[2] * clean.shape[3] !== pixels) {
          throw new SslError(
            'shape-mismatch',
            `denoising-autoencoder built for ${pixels} pixels, got images of shape [${clean.shape.join(', ')}].`,
          );
        }
        const reconstruction = decoder.apply(encoder.features(corrupted, { training: true })) as tf.Tensor2D;
        const squaredErrors = tf.square(tf.sub(tf.reshape(clean, [clean.shape[0], pixels]), reconstruction));
        return { loss: tf.mean(squaredErrors) as tf.Scalar, carry: { pixelErrors: tf.mean(squaredErrors, 0) as tf.Tensor1D } };
      },
      afterStep(_batch, _context, carry) {
        // Which pixels the model still gets wrong, smoothed over steps: from this step's own errors.
        errorMap.assign(tf.add(tf.mul(errorMap, config.errorMapMomentum), tf.mul(carry!.pixelErrors, 1 - config.errorMapMomentum)));
      },
    };
  },
});
