import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random, SslError, initBackend } from '@ssl/core';
import {
  extractPatches,
  gridExtent,
  normalizeTiles,
  resizePatches,
  sampleGridBoxes,
  validateGridLayout,
  validatePatchInputSize,
} from '../index';
import type { GridLayout } from '../index';

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

const layout: GridLayout = { grid: 3, patchSize: 6, gap: 2, jitter: 1 };

describe('sampleGridBoxes', () => {
  it('places every patch at its grid position ± jitter, keeps neighbours at least `gap` apart, and stays in the image', () => {
    const rng = new Random(3);
    const stride = layout.patchSize + layout.gap + 2 * layout.jitter;
    const gapsSeen = new Set<number>();
    const jittersSeen = new Set<number>();
    for (let trial = 0; trial < 200; trial++) {
      const size = 28 + (trial % 5); // room for the grid to move too
      const boxes = sampleGridBoxes(rng, trial, size, size, layout);
      expect(boxes).toHaveLength(9);
      // The nominal origin is recovered from the box of position 0 up to its own jitter.
      for (let row = 0; row < 3; row++) {
        for (let column = 0; column < 3; column++) {
          const box = boxes[row * 3 + column];
          expect(box.image).toBe(trial);
          expect(box.top).toBeGreaterThanOrEqual(0);
          expect(box.left).toBeGreaterThanOrEqual(0);
          expect(box.top + layout.patchSize).toBeLessThanOrEqual(size);
          expect(box.left + layout.patchSize).toBeLessThanOrEqual(size);
          if (column > 0) {
            const gap = box.left - (boxes[row * 3 + column - 1].left + layout.patchSize);
            expect(gap).toBeGreaterThanOrEqual(layout.gap);
            expect(gap).toBeLessThanOrEqual(layout.gap + 4 * layout.jitter);
            gapsSeen.add(gap);
            // Same row: tops differ only by the two jitters.
            expect(Math.abs(box.top - boxes[row * 3 + column - 1].top)).toBeLessThanOrEqual(2 * layout.jitter);
          }
          if (row > 0) {
            const gap = box.top - (boxes[(row - 1) * 3 + column].top + layout.patchSize);
            expect(gap).toBeGreaterThanOrEqual(layout.gap);
            expect(gap).toBeLessThanOrEqual(layout.gap + 4 * layout.jitter);
          }
          // Offset from the nominal lattice through the centre patch: within 2·jitter (both patches jittered).
          const nominalTop = boxes[4].top + (row - 1) * stride;
          jittersSeen.add(box.top - nominalTop);
          expect(Math.abs(box.top - nominalTop)).toBeLessThanOrEqual(2 * layout.jitter);
        }
      }
    }
    // The jitter is real: every gap from the minimum to the maximum occurs.
    expect([...gapsSeen].sort((a, b) => a - b)).toEqual([2, 3, 4, 5, 6]);
    expect(jittersSeen.size).toBe(5);
  });

  it('with no jitter and no spare room, puts the patches exactly on the lattice', () => {
    const exact: GridLayout = { grid: 4, patchSize: 7, gap: 0, jitter: 0 };
    expect(gridExtent(exact)).toBe(28);
    const boxes = sampleGridBoxes(new Random(1), 0, 28, 28, exact);
    expect(boxes.map((b) => [b.top, b.left])).toEqual(Array.from({ length: 16 }, (_, i) => [7 * Math.floor(i / 4), 7 * (i % 4)]));
  });

  it('validates the layout against the image size, naming the field', () => {
    expect(gridExtent(layout)).toBe(28);
    expect(() => validateGridLayout(layout, [28, 28])).not.toThrow();
    expect(() => validateGridLayout({ ...layout, patchSize: 7 }, [28, 28])).toThrow(/patchSize.*need 31×31/);
    expect(() => validateGridLayout({ ...layout, gap: -1 })).toThrow(/gap/);
    expect(() => validateGridLayout({ ...layout, jitter: 0.5 })).toThrow(/jitter/);
  });
});

describe('extractPatches', () => {
  it('cuts exactly the pixels at the stated boxes (naive slice reference), across images and channels', () => {
    const rng = new Random(7);
    const [n, h, w, c] = [3, 10, 12, 2];
    const values = Float32Array.from({ length: n * h * w * c }, () => rng.next());
    const images = tf.tensor4d(values, [n, h, w, c]);
    const boxes = [
      { image: 0, top: 0, left: 0 },
      { image: 2, top: 6, left: 8 },
      { image: 1, top: 3, left: 5 },
    ];
    const patches = extractPatches(images, boxes, 4);
    expect(patches.shape).toEqual([3, 4, 4, 2]);
    const out = patches.arraySync();
    boxes.forEach((box, b) => {
      for (let y = 0; y < 4; y++)
        for (let x = 0; x < 4; x++)
          for (let k = 0; k < c; k++) {
            expect(out[b][y][x][k]).toBe(values[((box.image * h + box.top + y) * w + box.left + x) * c + k]);
          }
    });
    expect(() => extractPatches(images, [{ image: 0, top: 7, left: 0 }], 4)).toThrow(SslError);
    expect(() => extractPatches(images, [{ image: 3, top: 0, left: 0 }], 4)).toThrow(/outside/);
    tf.dispose([images, patches]);
  });
});

describe('normalizeTiles', () => {
  it('gives every tile and channel zero mean and unit variance, and maps a blank tile to zeros', () => {
    const rng = new Random(2);
    const tiles = tf.tidy(() =>
      tf.concat([
        tf.tensor4d(
          Float32Array.from({ length: 2 * 5 * 5 * 3 }, () => rng.uniform(0.2, 0.9)),
          [2, 5, 5, 3],
        ),
        tf.zeros([1, 5, 5, 3]),
      ]),
    ) as tf.Tensor4D;
    const normalized = normalizeTiles(tiles);
    const { mean, variance } = tf.moments(normalized, [1, 2]);
    const means = mean.arraySync() as number[][];
    const variances = variance.arraySync() as number[][];
    for (let t = 0; t < 2; t++) {
      for (let k = 0; k < 3; k++) {
        expect(Math.abs(means[t][k])).toBeLessThan(1e-5);
        expect(variances[t][k]).toBeGreaterThan(0.98); // the epsilon in the variance keeps it just under 1
        expect(variances[t][k]).toBeLessThanOrEqual(1);
      }
    }
    expect(Math.max(...(tf.abs(tf.slice(normalized, [2], [1])).dataSync() as Float32Array))).toBe(0);
    tf.dispose([tiles, normalized, mean, variance]);
  });
});

describe('resizePatches', () => {
  it('resizes every patch and channel bilinearly (plain-loop reference, corner-aligned sampling grid)', () => {
    const rng = new Random(5);
    const [count, side, channels, size] = [3, 4, 2, 7];
    const values = Float32Array.from({ length: count * side * side * channels }, () => rng.uniform(0, 1));
    const patches = tf.tensor4d(values, [count, side, side, channels]);
    const resized = resizePatches(patches, size);
    expect(resized.shape).toEqual([count, size, size, channels]);
    const got = resized.dataSync();
    const at = (p: number, y: number, x: number, c: number) => values[((p * side + y) * side + x) * channels + c];
    const scale = side / size;
    for (let p = 0; p < count; p++) {
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          for (let c = 0; c < channels; c++) {
            const [sy, sx] = [y * scale, x * scale];
            const [y0, x0] = [Math.floor(sy), Math.floor(sx)];
            const [y1, x1] = [Math.min(y0 + 1, side - 1), Math.min(x0 + 1, side - 1)];
            const [fy, fx] = [sy - y0, sx - x0];
            const top = at(p, y0, x0, c) * (1 - fx) + at(p, y0, x1, c) * fx;
            const bottom = at(p, y1, x0, c) * (1 - fx) + at(p, y1, x1, c) * fx;
            expect(got[((p * size + y) * size + x) * channels + c]).toBeCloseTo(top * (1 - fy) + bottom * fy, 5);
          }
        }
      }
    }
    // 0 or the patches' own side: the patches as cut (a copy the caller owns).
    for (const inputSize of [0, side]) {
      const same = resizePatches(patches, inputSize);
      expect(same).not.toBe(patches);
      expect(Array.from(same.dataSync())).toEqual(Array.from(values));
      same.dispose();
    }
    tf.dispose([patches, resized]);
  });

  it('validates the input size against the patch size, naming the field', () => {
    expect(() => validatePatchInputSize(0, 6)).not.toThrow();
    expect(() => validatePatchInputSize(28, 6)).not.toThrow();
    for (const bad of [5, -1, 12.5, '28']) {
      try {
        validatePatchInputSize(bad, 6);
        expect.unreachable(`accepted ${String(bad)}`);
      } catch (error) {
        expect(error).toBeInstanceOf(SslError);
        expect((error as SslError).details?.field).toBe('patchInputSize');
      }
    }
  });
});
