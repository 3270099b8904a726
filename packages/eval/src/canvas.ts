import { PNG } from 'pngjs';

/** Tableau 10 palette (colour-blind-aware ordering used by matplotlib's default cycle). */
export const TABLEAU_10: readonly (readonly [number, number, number])[] = [
  [31, 119, 180],
  [255, 127, 14],
  [44, 160, 44],
  [214, 39, 40],
  [148, 103, 189],
  [140, 86, 75],
  [227, 119, 194],
  [127, 127, 127],
  [188, 189, 34],
  [23, 190, 207],
];

/** A white picture the charts draw into, and `blend`: mixes a colour into one pixel (rounded; outside ignored). */
export function whiteCanvas(
  width: number,
  height: number,
): { png: PNG; blend: (x: number, y: number, color: readonly number[], alpha: number) => void } {
  const png = new PNG({ width, height });
  png.data.fill(255);
  const blend = (x: number, y: number, color: readonly number[], alpha: number) => {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    const at = (y * width + x) * 4;
    for (let c = 0; c < 3; c++) png.data[at + c] = Math.round(png.data[at + c] * (1 - alpha) + color[c] * alpha);
  };
  return { png, blend };
}
