import { SslError } from '@ssl/core';
import { normalizeRows } from './kmeans';

export interface CollapseDiagnostics {
  /**
   * Mean over dimensions of the per-dimension std of L2-normalized embeddings (SimSiam, Chen & He 2021, §4):
   * 0 under complete collapse, about 1/sqrt(dim) for embeddings spread over the sphere.
   */
  perDimStd: number;
  /** 1/sqrt(dim), the healthy reference value of `perDimStd`. */
  healthyPerDimStd: number;
  /** RankMe (Garrido et al. 2023): exp of the entropy of the normalized singular values; 1 .. min(count, dim). */
  effectiveRank: number;
  /** Mean cosine similarity over all pairs of distinct rows: 1 under collapse, near 0 for isotropic embeddings. */
  meanPairwiseCosine: number;
  /** Singular values of the embedding matrix, largest first. */
  singularValues: Float64Array;
}

/**
 * Signs of representation collapse in a batch of embeddings [count, dim] (row-major). Singular values come
 * from the eigenvalues of the smaller Gram matrix (Z^T Z or Z Z^T) by cyclic Jacobi rotations, so cost is
 * O(min(count, dim)^3): sample rows or keep dim in the hundreds.
 */
export function collapseDiagnostics(embeddings: { features: Float32Array; dim: number }): CollapseDiagnostics {
  const { features, dim } = embeddings;
  const count = features.length / dim;
  if (!Number.isInteger(count) || count < 2) {
    throw new SslError('shape-mismatch', `collapseDiagnostics needs at least 2 rows of dim ${dim}, got ${features.length} values.`);
  }
  const normalized = normalizeRows(features, dim);

  let stdSum = 0;
  for (let d = 0; d < dim; d++) {
    let sum = 0;
    let sumSquares = 0;
    for (let row = 0; row < count; row++) {
      const value = normalized[row * dim + d];
      sum += value;
      sumSquares += value * value;
    }
    const mean = sum / count;
    stdSum += Math.sqrt(Math.max(sumSquares / count - mean * mean, 0));
  }

  // sum_{i != j} cos(z_i, z_j) = ||sum_i z_i||^2 - sum_i ||z_i||^2 for unit rows.
  const total = new Float64Array(dim);
  let squaredNorms = 0;
  for (let row = 0; row < count; row++) {
    for (let d = 0; d < dim; d++) {
      const value = normalized[row * dim + d];
      total[d] += value;
      squaredNorms += value * value;
    }
  }
  let totalSquared = 0;
  for (const value of total) totalSquared += value * value;
  const meanPairwiseCosine = (totalSquared - squaredNorms) / (count * (count - 1));

  const singularValues = singularValuesOf(features, count, dim);
  return {
    perDimStd: stdSum / dim,
    healthyPerDimStd: 1 / Math.sqrt(dim),
    effectiveRank: rankMe(singularValues),
    meanPairwiseCosine,
    singularValues,
  };
}

/** RankMe, Garrido et al. 2023 eq. 1: p_k = sigma_k / ||sigma||_1 + eps, rank = exp(-sum p_k log p_k). */
export function rankMe(singularValues: ArrayLike<number>): number {
  let l1 = 0;
  for (let i = 0; i < singularValues.length; i++) l1 += Math.abs(singularValues[i]);
  if (l1 === 0) return 1;
  let entropy = 0;
  for (let i = 0; i < singularValues.length; i++) {
    const p = Math.abs(singularValues[i]) / l1 + 1e-7;
    entropy -= p * Math.log(p);
  }
  return Math.exp(entropy);
}

/** Singular values (descending) of a row-major [rows, columns] matrix via its smaller Gram matrix. */
export function singularValuesOf(matrix: Float32Array, rows: number, columns: number): Float64Array {
  const size = Math.min(rows, columns);
  const gram = new Float64Array(size * size);
  if (columns <= rows) {
    // Z^T Z, columns x columns.
    for (let row = 0; row < rows; row++) {
      const offset = row * columns;
      for (let a = 0; a < columns; a++) {
        const value = matrix[offset + a];
        if (value === 0) continue;
        for (let b = a; b < columns; b++) gram[a * size + b] += value * matrix[offset + b];
      }
    }
  } else {
    // Z Z^T, rows x rows.
    for (let a = 0; a < rows; a++) {
      for (let b = a; b < rows; b++) {
        let sum = 0;
        for (let c = 0; c < columns; c++) sum += matrix[a * columns + c] * matrix[b * columns + c];
        gram[a * size + b] = sum;
      }
    }
  }
  for (let a = 0; a < size; a++) for (let b = 0; b < a; b++) gram[a * size + b] = gram[b * size + a];
  const eigenvalues = symmetricEigenvalues(gram, size);
  return eigenvalues.map((value) => Math.sqrt(Math.max(value, 0))).sort((a, b) => b - a);
}

/**
 * Eigenvalues of a symmetric matrix by cyclic Jacobi rotations (Golub & Van Loan, Matrix Computations
 * §8.5): each rotation zeroes one off-diagonal pair; sweeps repeat until the off-diagonal mass is
 * negligible. The input is not modified.
 */
export function symmetricEigenvalues(symmetric: Float64Array, size: number, maxSweeps = 50): Float64Array {
  const a = Float64Array.from(symmetric);
  let diagonalScale = 0;
  for (let i = 0; i < size; i++) diagonalScale += a[i * size + i] ** 2;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let offDiagonal = 0;
    for (let p = 0; p < size; p++) for (let q = p + 1; q < size; q++) offDiagonal += a[p * size + q] ** 2;
    if (offDiagonal <= 1e-24 * Math.max(diagonalScale, 1e-300)) break;
    for (let p = 0; p < size - 1; p++) {
      for (let q = p + 1; q < size; q++) {
        const apq = a[p * size + q];
        if (Math.abs(apq) < 1e-300) continue;
        const app = a[p * size + p];
        const aqq = a[q * size + q];
        // Rotation angle that annihilates a[p][q] (the stable tangent formula).
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < size; k++) {
          const akp = a[k * size + p];
          const akq = a[k * size + q];
          a[k * size + p] = c * akp - s * akq;
          a[k * size + q] = s * akp + c * akq;
        }
        for (let k = 0; k < size; k++) {
          const apk = a[p * size + k];
          const aqk = a[q * size + k];
          a[p * size + k] = c * apk - s * aqk;
          a[q * size + k] = s * apk + c * aqk;
        }
      }
    }
  }
  const eigenvalues = new Float64Array(size);
  for (let i = 0; i < size; i++) eigenvalues[i] = a[i * size + i];
  return eigenvalues;
}

/** What the collapse diagnostics of a representation say, in words a user can act on. */
export interface CollapseVerdict {
  verdict: 'collapsed' | 'dimensional collapse' | 'no collapse';
  /** One sentence with the figures behind the verdict. */
  explanation: string;
}

/**
 * Reads collapse diagnostics: complete collapse when the per-dimension std of the normalised embeddings is
 * below a tenth of its value for embeddings spread over the sphere (the threshold SimSiam's ablation makes
 * visible, Chen & He 2021 fig. 2), dimensional collapse when they span fewer than two directions (RankMe < 2).
 */
export function collapseVerdict(
  diagnostics: Pick<CollapseDiagnostics, 'perDimStd' | 'healthyPerDimStd' | 'effectiveRank'>,
): CollapseVerdict {
  const { perDimStd, healthyPerDimStd, effectiveRank } = diagnostics;
  const std = `per-dimension std ${perDimStd.toPrecision(2)} (${healthyPerDimStd.toPrecision(2)} if spread over the sphere)`;
  if (perDimStd < 0.1 * healthyPerDimStd) {
    return { verdict: 'collapsed', explanation: `every image gets nearly the same embedding: ${std}` };
  }
  const rank = `effective rank ${effectiveRank.toFixed(1)}`;
  if (effectiveRank < 2) {
    return { verdict: 'dimensional collapse', explanation: `the embeddings lie along about one direction: ${rank}, ${std}` };
  }
  return { verdict: 'no collapse', explanation: `${std}, ${rank}` };
}
