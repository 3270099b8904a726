import { SslError } from '../errors';
import type { JsonValue } from './checkpoint';

/**
 * The samples a round trains on, by sample id. Multi-round methods change them between rounds:
 * self-training adds pseudo-labeled samples to the labeled pool (with confidence weights), co-training moves
 * samples between two learners' pools. Ids index the run's sample space (see BuildContext.sampleCount).
 */
export interface Pool {
  readonly ids: Int32Array;
  /** One label per id (given or pseudo); required for labeled pools. */
  readonly labels?: Int32Array;
  /** One non-negative weight per id; absent means every sample weighs 1. */
  readonly weights?: Float32Array;
}

/** Read access to a run's pools: what `build` sees. */
export interface PoolView {
  get(name: string): Pool | undefined;
  names(): string[];
}

/** Read and write access: what `endRound` gets. A new pool replaces the old one under its name. */
export interface Pools extends PoolView {
  set(name: string, pool: Pool): void;
}

/** Limits every pool must respect: ids inside the sample space, labels inside the classes. */
export interface PoolLimits {
  readonly sampleCount: number;
  readonly numClasses?: number;
}

function checkPool(name: string, pool: Pool, limits: PoolLimits): void {
  const where = `pool "${name}"`;
  if (!(pool?.ids instanceof Int32Array)) throw new SslError('invalid-config', `${where}: ids must be an Int32Array of sample ids.`);
  for (const id of pool.ids) {
    if (id < 0 || id >= limits.sampleCount)
      throw new SslError('invalid-config', `${where}: sample id ${id} is outside 0..${limits.sampleCount - 1}.`);
  }
  if (pool.labels !== undefined) {
    if (pool.labels.length !== pool.ids.length)
      throw new SslError('invalid-config', `${where}: ${pool.labels.length} labels for ${pool.ids.length} ids.`);
    const classes = limits.numClasses ?? Infinity;
    for (const label of pool.labels) {
      if (!(label >= 0 && label < classes)) throw new SslError('invalid-config', `${where}: label ${label} is outside 0..${classes - 1}.`);
    }
  }
  if (pool.weights !== undefined) {
    if (pool.weights.length !== pool.ids.length)
      throw new SslError('invalid-config', `${where}: ${pool.weights.length} weights for ${pool.ids.length} ids.`);
    for (const weight of pool.weights) {
      if (!(Number.isFinite(weight) && weight >= 0))
        throw new SslError('invalid-config', `${where}: weight ${weight} is not a finite number >= 0.`);
    }
  }
}

/** The pools of one run. `changed` tells whether checkpoints must carry them (initial pools are rebuilt from the data). */
export class RunPools implements Pools {
  private readonly pools = new Map<string, Pool>();
  changed = false;

  constructor(
    initial: Readonly<Record<string, Pool>>,
    private readonly limits: PoolLimits,
  ) {
    for (const [name, pool] of Object.entries(initial)) this.pools.set(name, pool);
  }

  get(name: string): Pool | undefined {
    return this.pools.get(name);
  }

  names(): string[] {
    return [...this.pools.keys()];
  }

  set(name: string, pool: Pool): void {
    checkPool(name, pool, this.limits);
    // Copies: a method that later edits its arrays must not change a pool behind the checkpoint's back.
    this.pools.set(name, {
      ids: Int32Array.from(pool.ids),
      labels: pool.labels && Int32Array.from(pool.labels),
      weights: pool.weights && Float32Array.from(pool.weights),
    });
    this.changed = true;
  }

  /** Pools as checkpoint metadata (plain JSON arrays), or null while they are the data's initial pools. */
  toJson(): JsonValue {
    if (!this.changed) return null;
    const out: { [name: string]: JsonValue } = {};
    for (const [name, pool] of this.pools) {
      out[name] = {
        ids: Array.from(pool.ids),
        labels: pool.labels ? Array.from(pool.labels) : null,
        weights: pool.weights ? Array.from(pool.weights) : null,
      };
    }
    return out;
  }

  /** Restores pools saved by toJson (a no-op for null). */
  restore(saved: JsonValue | undefined): void {
    if (saved === null || saved === undefined) return;
    for (const [name, value] of Object.entries(
      saved as Record<string, { ids: number[]; labels: number[] | null; weights: number[] | null }>,
    )) {
      this.set(name, {
        ids: Int32Array.from(value.ids),
        labels: value.labels ? Int32Array.from(value.labels) : undefined,
        weights: value.weights ? Float32Array.from(value.weights) : undefined,
      });
    }
  }
}

/** ids 0..count-1 shifted by `offset`: a dataset's samples in the run's sample space. */
export function rangeIds(count: number, offset = 0): Int32Array {
  return Int32Array.from({ length: count }, (_, i) => i + offset);
}
