import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensorMap, Scalar, Tensor, Variable } from '@tensorflow/tfjs-core';

import { SslError } from '../errors';

/*
 * `tf.variableGrads` with a backward pass that frees memory as it goes.
 *
 * tfjs-core's backward pass keeps the gradient of every intermediate tensor, and every tensor saved for
 * the backward pass, until the whole pass ends, so its peak holds all saved activations plus a gradient
 * for each of them. Walking the tape in reverse, the gradient of a tensor is complete once the node that
 * produced it has been processed (all its consumers come later on the tape), and that node's saved
 * tensors are never read again: both are freed right there. The peak becomes the saved activations plus
 * the gradients still in flight — a ResNet-18 step of 256 CIFAR images needed more than the 4 GB a
 * wasm32 heap can hold without this.
 *
 * Same values as tf.variableGrads (same tape, same gradient functions, same accumulation order).
 * Higher-order gradients (a gradient taken inside another) keep the stock path, which needs the tape
 * intact.
 */

/** One recorded op, as tfjs-core's tape keeps it. */
interface TapeNode {
  id: number;
  kernelName: string;
  inputs: NamedTensorMap;
  outputs: Tensor[];
  gradient?: (dys: Array<Tensor | null>) => Record<string, () => Tensor>;
  saved?: Tensor[];
}

/** The parts of tfjs-core's engine a gradient computation needs (not in its public typings). */
interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  startTape(): void;
  endTape(): void;
  tidy<T extends tf.TensorContainer>(name: string, f: () => T): T;
}

function engineInternals(): EngineInternals {
  const engine = tf.engine() as unknown as Partial<EngineInternals>;
  if (typeof engine.startTape !== 'function' || typeof engine.endTape !== 'function' || engine.state === undefined) {
    throw new SslError(
      'backend',
      'This version of @tensorflow/tfjs-core does not expose the gradient tape @ssl expects; use tfjs-core 4.x.',
    );
  }
  return engine as EngineInternals;
}

/**
 * The nodes on a path from some x to y, each with its inputs narrowed to those that depend on an x
 * (gradients are neither needed nor always defined for the others, e.g. integer indices).
 */
export function nodesFromXsToY(tape: TapeNode[], xs: Tensor[], y: Tensor): TapeNode[] {
  const dependsOnX = new Set<number>(xs.map((x) => x.id));
  const nodeDependsOnX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((input) => dependsOnX.has(input.id))) {
      nodeDependsOnX.add(node.id);
      for (const output of node.outputs) dependsOnX.add(output.id);
    }
  }
  const leadsToY = new Set<number>([y.id]);
  const nodeLeadsToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node.outputs.some((output) => leadsToY.has(output.id))) {
      nodeLeadsToY.add(node.id);
      for (const input of Object.values(node.inputs)) leadsToY.add(input.id);
    }
  }
  const filtered: TapeNode[] = [];
  for (const node of tape) {
    if (!nodeDependsOnX.has(node.id) || !nodeLeadsToY.has(node.id)) continue;
    const inputs: NamedTensorMap = {};
    for (const [name, input] of Object.entries(node.inputs)) if (dependsOnX.has(input.id)) inputs[name] = input;
    filtered.push({ ...node, inputs });
  }
  return filtered;
}

/** Gradients of the scalar f() with respect to xs, freeing each intermediate gradient once it is complete. */
function gradientsFreeingAsItGoes(f: () => Scalar, xs: Tensor[]): { value: Scalar; grads: Array<Tensor | undefined> } {
  const engine = engineInternals();
  engine.startTape();
  let value: Scalar;
  try {
    value = engine.tidy('forward', f);
  } finally {
    engine.endTape();
  }
  if (!(value instanceof tf.Tensor)) throw new SslError('invalid-config', 'The loss function must return a tensor.');
  const tape = engine.state.activeTape ?? [];
  const path = nodesFromXsToY(tape, xs, value);
  const keep = new Set<number>(xs.map((x) => x.id));
  const grads = engine.tidy('backward', () => {
    const seed = tf.onesLike(value);
    const accumulated = new Map<number, Tensor>([[value.id, seed]]);
    const stored = new Set<Tensor>([seed]);
    for (let i = path.length - 1; i >= 0; i--) {
      const node = path[i];
      const dys = node.outputs.map((output) => accumulated.get(output.id) ?? null);
      if (node.gradient === undefined) {
        throw new SslError('backend', `Cannot compute the gradient of '${node.kernelName}': tfjs has no gradient registered for it.`);
      }
      const inputGradients = node.gradient(dys);
      for (const [name, input] of Object.entries(node.inputs)) {
        const gradientOf = inputGradients[name];
        if (gradientOf === undefined)
          throw new SslError('backend', `The gradient of '${node.kernelName}' has no entry for its input '${name}'.`);
        let dx = engine.tidy('gradient', gradientOf);
        // A gradient function may hand back dy itself (identity-like ops, custom gradients) or one tensor
        // for two inputs; each stored gradient must be its own tensor, since each is freed on its own.
        if (dys.includes(dx) || stored.has(dx)) dx = tf.clone(dx);
        if (dx.dtype !== 'float32')
          throw new SslError('dtype-mismatch', `The gradient of '${node.kernelName}' for '${name}' is ${dx.dtype}, not float32.`);
        if (!tf.util.arraysEqual(dx.shape, input.shape)) {
          throw new SslError(
            'shape-mismatch',
            `The gradient of '${node.kernelName}' for '${name}' has shape [${dx.shape}], its input [${input.shape}].`,
          );
        }
        const previous = accumulated.get(input.id);
        if (previous === undefined) {
          accumulated.set(input.id, dx);
          stored.add(dx);
        } else {
          const sum = tf.add(previous, dx);
          accumulated.set(input.id, sum);
          stored.delete(previous);
          stored.add(sum);
          previous.dispose();
          dx.dispose();
        }
      }
      // Every consumer of this node's outputs came later on the tape, so their gradients are complete
      // and used; the node's saved tensors are not read again either.
      for (const output of node.outputs) {
        if (keep.has(output.id)) continue;
        const gradient = accumulated.get(output.id);
        if (gradient === undefined) continue;
        stored.delete(gradient);
        gradient.dispose();
        accumulated.delete(output.id);
      }
      for (const saved of node.saved ?? []) saved.dispose();
    }
    return xs.map((x) => accumulated.get(x.id));
  });
  for (const node of tape) for (const saved of node.saved ?? []) saved.dispose();
  engine.state.activeTape = null;
  return { value, grads };
}

/**
 * Like `tf.variableGrads(f, variables)`: the loss and the gradient of each trainable variable by name
 * (variables that do not affect the loss get none). The backward pass frees intermediate gradients and
 * saved activations as soon as they are used, which lowers the memory peak of a training step.
 */
export function variableGrads(f: () => Scalar, variables: Variable[]): { value: Scalar; grads: NamedTensorMap } {
  const engine = engineInternals();
  if (engine.state.gradientDepth > 0) return tf.variableGrads(f, variables);
  const trainable = variables.filter((v) => v.trainable);
  if (trainable.length === 0) throw new SslError('invalid-config', 'variableGrads: none of the given variables is trainable.');
  const { value, grads } = gradientsFreeingAsItGoes(f, trainable);
  if (value.rank !== 0) {
    value.dispose();
    tf.dispose(grads.filter((g): g is Tensor => g !== undefined));
    throw new SslError('shape-mismatch', `The loss must be a scalar, got shape [${value.shape}].`);
  }
  const named: NamedTensorMap = {};
  trainable.forEach((v, i) => {
    const gradient = grads[i];
    if (gradient !== undefined) named[v.name] = gradient;
  });
  return { value, grads: named };
}

/**
 * Runs f with the gradient tape off, like PyTorch's `torch.no_grad()`, and returns its result: no op inside
 * is recorded, so no intermediate is kept for a backward pass and a tensor computed inside has no gradient
 * path to anything outside (it is a constant to a gradient taken around the scope). For forwards whose
 * output only feeds a loss as a target — a momentum teacher, a target network, a key encoder — this frees
 * their activations as soon as the scope's own tf.tidy would, instead of keeping them to the end of the
 * step as tensors saved for a backward that never reads them (`stopGradient` on the output gives the same
 * gradients but records the whole forward).
 *
 * A gradient taken inside f (tf.grad, variableGrads) starts its own tape and ends it; the outer tape is
 * restored when f returns or throws.
 */
export function noGradient<T>(f: () => T): T {
  const engine = engineInternals();
  const { gradientDepth, activeTape } = engine.state;
  engine.state.gradientDepth = 0;
  try {
    return f();
  } finally {
    engine.state.gradientDepth = gradientDepth;
    engine.state.activeTape = activeTape;
  }
}
