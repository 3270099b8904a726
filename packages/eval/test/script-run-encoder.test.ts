import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { SslError, initBackend, saveEncoder } from '@ssl/core';
import type { Encoder, EncoderSpec } from '@ssl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRunEncoder } from '../scripts/script-helpers';
import { randomInitControl } from '../src/pretrain-and-compare';
import { stackedDae, stackedDaeSpec as spec, trainedStackedDae, weightsOf } from '../src/stacked-dae.fixture';

const workDir = mkdtempSync(join(tmpdir(), 'ssl-eval-run-encoder-'));

beforeAll(() => initBackend({ backend: 'wasm', threads: 1, log: () => {} }));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

/** A run folder as `ssl pretrain masked:stacked-dae` leaves it: config.json naming the method (unless `method` is undefined) and encoder/. */
async function stackedDaeRun(name: string, method: string | undefined): Promise<{ runDir: string; trained: Encoder }> {
  const trained = trainedStackedDae(70);
  const runDir = join(workDir, name);
  await saveEncoder(trained as Encoder & { spec: EncoderSpec }, join(runDir, 'encoder'));
  if (method !== undefined) writeFileSync(join(runDir, 'config.json'), JSON.stringify({ method, seed: 0 }));
  return { runDir, trained };
}

describe("the eval scripts' loadRunEncoder (few-shot, transfer and active-learning tables)", () => {
  it("loads a masked:stacked-dae run's encoder through its method's plugin, and the kinds rebuild its control", async () => {
    const { runDir, trained } = await stackedDaeRun('stacked-dae', 'masked:stacked-dae');
    const { encoder, kinds } = await loadRunEncoder(runDir);
    expect(encoder.kind).toBe('stacked-dae');
    const images = tf.randomUniform([3, 8, 8, 1], 0, 1, 'float32', 4) as tf.Tensor4D;
    const [expected, actual] = [trained.features(images), encoder.features(images)];
    expect(Array.from(await actual.data())).toEqual(Array.from(await expected.data()));
    const control = randomInitControl(encoder, kinds);
    const initial = stackedDae.create(spec);
    expect(weightsOf(control)).toEqual(weightsOf(initial));
    tf.dispose([images, expected, actual]);
    [trained, encoder, control, initial].forEach((network) => network.model.dispose());
  });

  it("a run that names no plugin (no config.json, a method of no first-party package) is loadEncoder's one-line plugin error", async () => {
    for (const [name, method] of [
      ['no-config', undefined],
      ['unknown-family', 'third-party:stacked'],
    ] as const) {
      const { runDir, trained } = await stackedDaeRun(name, method);
      trained.model.dispose();
      const error = await loadRunEncoder(runDir).then(
        () => expect.unreachable('a plugin kind loaded without its plugin'),
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(SslError);
      expect((error as SslError).code).toBe('plugin');
      expect((error as SslError).message).toContain(
        `${join(runDir, 'encoder', 'model.json')} holds a 'stacked-dae' encoder, a kind a plugin registers`,
      );
      expect((error as SslError).message).not.toContain('\n');
    }
  });
});
