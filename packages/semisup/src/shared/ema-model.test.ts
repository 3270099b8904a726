import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random, SslError, createEncoder, createRegistry, initBackend } from '@ssl/core';
import type { MethodDefinition } from '@ssl/core';
import { testBuildContext, testStepContext } from '@ssl/test-utils';
import semisup, { dataDistillation, entropyMin, noisyStudent, piModel, pseudoLabel, selfTraining, temporalEnsembling, vat } from '../index';
import type { SemisupRuntime } from '../index';

const SHAPE: [number, number, number] = [12, 12, 1];

// The methods whose papers evaluate their student: EMA model only when asked (the benchmark recipes do).
const METHODS = [pseudoLabel, entropyMin, piModel, temporalEnsembling, vat, selfTraining, dataDistillation, noisyStudent] as const;

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

function build(method: MethodDefinition<never, 'semi-supervised'>, overrides: Record<string, unknown>, round = 0): SemisupRuntime {
  return method.build(
    testBuildContext({
      config: { ...(method.defaults as object), ...overrides } as never,
      inputShape: SHAPE,
      numClasses: 3,
      round,
      rng: new Random(7),
      createEncoder: () => createEncoder({ kind: 'cnn', inputShape: SHAPE, channels: [4], seed: 5 }),
    }),
  ) as SemisupRuntime;
}

function disposeRuntime(runtime: SemisupRuntime): void {
  for (const model of [...Object.values(runtime.trainable), ...Object.values(runtime.frozen ?? {})]) model.dispose();
}

describe('EMA model of the student-reporting methods', () => {
  it.each(METHODS.map((m) => [m.name, m] as const))(
    '%s reports its student by default (emaDecay 0) and, with emaDecay > 0, an EMA copy warmed up per round',
    (_, method) => {
      const definition = method as unknown as MethodDefinition<never, 'semi-supervised'>;
      expect(method.defaults).toMatchObject({ emaDecay: 0, emaWarmup: true });
      const runtime = build(definition, { emaDecay: 0.999 });
      const { student, ema } = runtime.semisup;
      expect(ema).toBeDefined();
      expect(runtime.encoder).toBe(ema!.encoder);
      expect(runtime.trainable).toEqual({ encoder: student.encoder.model, classifier: student.classifier });
      expect(runtime.frozen).toMatchObject({ emaEncoder: ema!.encoder.model, emaClassifier: ema!.classifier });
      expect(runtime.classifier?.description).toBe('classifier top-1 (EMA model)');
      expect(runtime.momentumPairs?.pairs).toEqual([
        { target: ema!.encoder.model, source: student.encoder.model },
        { target: ema!.classifier, source: student.classifier },
      ]);
      // The copy starts as the student.
      const same = tf.tidy(() =>
        [...student.encoder.model.getWeights(), ...student.classifier.getWeights()].every(
          (w, i) =>
            tf
              .equal(w, [...ema!.encoder.model.getWeights(), ...ema!.classifier.getWeights()][i])
              .all()
              .dataSync()[0] === 1,
        ),
      );
      expect(same).toBe(true);
      const products = runtime.products!();
      expect(products.classifier).toBe(ema!.classifier);
      expect(products.studentClassifier).toBe(student.classifier);
      expect(products.studentEncoder).toBe(student.encoder);
      // min(0.999, (1 + t)/(10 + t)) at step t of the round: a later round's fresh EMA warms up again.
      const momentum = (step: number, roundStep: number, totalSteps: number, round: number) =>
        runtime.momentumPairs!.momentum(
          testStepContext({ step, epoch: 0, round, totalSteps, progress: roundStep / totalSteps, rng: new Random(1), lr: 0.03 }),
        );
      expect(momentum(0, 0, 100, 0)).toBeCloseTo(0.1, 12);
      expect(momentum(530, 30, 500, 1)).toBeCloseTo(31 / 40, 12);
      expect(momentum(20_000, 20_000, 30_000, 0)).toBe(0.999);
      disposeRuntime(runtime);

      const noWarmup = build(definition, { emaWarmup: false, emaDecay: 0.99 });
      expect(
        noWarmup.momentumPairs!.momentum(
          testStepContext({ step: 3, epoch: 0, totalSteps: 10, progress: 0.3, rng: new Random(1), lr: 0.03 }),
        ),
      ).toBe(0.99);
      disposeRuntime(noWarmup);

      const studentOnly = build(definition, {});
      expect(studentOnly.semisup.ema).toBeUndefined();
      expect(studentOnly.encoder).toBe(studentOnly.semisup.student.encoder);
      expect(studentOnly.momentumPairs).toBeUndefined();
      expect(Object.keys(studentOnly.frozen ?? {})).toEqual([]);
      expect(studentOnly.classifier?.description).toBe('classifier top-1 (student)');
      disposeRuntime(studentOnly);
    },
  );

  it.each(METHODS.map((m) => [m.name] as const))(
    "semisup:%s's benchmark recipe reports the EMA model, as the supervised-only control it is compared with",
    (name) => {
      const recipe = JSON.parse(readFileSync(new URL(`../../recipes/benchmark/${name}.json`, import.meta.url), 'utf8'));
      expect(recipe.method.emaDecay).toBe(0.999);
    },
  );

  it.each(METHODS.map((m) => [m.name] as const))(
    'semisup:%s refuses emaDecay outside [0, 1) and a non-boolean emaWarmup, naming the option',
    (name) => {
      const registry = createRegistry().use(semisup());
      for (const [config, field] of [
        [{ emaDecay: 1 }, 'emaDecay'],
        [{ emaDecay: -0.1 }, 'emaDecay'],
        [{ emaWarmup: 'yes' }, 'emaWarmup'],
      ] as const) {
        let error: unknown;
        try {
          registry.create(`semisup:${name}` as never, config as never);
        } catch (caught) {
          error = caught;
        }
        expect(error).toBeInstanceOf(SslError);
        expect((error as SslError).code).toBe('invalid-config');
        expect((error as Error).message).toContain(field);
        expect((error as Error).message.split('\n')).toHaveLength(1);
      }
    },
  );
});
