import * as tf from '@tensorflow/tfjs-core';
import type { Variable } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { SslError, formatShape } from '../errors';

type Weights = LayersModel | readonly Variable[];

function variablesOf(weights: Weights): Variable[] {
  if (Array.isArray(weights)) return weights as Variable[];
  // All weights, trainable or not: a teacher's batch-norm statistics follow the student's too.
  return (weights as LayersModel).weights.map((w) => w.read() as Variable);
}

function paired(target: Weights, source: Weights): [Variable[], Variable[]] {
  const t = variablesOf(target);
  const s = variablesOf(source);
  if (t.length !== s.length) {
    throw new SslError(
      'shape-mismatch',
      `EMA target has ${t.length} weights but the source has ${s.length}: they must be the same architecture.`,
    );
  }
  for (let i = 0; i < t.length; i++) {
    if (t[i].shape.join() !== s[i].shape.join()) {
      throw new SslError('shape-mismatch', `EMA weight ${i}: target ${formatShape(t[i].shape)} vs source ${formatShape(s[i].shape)}.`);
    }
  }
  return [t, s];
}

/** target ← momentum·target + (1 − momentum)·source, e.g. BYOL's target network update (BYOL eq. 1). */
export function emaUpdate(target: Weights, source: Weights, momentum: number): void {
  if (!(momentum >= 0 && momentum <= 1)) throw new SslError('invalid-config', `EMA momentum must be in [0, 1], got ${momentum}.`);
  const [t, s] = paired(target, source);
  tf.tidy(() => {
    for (let i = 0; i < t.length; i++) t[i].assign(tf.add(tf.mul(t[i], momentum), tf.mul(s[i], 1 - momentum)));
  });
}

/** Copies every weight of source into target (a teacher initialised as the student). */
export function copyWeights(target: Weights, source: Weights): void {
  const [t, s] = paired(target, source);
  tf.tidy(() => {
    for (let i = 0; i < t.length; i++) t[i].assign(s[i]);
  });
}

/**
 * BYOL's momentum schedule: τ = 1 − (1 − τ_base)·(cos(π·k/K) + 1)/2, rising from τ_base to 1
 * (BYOL §3.2; also DINO's teacher momentum).
 */
export function cosineMomentum(baseMomentum: number, progress: number, finalMomentum = 1): number {
  const p = Math.min(1, Math.max(0, progress));
  return finalMomentum - ((finalMomentum - baseMomentum) * (Math.cos(Math.PI * p) + 1)) / 2;
}
