import { subset } from '@ssl/core';
import type { ImageDataset } from '@ssl/core';

/** The first `count` images of `dataset` (all of them when it holds fewer): the reduced-budget scripts' splits. */
export function firstImages<D extends ImageDataset>(dataset: D, count: number): D {
  return subset(
    dataset,
    Array.from({ length: Math.min(count, dataset.size) }, (_, i) => i),
    `${dataset.name ?? 'images'} (first ${count})`,
  );
}
