import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { lineChartPng, roundTicks } from './line-chart';

describe('roundTicks', () => {
  it('spaces about ten ticks 1, 2 or 5 × 10^k apart', () => {
    expect(roundTicks(0, 300)).toEqual([0, 50, 100, 150, 200, 250, 300]);
    expect(roundTicks(1, 10)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(roundTicks(0.2, 0.9)).toEqual([0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]);
  });
});

describe('lineChartPng', () => {
  it('draws each series in its colour at its values, the highest at the top of the plot', () => {
    const x = Array.from({ length: 200 }, (_, i) => i);
    const flat = (value: number) => x.map(() => value);
    const png = PNG.sync.read(
      lineChartPng(
        [
          { name: 'high', x, mean: flat(0.5), spread: flat(0) },
          { name: 'low', x, mean: flat(0), spread: flat(0) },
        ],
        { title: 't', xLabel: 'step', yLabel: 'y', width: 1000, height: 560 },
      ),
    );
    const colour = (px: number, py: number) => Array.from(png.data.subarray((py * png.width + px) * 4, (py * png.width + px) * 4 + 3));
    // Plot area: x from 70 to 670, y from 64 (0.5) down to 504 (0).
    expect(colour(370, 64)).toEqual([127, 127, 127]);
    expect(colour(370, 504)).toEqual([31, 119, 180]);
    // Between two grid lines (0.25 and 0.3): background.
    expect(colour(370, 262)).toEqual([255, 255, 255]);
  });
});
