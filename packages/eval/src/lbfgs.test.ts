import { describe, expect, it } from 'vitest';
import { minimizeLbfgs } from './lbfgs';

describe('minimizeLbfgs', () => {
  it('minimizes an ill-conditioned quadratic to its known minimum', async () => {
    // f(x) = 1/2 sum_i c_i (x_i - t_i)^2, condition number 1000.
    const curvature = Float64Array.from({ length: 20 }, (_, i) => 10 ** ((3 * i) / 19));
    const target = Float64Array.from({ length: 20 }, (_, i) => Math.sin(i));
    const result = await minimizeLbfgs(
      (x, g) => {
        let value = 0;
        for (let i = 0; i < x.length; i++) {
          g[i] = curvature[i] * (x[i] - target[i]);
          value += 0.5 * curvature[i] * (x[i] - target[i]) ** 2;
        }
        return value;
      },
      new Float64Array(20),
      { gradientTolerance: 1e-8, relativeTolerance: 0 },
    );
    expect(result.converged).toBe(true);
    for (let i = 0; i < 20; i++) expect(result.x[i]).toBeCloseTo(target[i], 6);
    // Steepest descent needs thousands of steps at condition number 1000; the quasi-Newton pairs cut that to a few hundred at most.
    expect(result.iterations).toBeLessThan(300);
  });

  it('finds the Rosenbrock minimum at (1, 1)', async () => {
    const result = await minimizeLbfgs(
      (x, g) => {
        const [a, b] = x;
        g[0] = -2 * (1 - a) - 400 * a * (b - a * a);
        g[1] = 200 * (b - a * a);
        return (1 - a) ** 2 + 100 * (b - a * a) ** 2;
      },
      Float64Array.from([-1.2, 1]),
      { gradientTolerance: 1e-8, relativeTolerance: 0, maxIterations: 1000 },
    );
    expect(result.x[0]).toBeCloseTo(1, 4);
    expect(result.x[1]).toBeCloseTo(1, 4);
  });

  it('stops at maxIterations and reports it did not converge', async () => {
    const result = await minimizeLbfgs(
      (x, g) => {
        g[0] = -2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2);
        g[1] = 200 * (x[1] - x[0] ** 2);
        return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2;
      },
      Float64Array.from([-1.2, 1]),
      { maxIterations: 3, relativeTolerance: 0 },
    );
    expect(result.iterations).toBe(3);
    expect(result.converged).toBe(false);
  });
});
