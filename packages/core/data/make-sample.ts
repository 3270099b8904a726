/**
 * Writes the class-balanced Fashion-MNIST subset bundled with @ssl/core (data/fashion-mnist-sample/):
 * 300 training and 100 test images per class, drawn with a fixed seed from the full dataset, in a
 * seeded shuffled order so that any prefix is roughly balanced too.
 *
 *   node --conditions=@ssl/source --import tsx packages/core/data/make-sample.ts [fullDatasetDir]
 *
 * The full dataset is read from the argument, else the Debian package dataset-fashion-mnist.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { subset } from '../src/data/dataset';
import { encodeIdx } from '../src/data/idx';
import { FASHION_MNIST, loadFashionMnist } from '../src/data/mnist';
import { Random } from '../src/random';

const SAMPLE_SEED = 20170828; // Fashion-MNIST's release date; any fixed value would do
const PER_CLASS = { train: 300, test: 100 } as const;

async function main(): Promise<void> {
  const fullDir = process.argv[2] ?? '/usr/share/datasets/fashion-mnist';
  const outDir = join(dirname(fileURLToPath(import.meta.url)), 'fashion-mnist-sample');
  mkdirSync(outDir, { recursive: true });
  const random = new Random(SAMPLE_SEED);
  for (const split of ['train', 'test'] as const) {
    const full = await loadFashionMnist({ split, source: fullDir });
    const byClass: number[][] = Array.from({ length: 10 }, () => []);
    full.labels!.forEach((label, index) => byClass[label].push(index));
    const chosen: number[] = [];
    for (const indices of byClass) {
      const order = random.permutation(indices.length);
      for (let k = 0; k < PER_CLASS[split]; k++) chosen.push(indices[order[k]]);
    }
    random.shuffle(chosen);
    const sample = subset(full, chosen);
    const files = split === 'train' ? [FASHION_MNIST.files.trainImages, FASHION_MNIST.files.trainLabels] : [FASHION_MNIST.files.testImages, FASHION_MNIST.files.testLabels];
    writeFileSync(join(outDir, files[0].name), encodeIdx([sample.size, 28, 28], sample.images));
    writeFileSync(join(outDir, files[1].name), encodeIdx([sample.size], Uint8Array.from(sample.labels!)));
    console.log(`${split}: ${sample.size} images (${PER_CLASS[split]} per class) from ${full.size}`);
  }
}

await main();
