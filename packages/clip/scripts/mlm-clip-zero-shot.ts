/**
 * Issue 26 acceptance 5: does masked-language-model pretraining of CLIP's text tower raise its zero-shot accuracy
 * over a random-init text tower with the same CLIP budget? For each seed: a `masked:mlm` run (the registered method
 * of @ssl/masked through core's trainer: BERT masking 15%, 80/10/10, of a bidirectional text tower of CLIP's shape)
 * on the fortunes (Debian's `fortunes` package: apt-get install fortunes) and the training captions, half and half,
 * saved to a run directory; then clip:clip from that run's tower (`textTowerFromRun(await loadRun(dir))`) and from a
 * random one (the run's tokenizer, same shape, seed, steps); zero-shot top-1 with the 5 prompt templates on the first
 * 1000 sample test images, and image↔text recall on them.
 *
 *   node --conditions=@ssl/source --import tsx packages/clip/scripts/mlm-clip-zero-shot.ts [--seeds 0,1,2] [--mlm-steps 400] [--clip-epochs 3]
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import {
  createRegistry,
  definePlugin,
  fortuneSentences,
  gatherBatch,
  initBackend,
  loadFashionMnist,
  loadRun,
  subset,
  textCorpus,
  train,
} from '@ssl/core';
import type { Encoder, WordTokenizer } from '@ssl/core';
import type { ClipConfig } from '../src/index';
// @ssl/clip does not depend on @ssl/masked (the tower reaches CLIP through a run directory); this experiment uses both.
import masked from '../../masked/src/index';
import {
  FASHION_MNIST_PROMPTS,
  clipModelOf,
  clipWithTextTower,
  fashionMnistPairs,
  retrievalRecall,
  textTowerFromRun,
  zeroShotClassifier,
} from '../src/index';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '0,1,2' },
    'mlm-steps': { type: 'string', default: '400' },
    'clip-epochs': { type: 'string', default: '3' },
    fortunes: { type: 'string', default: '/usr/share/games/fortunes' },
  },
});
const FORTUNE_FILES = ['fortunes', 'wisdom', 'literature', 'people', 'humorists', 'platitudes', 'science', 'work', 'food', 'education'];
const TOWER = { embedDim: 64, depth: 2, numHeads: 4, maxLength: 16, mlpRatio: 2, vocabLimit: 2000 };
const MLM_BATCH = 64;

await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
const fortunes = FORTUNE_FILES.flatMap((file) => {
  const path = join(values.fortunes, file);
  if (!existsSync(path)) throw new Error(`${path} is missing: apt-get install fortunes (or pass --fortunes <dir>).`);
  return fortuneSentences(readFileSync(path, 'utf8'));
});
const trainSet = await loadFashionMnist({ split: 'train', source: 'sample' });
const testSet = subset(
  await loadFashionMnist({ split: 'test', source: 'sample' }),
  Array.from({ length: 1000 }, (_, i) => i),
);
const test = gatherBatch(
  testSet,
  Array.from({ length: testSet.size }, (_, i) => i),
);
const testCaptions = fashionMnistPairs(testSet, 99).captions;
console.error(`${fortunes.length} fortune sentences, ${trainSet.size} training pairs`);

function evaluate(runtime: Parameters<typeof clipModelOf>[0]) {
  const classifier = zeroShotClassifier(runtime, testSet.classNames ?? [], FASHION_MNIST_PROMPTS);
  const predictions = classifier.predict(test.images).dataSync();
  classifier.dispose();
  const labels = testSet.labels!;
  const zeroShot = labels.reduce((sum, label, i) => sum + (predictions[i] === label ? 1 : 0), 0) / labels.length;
  const model = clipModelOf(runtime);
  const [images, texts] = [model.embedImages(test.images), model.embedTexts(testCaptions)];
  const recall = retrievalRecall(images, texts, [1, 5]);
  tf.dispose([images, texts]);
  return { zeroShot, imageToText: recall.imageToText, textToImage: recall.textToImage };
}

async function trainClip(tokenizer: WordTokenizer, encoder: Encoder | undefined, text: ClipConfig['text'], seed: number) {
  const plugin = definePlugin({
    name: 'clip-mlm-experiment',
    version: '0.0.0',
    family: 'experiment',
    core: '*',
    methods: { clip: clipWithTextTower({ tokenizer, ...(encoder ? { encoder } : {}) }) },
  });
  const pairs = fashionMnistPairs(trainSet, seed);
  const started = performance.now();
  const result = await train({
    method: createRegistry().use(plugin).create('experiment:clip', { text }),
    data: pairs,
    encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [16, 32, 64] },
    epochs: Number(values['clip-epochs']),
    batchSize: 100,
    seed,
  });
  const figures = { steps: result.steps, seconds: Math.round((performance.now() - started) / 1000), ...evaluate(result.runtime) };
  result.dispose();
  return figures;
}

for (const seed of values.seeds.split(',').map(Number)) {
  const captions = fashionMnistPairs(trainSet, seed).captions;
  // Half fortunes, half captions: the captions repeated to the fortunes' count.
  const corpus = [...fortunes, ...Array.from({ length: fortunes.length }, (_, i) => captions[i % captions.length])];
  const mlmSteps = Number(values['mlm-steps']);
  const outDir = mkdtempSync(join(tmpdir(), `mlm-seed${seed}-`));
  const started = performance.now();
  const mlmRun = await train({
    method: createRegistry().use(masked()).create('masked:mlm', { text: TOWER }),
    data: textCorpus(corpus, 'fortunes+captions'),
    maxSteps: mlmSteps,
    epochs: Math.ceil((mlmSteps * MLM_BATCH) / corpus.length),
    batchSize: MLM_BATCH,
    seed,
    outDir,
  });
  const mlmSeconds = Math.round((performance.now() - started) / 1000);
  const history = mlmRun.history;
  for (let end = 100; end <= history.length; end += 100) {
    const window = history.slice(end - 100, end);
    const mean = (pick: (r: (typeof history)[number]) => number) => window.reduce((sum, r) => sum + pick(r), 0) / window.length;
    console.error(
      `seed ${seed} mlm step ${end}: loss ${mean((r) => r.loss).toFixed(3)}, masked-token accuracy ${(100 * mean((r) => r.metrics.maskedAccuracy)).toFixed(1)}%`,
    );
  }
  const mlmFinalLoss = history.at(-1)?.loss;
  mlmRun.dispose();
  // CLIP starts from the finished run as any user would: from its directory.
  const saved = await loadRun(outDir);
  const tower = textTowerFromRun(saved);
  const fromMlm = await trainClip(tower.tokenizer, tower.encoder, tower.text, seed);
  saved.dispose();
  rmSync(outDir, { recursive: true, force: true });
  const fromRandom = await trainClip(tower.tokenizer, undefined, tower.text, seed);
  console.log(JSON.stringify({ seed, vocabulary: tower.tokenizer.vocabSize, mlmSeconds, mlmFinalLoss, fromMlm, fromRandom }));
}
