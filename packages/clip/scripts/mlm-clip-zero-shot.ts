/**
 * Issue 26 acceptance 5: does masked-language-model pretraining of CLIP's text tower raise its zero-shot accuracy
 * over a random-init text tower with the same CLIP budget? For each seed: one tokenizer (fortunes + the training
 * captions), MLM pretraining (BERT masking 15%, 80/10/10) of a bidirectional text tower of CLIP's shape on the
 * fortunes (Debian's `fortunes` package: apt-get install fortunes) and the training captions, half and half;
 * then clip:clip from that tower and from a random one (same tokenizer, shape, seed, steps); zero-shot top-1
 * with the 5 prompt templates on the first 1000 sample test images, and image↔text recall on them.
 *
 *   node --conditions=@ssl/source --import tsx packages/clip/scripts/mlm-clip-zero-shot.ts [--seeds 0,1,2] [--mlm-steps 400] [--clip-epochs 3]
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, definePlugin, gatherBatch, initBackend, loadFashionMnist, subset, train } from '@ssl/core';
import type { Encoder, WordTokenizer } from '@ssl/core';
import {
  FASHION_MNIST_PROMPTS,
  clipModelOf,
  clipWithTextTower,
  fashionMnistPairs,
  fortuneSentences,
  mlmTokenizer,
  pretrainTextTower,
  retrievalRecall,
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
const TEXT = { embedDim: 64, depth: 2, numHeads: 4, maxLength: 16, mlpRatio: 2, vocabLimit: 2000, causal: false };

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

async function trainClip(tokenizer: WordTokenizer, encoder: Encoder | undefined, seed: number) {
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
    method: createRegistry().use(plugin).create('experiment:clip', { text: TEXT }),
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
  const tokenizer = mlmTokenizer(corpus, { maxLength: TEXT.maxLength, vocabLimit: TEXT.vocabLimit });
  const started = performance.now();
  const pretrained = pretrainTextTower({
    texts: corpus,
    tokenizer,
    text: TEXT,
    steps: Number(values['mlm-steps']),
    batchSize: 64,
    lr: 1e-3,
    seed,
    logEvery: 100,
    onLog: (record) =>
      console.error(
        `seed ${seed} mlm step ${record.step}: loss ${record.loss.toFixed(3)}, masked-token accuracy ${(100 * record.accuracy).toFixed(1)}%`,
      ),
  });
  const mlmSeconds = Math.round((performance.now() - started) / 1000);
  const fromMlm = await trainClip(tokenizer, pretrained.encoder, seed);
  pretrained.encoder.model.dispose();
  const fromRandom = await trainClip(tokenizer, undefined, seed);
  console.log(
    JSON.stringify({ seed, vocabulary: tokenizer.vocabSize, mlmSeconds, mlmFinalLoss: pretrained.losses.at(-1), fromMlm, fromRandom }),
  );
}
