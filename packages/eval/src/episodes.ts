import { Random, SslError } from '@ssl/core';

/** One N-way K-shot task: rows of a labeled set, relabelled 0 … ways − 1 in the order of `classes`. */
export interface Episode {
  /** The original class of each way. */
  classes: number[];
  support: Int32Array;
  supportLabels: Int32Array;
  query: Int32Array;
  queryLabels: Int32Array;
}

export interface EpisodeSamplerOptions {
  ways: number;
  shots: number;
  /** Query rows per class. */
  queries: number;
  /** The classes episodes draw from, e.g. the meta-train or the held-out meta-test split (default: all). */
  classes?: readonly number[];
  seed?: number;
}

/**
 * A seeded source of N-way K-shot episodes (Vinyals et al. 2016): each draws `ways` classes from the
 * split, then `shots` support and `queries` query rows of each, without overlap. Class splits keep
 * meta-train and meta-test classes disjoint (e.g. Fashion-MNIST classes 0–4 and 5–9).
 */
export function episodeSampler(labels: Int32Array, options: EpisodeSamplerOptions): () => Episode {
  const { ways, shots, queries } = options;
  for (const [name, value] of [
    ['ways', ways],
    ['shots', shots],
    ['queries', queries],
  ] as const) {
    if (!Number.isInteger(value) || value <= 0)
      throw new SslError('invalid-config', `episodeSampler ${name} must be a positive integer, got ${value}.`);
  }
  const rowsByClass = new Map<number, number[]>();
  labels.forEach((label, row) => {
    if (label < 0) return;
    if (!rowsByClass.has(label)) rowsByClass.set(label, []);
    rowsByClass.get(label)?.push(row);
  });
  const requested = options.classes ?? [...rowsByClass.keys()].sort((a, b) => a - b);
  const eligible = requested.filter((c) => (rowsByClass.get(c)?.length ?? 0) >= shots + queries);
  if (eligible.length < ways) {
    throw new SslError(
      'data',
      `episodeSampler: ${ways}-way ${shots}-shot with ${queries} queries needs ${ways} classes with ${shots + queries} rows each; only ${eligible.length} of [${requested.join(', ')}] qualify.`,
    );
  }
  const random = new Random(options.seed ?? 0);
  return () => {
    const classes = random.shuffle([...eligible]).slice(0, ways);
    const support: number[] = [];
    const query: number[] = [];
    const supportLabels: number[] = [];
    const queryLabels: number[] = [];
    classes.forEach((cls, way) => {
      const picked = random.shuffle([...(rowsByClass.get(cls) as number[])]).slice(0, shots + queries);
      for (let i = 0; i < picked.length; i++) {
        if (i < shots) {
          support.push(picked[i]);
          supportLabels.push(way);
        } else {
          query.push(picked[i]);
          queryLabels.push(way);
        }
      }
    });
    return {
      classes,
      support: Int32Array.from(support),
      supportLabels: Int32Array.from(supportLabels),
      query: Int32Array.from(query),
      queryLabels: Int32Array.from(queryLabels),
    };
  };
}
