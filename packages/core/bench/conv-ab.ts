/**
 * The three convolution kernels (Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter) of the simclr-cnn28 and
 * resnet18-cifar32 layers, A/B between implementations, alternating in one process. Prints per kernel and
 * layer the median wall and CPU time (process CPU, all threads) of each variant, and the load average.
 *
 *   node --conditions=@ssl/source --import tsx bench/conv-ab.ts [repeats=7] [layers=simclr,resnet,strided] [kernels=forward,input,filter] [variants=matmul|filter-products]
 *
 * Variants: `matmul` (the strided input gradient's product on XNNPACK or on kernels.c's GEMM), `filter-products` (the
 * Winograd filter gradient's 36 products through conv2d_filter_gradient per position, 'rows', or through
 * winograd_filter_products, 'blocked').
 */
import * as os from 'node:os';

import * as tf from '@tensorflow/tfjs-core';

await import('../src/setup');
const { initBackend } = await import('../src/backend/index');
const info = await initBackend({ log: () => {} });
const repeats = Number(process.argv[2] ?? 7);
const groups = (process.argv[3] ?? 'simclr,resnet,strided').split(',');
const kernelNames = (process.argv[4] ?? 'forward,input,filter').split(',');

interface Variant {
  name: string;
  apply(): void;
}
const { setMatMulMethod } = await import('../src/backend/kernels/matmul');
// The strided input gradient's product dy·Wᵀ (the col2im path): XNNPACK on one thread vs kernels.c's GEMM on two.
const { setWinogradEnabled, setWinogradFilterProducts } = await import('../src/backend/kernels/winograd');
const variantSet = process.argv[5] ?? 'matmul';
const VARIANTS: Variant[] =
  variantSet === 'winograd'
    ? [
        { name: 'direct', apply: () => setWinogradEnabled(false) },
        { name: 'winograd', apply: () => setWinogradEnabled(true) },
      ]
    : variantSet === 'filter-products'
      ? [
          { name: 'rows', apply: () => setWinogradFilterProducts('rows') },
          { name: 'blocked', apply: () => setWinogradFilterProducts('blocked') },
        ]
      : [
          { name: 'xnnpack', apply: () => setMatMulMethod('xnnpack') },
          { name: 'gemm', apply: () => setMatMulMethod('auto') },
        ];

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

interface Layer {
  name: string;
  input: [number, number, number, number];
  filter: [number, number, number, number];
  stride: number;
  pad: 'same' | 'valid';
}
const LAYERS: Layer[] = [];
if (groups.includes('simclr')) {
  LAYERS.push(
    { name: 'simclr conv1 28²×1→32', input: [512, 28, 28, 1], filter: [3, 3, 1, 32], stride: 1, pad: 'same' },
    { name: 'simclr conv2 14²×32→64', input: [512, 14, 14, 32], filter: [3, 3, 32, 64], stride: 1, pad: 'same' },
    { name: 'simclr conv3 7²×64→128', input: [512, 7, 7, 64], filter: [3, 3, 64, 128], stride: 1, pad: 'same' },
  );
}
if (groups.includes('fixmatch')) {
  // fixmatch-cnn28-b16: 16 labeled + 48 weak + 48 strong views in one batch.
  LAYERS.push(
    { name: 'fixmatch conv1 28²×1→16', input: [112, 28, 28, 1], filter: [3, 3, 1, 16], stride: 1, pad: 'same' },
    { name: 'fixmatch conv2 14²×16→32', input: [112, 14, 14, 16], filter: [3, 3, 16, 32], stride: 1, pad: 'same' },
    { name: 'fixmatch conv3 7²×32→64', input: [112, 7, 7, 32], filter: [3, 3, 32, 64], stride: 1, pad: 'same' },
  );
}
if (groups.includes('resnet')) {
  LAYERS.push(
    { name: 'resnet 32²×64→64', input: [256, 32, 32, 64], filter: [3, 3, 64, 64], stride: 1, pad: 'same' },
    { name: 'resnet 16²×128→128', input: [256, 16, 16, 128], filter: [3, 3, 128, 128], stride: 1, pad: 'same' },
    { name: 'resnet 8²×256→256', input: [256, 8, 8, 256], filter: [3, 3, 256, 256], stride: 1, pad: 'same' },
    { name: 'resnet 4²×512→512', input: [256, 4, 4, 512], filter: [3, 3, 512, 512], stride: 1, pad: 'same' },
  );
}
if (groups.includes('strided')) {
  // resnet18-cifar32's downsampling: the first conv of stages 2-4 and their 1×1 shortcuts.
  for (const [size, channels] of [
    [32, 64],
    [16, 128],
    [8, 256],
  ]) {
    const input: Layer['input'] = [256, size, size, channels];
    LAYERS.push(
      { name: `resnet ${size}²×${channels}→${2 * channels} /2`, input, filter: [3, 3, channels, 2 * channels], stride: 2, pad: 'same' },
      {
        name: `resnet 1×1 ${size}²×${channels}→${2 * channels} /2`,
        input,
        filter: [1, 1, channels, 2 * channels],
        stride: 2,
        pad: 'valid',
      },
    );
  }
}

console.log(`conv-ab: ${info.threads} threads, load average ${load()}`);
for (const layer of LAYERS) {
  const x = tf.randomNormal(layer.input) as tf.Tensor4D;
  const w = tf.randomNormal(layer.filter, 0, 0.1) as tf.Tensor4D;
  const y = tf.conv2d(x, w, layer.stride, layer.pad);
  const dy = tf.randomNormal(y.shape) as tf.Tensor4D;
  y.dispose();
  const attrs = { strides: layer.stride, pad: layer.pad, dataFormat: 'NHWC', dilations: 1 };
  const kernels: Array<[string, () => tf.Tensor]> = [
    ['forward', () => tf.conv2d(x, w, layer.stride, layer.pad)],
    [
      'input gradient',
      () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: layer.input }) as tf.Tensor,
    ],
    [
      'filter gradient',
      () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: layer.filter }) as tf.Tensor,
    ],
  ];
  for (const [kernel, run] of kernels) {
    if (!kernelNames.includes(kernel.split(' ')[0])) continue;
    if (kernel === 'input gradient' && layer.input[3] === 1) continue; // the first layer's input gradient is never asked for
    const wall = new Map<string, number[]>();
    const cpu = new Map<string, number[]>();
    const reference = new Map<string, Float32Array>();
    for (let i = 0; i <= repeats; i++) {
      for (const variant of VARIANTS) {
        variant.apply();
        const cpuStart = process.cpuUsage();
        const start = performance.now();
        const out = run();
        const values = out.dataSync() as Float32Array;
        const elapsed = performance.now() - start;
        const used = process.cpuUsage(cpuStart);
        out.dispose();
        if (i === 0) {
          reference.set(variant.name, values);
          continue; // warm-up
        }
        wall.set(variant.name, [...(wall.get(variant.name) ?? []), elapsed]);
        cpu.set(variant.name, [...(cpu.get(variant.name) ?? []), (used.user + used.system) / 1000]);
      }
    }
    VARIANTS[0].apply();
    const first = reference.get(VARIANTS[0].name) as Float32Array;
    let scale = 0;
    for (const v of first) scale = Math.max(scale, Math.abs(v));
    const parts = VARIANTS.map((variant) => {
      const values = reference.get(variant.name) as Float32Array;
      let worst = 0;
      for (let j = 0; j < values.length; j++) worst = Math.max(worst, Math.abs(values[j] - first[j]));
      return `${variant.name} ${median(wall.get(variant.name) ?? []).toFixed(1)} ms (cpu ${median(cpu.get(variant.name) ?? []).toFixed(1)})${
        variant === VARIANTS[0] ? '' : ` Δ ${(worst / scale).toExponential(1)}`
      }`;
    });
    console.log(`${`${layer.name} ${kernel}`.padEnd(44)} ${parts.join(' | ')}   load ${os.loadavg()[0].toFixed(2)}`);
  }
  tf.dispose([x, w, dy]);
}
console.log(`load average at the end ${load()}`);
