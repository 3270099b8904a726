import { invalidConfig } from '../errors';
import type { ScheduleSpec } from '../method';

export function validateSchedule(schedule: ScheduleSpec): void {
  switch (schedule.kind) {
    case 'constant':
      return;
    case 'warmup-cosine': {
      const { warmupFraction, warmupSteps, finalLrFraction } = schedule;
      if (warmupFraction !== undefined && !(warmupFraction >= 0 && warmupFraction < 1))
        invalidConfig('schedule.warmupFraction', warmupFraction, 'a number in [0, 1)');
      if (warmupSteps !== undefined && !(Number.isInteger(warmupSteps) && warmupSteps >= 0))
        invalidConfig('schedule.warmupSteps', warmupSteps, 'a non-negative integer');
      if (finalLrFraction !== undefined && !(finalLrFraction >= 0 && finalLrFraction <= 1))
        invalidConfig('schedule.finalLrFraction', finalLrFraction, 'a number in [0, 1]');
      return;
    }
    case 'step': {
      if (!Array.isArray(schedule.milestones) || schedule.milestones.some((m) => !(m > 0 && m < 1))) {
        invalidConfig('schedule.milestones', schedule.milestones, 'fractions of training in (0, 1)');
      }
      if (!(schedule.gamma > 0 && schedule.gamma <= 1)) invalidConfig('schedule.gamma', schedule.gamma, 'a number in (0, 1]');
      return;
    }
    default:
      invalidConfig('schedule.kind', (schedule as { kind: unknown }).kind, "one of 'constant', 'warmup-cosine', 'step'");
  }
}

/** Learning rate at a 0-based global step. */
export function learningRateAt(schedule: ScheduleSpec, baseLr: number, step: number, totalSteps: number): number {
  switch (schedule.kind) {
    case 'constant':
      return baseLr;
    case 'warmup-cosine': {
      // Linear warmup (Goyal et al. 2017) then cosine decay without restarts (Loshchilov & Hutter 2017),
      // the schedule of SimCLR, BYOL, MAE and DINO.
      const warmup = schedule.warmupSteps ?? Math.round((schedule.warmupFraction ?? 0.1) * totalSteps);
      const finalLr = baseLr * (schedule.finalLrFraction ?? 0);
      if (step < warmup) return (baseLr * (step + 1)) / warmup;
      const decaySteps = Math.max(1, totalSteps - warmup);
      const progress = Math.min(1, (step - warmup) / decaySteps);
      return finalLr + (baseLr - finalLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
    }
    case 'step': {
      const progress = step / Math.max(1, totalSteps);
      const passed = schedule.milestones.filter((m) => progress >= m).length;
      return baseLr * schedule.gamma ** passed;
    }
  }
}
