import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random, createRegistry, initBackend, loadFortunesSample, train } from '@ssl/core';
import { describeMethodContract, testBuildContext } from '@ssl/test-utils';
import masked, {
  MASK_TOKEN,
  MLM_DEFAULTS,
  bertMasking,
  maskIdOf,
  maskedTokenLoss,
  mlmForward,
  mlmHeldOutScore,
  mlmPartsOf,
  mlmTokenizer,
} from '../index';
import type { MlmConfig, MlmRuntime } from '../index';

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
}, 60_000);

const TINY_TEXT = { embedDim: 16, depth: 1, numHeads: 2, maxLength: 12, mlpRatio: 2, vocabLimit: 100 };

describeMethodContract({
  plugin: masked,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'masked:mlm',
  config: { text: TINY_TEXT },
  // The first 64 sentences of the fortunes sample; a corpus has no images, so the run has no image encoder.
  data: { text: { source: 'fortunes-sample', size: 64 } },
  batchSize: 16,
  steps: 4,
  invalidConfigs: [
    { config: { maskRate: 0 }, field: 'maskRate' },
    { config: { maskRate: 1 }, field: 'maskRate' },
    { config: { text: { ...TINY_TEXT, numHeads: 3 } }, field: 'text.numHeads' },
    { config: { text: { ...TINY_TEXT, maxLength: 2 } }, field: 'text.maxLength' },
    { config: { text: { ...TINY_TEXT, vocabLimit: 5 } }, field: 'text.vocabLimit' },
    { config: { text: { ...TINY_TEXT, mlpRatio: 0 } }, field: 'text.mlpRatio' },
  ],
  moreConfigs: [{ text: { ...TINY_TEXT, depth: 2 }, maskRate: 0.3 }],
  checkRun(result) {
    for (const record of result.history) {
      expect(record.loss).toBeGreaterThan(0);
      expect(record.metrics.maskedAccuracy).toBeGreaterThanOrEqual(0);
      expect(record.metrics.maskedAccuracy).toBeLessThanOrEqual(1);
    }
    // The run's representation is the text tower, of token ids.
    const parts = mlmPartsOf(result.runtime);
    expect(result.runtime.encoder).toBe(parts.encoder);
    expect(parts.encoder.spec.causal).toBe(false);
    const features = tf.tidy(() =>
      result.runtime.encoder.features(tf.tensor2d(parts.tokenizer.encodeBatch(['a photo of a shirt']), [1, 12], 'int32')),
    );
    expect(features.shape).toEqual([1, 16]);
    features.dispose();
  },
});

describe('BERT masking', () => {
  it('selects 15% of the word tokens, never <pad>/<unk>/<bos>/<eos>, and replaces them 80/10/10 (<mask> / random word / unchanged)', () => {
    const length = 12;
    const rows = 4000;
    const rng = new Random(5);
    const vocabSize = 50;
    const ids = new Int32Array(rows * length);
    for (let row = 0; row < rows; row++) {
      const words = 3 + rng.int(8);
      ids[row * length] = 2;
      // Word ids 5.., and now and then <unk> (1), which is never a target.
      for (let i = 1; i <= words; i++) ids[row * length + i] = rng.next() < 0.1 ? 1 : 5 + rng.int(vocabSize - 5);
      ids[row * length + words + 1] = 3;
    }
    const { inputs, targets, selected } = bertMasking(ids, { maskId: 4, vocabSize, rng: new Random(1) });
    expect(Array.from(targets)).toEqual(Array.from(ids));
    let wordCount = 0;
    let chosen = 0;
    let masked = 0;
    let unchanged = 0;
    let random = 0;
    ids.forEach((id, at) => {
      const isWord = id >= 5;
      if (isWord) wordCount++;
      if (selected[at] === 1) {
        expect(isWord).toBe(true);
        chosen++;
        if (inputs[at] === 4) masked++;
        else if (inputs[at] === id) unchanged++;
        else {
          random++;
          expect(inputs[at]).toBeGreaterThanOrEqual(5);
          expect(inputs[at]).toBeLessThan(vocabSize);
        }
      } else expect(inputs[at]).toBe(id);
    });
    expect(chosen / wordCount).toBeGreaterThan(0.14);
    expect(chosen / wordCount).toBeLessThan(0.16);
    expect(masked / chosen).toBeCloseTo(0.8, 1);
    // A random replacement can draw the word itself (1 in 45): "unchanged" is 10% plus that share.
    expect(unchanged / chosen).toBeGreaterThan(0.08);
    expect(unchanged / chosen).toBeLessThan(0.13);
    expect(random / chosen).toBeGreaterThan(0.07);
    expect(random / chosen).toBeLessThan(0.12);
    // The held-out read-out's masking: every selected token becomes <mask>.
    const all = bertMasking(ids, { maskId: 4, vocabSize, rng: new Random(1), maskShare: 1, randomShare: 0 });
    all.selected.forEach((s, at) => expect(all.inputs[at]).toBe(s === 1 ? 4 : ids[at]));
    expect(() => bertMasking(ids, { maskId: 4, vocabSize, rng: new Random(1), maskShare: 0.95, randomShare: 0.1 })).toThrow(/maskShare/);
  });

  it('mlmTokenizer puts <mask> after the special tokens and keeps the corpus words', () => {
    const tokenizer = mlmTokenizer(['a red shirt', 'a blue shirt'], { maxLength: 6, vocabLimit: 10 });
    expect(maskIdOf(tokenizer)).toBe(4);
    expect(tokenizer.toJSON().vocabulary.slice(0, 6)).toEqual(['<pad>', '<unk>', '<bos>', '<eos>', MASK_TOKEN, 'a']);
    expect(tokenizer.decode(tokenizer.encode('a red shirt'))).toBe('a red shirt');
  });
});

describe("the masked-LM loss (maskedTokenLoss: BERT's and BEiT's cross-entropy at the masked positions)", () => {
  it('equals a plain-loop cross-entropy over the selected positions', () => {
    const rng = new Random(2);
    const [n, l, v] = [2, 3, 5];
    const logits = Array.from({ length: n }, () => Array.from({ length: l }, () => Array.from({ length: v }, () => rng.normal())));
    const targets = [
      [1, 4, 0],
      [2, 2, 3],
    ];
    const selected = [
      [1, 0, 1],
      [0, 1, 0],
    ];
    let total = 0;
    let count = 0;
    logits.forEach((row, i) =>
      row.forEach((z, j) => {
        if (!selected[i][j]) return;
        const logSum = Math.log(z.reduce((sum, value) => sum + Math.exp(value), 0));
        total += logSum - z[targets[i][j]];
        count++;
      }),
    );
    const loss = tf.tidy(
      () => maskedTokenLoss(tf.tensor3d(logits), tf.tensor2d(targets, [n, l], 'int32'), tf.tensor2d(selected)).dataSync()[0],
    );
    expect(loss).toBeCloseTo(total / count, 5);
  });
});

describe('masked:mlm parts', () => {
  const corpus = ['the cat sat on the mat', 'the dog sat on the log', 'a cat and a dog', 'the end of the day'];
  const build = () =>
    masked().methods.mlm.build(
      testBuildContext<MlmConfig, 'text'>({
        config: { ...MLM_DEFAULTS, text: TINY_TEXT },
        inputShape: undefined,
        captions: corpus,
        rng: new Random(3),
        createEncoder: () => {
          throw new Error('masked:mlm builds no image encoder');
        },
      }),
    ) as MlmRuntime;

  it('reads the <mask> from both sides: a later token changes the prediction at an earlier position', () => {
    const runtime = build();
    const { tokenizer } = runtime;
    const [early, late] = ['the cat sat on the mat', 'the cat sat on the log'].map((text) => tokenizer.encodeBatch([text]));
    const difference = tf.tidy(() => {
      const at = (ids: Int32Array) => tf.slice(mlmForward(runtime, tf.tensor2d(ids, [1, 12], 'int32')), [0, 1, 0], [1, 1, -1]);
      return tf.max(tf.abs(tf.sub(at(early), at(late)))).dataSync()[0];
    });
    // Position 1 ("the") sees position 6 ("mat" / "log"): a causal tower would give exactly 0.
    expect(difference).toBeGreaterThan(1e-4);
    runtime.encoder.model.dispose();
    runtime.head.dispose();
  });

  it('scores held-out texts against the unigram guess counted by hand', () => {
    const runtime = build();
    const texts = ['the cat sat on the mat', 'the dog and the cat', 'a day on the log', 'the end'];
    const score = mlmHeldOutScore(runtime, texts, { seed: 4, maskRate: 0.5 });
    // The same seeded selection, by hand: the targets' most frequent word and their entropy.
    const ids = runtime.tokenizer.encodeBatch(texts);
    const masking = bertMasking(ids, {
      maskId: runtime.maskId,
      vocabSize: runtime.tokenizer.vocabSize,
      rng: new Random(4),
      rate: 0.5,
      maskShare: 1,
      randomShare: 0,
    });
    const counts = new Map<number, number>();
    masking.selected.forEach((s, at) => s === 1 && counts.set(masking.targets[at], (counts.get(masking.targets[at]) ?? 0) + 1));
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    expect(score.positions).toBe(total);
    expect(score.unigramAccuracy).toBeCloseTo(Math.max(...counts.values()) / total, 10);
    expect(score.unigramCrossEntropy).toBeCloseTo(-[...counts.values()].reduce((h, c) => h + (c / total) * Math.log(c / total), 0), 10);
    // At random init the tower spreads its guess: cross-entropy near ln V, above the unigram guess's.
    expect(score.crossEntropy).toBeGreaterThan(score.unigramCrossEntropy);
    expect(() => mlmHeldOutScore(runtime, [], { seed: 0 })).toThrow(/no held-out texts/);
    runtime.encoder.model.dispose();
    runtime.head.dispose();
  });
});

/*
 * Measured (seed 0, 600 steps of 32 sentences, tower 32-d, depth 1, 200 tokens): held-out masked-token accuracy 13.2%
 * vs 8.6% for the unigram guess (629 masked words; cross-entropy 4.29 vs 4.35 nats); 87 ms/step at load 10. With 250
 * steps it was +1.0 point (not enough), so the test runs 600 and asks for +2 points.
 */
const MLM_TEST_STEPS = 600;
const MLM_TEST_MARGIN = 0.02;

describe('masked:mlm learns on the fortunes sample', () => {
  it('predicts masked words of held-out sentences better than the unigram guess', async () => {
    const method = createRegistry()
      .use(masked())
      .create('masked:mlm', { text: { embedDim: 32, depth: 1, numHeads: 2, maxLength: 12, mlpRatio: 2, vocabLimit: 200 } });
    const run = await train({
      method,
      data: loadFortunesSample(),
      maxSteps: MLM_TEST_STEPS,
      epochs: 10,
      batchSize: 32,
      seed: 0,
      optimizer: { lr: 5e-3 },
    });
    const [figure, crossEntropy] = await run.runtime.heldOutTask!(loadFortunesSample({ split: 'test' }), { seed: 1 });
    const losses = run.history.map((r) => r.loss);
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    console.log(
      `masked:mlm on the fortunes sample, ${run.history.length} steps: loss ${mean(losses.slice(0, 10)).toFixed(2)} → ${mean(losses.slice(-10)).toFixed(2)}; ` +
        `held-out masked-token accuracy ${(100 * figure.value).toFixed(1)}% vs ${(100 * figure.reference.value).toFixed(1)}% unigram guess, ` +
        `cross-entropy ${crossEntropy.value.toFixed(3)} vs ${crossEntropy.reference.value.toFixed(3)}`,
    );
    expect(figure.name).toBe('masked-token accuracy');
    expect(figure.value).toBeGreaterThan(figure.reference.value + MLM_TEST_MARGIN);
    run.dispose();
  }, 180_000);
});
