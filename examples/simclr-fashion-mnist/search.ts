/**
 * Recipe search helper (not part of the example's public surface): trains one configuration on a subset
 * of Fashion-MNIST and prints kNN accuracy of the trained encoder vs. the same encoder at random init.
 * Usage: node --conditions=@ssl/source --import tsx search.ts '<json>'
 *   json: { method: 'simclr'|'byol', n, epochs, batchSize, lr, kind, wd, config, encoder, seed, testN }
 */
import type * as tf from '@tensorflow/tfjs-core';
import { createEncoder, createRegistry, initBackend, loadFashionMnist, subset, train } from '@ssl/core';
import type { EncoderSpec, OptimizerSpec } from '@ssl/core';
import contrastive from '@ssl/contrastive';
import noncontrastive from '@ssl/noncontrastive';
import { extractFeatures, knnClassify, linearProbe } from '@ssl/eval';

const args = JSON.parse(process.argv[2] ?? '{}') as {
  method?: 'simclr' | 'byol';
  n?: number;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  kind?: OptimizerSpec['kind'];
  wd?: number;
  config?: Record<string, unknown>;
  encoder?: Partial<EncoderSpec>;
  seed?: number;
  testN?: number;
  probe?: boolean;
  random?: boolean;
};
await initBackend({ log: () => {} });
const full = await loadFashionMnist({ split: 'train', source: 'full' });
const testFull = await loadFashionMnist({ split: 'test', source: 'full' });
const n = args.n ?? 10000;
const data = subset(
  full,
  Array.from({ length: n }, (_, i) => i),
  `fmnist-${n}`,
);
const test = subset(
  testFull,
  Array.from({ length: args.testN ?? 2000 }, (_, i) => i),
  'test',
);
// An explicit encoder seed: the trained encoder and the random-init baseline start from the same weights.
const encoder = { kind: 'cnn', inputShape: [28, 28, 1], seed: 1234, ...(args.encoder ?? {}) } as EncoderSpec;
const registry = createRegistry().use(contrastive()).use(noncontrastive());
const id = args.method === 'byol' ? 'noncontrastive:byol' : 'contrastive:simclr';
const method = registry.create(id as 'contrastive:simclr', (args.config ?? {}) as never);
const started = performance.now();
const seed = args.seed ?? 0;
const optimizer = {
  ...(args.kind ? { kind: args.kind } : {}),
  ...(args.lr ? { lr: args.lr } : {}),
  ...(args.wd !== undefined ? { weightDecay: args.wd } : {}),
} as Partial<OptimizerSpec>;
const result = await train({ method, data, encoder, epochs: args.epochs ?? 3, batchSize: args.batchSize ?? 256, seed, optimizer });
const seconds = (performance.now() - started) / 1000;
const evaluate = async (enc: { features: (x: tf.Tensor4D) => tf.Tensor2D }) => {
  const trainFeatures = await extractFeatures(enc as never, data);
  const testFeatures = await extractFeatures(enc as never, test);
  const knn = (await knnClassify(trainFeatures, testFeatures, { k: 200 })).top1;
  const probe = args.probe ? (await linearProbe(trainFeatures, testFeatures, { maxIterations: 200 })).top1 : NaN;
  return { knn, probe };
};
const trained = await evaluate(result.encoder);
let randomInit = { knn: NaN, probe: NaN };
if (args.random !== false) {
  const fresh = createEncoder(encoder);
  randomInit = await evaluate(fresh);
}
const last = result.history.slice(-5);
const metrics = Object.fromEntries(
  Object.keys(last[0]?.metrics ?? {}).map((k) => [k, +(last.reduce((s, r) => s + r.metrics[k], 0) / last.length).toFixed(3)]),
);
console.log(
  JSON.stringify({
    args,
    seconds: +seconds.toFixed(0),
    loss: +(last.reduce((s, r) => s + r.loss, 0) / last.length).toFixed(3),
    metrics,
    trained,
    randomInit,
    load: (await import('node:os')).loadavg()[0].toFixed(1),
  }),
);
result.dispose();
