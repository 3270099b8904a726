/**
 * What sets a workload's peak memory: every wasm kernel is wrapped so that each call that grows the wasm heap is
 * printed (kernel, output shapes, heap before → after, tfjs's live bytes), and after each step the heap, RSS, peak
 * RSS and the peak of tfjs's live bytes (which counts a tensor and its zero-copy aliases separately, so it can exceed
 * the heap). The wasm heap never shrinks, so its size after the first step is the step's peak plus the growth
 * policy's overshoot (emscripten grows by up to 20 %).
 *
 *   node --conditions=@ssl/source --import tsx bench/heap-growth.ts <workload> [steps=2]
 */
import * as tf from '@tensorflow/tfjs-core';
await import('../src/setup');
const { initBackend } = await import('../src/backend/index');
await initBackend({ log: () => {} });
const name = process.argv[2];
const WORKLOAD_FACTORIES: Record<string, [string, string]> = {
  'dino-vit28-multicrop': ['dino-vit28-multicrop', 'dinoVit28Multicrop'],
  'mae-vit28': ['mae-vit28', 'maeVit28'],
  'resnet18-cifar32': ['resnet18-cifar32', 'resnet18Cifar32'],
  'simclr-cnn28': ['simclr-cnn28', 'simclrCnn28'],
  'features-vit28': ['features28', 'featuresVit28'],
};
const [file, factoryName] = WORKLOAD_FACTORIES[name];
const backend = tf.backend() as unknown as { wasm: { wasmMemory?: { buffer: ArrayBuffer } } };
const heap = () => (backend.wasm.wasmMemory as { buffer: ArrayBuffer }).buffer.byteLength / 2 ** 20;
let liveBytesPeak = 0;
let peakAt = '';
const growth: string[] = [];
let record = false;
for (const config of tf.getKernelsForBackend('wasm')) {
  const original = config.kernelFunc;
  (config as { kernelFunc: tf.KernelFunc }).kernelFunc = (args) => {
    const before = heap();
    const out = original(args);
    if (record) {
      const after = heap();
      const live = tf.memory().numBytes;
      const outputs = Array.isArray(out) ? out : [out];
      if (after > before)
        growth.push(
          `${config.kernelName} ${outputs.map((o) => JSON.stringify(o.shape)).join(',')} heap ${before.toFixed(0)}->${after.toFixed(0)} MB live ${(live / 2 ** 20).toFixed(0)} MB`,
        );
      if (live > liveBytesPeak) {
        liveBytesPeak = live;
        peakAt = `${config.kernelName} ${outputs.map((o) => JSON.stringify(o.shape)).join(',')}`;
      }
    }
    return out;
  };
}
const workloadModule = await import(`./workloads/${file}`);
const rss = () => (process.memoryUsage().rss / 2 ** 20).toFixed(0);
console.log(`before build heap ${heap()} rss ${rss()}`);
const workload = workloadModule[factoryName]();
console.log(
  `after build heap ${heap()} rss ${rss()} live ${(tf.memory().numBytes / 2 ** 20).toFixed(0)} MB tensors ${tf.memory().numTensors}`,
);
record = true;
for (let i = 0; i < Number(process.argv[3] ?? 2); i++) {
  workload.step();
  console.log(
    `step ${i} heap ${heap()} rss ${rss()} maxrss ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} live ${(tf.memory().numBytes / 2 ** 20).toFixed(0)} MB peak live ${(liveBytesPeak / 2 ** 20).toFixed(0)} at ${peakAt}`,
  );
}
for (const g of growth) console.log(g);
