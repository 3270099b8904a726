import { SslError } from '@ssl/core';

/**
 * Minimum-cost assignment (Kuhn 1955; Munkres 1957) in O(n^2 m) with row/column potentials and
 * shortest augmenting paths. `cost` is rows x columns, row-major, rows <= columns; returns, for every
 * row, the column assigned to it. Pad or transpose a matrix with more rows than columns first.
 */
export function hungarian(cost: ArrayLike<number>, rows: number, columns: number): Int32Array {
  if (!Number.isInteger(rows) || !Number.isInteger(columns) || rows < 0 || rows > columns) {
    throw new SslError('invalid-config', `hungarian needs 0 <= rows <= columns, got ${rows} x ${columns}: transpose the matrix.`);
  }
  if (cost.length !== rows * columns) {
    throw new SslError('shape-mismatch', `hungarian cost has ${cost.length} entries, expected ${rows} x ${columns} = ${rows * columns}.`);
  }
  // 1-based arrays: index 0 is the virtual column/row the augmenting path starts from.
  const rowPotential = new Float64Array(rows + 1);
  const columnPotential = new Float64Array(columns + 1);
  const rowOfColumn = new Int32Array(columns + 1);
  const previousColumn = new Int32Array(columns + 1);
  const minSlack = new Float64Array(columns + 1);
  const visited = new Uint8Array(columns + 1);
  for (let row = 1; row <= rows; row++) {
    rowOfColumn[0] = row;
    let column = 0;
    minSlack.fill(Infinity);
    visited.fill(0);
    // Grow a tree of tight edges from `row` until it reaches a free column.
    do {
      visited[column] = 1;
      const currentRow = rowOfColumn[column];
      let delta = Infinity;
      let nextColumn = 0;
      for (let j = 1; j <= columns; j++) {
        if (visited[j]) continue;
        const slack = cost[(currentRow - 1) * columns + (j - 1)] - rowPotential[currentRow] - columnPotential[j];
        if (slack < minSlack[j]) {
          minSlack[j] = slack;
          previousColumn[j] = column;
        }
        if (minSlack[j] < delta) {
          delta = minSlack[j];
          nextColumn = j;
        }
      }
      if (!Number.isFinite(delta)) throw new SslError('data', 'hungarian cost matrix contains a non-finite entry.');
      for (let j = 0; j <= columns; j++) {
        if (visited[j]) {
          rowPotential[rowOfColumn[j]] += delta;
          columnPotential[j] -= delta;
        } else {
          minSlack[j] -= delta;
        }
      }
      column = nextColumn;
    } while (rowOfColumn[column] !== 0);
    // Flip the augmenting path.
    do {
      const previous = previousColumn[column];
      rowOfColumn[column] = rowOfColumn[previous];
      column = previous;
    } while (column !== 0);
  }
  const assignment = new Int32Array(rows);
  for (let j = 1; j <= columns; j++) if (rowOfColumn[j] !== 0) assignment[rowOfColumn[j] - 1] = j - 1;
  return assignment;
}
