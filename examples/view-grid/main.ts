/**
 * Draws what each view policy does to Fashion-MNIST: the first row holds 8 sample images, then one
 * row per view of every policy that core, @ssl/contrastive, @ssl/noncontrastive and @ssl/semisup register
 * (the README lists them), with a gap between policies. Smaller views (multi-crop's local crops) are centred
 * in their cell. Everything is upscaled.
 *
 *   pnpm --filter @ssl-examples/view-grid start      → examples/view-grid/view-grid.png
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pngjs from 'pngjs';
import { BatchLoader, Random, applyViews, createRegistry, loadFashionMnist } from '@ssl/core';
import type { ViewPolicy } from '@ssl/core';
import contrastive from '@ssl/contrastive';
import noncontrastive from '@ssl/noncontrastive';
import { semisup } from '@ssl/semisup';

/** Every view policy of core and the first-party plugins, with its default options (the deprecated 'mae' name left out). */
export function allViewPolicies(): ViewPolicy[] {
  const registry = createRegistry().use(contrastive()).use(noncontrastive()).use(semisup());
  return Object.keys(registry.parts().viewPolicies)
    .filter((name) => name !== 'mae')
    .map((name) => registry.viewPolicy(name));
}

export interface ViewGridOptions {
  images?: number;
  upscale?: number;
  seed?: number;
}

export interface ViewGridResult {
  width: number;
  height: number;
  /** One line per row: "original" or "<policy>/<view>". */
  rows: string[];
}

const CELL_PADDING = 2;
const POLICY_GAP = 6;

export async function writeViewGrid(outPath: string, options: ViewGridOptions = {}): Promise<ViewGridResult> {
  const count = options.images ?? 8;
  const upscale = options.upscale ?? 2;
  if (tf.getBackend() !== 'wasm') {
    await tf.setBackend('wasm');
    await tf.ready();
  }
  const dataset = await loadFashionMnist({ split: 'test', source: 'sample' });
  const loader = new BatchLoader(dataset, { batchSize: count, seed: options.seed ?? 0, shuffle: false });
  const batch = loader.batch(0, 0);
  const rng = new Random(options.seed ?? 0);
  const rowPixels: { name: string; values: Float32Array; size: [number, number]; gapBefore: boolean }[] = [];
  rowPixels.push({ name: 'original', values: (await batch.images.data()) as Float32Array, size: [28, 28], gapBefore: false });
  for (const policy of allViewPolicies()) {
    const name = policy.name;
    const views = applyViews(policy, batch.images, rng);
    const names = policy.views.flatMap((v) =>
      Array.from({ length: v.count ?? 1 }, (_, k) => ((v.count ?? 1) > 1 ? `${v.name}-${k + 1}` : v.name)),
    );
    for (let v = 0; v < views.length; v++) {
      const [, h, w] = views[v].shape;
      rowPixels.push({ name: `${name}/${names[v]}`, values: (await views[v].data()) as Float32Array, size: [h, w], gapBefore: v === 0 });
    }
    tf.dispose(views);
  }
  tf.dispose([batch.images, batch.labels!]);

  const cell = 28 + CELL_PADDING;
  const width = count * cell * upscale;
  const height = rowPixels.reduce((sum, r) => sum + cell + (r.gapBefore ? POLICY_GAP : 0), 0) * upscale;
  const png = new pngjs.PNG({ width, height });
  png.data.fill(255); // white background and separators, opaque
  let top = 0;
  for (const row of rowPixels) {
    if (row.gapBefore) top += POLICY_GAP;
    const [h, w] = row.size;
    const offsetY = top + Math.floor((28 - h) / 2);
    for (let i = 0; i < count; i++) {
      const offsetX = i * cell + Math.floor((28 - w) / 2);
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          const value = Math.round(Math.min(1, Math.max(0, row.values[(i * h + y) * w + x])) * 255);
          for (let dy = 0; dy < upscale; dy++)
            for (let dx = 0; dx < upscale; dx++) {
              const o = 4 * (((offsetY + y) * upscale + dy) * width + (offsetX + x) * upscale + dx);
              png.data[o] = png.data[o + 1] = png.data[o + 2] = value;
            }
        }
    }
    top += cell;
  }
  writeFileSync(outPath, pngjs.PNG.sync.write(png));
  return { width, height, rows: rowPixels.map((r) => r.name) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const out = join(dirname(fileURLToPath(import.meta.url)), 'view-grid.png');
  const result = await writeViewGrid(out);
  console.log(`wrote ${out} (${result.width}×${result.height}); rows: ${result.rows.join(', ')}`);
}
