// Runs around every test file of vitest's shared project (vitest.config.ts), whose files share a process: a file
// that switched tfjs to another backend (the gradient checks run on the reference cpu) must not leave the next
// file computing on it, ~20× slower and with other numerics than its measured margins assume.
import { backendInfo } from '@ssl/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll } from 'vitest';

afterAll(async () => {
  const chosen = backendInfo()?.tfjsBackend;
  if (chosen !== undefined && tf.getBackend() !== chosen) await tf.setBackend(chosen);
});
