/**
 * Antialiased image resizing in plain JavaScript: the fallback when sharp (libvips) cannot load, and the
 * reference the decode workers run. A downscale by s widens the filter by s (PIL's ImagingResample,
 * torchvision's antialias=True), so every source pixel contributes: 224 → 32 averages all ~49 source pixels
 * under an output pixel instead of sampling 4 of them, which is what made the old bilinear sampler alias.
 *
 * The functions below reference nothing outside themselves and each other (no imports, no closures), because
 * decode-pool.ts ships their source text to its worker threads (`Function.prototype.toString`).
 */

/**
 * - `area`: exact area averaging (cv2 INTER_AREA, adaptive average pooling): output pixel = mean of the source
 *   rectangle it covers, partial pixels weighted by their covered share.
 * - `lanczos3`: windowed sinc, sinc(x)·sinc(x/3) for |x| < 3 (PIL's LANCZOS, sharp's default kernel).
 * - `bilinear`: the triangle filter widened by the scale (torchvision's Resize default, PIL's BILINEAR).
 */
export type ResizeFilter = 'area' | 'lanczos3' | 'bilinear';

export const RESIZE_FILTERS: readonly ResizeFilter[] = ['area', 'lanczos3', 'bilinear'];

/** The filter's kernel at distance x (in output-pixel units scaled to the source). */
export function resizeKernel(filter: ResizeFilter, x: number): number {
  const ax = Math.abs(x);
  if (filter === 'bilinear') return ax < 1 ? 1 - ax : 0;
  if (ax >= 3) return 0;
  if (ax < 1e-12) return 1;
  // Lanczos-3: sinc(x)·sinc(x/3) = 3·sin(πx)·sin(πx/3) / (πx)².
  const px = Math.PI * x;
  return (3 * Math.sin(px) * Math.sin(px / 3)) / (px * px);
}

/**
 * One dimension's resampling weights: output index o reads source indices start[o] .. start[o]+count[o]-1
 * with weights[o*stride + k] (normalised to sum 1), stride being the largest count.
 */
export interface ResizeWeights {
  readonly start: Int32Array;
  readonly count: Int32Array;
  readonly weights: Float64Array;
  readonly stride: number;
}

/** The weights that resize a line of `sourceLength` pixels to `outLength` (half-pixel centres). */
export function resizeWeights(sourceLength: number, outLength: number, filter: ResizeFilter): ResizeWeights {
  const scale = sourceLength / outLength;
  const start = new Int32Array(outLength);
  const count = new Int32Array(outLength);
  if (filter === 'area') {
    // Each output pixel covers [o·scale, (o+1)·scale) of the source; at most ceil(scale)+1 pixels touch it.
    const stride = Math.ceil(scale) + 1;
    const weights = new Float64Array(outLength * stride);
    for (let o = 0; o < outLength; o++) {
      const from = o * scale;
      const to = Math.min(sourceLength, (o + 1) * scale);
      const first = Math.floor(from);
      let n = 0;
      let total = 0;
      for (let s = first; s < Math.ceil(to - 1e-9); s++) {
        const covered = Math.min(to, s + 1) - Math.max(from, s);
        weights[o * stride + n] = covered;
        total += covered;
        n++;
      }
      for (let k = 0; k < n; k++) weights[o * stride + k] /= total;
      start[o] = first;
      count[o] = n;
    }
    return { start, count, weights, stride };
  }
  // Downscaling stretches the kernel by `scale` (the antialiasing); upscaling keeps it as is.
  const stretch = Math.max(scale, 1);
  const support = (filter === 'bilinear' ? 1 : 3) * stretch;
  const stride = Math.ceil(support) * 2 + 1;
  const weights = new Float64Array(outLength * stride);
  for (let o = 0; o < outLength; o++) {
    const centre = (o + 0.5) * scale;
    const first = Math.max(0, Math.floor(centre - support));
    const last = Math.min(sourceLength, Math.ceil(centre + support));
    let n = 0;
    let total = 0;
    for (let s = first; s < last; s++) {
      const w = resizeKernel(filter, (s + 0.5 - centre) / stretch);
      weights[o * stride + n] = w;
      total += w;
      n++;
    }
    for (let k = 0; k < n; k++) weights[o * stride + k] /= total;
    start[o] = first;
    count[o] = n;
  }
  return { start, count, weights, stride };
}

/**
 * Resizes an H×W×C float image to outH×outW with `filter`, separably (rows of the source first, then columns),
 * as PIL does. Values are not clamped: Lanczos can overshoot; resizeRgbaToBytes rounds and clamps.
 */
export function resizeImage(
  image: Float32Array,
  height: number,
  width: number,
  channels: number,
  outH: number,
  outW: number,
  filter: ResizeFilter,
): Float32Array {
  // Horizontal pass: height × outW.
  const columns = resizeWeights(width, outW, filter);
  const horizontal = new Float32Array(height * outW * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < outW; x++) {
      const first = columns.start[x];
      const n = columns.count[x];
      const base = x * columns.stride;
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        for (let k = 0; k < n; k++) sum += columns.weights[base + k] * image[(y * width + first + k) * channels + c];
        horizontal[(y * outW + x) * channels + c] = sum;
      }
    }
  }
  // Vertical pass: outH × outW.
  const rows = resizeWeights(height, outH, filter);
  const out = new Float32Array(outH * outW * channels);
  const rowLength = outW * channels;
  for (let y = 0; y < outH; y++) {
    const first = rows.start[y];
    const n = rows.count[y];
    const base = y * rows.stride;
    for (let k = 0; k < n; k++) {
      const w = rows.weights[base + k];
      const source = (first + k) * rowLength;
      for (let i = 0; i < rowLength; i++) out[y * rowLength + i] += w * horizontal[source + i];
    }
  }
  return out;
}

/**
 * RGBA bytes (as the decoders give them) → `channels` bytes of outH×outW: grayscale is ITU-R 601 luma (PIL's
 * "L"), alpha is dropped; resized with `filter` unless the size already matches; rounded and clamped to 0..255.
 */
export function resizeRgbaToBytes(
  rgba: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outH: number,
  outW: number,
  filter: ResizeFilter,
  out: Uint8Array,
): Uint8Array {
  const plane = new Float32Array(width * height * channels);
  for (let p = 0; p < width * height; p++) {
    const r = rgba[4 * p];
    const g = rgba[4 * p + 1];
    const b = rgba[4 * p + 2];
    if (channels === 1) plane[p] = 0.299 * r + 0.587 * g + 0.114 * b;
    else {
      plane[3 * p] = r;
      plane[3 * p + 1] = g;
      plane[3 * p + 2] = b;
    }
  }
  const resized = width === outW && height === outH ? plane : resizeImage(plane, height, width, channels, outH, outW, filter);
  for (let i = 0; i < resized.length; i++) {
    const v = Math.round(resized[i]);
    out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return out;
}
