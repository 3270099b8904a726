/**
 * The page's 2-D embedding map: held-out features projected on their first two principal components, drawn as
 * dots coloured by class. @ssl/eval's `embeddingMap` (UMAP, then a PNG through pngjs) does not bundle for a page:
 * pngjs needs Node's zlib and stream at import, so this is PCA drawn straight on a canvas. PCA is linear, so
 * the map shows how far the classes are apart along the directions of largest variance, no more.
 */

/** Fashion-MNIST's classes (core's FASHION_MNIST spec names them in its Node entry only). */
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

/** Tableau 10, the palette of @ssl/eval's maps. */
export const CLASS_COLOURS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

/** Power iterations per component: the 64×64 covariance of the CNN's features converges in far fewer. */
const ITERATIONS = 200;

/**
 * Projects the rows of `features` ([rows, dim], row-major) on their first two principal components (power
 * iteration on the covariance, the second after deflating the first). Deterministic: it starts from a fixed vector.
 */
export function pca2(features: Float32Array, rows: number, dim: number): Float32Array {
  const mean = new Float64Array(dim);
  for (let r = 0; r < rows; r++) for (let d = 0; d < dim; d++) mean[d] += features[r * dim + d] / rows;
  const centred = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) for (let d = 0; d < dim; d++) centred[r * dim + d] = features[r * dim + d] - mean[d];
  const covariance = new Float64Array(dim * dim);
  for (let r = 0; r < rows; r++)
    for (let i = 0; i < dim; i++) {
      const a = centred[r * dim + i];
      if (a === 0) continue;
      for (let j = 0; j < dim; j++) covariance[i * dim + j] += (a * centred[r * dim + j]) / rows;
    }
  const components: Float64Array[] = [];
  for (let c = 0; c < 2; c++) {
    let vector = Float64Array.from({ length: dim }, (_, i) => 1 + ((i * 7919) % 13) / 13);
    for (let iteration = 0; iteration < ITERATIONS; iteration++) {
      const next = new Float64Array(dim);
      for (let i = 0; i < dim; i++) for (let j = 0; j < dim; j++) next[i] += covariance[i * dim + j] * vector[j];
      // Deflation: remove the components found so far.
      for (const found of components) {
        let dot = 0;
        for (let i = 0; i < dim; i++) dot += next[i] * found[i];
        for (let i = 0; i < dim; i++) next[i] -= dot * found[i];
      }
      const norm = Math.hypot(...next) || 1;
      vector = next.map((value) => value / norm);
    }
    components.push(vector);
  }
  const points = new Float32Array(rows * 2);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < 2; c++) {
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += centred[r * dim + d] * components[c][d];
      points[r * 2 + c] = dot;
    }
  return points;
}

/** Draws `points` ([rows, 2]) scaled to fill `canvas`, one dot per row in its class's colour. */
export function drawEmbeddingMap(canvas: HTMLCanvasElement, points: Float32Array, labels: Int32Array): void {
  const context = canvas.getContext('2d');
  if (!context) return;
  let minX = Infinity;
  let maxX = -Infinity;
  let minY = Infinity;
  let maxY = -Infinity;
  for (let i = 0; i < points.length; i += 2) {
    minX = Math.min(minX, points[i]);
    maxX = Math.max(maxX, points[i]);
    minY = Math.min(minY, points[i + 1]);
    maxY = Math.max(maxY, points[i + 1]);
  }
  const margin = 8;
  // One scale for both axes keeps the map's shape.
  const scale = Math.min(
    (canvas.width - 2 * margin) / Math.max(maxX - minX, 1e-9),
    (canvas.height - 2 * margin) / Math.max(maxY - minY, 1e-9),
  );
  context.fillStyle = '#fff';
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.globalAlpha = 0.75;
  for (let i = 0; i < labels.length; i++) {
    context.fillStyle = CLASS_COLOURS[labels[i] % CLASS_COLOURS.length];
    context.beginPath();
    context.arc(margin + (points[i * 2] - minX) * scale, canvas.height - margin - (points[i * 2 + 1] - minY) * scale, 2.5, 0, 2 * Math.PI);
    context.fill();
  }
  context.globalAlpha = 1;
}
