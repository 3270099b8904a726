import * as tf from '@tensorflow/tfjs-core';
await import('../src/setup');
const { initBackend } = await import('../src');
await initBackend();
const name = process.argv[2] ?? 'mae-vit28';
const mod =
  name === 'mae-vit28'
    ? await import('./workloads/mae-vit28')
    : name === 'simclr-cnn28'
      ? await import('./workloads/simclr-cnn28')
      : await import('./workloads/resnet18-cifar32');
const factory = Object.values(mod).find((v) => typeof v === 'function') as () => { step(): number; dispose(): void };
const w = factory();
w.step();
w.step();
const info = await tf.profile(() => {
  w.step();
});
const per = new Map<string, { ms: number; calls: number }>();
for (const k of info.kernels) {
  const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
  const entry = per.get(key) ?? { ms: 0, calls: 0 };
  entry.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
  entry.calls++;
  per.set(key, entry);
}
for (const [k, v] of [...per.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(process.argv[3] ?? 30)))
  console.log(v.ms.toFixed(1).padStart(8), `${v.calls}×`.padStart(4), k);
