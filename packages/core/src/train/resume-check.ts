import { SslError } from '../errors';
import type { JsonValue } from './checkpoint';

/** Fields of config.json that describe how a run was invoked or what ran it, not what it trains: never compared. */
const NOT_COMPARED = new Set(['plugin', 'invocation']);

export interface ResumeRequest {
  /** The run as its checkpoint describes it (config.json at the time). */
  readonly saved: { readonly [key: string]: JsonValue };
  /** The run the current options describe. */
  readonly current: { readonly [key: string]: JsonValue };
  /** More epochs than the saved run's are allowed (the schedule is re-planned over the new total). */
  readonly extend: boolean;
  readonly outDir: string;
}

function same(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/**
 * A run directory owns its run: resuming it with options that describe another run (batch size, learning
 * rate, seed, data...) would rewrite config.json into a run that never happened and jump the schedule, so
 * every difference is refused, named with both values. Only `epochs` may grow, with `extend`, for one-round
 * methods: the learning-rate schedule is then planned over the new total, as if the run had been started
 * with those epochs (it rises from its end value to that schedule's value at this step, then decays again).
 */
export function checkResumeMatches(request: ResumeRequest): void {
  const { saved, current } = request;
  const differences: string[] = [];
  const keys = new Set([...Object.keys(saved), ...Object.keys(current)]);
  for (const key of keys) {
    if (NOT_COMPARED.has(key) || same(saved[key], current[key])) continue;
    if (key === 'epochs' && request.extend && Number(current.epochs) > Number(saved.epochs) && Number(current.rounds ?? 1) === 1) continue;
    differences.push(`${key}: ${JSON.stringify(saved[key] ?? null)} → ${JSON.stringify(current[key] ?? null)}`);
  }
  if (differences.length === 0) return;
  const epochsOnly = differences.length === 1 && differences[0].startsWith('epochs:');
  const fix = epochsOnly
    ? Number(current.epochs) > Number(saved.epochs) && Number(current.rounds ?? 1) === 1
      ? 'pass extend: true to train more epochs (the schedule is re-planned over the new total)'
      : "pass the run's epochs (epochs only grow, with extend: true, for one-round methods)"
    : "pass the run's values, or train a new run in another outDir";
  throw new SslError(
    'invalid-config',
    `Cannot resume ${request.outDir}: the options differ from the run saved there (saved → given): ${differences.join('; ')}. To resume, ${fix}.`,
    {
      details: { differences },
    },
  );
}
