/**
 * The method's own augmented views of a few test images, drawn as a grid: the originals on the first row, then
 * one row per view the method's view policy makes (the policy the trainer resolves for the run: `planRun`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Random, applyViews, planRun } from '@ssl/core';
import type { EncoderSpec, ImageDataset, MethodHandle, TrainData } from '@ssl/core';
import { pixelsOf } from '@ssl-examples/browser-training/knn';

const SCALE = 2;
const GAP = 4;

/** Views of the first `count` images of `images` under `method`'s policy; returns the policy's name and the view rows drawn. */
export async function drawViews(
  canvas: HTMLCanvasElement,
  method: MethodHandle,
  data: TrainData,
  encoder: EncoderSpec,
  images: ImageDataset,
  count: number,
): Promise<{ policy: string; views: number }> {
  // The semi-supervised policy of the unlabeled images (FixMatch's weak and strong views) is the method's own.
  const policy = planRun({ method, data, encoder, batchSize: 8 }).views.unlabeled;
  const originals = pixelsOf(images, 0, count);
  const views = applyViews(policy, originals, new Random(0));
  const rows = [originals, ...views];
  const cell = 28 * SCALE + GAP;
  canvas.width = count * cell;
  canvas.height = rows.length * cell;
  const context = canvas.getContext('2d')!;
  context.fillStyle = '#fff';
  context.fillRect(0, 0, canvas.width, canvas.height);
  for (let row = 0; row < rows.length; row++) {
    const [, height, width, channels] = rows[row].shape;
    const values = await rows[row].data();
    for (let image = 0; image < count; image++) {
      const pixels = new ImageData(width, height);
      for (let p = 0; p < height * width; p++) {
        for (let c = 0; c < 3; c++) {
          const value = values[(image * height * width + p) * channels + (channels === 1 ? 0 : c)];
          pixels.data[p * 4 + c] = Math.round(255 * Math.min(1, Math.max(0, value)));
        }
        pixels.data[p * 4 + 3] = 255;
      }
      const bitmap = await createImageBitmap(pixels);
      // A smaller view (a multi-crop local crop) is drawn at the same scale, centred in its cell.
      const left = image * cell + (cell - GAP - width * SCALE) / 2;
      const top = row * cell + (cell - GAP - height * SCALE) / 2;
      context.imageSmoothingEnabled = false;
      context.drawImage(bitmap, left, top, width * SCALE, height * SCALE);
      bitmap.close();
    }
  }
  tf.dispose(rows);
  return { policy: policy.name, views: views.length };
}
