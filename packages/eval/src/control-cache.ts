import { CORE_VERSION } from '@ssl/core';
import packageJson from '../package.json';
import type { ComparisonRow } from './compare-representations';

/**
 * Where the scores of the two controls are kept between evaluations. Raw pixels depend only on the data and the
 * protocol, the random init on those and the encoder's spec (with its seed): scoring them again for every run on
 * the same data costs about as much as scoring the trained encoder. The caller owns the store (the CLI keeps JSON
 * files on disk); a store that fails to read or write is not an error, the control is then scored again.
 */
export interface ControlScoreStore {
  get(key: string): Promise<ComparisonRow | undefined>;
  set(key: string, row: ComparisonRow): Promise<void>;
}

export interface ControlCache {
  store: ControlScoreStore;
  /** Names the evaluation data, e.g. a hash of the train and test images and labels as the encoder sees them. */
  dataKey: string;
}

/**
 * The key of one control's scores: the data, the protocol as applied, the control (raw pixels, or the random
 * init's spec), and the versions of @ssl/eval (the probes) and @ssl/core (initialisation, kernels).
 */
export function controlScoreKey(cache: ControlCache, control: string, protocol: unknown): string {
  return JSON.stringify({ data: cache.dataKey, control, protocol, eval: packageJson.version, core: CORE_VERSION });
}

/** The cached row, or undefined when it is absent or the store cannot be read. */
export async function cachedControl(cache: ControlCache | undefined, key: string): Promise<ComparisonRow | undefined> {
  if (!cache) return undefined;
  return cache.store.get(key).catch(() => undefined);
}

/** Keeps a freshly scored control; a store that cannot write loses nothing but time. */
export async function keepControl(cache: ControlCache | undefined, key: string, row: ComparisonRow): Promise<void> {
  if (cache) await cache.store.set(key, row).catch(() => undefined);
}
