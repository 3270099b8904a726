import { beforeAll, describe, expect, it } from 'vitest';
import { createEncoder } from '../nn/create-encoder';
import { defineMethod } from '../method';
import type { EncoderChanges } from '../method';
import { definePlugin } from '../registry/plugin';
import { createRegistry } from '../registry/registry';
import { useTestBackend } from './fixtures/backend';
import { toyDataset, toyEncoder, toyMethod, toyPair } from './fixtures/toy-method';
import { train } from './trainer';
import type { TrainOptions } from './run-loop';

beforeAll(useTestBackend);

/** What the method below built: the run's encoder and one built with `changes`. */
let built: { featureDims: number[]; changedWeights: number[][]; changedShape: number[] } | undefined;
let changes: EncoderChanges | undefined;

/** The toy method plus a second, changed encoder (a distillation student's), kept frozen so the run frees it. */
const withStudent = defineMethod({
  ...toyMethod,
  name: 'with-student',
  build(context) {
    const runtime = toyMethod.build(context);
    const changed = context.createEncoder(changes);
    built = {
      featureDims: [runtime.encoder.featureDim, changed.featureDim],
      changedWeights: changed.model.weights.map((w) => Array.from(w.read().dataSync())),
      changedShape: changed.model.weights[0].shape as number[],
    };
    return { ...runtime, frozen: { ...runtime.frozen, student: changed.model } };
  },
});
const registry = createRegistry().use(
  definePlugin({
    name: 'student-plugin',
    version: '0.0.1',
    family: 'test',
    core: '>=0.0.0',
    methods: { 'with-student': withStudent },
    viewPolicies: { toyPair },
  }),
);

async function build(change: EncoderChanges | undefined, options: Partial<TrainOptions> = {}): Promise<NonNullable<typeof built>> {
  built = undefined;
  changes = change;
  const run = await train({
    method: registry.create('test:with-student'),
    data: toyDataset(),
    encoder: toyEncoder,
    epochs: 1,
    batchSize: 8,
    maxSteps: 1,
    ...options,
  });
  run.dispose();
  return built!;
}

describe('BuildContext.createEncoder(changes)', () => {
  it("builds the run's spec with the changed fields: a narrower CNN", async () => {
    const result = await build({ options: { channels: [4, 6] }, field: 'studentEncoder' });
    expect(result.featureDims).toEqual([16, 6]);
    expect(result.changedShape).toEqual([3, 3, 1, 4]);
  });

  it('starts a changed encoder from fresh weights, not from the run’s initialEncoder; {} changes nothing', async () => {
    const start = createEncoder({ ...toyEncoder, seed: 12345 });
    const startWeights = start.model.weights.map((w) => Array.from(w.read().dataSync()));
    try {
      const initialEncoder = { encoder: start, from: 'pretrained' };
      const dropout = await build({ options: { dropout: 0.1 }, field: 'studentEncoder' }, { initialEncoder });
      expect(dropout.changedWeights).not.toEqual(startWeights);
      const unchanged = await build({ options: {}, field: 'studentEncoder' }, { initialEncoder });
      expect(unchanged.changedWeights).toEqual(startWeights);
    } finally {
      start.model.dispose();
    }
  });

  it('refuses a field the family does not have and a bad value, naming them under the method’s field', async () => {
    await expect(build({ options: { depth: 3 }, field: 'studentEncoder' })).rejects.toMatchObject({
      code: 'invalid-config',
      message: expect.stringMatching(/^Invalid config value studentEncoder\.depth = 3: expected an option of a cnn encoder: channels, /),
    });
    await expect(build({ options: { channels: [] }, field: 'studentEncoder' })).rejects.toMatchObject({
      code: 'invalid-config',
      message: expect.stringMatching(/^Invalid config value studentEncoder\.channels = \[\]/),
    });
  });
});
