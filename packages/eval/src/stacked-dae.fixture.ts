import * as tf from '@tensorflow/tfjs-core';
import { createRegistry } from '@ssl/core';
import type { Encoder, EncoderDefinition, Plugin } from '@ssl/core';

// Test fixture only (never exported from index.ts): a plugin's encoder kind, @ssl/masked's 'stacked-dae'. By URL, as
// multi-task.fixture.ts does: eval cannot depend on @ssl/masked (it depends on eval), and eval's typecheck should not
// compile masked's sources.
const { default: masked } = (await import(new URL('../../masked/src/index.ts', import.meta.url).href)) as { default: () => Plugin };

/** A registry with @ssl/masked: its `parts().encoders` hold 'stacked-dae'. */
export const maskedRegistry = createRegistry().use(masked());
export const stackedDae = maskedRegistry.parts().encoders['stacked-dae'] as EncoderDefinition;

/** A stacked denoising autoencoder's encoder as a run saves it: a small CNN and one dense code layer. */
export const stackedDaeSpec = {
  kind: 'stacked-dae',
  base: { kind: 'cnn', inputShape: [8, 8, 1], channels: [4], seed: 3 },
  layers: [{ units: 6, seed: 11 }],
  seed: 3,
} as const;

/** The encoder of `stackedDaeSpec` with weights no seed gives (a trained one), drawn from `seed`. */
export function trainedStackedDae(seed: number): Encoder {
  const encoder = stackedDae.create(stackedDaeSpec);
  tf.tidy(() => {
    encoder.model.setWeights(
      encoder.model.weights.map((weight, i) => tf.randomNormal(weight.shape as number[], 0, 0.3, 'float32', seed + i)),
    );
  });
  return encoder;
}

export const weightsOf = (encoder: Encoder): number[][] => encoder.model.getWeights().map((w) => Array.from(w.dataSync()));
