import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src';
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
const per = new Map<string, number>();
for (const k of info.kernels) {
  const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
  per.set(key, (per.get(key) ?? 0) + (typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0));
}
for (const [k, v] of [...per.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(process.argv[3] ?? 30)))
  console.log(v.toFixed(1).padStart(8), k);
