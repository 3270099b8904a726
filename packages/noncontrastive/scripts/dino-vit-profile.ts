/**
 * Where a DINO step with the vit28 encoder spends its time: one step of `noncontrastive:dino` (student over every
 * crop, EMA teacher over the global crops, backward, AdamW, teacher EMA, center) timed and profiled by kernel,
 * beside a plain forward + backward of the same ViT on the same crops (the floor a multi-crop step cannot beat).
 *
 *   node --conditions=@ssl/source --import tsx packages/noncontrastive/scripts/dino-vit-profile.ts \
 *     [--batch 64] [--local-crops 2] [--local-size 12] [--steps 3] [--threads 2] [--config recipe.json] [--crop-batches per-view|per-size]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import {
  Random,
  RunPools,
  createEncoder,
  createOptimizer,
  createRegistry,
  initBackend,
  rangeIds,
  variableGrads,
  vitPreset,
  withEncoderOptions,
} from '@ssl/core';
import type { VitSpec } from '@ssl/core';
import type { MethodRuntime, StepContext, UnlabeledBatch } from '@ssl/core';
import noncontrastive from '../src/index';
import type { DINOCarry, DINOConfig } from '../src/index';

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '64' },
    'local-crops': { type: 'string', default: '2' },
    'local-size': { type: 'string', default: '12' },
    steps: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
    config: { type: 'string' },
    'crop-batches': { type: 'string' },
  },
});
const batchSize = Number(values.batch);
const localCrops = Number(values['local-crops']);
const localSize = Number(values['local-size']);
const steps = Number(values.steps);

await initBackend({ backend: 'wasm', threads: Number(values.threads), log: () => {} });
const recipeFile = values.config
  ? (JSON.parse(readFileSync(values.config, 'utf8')) as { method?: Partial<DINOConfig>; encoderOptions?: Record<string, unknown> })
  : {};
const recipe = recipeFile.method ?? {};
const handle = createRegistry()
  .use(noncontrastive())
  .create('noncontrastive:dino', {
    ...recipe,
    ...(values['crop-batches'] ? { cropBatches: values['crop-batches'] as DINOConfig['cropBatches'] } : {}),
    views: { ...recipe.views, localCrops, localSize: [localSize, localSize] },
  });
// The recipe's encoderOptions (e.g. patch 7, depth, width) on top of vit28, as `ssl pretrain --config` applies them.
const spec = withEncoderOptions(vitPreset('vit28', { seed: 1 }), recipeFile.encoderOptions ?? {}) as VitSpec;
let seed = 1;
const runtime = handle.definition.build({
  round: 0,
  sampleCount: 0,
  pools: new RunPools({}, { sampleCount: 0 }),
  config: handle.config,
  inputShape: [28, 28, 1],
  rng: new Random(3),
  createEncoder: () => createEncoder({ ...spec, seed: seed++ }),
}) as MethodRuntime<'unlabeled', DINOCarry>;
const variables = Object.values(runtime.trainable).flatMap((model) => model.trainableWeights.map((w) => w.read() as tf.Variable));
const optimizer = createOptimizer({ kind: 'adamw', lr: 1e-3, weightDecay: 0.04 }, variables);

const crop = (side: number, s: number) => tf.randomUniform([batchSize, side, side, 1], 0, 1, 'float32', s) as tf.Tensor4D;
const views = [crop(28, 1), crop(28, 2), ...Array.from({ length: localCrops }, (_, k) => crop(localSize, 3 + k))];
const batch: UnlabeledBatch = { kind: 'unlabeled', images: views[0], indices: rangeIds(batchSize, 0), views };
const context: StepContext = { round: 0, step: 10, epoch: 1, totalSteps: 100, progress: 0.1, rng: new Random(1), lr: 1e-3 };

function dinoStep(): void {
  let carry: DINOCarry | undefined;
  const { value, grads } = variableGrads(() => {
    const out = runtime.step(batch, context);
    carry = out.carry ? { teacherOutputs: out.carry.teacherOutputs.map((t) => tf.keep(t)) } : undefined;
    tf.dispose(Object.values(out.metrics ?? {}));
    return out.loss;
  }, variables);
  optimizer.apply(
    variables.map((v) => grads[v.name] ?? null),
    1e-3,
  );
  tf.dispose(Object.values(grads));
  tf.tidy(() => runtime.afterStep?.(batch, context, carry));
  for (const pair of runtime.momentumPairs?.pairs ?? []) {
    tf.tidy(() =>
      pair.target.weights.forEach((w, i) => w.write(tf.add(tf.mul(w.read(), 0.996), tf.mul(pair.source.weights[i].read(), 0.004)))),
    );
  }
  value.dataSync();
  tf.dispose([value, ...(carry?.teacherOutputs ?? [])]);
}

/** The floor: the student ViT forward + backward over the same crops, one batch per crop size, a scalar loss. */
const encoder = runtime.encoder;
function plainStep(): void {
  const { value, grads } = variableGrads(
    () => {
      const globalFeatures = encoder.features(tf.concat(views.slice(0, 2), 0) as tf.Tensor4D, { training: true });
      const terms = [tf.mean(tf.square(globalFeatures))];
      if (localCrops > 0) terms.push(tf.mean(tf.square(encoder.features(tf.concat(views.slice(2), 0) as tf.Tensor4D, { training: true }))));
      return tf.addN(terms) as tf.Scalar;
    },
    encoder.model.trainableWeights.map((w) => w.read() as tf.Variable),
  );
  tf.dispose([value, ...Object.values(grads)]);
}

async function measure(name: string, run: () => void): Promise<void> {
  run();
  const ms: number[] = [];
  const cpuMs: number[] = [];
  for (let i = 0; i < steps; i++) {
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    run();
    const cpu = process.cpuUsage(cpuStart);
    cpuMs.push((cpu.user + cpu.system) / 1000);
    ms.push(performance.now() - start);
  }
  const info = await tf.profile(run);
  const perKernel = new Map<string, number>();
  for (const kernel of info.kernels) perKernel.set(kernel.name, (perKernel.get(kernel.name) ?? 0) + (kernel.kernelTimeMs as number));
  const total = [...perKernel.values()].reduce((a, b) => a + b, 0);
  const top = [...perKernel.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
    .map(([kernel, t]) => `${kernel}=${t.toFixed(0)}(${((100 * t) / total).toFixed(0)}%)`)
    .join(' ');
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  // CPU time (all threads) is what the step costs; wall time depends on what else the machine runs.
  console.log(
    `${name}: cpu ${median(cpuMs).toFixed(0)} ms, wall ${median(ms).toFixed(0)} ms (median of ${steps}); kernels ${info.kernels.length} calls, ${total.toFixed(0)} ms: ${top}`,
  );
}

console.log(
  `batch ${batchSize}, 2 global 28×28 + ${localCrops} local ${localSize}×${localSize}, vit28 ${JSON.stringify(recipeFile.encoderOptions ?? {})}, crops ${handle.config.cropBatches}, load ${(await import('node:os')).loadavg()[0].toFixed(2)}`,
);
await measure('dino step', dinoStep);
await measure('vit forward+backward, same crops', plainStep);
