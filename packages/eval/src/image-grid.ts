import { PNG } from 'pngjs';

/** One picture of a grid: `rgb` holds height × width × 3 values in [0, 1], row-major. */
export interface GridImage {
  readonly width: number;
  readonly height: number;
  readonly rgb: ArrayLike<number>;
  /** Grid pixels each value covers before `scale` (a per-patch map of 4×4 patches: 4); default 1. */
  readonly pixelSize?: number;
}

export interface ImageGridOptions {
  /** Pixels per image pixel (nearest neighbour); default 3. */
  scale?: number;
  /** White pixels between cells; default 4. */
  gap?: number;
}

/**
 * Rows of pictures (reconstructions, attention maps) as one PNG on white, each cell scaled up by nearest
 * neighbour so small images stay readable; rows may differ in length, cells take the largest picture's size.
 */
export function imageGridPng(rows: readonly (readonly GridImage[])[], options: ImageGridOptions = {}): Buffer {
  const scale = options.scale ?? 3;
  const gap = options.gap ?? 4;
  const cells = rows.flat();
  const cellWidth = Math.max(...cells.map((image) => image.width * (image.pixelSize ?? 1))) * scale + gap;
  const cellHeight = Math.max(...cells.map((image) => image.height * (image.pixelSize ?? 1))) * scale + gap;
  const png = new PNG({ width: Math.max(...rows.map((row) => row.length)) * cellWidth + gap, height: rows.length * cellHeight + gap });
  png.data.fill(255);
  rows.forEach((row, r) =>
    row.forEach((image, c) => {
      const size = scale * (image.pixelSize ?? 1);
      for (let y = 0; y < image.height * size; y++) {
        for (let x = 0; x < image.width * size; x++) {
          const source = (Math.floor(y / size) * image.width + Math.floor(x / size)) * 3;
          const target = ((gap + r * cellHeight + y) * png.width + gap + c * cellWidth + x) * 4;
          for (let channel = 0; channel < 3; channel++) {
            png.data[target + channel] = Math.round(255 * Math.min(1, Math.max(0, image.rgb[source + channel])));
          }
        }
      }
    }),
  );
  return PNG.sync.write(png);
}

/** A grey picture (values in [0, 1]) as a grid cell. */
export function greyImage(values: ArrayLike<number>, width: number, height: number): GridImage {
  const rgb = new Float32Array(width * height * 3);
  for (let p = 0; p < width * height; p++) rgb.fill(values[p], 3 * p, 3 * p + 3);
  return { width, height, rgb };
}

/**
 * A map (attention, saliency) as a grid cell in a black → red → yellow → white heat scale, stretched from its
 * own minimum to its maximum so even a nearly uniform map shows where it is highest.
 */
export function heatImage(values: ArrayLike<number>, width: number, height: number, pixelSize = 1): GridImage {
  let low = Infinity;
  let top = -Infinity;
  for (let p = 0; p < width * height; p++) {
    low = Math.min(low, values[p]);
    top = Math.max(top, values[p]);
  }
  const rgb = new Float32Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const v = top > low ? (values[p] - low) / (top - low) : 0;
    rgb[3 * p] = Math.min(1, 3 * v);
    rgb[3 * p + 1] = Math.min(1, Math.max(0, 3 * v - 1));
    rgb[3 * p + 2] = Math.max(0, 3 * v - 2);
  }
  return { width, height, rgb, pixelSize };
}
