import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRegistry, initBackend, loadRun, loadSpokenClasses, train } from '@ssl/core';
import { describeMethodContract } from '@ssl/test-utils';
import clipPlugin, { audioTextModelFromRun, audioTextPairs, classPrompts, pairModelOf } from '../index';

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

const tiny = { embedDim: 8, audio: { channels: [4, 8], melBins: 16 }, text: { embedDim: 8, numHeads: 2 } };

describeMethodContract({
  plugin: clipPlugin,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'clip:audio-text',
  config: tiny,
  // { images, audio }: clip:audio-text reads the spoken clips and the texts they say (the images are not used, so
  // the run has no image encoder).
  data: { imageAudio: { source: 'fashion-mnist-sample', size: 16 } },
  batchSize: 16,
  steps: 4,
  invalidConfigs: [
    { config: { embedDim: 0 }, field: 'embedDim' },
    { config: { initialTemperature: 0 }, field: 'initialTemperature' },
    { config: { maxLogitScale: 0.5 }, field: 'maxLogitScale' },
    { config: { audio: { channels: [] } }, field: 'audio.channels' },
    { config: { audio: { frameStepSeconds: 0 } }, field: 'audio.frameStepSeconds' },
    { config: { text: { numHeads: 3 } }, field: 'text.numHeads' },
  ],
  moreConfigs: [{ ...tiny, learnLogitScale: false }],
});

const EPOCHS = 30;
const BATCH = 32;

describe('clip:audio-text on the spoken-classes sample', () => {
  it('learns: on the unheard test voice, audio→text and text→audio recall@1 and zero-shot class accuracy above chance', async () => {
    const trainClips = loadSpokenClasses({ split: 'train' });
    const testClips = loadSpokenClasses({ split: 'test' });
    const dir = mkdtempSync(join(tmpdir(), 'ssl-audio-text-'));
    const started = Date.now();
    const result = await train({
      method: createRegistry().use(clipPlugin()).create('clip:audio-text'),
      data: { audio: trainClips },
      epochs: EPOCHS,
      batchSize: BATCH,
      seed: 0,
      outDir: dir,
    });
    try {
      const seconds = (Date.now() - started) / 1000;
      const figures = await result.runtime.heldOutTask!({ audio: testClips }, { seed: 0 });
      console.log(
        `audio-text CI: ${result.steps} steps in ${seconds.toFixed(1)} s (${((1000 * seconds) / result.steps).toFixed(0)} ms/step at batch ${BATCH}); loss ${result.history[0].loss.toFixed(3)} → ${result.history.at(-1)!.loss.toFixed(3)}\n` +
          figures
            .map((f) => `  ${f.name}: ${(100 * f.value).toFixed(1)}% (${f.reference.name} ${(100 * f.reference.value).toFixed(1)}%)`)
            .join('\n'),
      );
      expect(figures.map((f) => f.name)).toEqual([
        'audio→text recall@1 (20 pairs)',
        'text→audio recall@1 (20 pairs)',
        'zero-shot audio top-1 from text prompts (nearest prompt)',
      ]);
      const [audioToText, textToAudio, zeroShot] = figures;
      expect(audioToText.value).toBeGreaterThan(3 * audioToText.reference.value);
      expect(textToAudio.value).toBeGreaterThan(3 * textToAudio.reference.value);
      expect(zeroShot.value).toBeGreaterThan(3 * zeroShot.reference.value);

      // The run directory alone gives the same model (towers, projections, tokenizer, logit scale).
      const run = await loadRun(dir);
      const reloaded = audioTextModelFromRun(run);
      const model = pairModelOf<Float32Array, string>(result.runtime);
      const pairs = audioTextPairs(testClips);
      const prompts = classPrompts(pairs).flat();
      for (const [x, y] of [
        [model.embedFirst(pairs.first.slice(0, 4)), reloaded.embedFirst(pairs.first.slice(0, 4))],
        [model.embedSecond(prompts), reloaded.embedSecond(prompts)],
      ]) {
        expect(Array.from(y.dataSync())).toEqual(Array.from(x.dataSync()).map((v) => expect.closeTo(v, 4)));
        tf.dispose([x, y]);
      }
      reloaded.logLogitScale.dispose();
      run.dispose();
    } finally {
      result.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
