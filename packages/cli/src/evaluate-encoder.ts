import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageDataset } from '@ssl/core';
import { collapseDiagnostics, embeddingMap, extractFeatures, knnClassify, labelFractionEval, linearProbe, type FeatureEncoder } from '@ssl/eval';
import { formatTextTable } from './text-table';
import { RUN_FILES, type EvaluationRow, type RunEvaluation } from './report/read-run';
import { formatNumber } from './report/svg-line-chart';

/** kNN neighbours, as in Wu et al. 2018 and most SSL papers' kNN monitor. */
export const KNN_NEIGHBOURS = 200;
/** The few-label probe: this many labeled images per class. */
export const FEW_LABELS_PER_CLASS = 10;
/** Points drawn in the embedding map; more only blurs the picture and slows the projection. */
const EMBEDDING_MAP_POINTS = 2000;

export interface EncoderEvaluation {
  evaluation: RunEvaluation;
  /** The 2-D UMAP map of test embeddings, as a PNG (report) and an SVG (scalable, for papers). */
  embeddingMapPng?: Buffer;
  embeddingMapSvg: string;
}

/**
 * The standard protocol on frozen features: weighted kNN (k=200), a linear probe on all training labels,
 * a linear probe with 10 labels per class (mean of 3 seeded draws), collapse diagnostics on the test
 * embeddings and a 2-D UMAP map.
 */
export async function evaluateEncoder(
  encoder: FeatureEncoder,
  data: { train: ImageDataset; test: ImageDataset; seed: number },
): Promise<EncoderEvaluation> {
  const trainFeatures = await extractFeatures(encoder, data.train);
  const testFeatures = await extractFeatures(encoder, data.test);
  const k = Math.min(KNN_NEIGHBOURS, data.train.size);
  const knn = await knnClassify(trainFeatures, testFeatures, { k });
  const probe = await linearProbe(trainFeatures, testFeatures, { seed: data.seed });
  const fewLabelSeeds = [data.seed, data.seed + 1, data.seed + 2];
  const [fewLabels] = await labelFractionEval(trainFeatures, testFeatures, { perClass: [FEW_LABELS_PER_CLASS], seeds: fewLabelSeeds, method: 'linear' });
  const collapse = collapseDiagnostics(testFeatures);

  const rows: EvaluationRow[] = [
    { name: 'kNN top-1', value: knn.top1, detail: `k=${k}, cosine, weighted vote; ${data.train.size} train / ${data.test.size} test images` },
    ...(knn.top5 === undefined ? [] : [{ name: 'kNN top-5', value: knn.top5, detail: `k=${k}` }]),
    { name: 'linear probe top-1', value: probe.top1, detail: 'all training labels, frozen features' },
    {
      name: `linear probe top-1 (${FEW_LABELS_PER_CLASS} labels/class)`,
      value: fewLabels.top1.mean,
      detail: `${fewLabels.labeled} labeled images; mean ± ${(fewLabels.top1.std * 100).toFixed(1)} pts (std) over ${fewLabelSeeds.length} seeds`,
    },
  ];
  const evaluation: RunEvaluation = {
    rows,
    collapse: {
      effectiveRank: collapse.effectiveRank,
      perDimStd: collapse.perDimStd,
      healthyPerDimStd: collapse.healthyPerDimStd,
      meanPairwiseCosine: collapse.meanPairwiseCosine,
    },
  };

  const map = await embeddingMap(testFeatures, {
    sample: EMBEDDING_MAP_POINTS,
    seed: data.seed,
    classNames: data.test.classNames,
    title: `Test embeddings (UMAP, ${Math.min(EMBEDDING_MAP_POINTS, data.test.size)} images)`,
  });
  return { evaluation, embeddingMapSvg: map.svg, ...(map.png ? { embeddingMapPng: map.png } : {}) };
}

export function formatEvaluationTable(evaluation: RunEvaluation): string {
  const rows = evaluation.rows.map((row) => [row.name, typeof row.value === 'number' ? formatPercentOrNumber(row.value) : row.value]);
  for (const [name, value] of Object.entries(evaluation.collapse ?? {})) rows.push([`collapse: ${name}`, formatNumber(value)]);
  return `\n${formatTextTable(['evaluation', 'value'], rows, { rightAligned: [1] })}`;
}

function formatPercentOrNumber(value: number): string {
  return value >= 0 && value <= 1 ? `${(value * 100).toFixed(1)}%` : formatNumber(value);
}

/** Writes embedding-map.svg, and embedding-map.png when rendered (the report embeds the PNG when present). */
export async function writeEmbeddingMap(runDir: string, result: EncoderEvaluation): Promise<void> {
  await writeFile(join(runDir, RUN_FILES.embeddingMapSvg), result.embeddingMapSvg);
  if (result.embeddingMapPng) await writeFile(join(runDir, RUN_FILES.embeddingMapPng), result.embeddingMapPng);
}
