import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { clipLoss } from './clip-loss';
import {
  Random,
  expectClose,
  expectNoLeak,
  expectSslError,
  lossBeforeAndAfter,
  numericGradient,
  randomValues,
  useCpuBackend,
} from '@ssl/test-utils';

/** CLIP's symmetric cross-entropy with loops, float64; inputs [image..., text..., scale]. */
function referenceClip(images: ArrayLike<number>, texts: ArrayLike<number>, scale: number, n: number, d: number): number {
  const normalize = (values: ArrayLike<number>, row: number) => {
    let squared = 0;
    for (let c = 0; c < d; c++) squared += values[row * d + c] ** 2;
    const norm = Math.sqrt(Math.max(squared, 1e-12));
    return Array.from({ length: d }, (_, c) => values[row * d + c] / norm);
  };
  const imageRows = Array.from({ length: n }, (_, i) => normalize(images, i));
  const textRows = Array.from({ length: n }, (_, i) => normalize(texts, i));
  const logit = (i: number, j: number) => scale * imageRows[i].reduce((a, v, c) => a + v * textRows[j][c], 0);
  let imageToText = 0;
  let textToImage = 0;
  for (let i = 0; i < n; i++) {
    let rowSum = 0;
    let columnSum = 0;
    for (let j = 0; j < n; j++) {
      rowSum += Math.exp(logit(i, j));
      columnSum += Math.exp(logit(j, i));
    }
    imageToText += Math.log(rowSum) - logit(i, i);
    textToImage += Math.log(columnSum) - logit(i, i);
  }
  return (imageToText / n + textToImage / n) / 2;
}

describe('clipLoss', () => {
  beforeAll(useCpuBackend);
  const [n, d] = [4, 3];
  const rng = new Random(67);
  const imageValues = randomValues(rng, n * d);
  const textValues = randomValues(rng, n * d);
  const run = (images: ArrayLike<number>, texts: ArrayLike<number>, scale: number, asTensor = false) =>
    tf.tidy(
      () =>
        clipLoss(
          tf.tensor2d(Float32Array.from(images), [n, d]),
          tf.tensor2d(Float32Array.from(texts), [n, d]),
          asTensor ? tf.scalar(scale) : scale,
        ).dataSync()[0],
    );

  it('equals the plain-loop reference, with the scale as a number or a Scalar', () => {
    for (const scale of [1, 1 / 0.07, 100]) {
      expectClose(run(imageValues, textValues, scale), referenceClip(imageValues, textValues, scale, n, d), { relative: 1e-5 });
      expectClose(run(imageValues, textValues, scale, true), run(imageValues, textValues, scale), { relative: 1e-6 });
    }
  });

  it('is symmetric under swapping images and texts, and invariant to rescaling the embeddings', () => {
    expectClose(run(textValues, imageValues, 10), run(imageValues, textValues, 10), { relative: 1e-6 });
    expectClose(
      run(
        imageValues.map((v) => v * 5),
        textValues.map((v) => v * 0.02),
        10,
      ),
      run(imageValues, textValues, 10),
      { relative: 1e-5 },
    );
  });

  it('is log N when every logit is equal', () => {
    // Identical embeddings in every row: all logits equal, both cross-entropies are log N.
    const same = new Float32Array(n * d).fill(1);
    expectClose(run(same, same, 10), Math.log(n), { relative: 1e-6 });
  });

  it('has the reference gradient for both embeddings and for a Scalar logit scale', () => {
    const scale = 5;
    const gradients = tf.tidy(() =>
      tf
        .grads((images: tf.Tensor, texts: tf.Tensor, logitScale: tf.Tensor) =>
          clipLoss(images as tf.Tensor2D, texts as tf.Tensor2D, logitScale as tf.Scalar),
        )([tf.tensor2d(imageValues, [n, d]), tf.tensor2d(textValues, [n, d]), tf.scalar(scale)])
        .map((g) => g.dataSync()),
    );
    const expected = numericGradient(
      ([images, texts, logitScale]) => referenceClip(images, texts, logitScale[0], n, d),
      [imageValues, textValues, [scale]],
    );
    for (let input = 0; input < 3; input++) expectClose(gradients[input], expected[input], { absolute: 2e-5, relative: 1e-3 });
  });

  it('is lowered by a few Adam steps on the embeddings and a learned log scale', () => {
    const images = tf.variable(tf.tensor2d(imageValues, [n, d]));
    const texts = tf.variable(tf.tensor2d(textValues, [n, d]));
    const logScale = tf.variable(tf.scalar(Math.log(1 / 0.07)));
    const { before, after } = lossBeforeAndAfter(
      () => clipLoss(images, texts, tf.exp(logScale) as tf.Scalar),
      [images, texts, logScale],
      tf.train.adam(0.05),
      10,
    );
    expect(after).toBeLessThan(before * 0.5);
    tf.dispose([images, texts, logScale]);
  });

  it('leaves no tensors behind', () => {
    const images = tf.tensor2d(imageValues, [n, d]);
    const texts = tf.tensor2d(textValues, [n, d]);
    const scale = tf.scalar(10);
    expectNoLeak(() => clipLoss(images, texts, 10));
    expectNoLeak(() => clipLoss(images, texts, scale));
    expectNoLeak(() => tf.grads((x: tf.Tensor) => clipLoss(x as tf.Tensor2D, texts, scale))([images]));
    tf.dispose([images, texts, scale]);
  });

  it('rejects mismatched embeddings and bad scales with SslError', () => {
    const images = tf.zeros([n, d]) as tf.Tensor2D;
    const texts = tf.zeros([n, d + 1]) as tf.Tensor2D;
    const vectorScale = tf.ones([2]);
    expect(expectSslError(() => clipLoss(images, texts, 10), 'shape-mismatch')).toContain(`[${n}, ${d + 1}]`);
    for (const scale of [0, -1, Number.NaN]) expectSslError(() => clipLoss(images, images, scale), 'invalid-config');
    expect(expectSslError(() => clipLoss(images, images, vectorScale as unknown as tf.Scalar), 'invalid-config')).toContain('[2]');
    tf.dispose([images, texts, vectorScale]);
  });
});
