import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SyntheticRunOptions {
  epochs?: number;
  stepsPerEpoch?: number;
  /** Extra raw lines appended to metrics.jsonl, e.g. a truncated line. */
  extraMetricLines?: string[];
  withEvaluation?: boolean;
  withEmbeddingMap?: boolean;
}

/**
 * Writes a run directory shaped like the trainer's output: config.json, metrics.jsonl with per-step loss/lr
 * and per-epoch kNN accuracy and effective rank, eval.json and an embedding-map.svg.
 */
export async function writeSyntheticRun(options: SyntheticRunOptions = {}): Promise<string> {
  const epochs = options.epochs ?? 8;
  const stepsPerEpoch = options.stepsPerEpoch ?? 25;
  const runDir = await mkdtemp(join(tmpdir(), 'ssl-run-'));
  await mkdir(join(runDir, 'checkpoints'));
  const config = {
    method: 'contrastive:simclr',
    encoder: 'cnn',
    data: 'fashion-mnist-sample',
    epochs,
    batchSize: 128,
    lr: 0.3,
    seed: 7,
    backend: 'cpu',
    methodConfig: { temperature: 0.5, projectionDim: 64, note: '<script>alert(1)</script>' },
  };
  await writeFile(join(runDir, 'config.json'), JSON.stringify(config, null, 2));
  const lines: string[] = [];
  const totalSteps = epochs * stepsPerEpoch;
  // 0-based steps and epochs, as the trainer logs them; an epoch record follows each epoch's last step.
  for (let step = 0; step < totalSteps; step++) {
    const epoch = Math.floor(step / stepsPerEpoch);
    const lr = 0.3 * 0.5 * (1 + Math.cos((Math.PI * step) / totalSteps));
    const loss = 5.5 * Math.exp(-step / 80) + 1.2 + 0.05 * Math.sin(step);
    lines.push(JSON.stringify({ type: 'step', step, epoch, loss, lr, seconds: 0.4, time: 1_700_000_000_000 + step * 400 }));
    if ((step + 1) % stepsPerEpoch === 0) {
      lines.push(
        JSON.stringify({
          type: 'epoch',
          step,
          epoch,
          knn_top1: 0.3 + 0.5 * (1 - Math.exp(-epoch / 3)),
          effective_rank: 10 + epoch * 3,
          time: 1_700_000_000_000 + step * 400,
        }),
      );
    }
  }
  lines.push(...(options.extraMetricLines ?? []));
  await writeFile(join(runDir, 'metrics.jsonl'), lines.join('\n') + '\n');
  if (options.withEvaluation ?? true) {
    await writeFile(
      join(runDir, 'eval.json'),
      JSON.stringify({
        rows: [
          { name: 'kNN top-1', value: 0.781, detail: 'k=200, cosine' },
          { name: 'linear probe top-1', value: 0.812, detail: '100% labels' },
          { name: 'linear probe top-1 (10 labels/class)', value: 0.553 },
        ],
        collapse: { effectiveRank: 34.2, meanFeatureStd: 0.061 },
      }),
    );
  }
  if (options.withEmbeddingMap ?? true) {
    const dots = Array.from(
      { length: 50 },
      (_, index) => `<circle cx="${(index * 37) % 200}" cy="${(index * 53) % 200}" r="3" fill="hsl(${(index % 10) * 36} 70% 45%)"/>`,
    );
    await writeFile(
      join(runDir, 'embedding-map.svg'),
      `<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200" viewBox="0 0 200 200">${dots.join('')}</svg>`,
    );
  }
  return runDir;
}
