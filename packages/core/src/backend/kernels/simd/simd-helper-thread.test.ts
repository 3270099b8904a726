// The helper thread sleeps between calls: after finishing a call it waits for the caller's finish(), it does not
// spin. (It did: it waited only while the state was IDLE, so from the end of its half until the caller's finish()
// it looped at full speed, and on a loaded machine every two-thread kernel cost 3-5x its CPU time.)
import '../../../setup';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../../select';
import { asWasmBackend, heapOffset } from '../wasm-internals';
import { simdHelperThread } from './simd-kernels';

beforeAll(async () => {
  // The default thread count (vitest.config pins SSL_THREADS=1 for the other files), so the helper thread runs.
  delete process.env.SSL_THREADS;
  await initBackend({ backend: 'wasm', log: () => {} });
  await tf.ready();
});

/** Blocks this thread for `ms` without using the CPU. */
function sleepBlocking(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

describe('SIMD helper thread', () => {
  it('uses no CPU while its finished call waits for the caller', async () => {
    const backend = asWasmBackend(tf.backend());
    const helper = simdHelperThread(backend);
    if (helper === undefined) {
      console.warn('skipped: no helper thread (one core, or no shared wasm memory)');
      return;
    }
    const x = tf.ones([1024]);
    const y = tf.zerosLike(x);
    const [xOffset, yOffset] = [heapOffset(backend, x), heapOffset(backend, y)];
    // The worker starts a few ms after initBackend(); start() refuses until then.
    for (let i = 0; i < 100 && !helper.start('erf_f32', [xOffset, yOffset, 1024]); i++) await new Promise((r) => setTimeout(r, 20));
    helper.finish();
    const windowMs = 1000;
    const before = process.cpuUsage();
    expect(helper.start('erf_f32', [xOffset, yOffset, 1024])).toBe(true);
    sleepBlocking(windowMs); // the helper's call takes microseconds; then it waits for finish()
    helper.finish();
    const used = process.cpuUsage(before);
    const cpuMs = (used.user + used.system) / 1000;
    // A spinning helper used the whole window on an idle core (and 15 % of it at load 8, niced); a sleeping one
    // uses under 1 ms.
    expect(cpuMs, `process CPU over a ${windowMs} ms wait`).toBeLessThan(25);
    expect(y.dataSync()[1023]).toBeCloseTo(0.8427, 4); // erf(1): the call ran
    tf.dispose([x, y]);
  });
});
