import { SslError } from '@ssl/core';

/** Objective for `minimizeLbfgs`: value and gradient at `x` (the gradient written into `gradient`). */
export type Objective = (x: Float64Array, gradient: Float64Array) => number | Promise<number>;

export interface LbfgsOptions {
  /** Iterations (line searches) at most (default 500). */
  maxIterations?: number;
  /** Pairs (s, y) kept for the inverse-Hessian approximation (default 10). */
  memory?: number;
  /** Stop when the largest gradient component is below this (default 1e-5). */
  gradientTolerance?: number;
  /** Stop when an iteration lowers the value by less than this times max(1, |value|) (default 1e-7, float32 noise). */
  relativeTolerance?: number;
}

export interface LbfgsResult {
  x: Float64Array;
  value: number;
  iterations: number;
  /** Objective evaluations, line-search trials included. */
  evaluations: number;
  converged: boolean;
}

/**
 * Limited-memory BFGS with a backtracking Armijo line search (Nocedal & Wright 2006, Algorithms 7.4/7.5).
 * The two-loop recursion runs in float64 on the host (the parameter vector of a linear probe is small);
 * the objective may evaluate on the accelerator. Meant for smooth, strongly convex objectives such as
 * L2-regularized logistic regression, where s·y > 0 always holds; pairs that violate it are skipped.
 */
export async function minimizeLbfgs(objective: Objective, initial: Float64Array, options: LbfgsOptions = {}): Promise<LbfgsResult> {
  const maxIterations = options.maxIterations ?? 500;
  const memory = options.memory ?? 10;
  const gradientTolerance = options.gradientTolerance ?? 1e-5;
  const relativeTolerance = options.relativeTolerance ?? 1e-7;
  if (!Number.isInteger(maxIterations) || maxIterations < 0) {
    throw new SslError('invalid-config', `L-BFGS maxIterations must be a non-negative integer, got ${maxIterations}.`);
  }
  if (!Number.isInteger(memory) || memory <= 0)
    throw new SslError('invalid-config', `L-BFGS memory must be a positive integer, got ${memory}.`);
  const n = initial.length;
  let x = Float64Array.from(initial);
  let gradient = new Float64Array(n);
  let value = await objective(x, gradient);
  let evaluations = 1;
  checkFinite(value);
  const sHistory: Float64Array[] = [];
  const yHistory: Float64Array[] = [];
  const rhoHistory: number[] = [];
  const alpha = new Float64Array(memory);
  const direction = new Float64Array(n);
  let iterations = 0;
  let converged = maxInAbs(gradient) < gradientTolerance;

  while (!converged && iterations < maxIterations) {
    // Two-loop recursion: direction = -H·g.
    direction.set(gradient);
    for (let i = sHistory.length - 1; i >= 0; i--) {
      alpha[i] = rhoHistory[i] * dot(sHistory[i], direction);
      axpy(-alpha[i], yHistory[i], direction);
    }
    if (sHistory.length > 0) {
      const last = sHistory.length - 1;
      scale(direction, dot(sHistory[last], yHistory[last]) / dot(yHistory[last], yHistory[last]));
    } else {
      // First step: a unit-length move along the gradient, since the curvature scale is unknown.
      scale(direction, 1 / Math.max(norm(gradient), 1e-12));
    }
    for (let i = 0; i < sHistory.length; i++) {
      const beta = rhoHistory[i] * dot(yHistory[i], direction);
      axpy(alpha[i] - beta, sHistory[i], direction);
    }
    scale(direction, -1);
    let slope = dot(gradient, direction);
    if (slope >= 0) {
      // Not a descent direction (numerical trouble): restart from steepest descent.
      sHistory.length = yHistory.length = rhoHistory.length = 0;
      direction.set(gradient);
      scale(direction, -1 / Math.max(norm(gradient), 1e-12));
      slope = dot(gradient, direction);
    }

    // Backtracking line search with the Armijo sufficient-decrease condition, c1 = 1e-4.
    let step = 1;
    const nextX = new Float64Array(n);
    const nextGradient = new Float64Array(n);
    let nextValue = Infinity;
    let accepted = false;
    for (let trial = 0; trial < 30; trial++) {
      for (let i = 0; i < n; i++) nextX[i] = x[i] + step * direction[i];
      nextValue = await objective(nextX, nextGradient);
      evaluations++;
      if (Number.isFinite(nextValue) && nextValue <= value + 1e-4 * step * slope) {
        accepted = true;
        break;
      }
      step *= 0.5;
    }
    iterations++;
    if (!accepted) {
      // No decrease found along a descent direction: at float precision this is the minimum.
      converged = true;
      break;
    }
    const s = new Float64Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      s[i] = nextX[i] - x[i];
      y[i] = nextGradient[i] - gradient[i];
    }
    const sy = dot(s, y);
    if (sy > 1e-10 * norm(s) * norm(y)) {
      if (sHistory.length === memory) {
        sHistory.shift();
        yHistory.shift();
        rhoHistory.shift();
      }
      sHistory.push(s);
      yHistory.push(y);
      rhoHistory.push(1 / sy);
    }
    const decrease = value - nextValue;
    x = nextX;
    gradient = nextGradient;
    value = nextValue;
    converged = maxInAbs(gradient) < gradientTolerance || decrease <= relativeTolerance * Math.max(1, Math.abs(value));
  }
  return { x, value, iterations, evaluations, converged };
}

function checkFinite(value: number): void {
  if (!Number.isFinite(value)) {
    throw new SslError('non-finite-loss', `L-BFGS objective is ${value} at the starting point: check the features for NaN or Inf.`);
  }
}

function dot(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

function axpy(factor: number, x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < x.length; i++) y[i] += factor * x[i];
}

function scale(x: Float64Array, factor: number): void {
  for (let i = 0; i < x.length; i++) x[i] *= factor;
}

function norm(x: Float64Array): number {
  return Math.sqrt(dot(x, x));
}

function maxInAbs(x: Float64Array): number {
  let max = 0;
  for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i]));
  return max;
}
