/**
 * contrastive:word2vec on English text from Debian's `fortunes`: trains through the shared trainer, then prints the
 * held-out co-occurrence accuracy (trained vs the same model at random init, chance 50%), the nearest neighbours of
 * chosen words and analogy probes (a − b + c).
 *
 *   node --conditions=@ssl/source --import tsx packages/contrastive/scripts/word2vec-probes.ts [--corpus sample|<dir>] [--epochs 5]
 *     [--batch-size 64] [--lr 1e-2] [--config '{"dim":64}'] [--seed 0]
 *
 * `--corpus sample` is the fortunes sample bundled with @ssl/core (`loadFortunesSample`); a directory holds
 * train-sentences.txt.gz and test-sentences.txt.gz as core's `data/make-fortunes-sample.ts --all --out <dir>` writes
 * them (every prose file).
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { Random, createRegistry, initBackend, loadFortunesSample, textCorpus, train } from '@ssl/core';
import contrastive, { heldOutCooccurrence, word2vec, wordVectorsOf } from '../src/index';
import type { Word2VecConfig, Word2VecRuntime } from '../src/index';

const { values } = parseArgs({
  options: {
    corpus: { type: 'string', default: 'sample' },
    epochs: { type: 'string', default: '5' },
    'batch-size': { type: 'string', default: '64' },
    lr: { type: 'string' },
    config: { type: 'string', default: '{}' },
    seed: { type: 'string', default: '0' },
    words: { type: 'string', default: 'man,woman,king,love,money,god,computer,day,good,war,water,eat' },
  },
});
const read = (split: 'train' | 'test') => loadFortunesSample({ split, source: values.corpus }).texts;
const trainTexts = textCorpus(read('train'), `fortunes:${values.corpus}`);
const testTexts = [...read('test')];
const seed = Number(values.seed);

await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
const method = createRegistry()
  .use(contrastive())
  .create('contrastive:word2vec', JSON.parse(values.config!) as Partial<Word2VecConfig>);
const config = method.config as Word2VecConfig;

// The control: the same method built with the same config at random init (word2vec's output vectors start at 0).
const control = word2vec.build({
  config,
  inputShape: [4, 4, 1],
  captions: trainTexts.texts,
  rng: new Random(seed),
  sampleCount: trainTexts.texts.length,
  round: 0,
  createEncoder: () => {
    throw new Error('unused');
  },
  pools: undefined as never,
}) as Word2VecRuntime;
const atInit = heldOutCooccurrence(control.word2vec, testTexts, { seed: 1 });

const started = performance.now();
let lastLog = started;
const run = await train({
  method,
  data: trainTexts,
  epochs: Number(values.epochs),
  batchSize: Number(values['batch-size']),
  seed,
  ...(values.lr ? { optimizer: { kind: 'adam' as const, lr: Number(values.lr) } } : {}),
  callbacks: [
    {
      name: 'log',
      onStepEnd(record) {
        if (performance.now() - lastLog > 10_000) {
          lastLog = performance.now();
          console.error(`step ${record.step} loss ${record.loss.toFixed(3)} pairs ${record.metrics.pairs}`);
        }
      },
    },
  ],
});
const seconds = (performance.now() - started) / 1000;
const vectors = wordVectorsOf(run.runtime);
const trained = heldOutCooccurrence(vectors, testTexts, { seed: 1 });
const history = run.history;
const meanLoss = (from: number, to: number) => history.slice(from, to).reduce((s, r) => s + r.loss, 0) / (to - from);
const pairs = history.reduce((s, r) => s + r.metrics.pairs, 0);
console.log(
  `corpus ${trainTexts.name}: ${trainTexts.texts.length} train / ${testTexts.length} held-out sentences, vocabulary ${vectors.vocabulary.words.length - 1} words; config ${JSON.stringify(config)}`,
);
console.log(
  `${history.length} steps of ${values['batch-size']} sentences in ${seconds.toFixed(1)} s (${((1000 * seconds) / history.length).toFixed(1)} ms/step, ${(pairs / history.length).toFixed(0)} pairs/step); loss first 10 steps ${meanLoss(0, 10).toFixed(3)}, last 10 ${meanLoss(history.length - 10, history.length).toFixed(3)}`,
);
console.log(
  `held-out co-occurrence (${trained.pairs} pairs, window 2, unigram negatives; chance 50%): score v'·v ${(100 * trained.scoreAccuracy).toFixed(1)}% (random init ${(100 * atInit.scoreAccuracy).toFixed(1)}%), input cosine ${(100 * trained.cosineAccuracy).toFixed(1)}% (random init ${(100 * atInit.cosineAccuracy).toFixed(1)}%)`,
);
const show = (list: { word: string; similarity: number }[]) =>
  list.map(({ word, similarity }) => `${word} ${similarity.toFixed(2)}`).join(', ');
for (const word of values.words!.split(',')) {
  if (vectors.vocabulary.idOf(word) === undefined) console.log(`  ${word}: not in the vocabulary`);
  else console.log(`  ${word} → ${show(vectors.nearest(word, 8))}`);
}
for (const [a, b, c] of [
  ['king', 'man', 'woman'],
  ['he', 'man', 'woman'],
  ['his', 'he', 'she'],
  ['men', 'man', 'woman'],
  ['good', 'better', 'bad'],
  ['day', 'sun', 'moon'],
]) {
  const known = [a, b, c].every((word) => vectors.vocabulary.idOf(word) !== undefined);
  console.log(`  ${a} − ${b} + ${c} → ${known ? show(vectors.analogy(a, b, c, 5)) : 'a word is not in the vocabulary'}`);
}
tf.dispose(control.word2vec.input);
run.dispose();
