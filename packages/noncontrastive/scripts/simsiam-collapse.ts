/**
 * SimSiam's collapse ablation (Chen & He 2021, sec. 4.1, fig. 2) on the committed Fashion-MNIST sample: the same
 * run with and without stop-gradient, the std·√d of the L2-normalised outputs z/‖z‖ at every step (≈ 1 when the
 * outputs spread over the sphere, 0 when they collapse to one point), the loss, and the final kNN top-1 beside the
 * encoder at random init. Writes a PNG chart and a JSON of the curves.
 *
 *   node --conditions=@ssl/source --import tsx packages/noncontrastive/scripts/simsiam-collapse.ts \
 *     [--steps 300] [--png packages/noncontrastive/docs/simsiam-collapse.png] [--json <file>]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createEncoder, createRegistry, initBackend, loadFashionMnist, train, type CnnSpec, type Encoder } from '@ssl/core';
import { extractFeatures, knnClassify, lineChartPng } from '@ssl/eval';
import noncontrastive from '../src/index';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '300' },
    png: { type: 'string', default: 'packages/noncontrastive/docs/simsiam-collapse.png' },
    json: { type: 'string', default: 'packages/noncontrastive/docs/simsiam-collapse.json' },
  },
});
const steps = Number(values.steps);

await initBackend({ log: () => {} });
const trainSet = await loadFashionMnist({ split: 'train', source: 'sample' });
const testSet = await loadFashionMnist({ split: 'test', source: 'sample' });
// The collapse test's setting (simsiam.test.ts): output BN off, which in training mode would standardise each
// output dimension over the batch and hide the collapse from this signal; Adam at a constant rate.
const encoder: CnnSpec = { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16], seed: 5 };
const knn = async (model: Encoder) =>
  (await knnClassify(await extractFeatures(model, trainSet), await extractFeatures(model, testSet), { k: 200 })).top1;

const control = createEncoder(encoder);
const randomInitKnn = await knn(control);
control.model.dispose();

async function run(stopGradient: boolean) {
  const method = createRegistry().use(noncontrastive()).create('noncontrastive:simsiam', {
    projectionHiddenDim: 64,
    projectionDim: 64,
    predictorHiddenDim: 16,
    outputBatchNorm: false,
    stopGradient,
  });
  const result = await train({
    method,
    data: trainSet,
    encoder,
    epochs: Math.ceil((steps * 64) / trainSet.size),
    maxSteps: steps,
    batchSize: 64,
    optimizer: { kind: 'adam', lr: 0.01 },
    schedule: { kind: 'constant' },
    seed: 0,
    // The run without stop-gradient collapses on purpose: the guard's collapse probe would stop it.
    guard: false,
  });
  const curve = {
    std: result.history.map((r) => r.metrics.projectionStd),
    loss: result.history.map((r) => r.loss),
    knn: await knn(result.encoder),
  };
  result.dispose();
  return curve;
}

const withStop = await run(true);
const without = await run(false);
const x = withStop.std.map((_, i) => i + 1);
const zeros = x.map(() => 0);
writeFileSync(
  values.png!,
  lineChartPng(
    [
      { name: `stop-grad (kNN ${(100 * withStop.knn).toFixed(1)})`, x, mean: withStop.std, spread: zeros },
      { name: `no stop-grad (kNN ${(100 * without.knn).toFixed(1)})`, x, mean: without.std, spread: zeros },
    ],
    {
      title: `SimSiam collapse ablation (random init kNN ${(100 * randomInitKnn).toFixed(1)})`,
      xLabel: 'step',
      yLabel: 'std of z/norm(z) x sqrt(d)',
      yLabelOf: (y) => y.toFixed(2),
    },
  ),
);
writeFileSync(values.json!, `${JSON.stringify({ steps, randomInitKnn, withStop, without })}\n`);
const tail = (values: number[]) => values.slice(-5).reduce((s, v) => s + v, 0) / 5;
console.log(
  `simsiam collapse, ${steps} steps: std·√d ${tail(withStop.std).toFixed(3)} with stop-gradient, ${tail(without.std).toFixed(3)} without; ` +
    `loss ${tail(withStop.loss).toFixed(3)} / ${tail(without.loss).toFixed(3)}; kNN ${(100 * withStop.knn).toFixed(1)}% / ${(100 * without.knn).toFixed(1)}% ` +
    `(random init ${(100 * randomInitKnn).toFixed(1)}%)`,
);
