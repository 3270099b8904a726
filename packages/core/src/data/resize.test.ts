import { describe, expect, it } from 'vitest';
import { RESIZE_FILTERS, resizeImage, resizeKernel, resizeRgbaToBytes, type ResizeFilter } from './resize';

/** The previous image-folder sampler: bilinear at half-pixel centres, 4 source pixels per output, no antialiasing. */
function pointBilinear(image: Float32Array, height: number, width: number, outH: number, outW: number): Float32Array {
  const out = new Float32Array(outH * outW);
  for (let y = 0; y < outH; y++) {
    const sy = Math.min(height - 1, Math.max(0, ((y + 0.5) * height) / outH - 0.5));
    const y0 = Math.floor(sy);
    const y1 = Math.min(height - 1, y0 + 1);
    for (let x = 0; x < outW; x++) {
      const sx = Math.min(width - 1, Math.max(0, ((x + 0.5) * width) / outW - 0.5));
      const x0 = Math.floor(sx);
      const x1 = Math.min(width - 1, x0 + 1);
      const top = image[y0 * width + x0] + (image[y0 * width + x1] - image[y0 * width + x0]) * (sx - x0);
      const bottom = image[y1 * width + x0] + (image[y1 * width + x1] - image[y1 * width + x0]) * (sx - x0);
      out[y * outW + x] = top + (bottom - top) * (sy - y0);
    }
  }
  return out;
}

function pattern(size: number, value: (x: number, y: number) => number): Float32Array {
  const image = new Float32Array(size * size);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) image[y * size + x] = value(x, y);
  return image;
}

/** Root-mean-square deviation from the mean: for a pattern above the output's Nyquist frequency, all of it is aliasing. */
function rmsAboutMean(values: Float32Array): number {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length);
}

// A 1-px checkerboard (the input's Nyquist frequency) and a horizontal chirp sweeping 0.15 → 0.5 cycles/px,
// both far above the 32-px output's Nyquist frequency (16/224 = 0.071 cycles per source pixel).
const checkerboard = pattern(224, (x, y) => ((x + y) % 2) * 255);
const chirp = pattern(224, (x) => 127.5 + 127.5 * Math.cos(2 * Math.PI * (0.15 * x + ((0.5 - 0.15) / (2 * 224)) * x * x)));
/**
 * Stated bounds on the aliasing RMS, as a share of the patterns' 127.5 amplitude: Lanczos-3 1%, the widened
 * triangle 3%, the box 12% (its sinc-shaped response has -13 dB side lobes, which the chirp crosses). Measured:
 * checkerboard 0.0 / 0.0 / 2.0%, chirp 0.4 / 1.8 / 9.9%; the old sampler: 100% and 78%.
 */
const ALIASING_BOUND: Record<ResizeFilter, number> = { lanczos3: 0.01 * 127.5, bilinear: 0.03 * 127.5, area: 0.12 * 127.5 };

describe('antialiased resize', () => {
  it.each(RESIZE_FILTERS)('%s: 224 → 32 keeps the aliasing of high-frequency patterns below its stated bound', (filter) => {
    for (const image of [checkerboard, chirp]) {
      expect(rmsAboutMean(resizeImage(image, 224, 224, 1, 32, 32, filter))).toBeLessThan(ALIASING_BOUND[filter]);
    }
  });

  it('the old point-sampled bilinear fails the same bound (the check can fail)', () => {
    expect(rmsAboutMean(pointBilinear(checkerboard, 224, 224, 32, 32))).toBeGreaterThan(4 * ALIASING_BOUND.area);
    expect(rmsAboutMean(pointBilinear(chirp, 224, 224, 32, 32))).toBeGreaterThan(3 * ALIASING_BOUND.area);
  });

  it.each(RESIZE_FILTERS)('%s: keeps a pattern below the output Nyquist frequency (it does not just blur)', (filter) => {
    // 0.02 cycles per source pixel = 0.14 cycles per output pixel.
    const low = pattern(224, (x) => 127.5 + 100 * Math.sin(2 * Math.PI * 0.02 * x));
    const out = resizeImage(low, 224, 224, 1, 32, 32, filter);
    // amplitude of the fitted sinusoid at the output positions
    let sin = 0;
    let cos = 0;
    for (let x = 0; x < 32; x++) {
      const phase = 2 * Math.PI * 0.02 * ((x + 0.5) * 7 - 0.5);
      sin += (out[5 * 32 + x] - 127.5) * Math.sin(phase);
      cos += (out[5 * 32 + x] - 127.5) * Math.cos(phase);
    }
    const amplitude = (2 / 32) * Math.hypot(sin, cos);
    expect(amplitude).toBeGreaterThan(85);
    expect(amplitude).toBeLessThan(101);
  });

  /** Plain 2-D references: every source pixel against every output pixel, no separability, no precomputed weights. */
  function reference2d(image: Float32Array, h: number, w: number, outH: number, outW: number, filter: ResizeFilter): Float32Array {
    const out = new Float32Array(outH * outW);
    const scaleY = h / outH;
    const scaleX = w / outW;
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        let sum = 0;
        let total = 0;
        for (let sy = 0; sy < h; sy++) {
          for (let sx = 0; sx < w; sx++) {
            let weight: number;
            if (filter === 'area') {
              // overlap of source pixel [sx, sx+1)×[sy, sy+1) with the output's footprint
              const ox0 = Math.max(sx, ox * scaleX);
              const ox1 = Math.min(sx + 1, (ox + 1) * scaleX);
              const oy0 = Math.max(sy, oy * scaleY);
              const oy1 = Math.min(sy + 1, (oy + 1) * scaleY);
              weight = Math.max(0, ox1 - ox0) * Math.max(0, oy1 - oy0);
            } else {
              const stretchY = Math.max(1, scaleY);
              const stretchX = Math.max(1, scaleX);
              const kernel = (d: number) => {
                const a = Math.abs(d);
                if (filter === 'bilinear') return Math.max(0, 1 - a);
                if (a === 0) return 1;
                if (a >= 3) return 0;
                return (Math.sin(Math.PI * d) / (Math.PI * d)) * (Math.sin((Math.PI * d) / 3) / ((Math.PI * d) / 3));
              };
              weight = kernel((sy + 0.5 - (oy + 0.5) * scaleY) / stretchY) * kernel((sx + 0.5 - (ox + 0.5) * scaleX) / stretchX);
            }
            sum += weight * image[sy * w + sx];
            total += weight;
          }
        }
        out[oy * outW + ox] = sum / total;
      }
    }
    return out;
  }

  it.each(RESIZE_FILTERS)('%s: equals a plain 2-D reference filter (down by non-integer factors, and up)', (filter) => {
    let state = 12345;
    const random = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32) * 255;
    for (const [h, w, outH, outW] of [
      [37, 23, 11, 7],
      [5, 4, 9, 7],
      [16, 16, 5, 16],
    ]) {
      const image = Float32Array.from({ length: h * w }, random);
      const ours = resizeImage(image, h, w, 1, outH, outW, filter);
      const reference = reference2d(image, h, w, outH, outW, filter);
      const maxDiff = ours.reduce((m, v, i) => Math.max(m, Math.abs(v - reference[i])), 0);
      expect(maxDiff).toBeLessThan(1e-3);
    }
  });

  it('lanczos3 kernel: 1 at 0, zero at the other integers and beyond 3', () => {
    expect(resizeKernel('lanczos3', 0)).toBe(1);
    for (const x of [1, 2, -1, -2]) expect(Math.abs(resizeKernel('lanczos3', x))).toBeLessThan(1e-12);
    expect(resizeKernel('lanczos3', 3.2)).toBe(0);
  });

  it('resizeRgbaToBytes: luma for grayscale, alpha dropped, clamped bytes, copy when the size matches', () => {
    const rgba = new Uint8Array([200, 0, 0, 0, 0, 0, 255, 255, 10, 20, 30, 128, 255, 255, 255, 255]);
    const gray = resizeRgbaToBytes(rgba, 2, 2, 1, 2, 2, 'lanczos3', new Uint8Array(4));
    expect(Array.from(gray)).toEqual([60, 29, 18, 255]);
    const mean = resizeRgbaToBytes(rgba, 2, 2, 3, 1, 1, 'area', new Uint8Array(3));
    expect(Array.from(mean)).toEqual([Math.round((200 + 10 + 255) / 4), Math.round((20 + 255) / 4), Math.round((255 + 30 + 255) / 4)]);
  });
});
