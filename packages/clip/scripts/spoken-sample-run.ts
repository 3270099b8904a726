import { createRegistry, loadFashionMnist, loadSpokenClasses, subset, train, type TrainResult } from '@ssl/core';
import clipPlugin from '../src/index';

/**
 * What the image–audio scripts train on: the first `images` Fashion-MNIST sample train images paired with the
 * bundled speech's train voices, a CNN 8-16-32 image tower, batch 64. Returns the run and its training seconds.
 */
export async function trainOnSpokenSample(options: {
  method: 'clip:audio-visual' | 'clip:mix-and-separate';
  config: object;
  images: number;
  epochs: number;
  seed: number;
  lr: number;
}): Promise<{ result: TrainResult; seconds: number }> {
  const images = await loadFashionMnist({ split: 'train', source: 'sample' });
  const started = performance.now();
  const result = await train({
    method: createRegistry().use(clipPlugin()).create(options.method, options.config),
    data: {
      images: subset(
        images,
        Array.from({ length: options.images }, (_, i) => i),
      ),
      audio: loadSpokenClasses({ split: 'train' }),
    },
    encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16, 32] },
    batchSize: 64,
    epochs: options.epochs,
    seed: options.seed,
    optimizer: { lr: options.lr },
  });
  return { result, seconds: (performance.now() - started) / 1000 };
}
