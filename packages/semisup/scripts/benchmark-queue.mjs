#!/usr/bin/env node
// The semi-supervised benchmark of issue 32 as entries of the full-data queue (scripts/full-data/run-queue.mjs):
// one `ssl semisup` process per method × labels × seed, on the same CNN 16-32-64, batch, lr and balanced labeled
// split (drawn from the seed). Prints the entries as JSON; the queue runs them in order and resumes a killed one.
//
//   node packages/semisup/scripts/benchmark-queue.mjs [--plan all|benchmark|long] [--data fashion-mnist] [--steps 6000]
//        [--round-epochs n] [--long-steps 40000] [--suffix ''] > entries.json
//
// --plan all (the queue's order): 100 labels × every method on seed 0, then acceptance 4's long candidates on seed 0
// (their first figure early), then 100 labels on seeds 1 and 2, the 40- and 1 000-label rows, the long ones on seeds 1, 2.
//
// One-round methods run --steps steps and take their supervised-only figure from the seed's supervised-only run
// (`--control`: same data, labels, seed, encoder, batch, lr and steps, checked by the CLI), which comes first in
// the queue, so the control trains once per seed instead of once per method. Methods that train in rounds run
// ROUND_EPOCHS epochs per round (--round-epochs for all of them; a step cap would cut their last round short) and
// so train their own ablation (same rounds and steps), which `ssl semisup` does by default.
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    plan: { type: 'string', default: 'all' },
    data: { type: 'string', default: 'fashion-mnist' },
    steps: { type: 'string', default: '6000' },
    'round-epochs': { type: 'string' },
    'long-steps': { type: 'string', default: '40000' },
    suffix: { type: 'string', default: '' },
  },
});

const RECIPES = 'packages/semisup/recipes/benchmark';
/** Labeled batch B and lr of every run: the full-data FixMatch figures' (examples/fixmatch-fashion-mnist). */
const SHARED = ['--batch-size', '16', '--lr', '0.1'];
const ONE_ROUND = [
  'pseudo-label',
  'entropy-min',
  'pi-model',
  'temporal-ensembling',
  'mean-teacher',
  'vat',
  'mixmatch',
  'fixmatch',
  'flexmatch',
  'freematch',
];
const IN_ROUNDS = ['self-training', 'co-training', 'noisy-student', 'data-distillation'];
/**
 * Epochs per round on the full set, the whole run near the one-round methods' 6 000 steps where whole rounds allow:
 * self-training steps over labeled batches only (59 900 / B 16 = 3 743 steps an epoch: 3 rounds × 1 = 11 229 cheap
 * steps), the others at μ 3 (1 247 steps an epoch): co-training 3 × 1 = 3 741 (its step, two learners, cost 1.4× a
 * FixMatch step on the sample: 2 epochs a round would take ~20 min with the ablation), Noisy Student and data
 * distillation 2 epochs a round = 4 988 steps (Noisy Student's recipe has 3 rounds: 7 482). Each trains its ablation
 * too, so a run costs twice its steps.
 */
const ROUND_EPOCHS = { 'self-training': 1, 'co-training': 1, 'noisy-student': 2, 'data-distillation': 2 };
/** Issue 32 acceptance 5: rows at 40 and 1 000 labels, seed 0. */
const FEW_AND_MANY = ['pseudo-label', 'mean-teacher', 'mixmatch', 'fixmatch', 'flexmatch'];
/** Acceptance 4's first two candidates (README → "The ≥ 8-point recipe"). */
const LONG_CANDIDATES = ['fixmatch', 'fixmatch-distribution-alignment'];

const data = values.data === 'fashion-mnist' ? {} : { data: values.data };
/**
 * Recipes changed after their first full-data runs, each with the tag that renames its entries (so the queue runs them
 * again; the old lines stay in results.jsonl as history, and table.mjs gives the tagged entries their own row):
 * self-training's k per class 50 → 1 000, Noisy Student's RandAugment N 1 M 5 → N 2 at random magnitudes and 2 → 3
 * rounds (README → Benchmark, the round methods' measurements).
 */
const RECIPE_TAGS = { 'self-training': 'top-thousand-per-class', 'noisy-student': 'strong-noise-three-rounds' };
const entryName = (row, labels, length, seed) =>
  `semisup-${RECIPE_TAGS[row] ? `${row}-${RECIPE_TAGS[row]}` : row}-${labels}l-${length}-seed${seed}${values.suffix}`;

function oneRound(row, labels, steps, seed, control) {
  return {
    name: entryName(row, labels, `${steps}s`, seed),
    command: 'semisup',
    method: row === 'supervised-only' || row.startsWith('fixmatch') ? 'semisup:fixmatch' : `semisup:${row}`,
    ...data,
    args: [
      '--labels-per-class',
      String(labels / 10),
      '--seed',
      String(seed),
      ...SHARED,
      '--steps',
      String(steps),
      '--config',
      `${RECIPES}/${row}.json`,
      ...(control ? ['--control', `{runs}/${entryName('supervised-only', labels, `${steps}s`, seed)}`] : ['--no-control']),
    ],
  };
}

function inRounds(row, labels, roundEpochs, seed) {
  return {
    name: entryName(row, labels, `${roundEpochs}ep-per-round`, seed),
    command: 'semisup',
    method: `semisup:${row}`,
    ...data,
    args: [
      '--labels-per-class',
      String(labels / 10),
      '--seed',
      String(seed),
      ...SHARED,
      '--epochs',
      String(roundEpochs),
      '--config',
      `${RECIPES}/${row}.json`,
    ],
  };
}

const steps = Number(values.steps);
const longSteps = Number(values['long-steps']);
const roundEpochs = (row) => Number(values['round-epochs'] ?? ROUND_EPOCHS[row]);

/** Every method at 100 labels on one seed: supervised-only first (the others' --control), rounds last. */
const hundredLabels = (seed) => [
  oneRound('supervised-only', 100, steps, seed, false),
  ...ONE_ROUND.map((row) => oneRound(row, 100, steps, seed, true)),
  ...IN_ROUNDS.map((row) => inRounds(row, 100, roundEpochs(row), seed)),
];
/** Acceptance 5: 40 and 1 000 labels, seed 0. */
const fewAndMany = () =>
  [40, 1000].flatMap((labels) => [
    oneRound('supervised-only', labels, steps, 0, false),
    ...FEW_AND_MANY.map((row) => oneRound(row, labels, steps, 0, true)),
  ]);
/** Acceptance 4's first two candidates at --long-steps, with their own supervised-only run of that length. */
const long = (seed) => [
  oneRound('supervised-only', 100, longSteps, seed, false),
  ...LONG_CANDIDATES.map((row) => oneRound(row, 100, longSteps, seed, true)),
];

const PLANS = {
  all: () => [...hundredLabels(0), ...long(0), ...hundredLabels(1), ...hundredLabels(2), ...fewAndMany(), ...long(1), ...long(2)],
  benchmark: () => [...hundredLabels(0), ...hundredLabels(1), ...hundredLabels(2), ...fewAndMany()],
  long: () => [...long(0), ...long(1), ...long(2)],
};
if (!PLANS[values.plan]) throw new Error(`--plan ${values.plan}: choose ${Object.keys(PLANS).join(', ')}.`);
const entries = PLANS[values.plan]();
process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
