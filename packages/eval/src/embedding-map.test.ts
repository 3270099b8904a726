import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { embeddingMap } from './embedding-map';
import { gaussianBlobs } from './test-data';

describe('embeddingMap', () => {
  it('projects separable classes into separate regions and draws a PNG and an SVG with a legend', async () => {
    const blobs = gaussianBlobs({ count: 240, dim: 20, numClasses: 3, separation: 3, seed: 1 });
    const map = await embeddingMap(blobs, { sample: 150, seed: 2, classNames: ['alpha', 'beta', 'gamma'], title: 'blobs' });
    expect(map.points.length).toBe(300);
    expect(map.indices.length).toBe(150);
    map.indices.forEach((row, i) => expect(map.labels[i]).toBe(blobs.labels[row]));
    // Separation: a point's nearest projected neighbour shares its label far more often than chance (1/3).
    let agree = 0;
    for (let i = 0; i < 150; i++) {
      let best = -1;
      let bestDistance = Infinity;
      for (let j = 0; j < 150; j++) {
        if (j === i) continue;
        const d = (map.points[2 * i] - map.points[2 * j]) ** 2 + (map.points[2 * i + 1] - map.points[2 * j + 1]) ** 2;
        if (d < bestDistance) {
          bestDistance = d;
          best = j;
        }
      }
      if (map.labels[best] === map.labels[i]) agree++;
    }
    expect(agree / 150).toBeGreaterThan(0.9);

    const png = PNG.sync.read(map.png as Buffer);
    expect([png.width, png.height]).toEqual([900, 640]);
    // Some pixels carry the first palette colour (class 0 points and its legend swatch).
    let blue = 0;
    for (let i = 0; i < png.data.length; i += 4) if (png.data[i] === 31 && png.data[i + 1] === 119 && png.data[i + 2] === 180) blue++;
    expect(blue).toBeGreaterThan(14 * 14 - 1);
    expect(map.svg.match(/<circle /g)?.length).toBe(150);
    expect(map.svg).toContain('>gamma</text>');
  });

  it('is reproducible for a seed', async () => {
    const blobs = gaussianBlobs({ count: 60, dim: 5, numClasses: 2, separation: 2, seed: 3 });
    const a = await embeddingMap(blobs, { seed: 4, png: false });
    const b = await embeddingMap(blobs, { seed: 4, png: false });
    expect(Array.from(a.points)).toEqual(Array.from(b.points));
    expect(a.png).toBeUndefined();
  });
});
