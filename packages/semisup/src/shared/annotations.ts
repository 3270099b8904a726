import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor4D } from '@tensorflow/tfjs-core';
import type { Pool } from '@ssl/core';

/**
 * Labels a round gave to unlabeled samples (co-training's taught examples, data distillation's generated
 * annotations), kept as a named pool (ids + labels) so checkpoints save them and a resumed round reads them
 * back. A step looks up its unlabeled batch's sample ids and trains on the rows that have one.
 */
export type AnnotationTable = ReadonlyMap<number, number>;

/** Sample id → label of a pool; empty when the pool does not exist yet (round 0). */
export function annotationTable(pool: Pool | undefined): AnnotationTable {
  const table = new Map<number, number>();
  if (pool?.labels) pool.ids.forEach((id, k) => table.set(id, pool.labels![k]));
  return table;
}

/** The rows of a batch (by its sample ids) that carry an annotation, and their labels. */
export function annotatedRows(table: AnnotationTable, indices: Int32Array): { rows: Int32Array; labels: Int32Array } {
  const rows: number[] = [];
  const labels: number[] = [];
  indices.forEach((id, row) => {
    const label = table.get(id);
    if (label !== undefined) {
      rows.push(row);
      labels.push(label);
    }
  });
  return { rows: Int32Array.from(rows), labels: Int32Array.from(labels) };
}

/**
 * The rows of an unlabeled view that carry an annotation, gathered, with their labels; undefined when none
 * does (nothing to forward).
 */
export function gatherAnnotated(
  table: AnnotationTable,
  view: Tensor4D | undefined,
  indices: Int32Array,
): { images: Tensor4D; labels: Tensor1D; count: number } | undefined {
  if (!view) return undefined;
  const { rows, labels } = annotatedRows(table, indices);
  if (rows.length === 0) return undefined;
  return {
    images: tf.gather(view, tf.tensor1d(rows, 'int32')) as Tensor4D,
    labels: tf.tensor1d(labels, 'int32') as Tensor1D,
    count: rows.length,
  };
}
