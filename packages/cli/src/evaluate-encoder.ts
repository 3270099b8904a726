import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Encoder, EncoderKindsOptions, ImageDataset, MethodHandle } from '@ssl/core';
import {
  collapseDiagnostics,
  collapseVerdict,
  compareWithControls,
  controlledFigures,
  embeddingMap,
  formatControlledEvaluation,
  randomInitControl,
  type ControlledEvaluation,
} from '@ssl/eval';
import type { MeanStd } from '@ssl/eval';
import { controlScoreCache } from './control-score-cache';
import { formatTextTable } from './text-table';
import { RUN_FILES, type EvaluationFigure, type EvaluationRow, type RunEvaluation } from './report/read-run';
import { formatNumber } from './report/svg-line-chart';

/** Points drawn in the embedding map; more only blurs the picture and slows the projection. */
const EMBEDDING_MAP_POINTS = 2000;

export interface EncoderEvaluation {
  /** Every figure of the protocol with its random-init control and raw pixels (what the terminal prints). */
  controlled: ControlledEvaluation;
  /** The contents of eval.json. */
  evaluation: RunEvaluation;
  /** The 2-D UMAP map of test embeddings, as a PNG (report) and an SVG (scalable, for papers). */
  embeddingMapPng?: Buffer;
  embeddingMapSvg: string;
}

/**
 * The protocol of `ssl pretrain`, for an encoder trained elsewhere (`ssl eval`): @ssl/eval's
 * `compareWithControls` against the same encoder spec and seed at random init and raw pixels, then collapse
 * diagnostics and the embedding map of the trained encoder's test features. `kinds` (the registry's encoder kinds,
 * `{ encoders: registry.parts().encoders }`, or one of its method handles) rebuilds a control of a plugin's kind.
 */
export async function evaluateEncoder(
  encoder: Encoder,
  data: { train: ImageDataset; test: ImageDataset; seed: number },
  kinds?: MethodHandle | EncoderKindsOptions,
): Promise<EncoderEvaluation> {
  const control = randomInitControl(encoder, kinds);
  try {
    const controlCache = controlScoreCache(data.train, data.test);
    const controlled = await compareWithControls({
      encoder,
      randomInit: control,
      train: data.train,
      test: data.test,
      seed: data.seed,
      ...(controlCache ? { controlCache } : {}),
    });
    return await describeEvaluation(controlled, { seed: data.seed, classNames: data.test.classNames });
  } finally {
    control.model.dispose();
  }
}

/** eval.json (each figure with its controls), collapse diagnostics and the embedding map of an evaluation. */
export async function describeEvaluation(
  controlled: ControlledEvaluation,
  options: { seed: number; classNames?: readonly string[] },
): Promise<EncoderEvaluation> {
  const testFeatures = controlled.trainedFeatures.test;
  const collapse = collapseDiagnostics(testFeatures);
  const rows: EvaluationRow[] = controlledFigures(controlled).map((figure) => {
    const trained = evaluationFigure(figure.trained);
    return {
      name: figure.name,
      ...trained,
      randomInit: evaluationFigure(figure.randomInit),
      rawPixels: evaluationFigure(figure.rawPixels),
      detail: figure.detail,
    };
  });
  const evaluation: RunEvaluation = {
    rows,
    collapse: {
      effectiveRank: collapse.effectiveRank,
      perDimStd: collapse.perDimStd,
      healthyPerDimStd: collapse.healthyPerDimStd,
      meanPairwiseCosine: collapse.meanPairwiseCosine,
    },
    collapseVerdict: collapseVerdict(collapse),
    ...(controlled.classifier ? { classifier: controlled.classifier } : {}),
    ...(controlled.heldOutTask ? { heldOutTask: [...controlled.heldOutTask] } : {}),
  };
  const testImages = controlled.protocol.testImages;
  const map = await embeddingMap(testFeatures, {
    sample: EMBEDDING_MAP_POINTS,
    seed: options.seed,
    ...(options.classNames ? { classNames: options.classNames } : {}),
    title: `Test embeddings (UMAP, ${Math.min(EMBEDDING_MAP_POINTS, testImages)} images)`,
  });
  return { controlled, evaluation, embeddingMapSvg: map.svg, ...(map.png ? { embeddingMapPng: map.png } : {}) };
}

function evaluationFigure(value: MeanStd | number): EvaluationFigure {
  return typeof value === 'number' ? { value } : { value: value.mean, std: value.std };
}

/**
 * What the terminal shows: @ssl/eval's table (each figure, its random-init control, the gain, raw pixels),
 * the same table every example prints, then the collapse diagnostics.
 */
export function formatEvaluationTable(result: EncoderEvaluation): string {
  const collapse = Object.entries(result.evaluation.collapse ?? {}).map(([name, value]) => [name, formatNumber(value)]);
  const verdict = result.evaluation.collapseVerdict;
  const verdictLine = verdict ? `collapse: ${verdict.verdict} — ${verdict.explanation}\n` : '';
  return `\n${formatControlledEvaluation(result.controlled)}\n\n${formatTextTable(['collapse diagnostic', 'value'], collapse, { rightAligned: [1] })}${verdictLine}`;
}

/** Writes embedding-map.svg, and embedding-map.png when rendered (the report embeds the PNG when present). */
export async function writeEmbeddingMap(runDir: string, result: EncoderEvaluation): Promise<void> {
  await writeFile(join(runDir, RUN_FILES.embeddingMapSvg), result.embeddingMapSvg);
  if (result.embeddingMapPng) await writeFile(join(runDir, RUN_FILES.embeddingMapPng), result.embeddingMapPng);
}
