import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random, applyViews, initBackend } from '@ssl/core';
import { CUTOUT_FILL, weakStrong } from './weak-strong';

beforeAll(async () => {
  await initBackend({ backend: 'cpu', log: () => {} });
});

describe('weakStrong', () => {
  it("fills FixMatch's Cutout box with grey 0.5, not black", () => {
    expect(CUTOUT_FILL).toBe(0.5);
    // No RandAugment op and no translation: the strong view of a black image differs from it only by the box.
    const policy = weakStrong.create({ numOps: 0, translateFraction: 0, cutoutSize: 0.5 });
    const images = tf.zeros([3, 8, 8, 1]) as tf.Tensor4D;
    const [weak, strong] = applyViews(policy, images, new Random(1));
    const values = strong.dataSync();
    const grey = values.filter((v) => v === 0.5).length;
    expect(values.every((v) => v === 0 || v === 0.5)).toBe(true);
    // Each image has a box of about (0.5 · 8)² = 16 pixels, clipped at the border when its centre is near one.
    expect(grey).toBeGreaterThan(3 * 4);
    expect(grey).toBeLessThanOrEqual(3 * 16);
    expect(Array.from(weak.dataSync()).every((v) => v === 0)).toBe(true);
    tf.dispose([images, weak, strong]);
  });
});
