/**
 * The ops core's kernel tests check on wasm (packages/core/src/backend/kernels/kernels.test.ts and
 * training.test.ts), run here on a GPU backend of the page (`?backend=webgl`, the default, or `webgpu`) and on
 * the reference `cpu` backend: values, and gradients of Σ op(x)·w for random w (so a wrong index in a backward
 * kernel shows), compared with a tolerance for float32 textures, or float16 ones where the GPU only offers
 * those. Then a training step of core's CNN and ViT encoders and of SimCLR's loss: every weight's gradient.
 * The results are published on `window.sslKernels` for the test that drives the page.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's ESM entry registers no gradients; core's browser entry registers the ones training uses, and
// the op checks below take every op's.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { Random, createEncoder, initBackend, vitPreset } from '@ssl/core';
import type { BackendName, EncoderSpec } from '@ssl/core';
import { ntXentLoss } from '@ssl/contrastive';

interface CaseResult {
  name: string;
  /** max |gpu − cpu| / max(1, max |cpu|), the worst over the value and every gradient. */
  error: number;
  tolerance: number;
  /** Which output was worst: `value` or `d/dinput<i>`. */
  worstOf: string;
  ok: boolean;
}

interface KernelReport {
  status: 'starting' | 'running' | 'done' | 'failed';
  backend?: string;
  float32?: boolean;
  renderer?: string;
  cases: CaseResult[];
  error?: string;
}

declare global {
  interface Window {
    sslKernels: KernelReport;
  }
}

const report: KernelReport = { status: 'starting', cases: [] };
window.sslKernels = report;
const gpu = (new URLSearchParams(location.search).get('backend') ?? 'webgl') as BackendName;

interface HostTensor {
  shape: number[];
  values: Float32Array | Int32Array;
  dtype: 'float32' | 'int32';
}

const random = new Random(20240611);

function normal(shape: number[], generator = random): HostTensor {
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = generator.normal();
  return { shape, values, dtype: 'float32' };
}

function ints(shape: number[], high: number): HostTensor {
  const values = new Int32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = Math.floor(random.next() * high);
  return { shape, values, dtype: 'int32' };
}

interface Outputs {
  value: Float32Array;
  gradients: Float32Array[];
}

/** op's value, and the gradients of Σ op(inputs)·w with respect to the float inputs, on `backend`. */
async function valueAndGradients(
  backend: string,
  op: (...inputs: tf.Tensor[]) => tf.Tensor,
  inputs: HostTensor[],
  gradients: boolean,
): Promise<Outputs> {
  await tf.setBackend(backend);
  const tensors = inputs.map((input) => tf.tensor(input.values, input.shape, input.dtype));
  const floatInputs = tensors.filter((tensor) => tensor.dtype === 'float32');
  const value = op(...tensors);
  const weights = tf.tensor(normal(value.shape, new Random(7)).values, value.shape);
  const result: Outputs = { value: Float32Array.from(await value.data()), gradients: [] };
  if (gradients && floatInputs.length > 0) {
    const grads = tf.grads((...xs: tf.Tensor[]) => {
      let next = 0;
      const all = tensors.map((tensor) => (tensor.dtype === 'float32' ? xs[next++] : tensor));
      return tf.sum(tf.mul(op(...all).toFloat(), weights));
    })(floatInputs);
    for (const gradient of grads) result.gradients.push(Float32Array.from(await gradient.data()));
    tf.dispose(grads);
  }
  tf.dispose([...tensors, value, weights]);
  return result;
}

/**
 * The relative error allowed: with float32 textures (what tfjs-backend-webgl renders to when the GPU offers
 * them; the test requires it) the bound of kernels.test.ts for wasm, 2e-5·√n + 1e-5 (the GPU rounds and sums in
 * another order than the cpu backend's JS float32). Float16 textures keep 11 bits: 2e-3·√n + 2e-3.
 */
function tolerance(length: number): number {
  return report.float32 === false ? 2e-3 * Math.sqrt(length) + 2e-3 : 2e-5 * Math.sqrt(length) + 1e-5;
}

function relativeError(actual: Float32Array, expected: Float32Array): number {
  if (actual.length !== expected.length) return Infinity;
  let scale = 1;
  for (const value of expected) scale = Math.max(scale, Math.abs(value));
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const difference = Math.abs(actual[i] - expected[i]);
    worst = Math.max(worst, Number.isNaN(difference) ? Infinity : difference);
  }
  return worst / scale;
}

function record(name: string, pairs: { label: string; actual: Float32Array; expected: Float32Array }[]): void {
  let worst: CaseResult = { name, error: 0, tolerance: tolerance(1), worstOf: 'value', ok: true };
  for (const { actual, expected, ...pair } of pairs) {
    let label = pair.label;
    const error = relativeError(actual, expected);
    const nonFinite = (values: Float32Array) => values.filter((value) => !Number.isFinite(value)).length;
    if (nonFinite(actual) + nonFinite(expected) > 0) label += ` (${nonFinite(actual)} non-finite on ${gpu}, ${nonFinite(expected)} on cpu)`;
    const allowed = tolerance(expected.length);
    const ok = error < allowed;
    // The case reports its worst output relative to its bound.
    if (!ok || (worst.ok && error / allowed > worst.error / worst.tolerance))
      worst = { name, error, tolerance: allowed, worstOf: label, ok };
    if (!ok) break;
  }
  report.cases.push(worst);
  if (!worst.ok) console.warn(`${name}: ${worst.worstOf} off by ${worst.error} (bound ${worst.tolerance})`);
}

async function check(name: string, op: (...inputs: tf.Tensor[]) => tf.Tensor, inputs: HostTensor[], gradients = true): Promise<void> {
  let expected: Outputs;
  let actual: Outputs;
  try {
    expected = await valueAndGradients('cpu', op, inputs, gradients).catch((error: unknown) =>
      Promise.reject(new Error(`on cpu: ${String(error)}`)),
    );
    actual = await valueAndGradients(gpu, op, inputs, gradients).catch((error: unknown) =>
      Promise.reject(new Error(`on ${gpu}: ${String(error)}`)),
    );
  } catch (error) {
    // One case's error fails that case (the test lists it), not the page.
    report.cases.push({ name, error: Infinity, tolerance: 0, worstOf: error instanceof Error ? error.message : String(error), ok: false });
    return;
  }
  record(name, [
    { label: 'value', actual: actual.value, expected: expected.value },
    ...expected.gradients.map((gradient, i) => ({
      label: `d/dinput${i}`,
      actual: actual.gradients[i] ?? new Float32Array(),
      expected: gradient,
    })),
  ]);
}

/** The gradient of `lossOf` for each of `variables` (in their order: the layer order of the model) on `backend`. */
async function weightGradients(backend: string, variables: tf.Variable[], lossOf: () => tf.Scalar): Promise<Outputs> {
  await tf.setBackend(backend);
  const { value, grads } = tf.variableGrads(lossOf, variables);
  const result: Outputs = { value: Float32Array.from(await value.data()), gradients: [] };
  for (const variable of variables) result.gradients.push(Float32Array.from(await grads[variable.name].data()));
  tf.dispose([value, ...Object.values(grads)]);
  return result;
}

/** A training step's loss and weight gradients of core's encoder `spec` (batch-norm in training mode), then SimCLR's loss on top. */
async function checkEncoder(name: string, spec: EncoderSpec, images: HostTensor, simclr: boolean): Promise<void> {
  const run = async (backend: string): Promise<Outputs> => {
    await tf.setBackend(backend);
    const encoder = createEncoder(spec);
    const x = tf.tensor(images.values, images.shape as [number, number, number, number]) as tf.Tensor4D;
    const half = images.shape[0] / 2;
    const weights = tf.tensor(normal([images.shape[0], encoder.featureDim], new Random(7)).values, [images.shape[0], encoder.featureDim]);
    // The model is rebuilt from its seed on each backend; its variables' names differ, their order does not.
    const variables = encoder.model.trainableWeights.map((weight) => weight.read() as tf.Variable);
    const outputs = await weightGradients(backend, variables, () =>
      tf.tidy(() => {
        const features = encoder.features(x, { training: true }) as tf.Tensor2D;
        if (!simclr) return tf.sum(tf.mul(features, weights));
        // The two halves of the batch as two views of the same images: SimCLR's NT-Xent at temperature 0.5.
        const [first, second] = tf.split(features, [half, half]) as [tf.Tensor2D, tf.Tensor2D];
        return ntXentLoss(first, second, { temperature: 0.5 });
      }),
    );
    tf.dispose([x, weights]);
    encoder.model.dispose();
    return outputs;
  };
  const expected = await run('cpu');
  const actual = await run(gpu);
  record(name, [
    { label: 'loss', actual: actual.value, expected: expected.value },
    ...expected.gradients.map((gradient, i) => ({
      label: `weight ${i}`,
      actual: actual.gradients[i] ?? new Float32Array(),
      expected: gradient,
    })),
  ]);
}

async function main(): Promise<void> {
  const info = await initBackend({ backend: gpu, log: () => undefined });
  report.backend = info.name;
  // tfjs-backend-webgpu computes in float32 storage buffers.
  report.float32 = true;
  if (gpu === 'webgpu') {
    // lib.dom's GPUAdapter type predates adapter.info.
    const gpuNavigator = navigator as unknown as {
      gpu: { requestAdapter(): Promise<{ info?: { vendor: string; architecture: string } } | null> };
    };
    const adapter = await gpuNavigator.gpu.requestAdapter();
    report.renderer = adapter?.info ? `${adapter.info.vendor} ${adapter.info.architecture}` : undefined;
  }
  if (gpu === 'webgl') {
    report.float32 = tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED');
    const context = document.createElement('canvas').getContext('webgl2');
    const debug = context?.getExtension('WEBGL_debug_renderer_info');
    report.renderer = context && debug ? String(context.getParameter(debug.UNMASKED_RENDERER_WEBGL)) : undefined;
  }
  report.status = 'running';

  // conv2d and its two backprop kernels (kernels.test.ts: "conv2d gradients match cpu").
  const convs: [string, number[], number[], [number, number], 'same' | 'valid', number][] = [
    ['3x3 same', [2, 9, 9, 3], [3, 3, 3, 8], [1, 1], 'same', 1],
    ['3x3 stride 2 valid', [2, 11, 10, 4], [3, 3, 4, 6], [2, 2], 'valid', 1],
    ['5x5 stride 2 same', [1, 12, 12, 2], [5, 5, 2, 5], [2, 2], 'same', 1],
    ['1x1', [2, 6, 6, 8], [1, 1, 8, 4], [1, 1], 'valid', 1],
    ['3x3 dilation 2', [2, 10, 10, 3], [3, 3, 3, 4], [1, 1], 'same', 2],
  ];
  // tfjs defines no conv gradient for dilation > 1 (on any backend; kernels.test.ts checks our backprop kernels
  // there as adjoints of the forward conv): values only.
  for (const [name, xShape, filterShape, strides, pad, dilation] of convs)
    await check(
      `conv2d ${name}`,
      (x, f) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, strides, pad, 'NHWC', dilation),
      [normal(xShape), normal(filterShape)],
      dilation === 1,
    );
  // FusedConv2D (a tfjs-layers conv with bias and activation).
  for (const activation of ['relu', 'leakyrelu'] as const)
    await check(
      `fused conv2d + bias + ${activation}`,
      (x, f, b) =>
        tf.fused.conv2d({
          x: x as tf.Tensor4D,
          filter: f as tf.Tensor4D,
          strides: 1,
          pad: 'same',
          bias: b,
          activation,
          leakyreluAlpha: 0.2,
        }),
      [normal([2, 8, 8, 3]), normal([3, 3, 3, 6]), normal([6])],
    );
  // Depthwise conv2d (kernels.test.ts: "depthwise conv2d gradients match cpu").
  await check('depthwise conv2d 3x3', (x, f) => tf.depthwiseConv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, 'same'), [
    normal([2, 8, 8, 4]),
    normal([3, 3, 4, 2]),
  ]);
  await check('depthwise conv2d stride 2', (x, f) => tf.depthwiseConv2d(x as tf.Tensor4D, f as tf.Tensor4D, 2, 'valid'), [
    normal([2, 9, 9, 3]),
    normal([3, 3, 3, 1]),
  ]);
  await check(
    'depthwise conv2d dilation 2',
    (x, f) => tf.depthwiseConv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, 'same', 'NHWC', 2),
    [normal([1, 9, 9, 2]), normal([3, 3, 2, 1])],
    false,
  );
  // matMul (kernels.test.ts: "matMul matches cpu").
  for (const [transposeA, transposeB] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ])
    await check(`matMul${transposeA ? ' Aᵀ' : ''}${transposeB ? ' Bᵀ' : ''}`, (a, b) => tf.matMul(a, b, transposeA, transposeB), [
      normal(transposeA ? [37, 13] : [13, 37]),
      normal(transposeB ? [19, 37] : [37, 19]),
    ]);
  await check('batched matMul (attention: [2·4, 17, 8] × [2·4, 8, 17])', (a, b) => tf.matMul(a, b, false, true), [
    normal([8, 17, 8]),
    normal([8, 17, 8]),
  ]);
  // tfjs's BatchMatMul gradient does not sum over a broadcast batch (an error on every backend): values only.
  await check('batched matMul, broadcast left matrix', (a, b) => tf.matMul(a, b), [normal([1, 9, 12]), normal([4, 12, 7])], false);
  await check(
    'fused matMul + bias + relu (dense layer)',
    (a, b, bias) => tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias, activation: 'relu' }),
    [normal([16, 24]), normal([24, 10]), normal([10])],
  );
  // transpose (kernels.test.ts: "transpose matches cpu"), float32 and int32.
  await check('transpose 2-D', (x) => tf.transpose(x), [normal([33, 35])]);
  await check('transpose 4-D [0, 3, 1, 2]', (x) => tf.transpose(x, [0, 3, 1, 2]), [normal([2, 5, 6, 7])]);
  await check('transpose batch of matrices [0, 2, 1]', (x) => tf.transpose(x, [0, 2, 1]), [normal([3, 9, 34])]);
  await check('transpose int32', (x) => tf.transpose(x, [1, 0, 2]), [ints([4, 5, 3], 1000)], false);
  // gather and its gradient unsortedSegmentSum (kernels.test.ts: embedding lookup with repeated ids).
  await check('gather rows, repeated ids (gradient: unsortedSegmentSum)', (table, ids) => tf.gather(table, ids), [
    normal([12, 6]),
    ints([20], 12),
  ]);
  await check('gather rank-2 ids', (table, ids) => tf.gather(table, ids), [normal([10, 5]), ints([4, 6], 10)]);
  for (const axis of [0, 1, 2]) await check(`gather axis ${axis}`, (x, ids) => tf.gather(x, ids, axis), [normal([5, 6, 7]), ints([4], 5)]);
  await check('gather batchDims 1', (x, ids) => tf.gather(x, ids, 1, 1), [normal([3, 8, 4]), ints([3, 5], 8)]);
  await check('unsortedSegmentSum', (x, ids) => tf.unsortedSegmentSum(x, ids as tf.Tensor1D, 6), [normal([15, 4]), ints([15], 6)], false);
  // identity (clone), oneHot.
  await check('clone', (x) => tf.clone(x), [normal([4, 7])]);
  await check('oneHot (float32 ones)', (ids) => tf.oneHot(ids as tf.Tensor1D, 10).toFloat(), [ints([25], 10)], false);
  // reverse, slice, pad, split, unstack over ranks 1–4 (kernels.test.ts: block and run copies).
  await check('reverse rank 1', (x) => tf.reverse(x), [normal([17])]);
  await check('reverse rank 3, axes [0, 2]', (x) => tf.reverse(x, [0, 2]), [normal([3, 4, 5])]);
  await check('reverse rank 4, axis 2', (x) => tf.reverse(x, 2), [normal([2, 3, 4, 5])]);
  await check('slice rank 2', (x) => tf.slice(x, [1, 2], [3, 4]), [normal([6, 8])]);
  await check('slice rank 4, partial axes', (x) => tf.slice(x, [0, 1, 2, 0], [2, 3, -1, 2]), [normal([3, 5, 6, 4])]);
  await check(
    'pad rank 2',
    (x) =>
      tf.pad(x, [
        [1, 2],
        [0, 3],
      ]),
    [normal([4, 5])],
  );
  await check(
    'pad rank 4 with a constant',
    (x) =>
      tf.pad(
        x,
        [
          [0, 0],
          [2, 1],
          [1, 2],
          [0, 0],
        ],
        0.5,
      ),
    [normal([2, 5, 5, 3])],
  );
  await check(
    'split uneven, axis 1',
    (x) =>
      tf.concat(
        tf.split(x, [2, 3, 4], 1).map((part, i) => tf.mul(part, i + 1)),
        1,
      ),
    [normal([3, 9, 2])],
  );
  await check('unstack axis 2', (x) => tf.stack(tf.unstack(x, 2).map((part, i) => tf.mul(part, i + 1))), [normal([3, 4, 5])]);
  // Broadcasting comparisons, maximum and minimum.
  await check(
    'greater / equal / lessEqual, broadcast',
    (a, b) => tf.stack([tf.greater(a, b), tf.equal(tf.round(a), tf.round(b)), tf.lessEqual(a, b)]).toFloat(),
    [normal([4, 1, 6]), normal([5, 1])],
    false,
  );
  await check('maximum and minimum', (a, b) => tf.add(tf.maximum(a, b), tf.mul(tf.minimum(a, b), 2)), [normal([6, 7]), normal([6, 7])]);
  // Reductions and pooling (kernels.test.ts: sum/mean over leading axes, maxPool gradient).
  for (const [axis, keepDims] of [
    [0, false],
    [[0, 1], true],
    [2, false],
    [undefined, false],
  ] as [number | number[] | undefined, boolean][]) {
    await check(`sum axis ${JSON.stringify(axis)}${keepDims ? ' keepDims' : ''}`, (x) => tf.sum(x, axis, keepDims), [normal([7, 6, 5])]);
    await check(`mean axis ${JSON.stringify(axis)}${keepDims ? ' keepDims' : ''}`, (x) => tf.mean(x, axis, keepDims), [normal([7, 6, 5])]);
  }
  for (const [size, stride, pad] of [
    [2, 2, 'valid'],
    [3, 2, 'same'],
    [3, 1, 'same'],
  ] as [number, number, 'valid' | 'same'][]) {
    await check(`maxPool ${size}x${size}/${stride} ${pad}`, (x) => tf.maxPool(x as tf.Tensor4D, size, stride, pad), [normal([3, 9, 7, 4])]);
    await check(`avgPool ${size}x${size}/${stride} ${pad}`, (x) => tf.avgPool(x as tf.Tensor4D, size, stride, pad), [normal([3, 9, 7, 4])]);
  }
  // Batch norm at inference (FusedBatchNorm), and the element-wise ops the losses use.
  await check('batchNorm rank 4 with offset and scale', (x, m, v, o, s) => tf.batchNorm(x, m, tf.abs(v), o, s, 1e-3), [
    normal([2, 4, 4, 6]),
    normal([6]),
    normal([6]),
    normal([6]),
    normal([6]),
  ]);
  await check(
    'batchNorm rank 2 without offset and scale',
    (x, m, v) => tf.batchNorm(x, m, tf.add(tf.abs(v), 0.1), undefined, undefined, 1e-3),
    [normal([5, 7]), normal([7]), normal([7])],
    // tfjs's batchNorm gradient reads the scale it was not given (a TypeError on cpu too): values only.
    false,
  );
  await check('softmax / logSoftmax', (x) => tf.add(tf.softmax(x), tf.logSoftmax(x)), [normal([6, 10])]);
  await check(
    'exp, log, sqrt, tanh, sigmoid, relu',
    (x) => tf.stack([tf.exp(x), tf.log(tf.add(tf.abs(x), 0.5)), tf.sqrt(tf.add(tf.abs(x), 0.5)), tf.tanh(x), tf.sigmoid(x), tf.relu(x)]),
    [normal([5, 8])],
  );

  // A training step of core's encoders (training.test.ts: every layer kind the encoders use), then SimCLR's loss.
  const images = {
    shape: [8, 28, 28, 1],
    values: Float32Array.from(normal([8, 28, 28, 1]).values, (v) => Math.min(1, Math.abs(v) / 2)),
    dtype: 'float32' as const,
  };
  const cnn: EncoderSpec = { kind: 'cnn', inputShape: [28, 28, 1], channels: [16, 32, 64], seed: 1234 };
  await checkEncoder('CNN encoder (conv, batch norm in training mode, pooling): weight gradients', cnn, images, false);
  await checkEncoder('CNN encoder + SimCLR NT-Xent: weight gradients', cnn, images, true);
  const vit = vitPreset('vit28', { seed: 1234, gelu: 'tanh', patchSize: 7, pooling: 'mean' });
  await checkEncoder('ViT encoder (attention, layer norm, GELU): weight gradients', vit, images, false);
  report.status = 'done';
}

main().catch((error: unknown) => {
  report.status = 'failed';
  report.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  console.error(error);
});
