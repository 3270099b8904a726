import { describe, expect, it } from 'vitest';
import { linearRampUp, pseudoLabelWeight, sigmoidRampUp } from './ramps';

describe('sigmoidRampUp', () => {
  it('is exp(−5(1 − T)²) with T = progress / rampLength, 1 after the ramp and without one', () => {
    expect(sigmoidRampUp(0, 0.5)).toBeCloseTo(Math.exp(-5), 12);
    expect(sigmoidRampUp(0.25, 0.5)).toBeCloseTo(Math.exp(-5 * 0.25), 12);
    expect(sigmoidRampUp(0.5, 0.5)).toBe(1);
    expect(sigmoidRampUp(0.9, 0.5)).toBe(1);
    expect(sigmoidRampUp(0, 0)).toBe(1);
    // Monotone.
    const values = Array.from({ length: 11 }, (_, i) => sigmoidRampUp(i / 10, 0.8));
    values.slice(1).forEach((v, i) => expect(v).toBeGreaterThanOrEqual(values[i]));
  });
});

describe('pseudoLabelWeight (Lee 2013 eq. 16)', () => {
  const ramp = { finalWeight: 3, rampStart: 0.1, rampEnd: 0.6 };
  it('is 0 before T1, linear to α_f at T2, α_f after', () => {
    expect(pseudoLabelWeight(0, ramp)).toBe(0);
    expect(pseudoLabelWeight(0.0999, ramp)).toBe(0);
    expect(pseudoLabelWeight(0.1, ramp)).toBe(0);
    expect(pseudoLabelWeight(0.35, ramp)).toBeCloseTo(1.5, 12);
    expect(pseudoLabelWeight(0.6, ramp)).toBe(3);
    expect(pseudoLabelWeight(0.99, ramp)).toBe(3);
    // Steps 100 and 600 of a 1 000-step run: Lee's T1 and T2.
    expect(pseudoLabelWeight(350 / 1000, ramp)).toBeCloseTo((3 * (350 - 100)) / (600 - 100), 12);
    // T1 = T2: a step.
    expect(pseudoLabelWeight(0.5, { finalWeight: 2, rampStart: 0.5, rampEnd: 0.5 })).toBe(2);
  });
});

describe('linearRampUp', () => {
  it('rises linearly to 1 at rampLength and stays there; 1 throughout for rampLength 0', () => {
    expect(linearRampUp(0, 0.2)).toBe(0);
    expect(linearRampUp(0.05, 0.2)).toBeCloseTo(0.25, 12);
    expect(linearRampUp(0.2, 0.2)).toBe(1);
    expect(linearRampUp(0.9, 0.2)).toBe(1);
    expect(linearRampUp(0, 0)).toBe(1);
  });
});
