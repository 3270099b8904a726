import { PNG } from 'pngjs';
import { UMAP } from 'umap-js';
import { Random, SslError } from '@ssl/core';
import { drawText, GLYPH_HEIGHT } from './bitmap-font';
import { TABLEAU_10, whiteCanvas } from './canvas';
import { featureCount, selectRows } from './feature-set';
import { normalizeRows } from './kmeans';
import type { FeatureSet } from './types';

export interface EmbeddingMapOptions {
  /** Only 'umap' (McInnes et al. 2018, via umap-js). */
  method?: 'umap';
  /** Rows drawn at random (seeded) before the projection; default 2000. UMAP costs grow faster than linearly. */
  sample?: number;
  seed?: number;
  /** 'cosine' (default: rows L2-normalized first, natural for contrastive embeddings) or 'euclidean'. */
  metric?: 'cosine' | 'euclidean';
  /** UMAP neighbourhood size (default 15) and minimum distance (default 0.1). */
  neighbors?: number;
  minDist?: number;
  /** Legend names per class (default "class 0", ...). */
  classNames?: readonly string[];
  title?: string;
  /** Image size in pixels (default 900 x 640). */
  width?: number;
  height?: number;
  /** Render the PNG (default true); the SVG is always produced. */
  png?: boolean;
}

export interface EmbeddingMap {
  /** [sample, 2] projected coordinates. */
  points: Float32Array;
  /** Label of each projected point. */
  labels: Int32Array;
  /** Row of the input each point came from. */
  indices: Int32Array;
  png?: Buffer;
  svg: string;
}

function colorOf(label: number): [number, number, number] {
  if (label < 0) return [90, 90, 90];
  const base = TABLEAU_10[label % TABLEAU_10.length];
  // Beyond 10 classes, cycle darker shades so neighbours in the legend stay distinguishable.
  const shade = 1 - (0.35 * Math.floor(label / TABLEAU_10.length)) / Math.max(1, Math.floor(label / TABLEAU_10.length) + 1);
  return [Math.round(base[0] * shade), Math.round(base[1] * shade), Math.round(base[2] * shade)];
}

/**
 * A 2-D map of a feature sample, coloured by label with a legend: UMAP projection, then a PNG (points
 * drawn directly into pixels with pngjs) and an SVG. A map is a picture, not a metric: distances between
 * far-apart clusters in UMAP mean little.
 */
export async function embeddingMap(set: FeatureSet, options: EmbeddingMapOptions = {}): Promise<EmbeddingMap> {
  const count = featureCount(set);
  if ((options.method ?? 'umap') !== 'umap')
    throw new SslError('invalid-config', `embeddingMap method must be 'umap', got ${String(options.method)}.`);
  const sample = Math.min(options.sample ?? 2000, count);
  const neighbors = options.neighbors ?? 15;
  if (sample < 3) throw new SslError('data', `embeddingMap needs at least 3 rows, got ${sample}.`);
  const random = new Random(options.seed ?? 0);
  const indices = random.permutation(count).slice(0, sample).sort();
  const subset = selectRows(set, indices);
  const rows = options.metric === 'euclidean' ? subset.features : normalizeRows(subset.features, set.dim);
  const vectors: number[][] = [];
  for (let i = 0; i < sample; i++) vectors.push(Array.from(rows.subarray(i * set.dim, (i + 1) * set.dim)));
  const umap = new UMAP({
    nComponents: 2,
    nNeighbors: Math.min(neighbors, sample - 1),
    minDist: options.minDist ?? 0.1,
    random: () => random.next(),
  });
  const embedding = await umap.fitAsync(vectors);
  const points = new Float32Array(sample * 2);
  embedding.forEach(([x, y], i) => {
    points[i * 2] = x;
    points[i * 2 + 1] = y;
  });
  const layout = mapLayout(points, subset.labels, options);
  return {
    points,
    labels: subset.labels,
    indices: Int32Array.from(indices),
    ...(options.png === false ? {} : { png: renderPng(layout) }),
    svg: renderSvg(layout),
  };
}

interface MapLayout {
  width: number;
  height: number;
  /** Pixel positions [sample, 2]. */
  pixels: Float32Array;
  labels: Int32Array;
  legend: { label: number; name: string }[];
  title?: string;
  plotRight: number;
}

const MARGIN = 20;
const LEGEND_WIDTH = 190;
const TITLE_HEIGHT = 34;

function mapLayout(points: Float32Array, labels: Int32Array, options: EmbeddingMapOptions): MapLayout {
  const width = options.width ?? 900;
  const height = options.height ?? 640;
  const plotLeft = MARGIN;
  const plotRight = width - LEGEND_WIDTH;
  const plotTop = options.title ? TITLE_HEIGHT : MARGIN;
  const plotBottom = height - MARGIN;
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
  // One scale for both axes keeps the map's shape.
  const scale = Math.min((plotRight - plotLeft) / Math.max(maxX - minX, 1e-9), (plotBottom - plotTop) / Math.max(maxY - minY, 1e-9));
  const offsetX = plotLeft + (plotRight - plotLeft - (maxX - minX) * scale) / 2;
  const offsetY = plotTop + (plotBottom - plotTop - (maxY - minY) * scale) / 2;
  const pixels = new Float32Array(points.length);
  for (let i = 0; i < points.length; i += 2) {
    pixels[i] = offsetX + (points[i] - minX) * scale;
    pixels[i + 1] = offsetY + (maxY - points[i + 1]) * scale;
  }
  const present = [...new Set(Array.from(labels))].sort((a, b) => a - b);
  const legend = present.map((label) => ({
    label,
    name: label < 0 ? 'unlabeled' : (options.classNames?.[label] ?? `class ${label}`),
  }));
  return { width, height, pixels, labels, legend, title: options.title, plotRight };
}

function renderPng(layout: MapLayout): Buffer {
  const { png, blend } = whiteCanvas(layout.width, layout.height);
  // Points: radius-2.5 discs, slightly transparent so dense regions read as dense.
  for (let i = 0; i < layout.labels.length; i++) {
    const color = colorOf(layout.labels[i]);
    const cx = layout.pixels[i * 2];
    const cy = layout.pixels[i * 2 + 1];
    for (let y = Math.floor(cy - 3); y <= Math.ceil(cy + 3); y++) {
      for (let x = Math.floor(cx - 3); x <= Math.ceil(cx + 3); x++) {
        if ((x - cx) ** 2 + (y - cy) ** 2 <= 2.5 ** 2) blend(x, y, color, 0.75);
      }
    }
  }
  const ink = [40, 40, 40];
  if (layout.title) drawText(layout.title, MARGIN, 10, 2, (x, y) => blend(x, y, ink, 1));
  const legendLeft = layout.plotRight + 16;
  layout.legend.forEach(({ label, name }, row) => {
    const top = MARGIN + 10 + row * 24;
    const color = colorOf(label);
    for (let y = top; y < top + 14; y++) for (let x = legendLeft; x < legendLeft + 14; x++) blend(x, y, color, 1);
    const maxChars = Math.floor((layout.width - legendLeft - 24) / 12);
    drawText(name.slice(0, maxChars), legendLeft + 22, top + (14 - GLYPH_HEIGHT * 2) / 2 + 1, 2, (x, y) => blend(x, y, ink, 1));
  });
  return PNG.sync.write(png);
}

function renderSvg(layout: MapLayout): string {
  const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const rgb = (label: number) => `rgb(${colorOf(label).join(',')})`;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${layout.width}" height="${layout.height}" viewBox="0 0 ${layout.width} ${layout.height}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  if (layout.title) parts.push(`<text x="${MARGIN}" y="24" font-family="sans-serif" font-size="16">${escape(layout.title)}</text>`);
  for (let i = 0; i < layout.labels.length; i++) {
    parts.push(
      `<circle cx="${layout.pixels[i * 2].toFixed(1)}" cy="${layout.pixels[i * 2 + 1].toFixed(1)}" r="2.5" fill="${rgb(layout.labels[i])}" fill-opacity="0.75"/>`,
    );
  }
  const legendLeft = layout.plotRight + 16;
  layout.legend.forEach(({ label, name }, row) => {
    const top = MARGIN + 10 + row * 24;
    parts.push(`<rect x="${legendLeft}" y="${top}" width="14" height="14" fill="${rgb(label)}"/>`);
    parts.push(`<text x="${legendLeft + 22}" y="${top + 12}" font-family="sans-serif" font-size="13">${escape(name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
