import * as tf from '@tensorflow/tfjs-core';
import { SslError, defineMethod, invalidConfig, tfl } from '@ssl/core';

/**
 * Denoising autoencoder (Vincent et al., 2008): corrupt the input with masking noise, reconstruct the clean
 * image from the encoder's representation. The oldest self-supervised objective in the lectures, and a
 * complete example of a method defined outside @ssl through the public contract only.
 */
export interface DenoisingAutoencoderConfig {
  /** Fraction of pixels set to zero in the corrupted input. */
  noiseRate: number;
  /** Hidden width of the decoder MLP. */
  decoderHidden: number;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'template:denoising-autoencoder': DenoisingAutoencoderConfig;
  }
}

export const denoisingAutoencoder = defineMethod<DenoisingAutoencoderConfig, 'unlabeled'>({
  name: 'denoising-autoencoder',
  description: 'Reconstruct clean images from masked-noise corrupted ones (Vincent et al. 2008).',
  paper: {
    title: 'Extracting and Composing Robust Features with Denoising Autoencoders',
    authors: 'Vincent, Larochelle, Bengio, Manzagol',
    year: 2008,
    url: 'https://doi.org/10.1145/1390156.1390294',
  },
  data: 'unlabeled',
  defaults: { noiseRate: 0.3, decoderHidden: 256 },
  validate(config) {
    if (!(config.noiseRate >= 0 && config.noiseRate < 1)) invalidConfig('noiseRate', config.noiseRate, 'a number in [0, 1)');
    if (!(Number.isInteger(config.decoderHidden) && config.decoderHidden > 0)) invalidConfig('decoderHidden', config.decoderHidden, 'a positive integer');
  },
  views: () => ({ unlabeled: 'none' }),
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
    return {
      encoder,
      trainable: { encoder: encoder.model, decoder },
      step(batch, { rng }) {
        const clean = batch.images;
        if (clean.shape[1] * clean.shape[2] * clean.shape[3] !== pixels) {
          throw new SslError('shape-mismatch', `denoising-autoencoder built for ${pixels} pixels, got images of shape [${clean.shape.join(', ')}].`);
        }
        const keep = tf.cast(tf.greaterEqual(tf.randomUniform(clean.shape, 0, 1, 'float32', rng.seed()), config.noiseRate), 'float32');
        const corrupted = tf.mul(clean, keep) as tf.Tensor4D;
        const reconstruction = decoder.apply(encoder.features(corrupted, { training: true })) as tf.Tensor2D;
        const loss = tf.losses.meanSquaredError(tf.reshape(clean, [clean.shape[0], pixels]), reconstruction) as tf.Scalar;
        return { loss };
      },
    };
  },
});
