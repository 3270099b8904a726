import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { greyImage, heatImage, imageGridPng } from './image-grid';

describe('imageGridPng', () => {
  it('places each picture in its cell, scaled by nearest neighbour, on white', () => {
    const png = PNG.sync.read(
      imageGridPng([[greyImage([0, 1, 0.5, 0], 2, 2)], [heatImage([0, 2, 1, 0], 2, 2), greyImage([1], 1, 1)]], { scale: 2, gap: 1 }),
    );
    // Cells are 2·2 + 1 = 5 pixels apart; two columns, two rows.
    expect([png.width, png.height]).toEqual([11, 11]);
    const at = (x: number, y: number) => Array.from(png.data.subarray((y * png.width + x) * 4, (y * png.width + x) * 4 + 3));
    expect(at(1, 1)).toEqual([0, 0, 0]);
    expect(at(4, 2)).toEqual([255, 255, 255]);
    expect(at(2, 4)).toEqual([128, 128, 128]);
    expect(at(0, 0)).toEqual([255, 255, 255]);
    // The heat map is stretched from its minimum to its maximum (2 → white, 1 → red-orange, 0 → black).
    expect(at(3, 6)).toEqual([255, 255, 255]);
    expect(at(1, 8)).toEqual([255, 128, 0]);
    expect(at(1, 6)).toEqual([0, 0, 0]);
    // The 1×1 picture in the second row's second cell, the rest of that cell white.
    expect(at(6, 6)).toEqual([255, 255, 255]);
    expect(at(8, 8)).toEqual([255, 255, 255]);
  });

  it('draws a per-patch map at its patches’ size (pixelSize)', () => {
    const png = PNG.sync.read(imageGridPng([[heatImage([1, 0], 2, 1, 3)]], { scale: 1, gap: 0 }));
    expect([png.width, png.height]).toEqual([6, 3]);
    const red = (x: number, y: number) => png.data[(y * png.width + x) * 4];
    expect([0, 1, 2, 3, 4, 5].map((x) => red(x, 2))).toEqual([255, 255, 255, 0, 0, 0]);
  });
});
