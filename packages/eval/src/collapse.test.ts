import { describe, expect, it } from 'vitest';
import { Random } from '@ssl/core';
import { collapseDiagnostics, collapseVerdict, rankMe, singularValuesOf, symmetricEigenvalues } from './collapse';

describe('symmetricEigenvalues / singularValuesOf', () => {
  it('recovers the eigenvalues of Q diag(l) Q^T for a random rotation Q', () => {
    const size = 6;
    const random = new Random(1);
    // Q from Gram-Schmidt on a random matrix.
    const q: number[][] = [];
    while (q.length < size) {
      const v = Array.from({ length: size }, () => random.normal());
      for (const u of q) {
        const dot = v.reduce((s, x, i) => s + x * u[i], 0);
        for (let i = 0; i < size; i++) v[i] -= dot * u[i];
      }
      const n = Math.hypot(...v);
      q.push(v.map((x) => x / n));
    }
    const lambda = [9, 4, 2.5, 1, 0.25, 0];
    const m = new Float64Array(size * size);
    for (let i = 0; i < size; i++)
      for (let j = 0; j < size; j++) for (let k = 0; k < size; k++) m[i * size + j] += q[k][i] * lambda[k] * q[k][j];
    const eigen = Array.from(symmetricEigenvalues(m, size)).sort((a, b) => b - a);
    eigen.forEach((value, i) => expect(value).toBeCloseTo(lambda[i], 9));
  });

  it('gives the same singular values for a matrix and its transpose (both Gram paths)', () => {
    const random = new Random(2);
    const rows = 7;
    const columns = 4;
    const matrix = Float32Array.from({ length: rows * columns }, () => random.normal());
    const transposed = new Float32Array(rows * columns);
    for (let r = 0; r < rows; r++) for (let c = 0; c < columns; c++) transposed[c * rows + r] = matrix[r * columns + c];
    const a = singularValuesOf(matrix, rows, columns);
    const b = singularValuesOf(transposed, columns, rows);
    expect(a.length).toBe(4);
    a.forEach((value, i) => expect(value).toBeCloseTo(b[i], 4));
    // Sum of squared singular values = squared Frobenius norm.
    const frobenius = matrix.reduce((s, x) => s + x * x, 0);
    expect(a.reduce((s, x) => s + x * x, 0)).toBeCloseTo(frobenius, 3);
  });
});

describe('rankMe', () => {
  it('is k for k equal singular values and 1 for a single one', () => {
    expect(rankMe([2, 2, 2, 0, 0])).toBeCloseTo(3, 4);
    expect(rankMe([5, 0, 0])).toBeCloseTo(1, 4);
  });
});

describe('collapseDiagnostics', () => {
  const count = 256;
  const dim = 32;
  const random = new Random(3);

  it('separates a constant encoder from a random one', () => {
    const constantRow = Float32Array.from({ length: dim }, () => random.normal());
    const constant = new Float32Array(count * dim);
    for (let row = 0; row < count; row++) constant.set(constantRow, row * dim);
    const isotropic = Float32Array.from({ length: count * dim }, () => random.normal());

    const collapsed = collapseDiagnostics({ features: constant, dim });
    const healthy = collapseDiagnostics({ features: isotropic, dim });
    expect(collapsed.perDimStd).toBeLessThan(1e-6);
    expect(collapsed.effectiveRank).toBeCloseTo(1, 3);
    expect(collapsed.meanPairwiseCosine).toBeCloseTo(1, 5);

    expect(healthy.perDimStd).toBeGreaterThan(0.8 * healthy.healthyPerDimStd);
    expect(healthy.perDimStd).toBeLessThan(1.2 * healthy.healthyPerDimStd);
    expect(healthy.effectiveRank).toBeGreaterThan(0.8 * dim);
    expect(Math.abs(healthy.meanPairwiseCosine)).toBeLessThan(0.05);
  });

  it('sees dimensional collapse: embeddings confined to a 4-dim subspace have rank about 4', () => {
    const basis = Array.from({ length: 4 }, () => Float32Array.from({ length: dim }, () => random.normal()));
    const low = new Float32Array(count * dim);
    for (let row = 0; row < count; row++) {
      for (const direction of basis) {
        const weight = random.normal();
        for (let d = 0; d < dim; d++) low[row * dim + d] += weight * direction[d];
      }
    }
    const result = collapseDiagnostics({ features: low, dim });
    expect(result.effectiveRank).toBeGreaterThan(2.5);
    expect(result.effectiveRank).toBeLessThan(4.5);
  });
});

describe('collapseVerdict', () => {
  const count = 256;
  const dim = 32;
  const random = new Random(5);
  /** Rows w·direction + jitter with weights w = 1 + spread·N(0, 1). */
  const rowsAlong = (directions: Float32Array[], spread: number, jitter: number) => {
    const rows = new Float32Array(count * dim);
    for (let row = 0; row < count; row++) {
      for (const direction of directions) {
        const weight = 1 + spread * random.normal();
        for (let d = 0; d < dim; d++) rows[row * dim + d] += weight * direction[d] + jitter * random.normal();
      }
    }
    return collapseDiagnostics({ features: rows, dim });
  };
  const direction = () => Float32Array.from({ length: dim }, () => random.normal());

  it('names a constant encoder collapsed, a line through the origin a dimensional collapse, isotropic embeddings healthy', () => {
    expect(collapseVerdict(rowsAlong([direction()], 1e-3, 1e-4)).verdict).toBe('collapsed');
    const line = collapseVerdict(rowsAlong([direction()], 3, 0.02));
    expect(line.verdict).toBe('dimensional collapse');
    expect(line.explanation).toMatch(/effective rank 1\.\d/);
    const isotropic = collapseVerdict(
      collapseDiagnostics({ features: Float32Array.from({ length: count * dim }, () => random.normal()), dim }),
    );
    expect(isotropic.verdict).toBe('no collapse');
    expect(isotropic.explanation).toMatch(/^per-dimension std 0\.1\d \(0\.18 if spread over the sphere\), effective rank \d\d\.\d$/);
  });
});
