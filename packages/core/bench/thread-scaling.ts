/**
 * Does the wasm backend use more than one core under Node? Times a large conv2d and a large matmul
 * with 1 thread and with N threads (each in its own process, since the thread pool is fixed at init)
 * and prints the speed-up.
 *
 *   node --conditions=@ssl/source --import tsx bench/thread-scaling.ts [threads=os.availableParallelism()]
 */
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import { fileURLToPath } from 'node:url';

const REPEATS = 9;

async function measure(threads: number): Promise<void> {
  const tf = await import('@tensorflow/tfjs-core');
  const { initBackend } = await import('../src/backend/index');
  const info = await initBackend({ threads, log: () => {} });
  const images = tf.randomNormal([32, 56, 56, 64]) as import('@tensorflow/tfjs-core').Tensor4D;
  const kernel = tf.randomNormal([3, 3, 64, 64]) as import('@tensorflow/tfjs-core').Tensor4D;
  const left = tf.randomNormal([2048, 1024]) as import('@tensorflow/tfjs-core').Tensor2D;
  const right = tf.randomNormal([1024, 1024]) as import('@tensorflow/tfjs-core').Tensor2D;
  const time = (run: () => import('@tensorflow/tfjs-core').Tensor): number => {
    const ms: number[] = [];
    for (let i = 0; i < REPEATS + 2; i++) {
      const start = performance.now();
      const result = run();
      result.dataSync();
      result.dispose();
      if (i >= 2) ms.push(performance.now() - start);
    }
    return ms.sort((a, b) => a - b)[REPEATS >> 1];
  };
  // CPU time over wall time: about the number of cores actually busy, even when timings are noisy.
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  const convMs = time(() => tf.conv2d(images, kernel, 1, 'same'));
  const cpu = process.cpuUsage(cpuBefore);
  const coresBusy = (cpu.user + cpu.system) / 1000 / (performance.now() - wallBefore);
  const matMulMs = time(() => tf.matMul(left, right));
  process.stdout.write(`${JSON.stringify({ threads: info.threads, convMs, matMulMs, coresBusy })}\n`);
}

function runChild(threads: number): { threads: number; convMs: number; matMulMs: number; coresBusy: number } {
  const result = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child', String(threads)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (result.status !== 0) throw new Error(`measurement with ${threads} threads failed`);
  return JSON.parse(result.stdout.trim().split('\n').pop() ?? '');
}

const argv = process.argv.slice(2);
if (argv[0] === '--child') {
  await measure(Number(argv[1]));
} else {
  const threads = Number(argv[0] ?? os.availableParallelism());
  const load = os.loadavg()[0].toFixed(2);
  const one = runChild(1);
  const many = runChild(threads);
  console.log(
    `thread-scaling conv2d[32x56x56x64,3x3x64] 1t=${one.convMs.toFixed(0)}ms ${many.threads}t=${many.convMs.toFixed(0)}ms ` +
      `speedup=${(one.convMs / many.convMs).toFixed(2)} ` +
      `cores_busy=${one.coresBusy.toFixed(2)}/${many.coresBusy.toFixed(2)} matmul[2048x1024x1024] 1t=${one.matMulMs.toFixed(0)}ms ` +
      `${many.threads}t=${many.matMulMs.toFixed(0)}ms speedup=${(one.matMulMs / many.matMulMs).toFixed(2)} load=${load}`,
  );
}
