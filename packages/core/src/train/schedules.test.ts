import { describe, expect, it } from 'vitest';
import { SslError } from '../errors';
import { cosineMomentum } from './ema';
import { learningRateAt, validateSchedule } from './schedules';

describe('schedules', () => {
  it('warmup-cosine rises linearly, peaks at the base rate and decays to the final fraction', () => {
    const s = { kind: 'warmup-cosine', warmupSteps: 10, finalLrFraction: 0.01 } as const;
    expect(learningRateAt(s, 1, 0, 110)).toBeCloseTo(0.1);
    expect(learningRateAt(s, 1, 9, 110)).toBeCloseTo(1);
    expect(learningRateAt(s, 1, 60, 110)).toBeCloseTo(0.01 + 0.99 * 0.5, 6);
    expect(learningRateAt(s, 1, 110, 110)).toBeCloseTo(0.01);
  });
  it('step schedule multiplies by gamma at each milestone', () => {
    const s = { kind: 'step', milestones: [0.5, 0.75], gamma: 0.1 } as const;
    expect(learningRateAt(s, 1, 49, 100)).toBe(1);
    expect(learningRateAt(s, 1, 50, 100)).toBeCloseTo(0.1);
    expect(learningRateAt(s, 1, 80, 100)).toBeCloseTo(0.01);
  });
  it('rejects invalid schedules', () => {
    expect(() => validateSchedule({ kind: 'step', milestones: [1.5], gamma: 0.1 })).toThrowError(SslError);
    expect(() => validateSchedule({ kind: 'warmup-cosine', warmupFraction: 2 })).toThrowError(/warmupFraction/);
  });
  it("BYOL's cosine momentum goes from the base value to 1", () => {
    expect(cosineMomentum(0.99, 0)).toBeCloseTo(0.99);
    expect(cosineMomentum(0.99, 0.5)).toBeCloseTo(0.995);
    expect(cosineMomentum(0.99, 1)).toBeCloseTo(1);
  });
});
