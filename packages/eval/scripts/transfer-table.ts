/**
 * Transfer and domain shift (issue 27): Fashion-MNIST encoders scored on the emoji set as they see it (grey
 * 28×28: core's `loadEmoji({ size: 28, channels: 1 })`, area resize and ITU-R 601 luma), against the same encoder
 * spec at random init and an encoder trained on the emoji images themselves (`--target`: a run of any method; it is
 * scored on the emoji images as that run's encoder saw them, e.g. colorization's lightness L* at 32×32, through
 * the method's `encoderInput`). Each row: kNN, linear probe on all
 * labels and on 10 labels per class (5 subsets), then end-to-end fine-tuning on the emoji train labels with and
 * without layer-wise learning-rate decay (`transferEval`).
 *
 * One JSONL line per encoder (`--results`); a stopped run resumes with the missing ones. `--table` only writes the
 * README table from the results so far.
 *
 *   node --conditions=@ssl/source --import tsx packages/eval/scripts/transfer-table.ts \
 *     --source vicreg=/work/fulldata-runs/vicreg-cnn-7ep,barlow-twins=/work/fulldata-runs/barlow-twins-cnn-8ep \
 *     --target colorization=/work/fulldata-runs/colorization-emoji-10ep \
 *     --results packages/eval/docs/transfer-emoji.jsonl --readme packages/eval/README.md
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createRegistry, initBackend, loadEmoji } from '@ssl/core';
import type { ImageDataset } from '@ssl/core';
import { imagesAsEncoderSees, randomInitControl } from '../src/pretrain-and-compare';
import { formatTransferTable, transferEval } from '../src/transfer';
import type { TransferCandidate, TransferFineTune, TransferRow } from '../src/transfer';
import { appendJsonLine, loadRunEncoder, pluginOf, readJsonLines, replaceReadmeSection } from './script-helpers';

const { values } = parseArgs({
  options: {
    /** name=run directory, comma-separated: encoders trained on Fashion-MNIST. */
    source: { type: 'string' },
    /** name=run directory: an encoder of the same spec trained on the target (emoji) images. */
    target: { type: 'string' },
    results: { type: 'string' },
    readme: { type: 'string' },
    'fine-tune-epochs': { type: 'string', default: '5' },
    'layer-decay': { type: 'string', default: '0.65' },
    'backbone-lr': { type: 'string', default: '1e-3' },
    /** 'full' (every emoji, rendered from the system font) or 'sample'. */
    emoji: { type: 'string', default: 'full' },
    table: { type: 'boolean', default: false },
  },
});
if (!values.source || !values.results) throw new Error('transfer-table: pass --source name=run,... and --results <file.jsonl>.');

const runs = (list: string | undefined) =>
  (list ?? '')
    .split(',')
    .filter(Boolean)
    .map((entry) => {
      const [name, dir] = entry.split('=');
      return { name, dir };
    });
const sources = runs(values.source);
const targets = runs(values.target);

interface ResultLine {
  readonly encoder: string;
  readonly kind: 'source' | 'random init' | 'target';
  readonly run?: string;
  readonly row: TransferRow;
  readonly seconds: number;
}

const done = readJsonLines<ResultLine>(values.results);

function writeTable(): void {
  if (!values.readme) return;
  const lines = readJsonLines<ResultLine>(values.results as string);
  const order = { source: 0, 'random init': 1, target: 2 } as const;
  const rows = [...lines].sort((a, b) => order[a.kind] - order[b.kind]).map((line) => line.row);
  const caption = `Top-1 (%) on the 786 emoji test images, frozen and fine-tuned on the emoji train labels; one seed.`;
  replaceReadmeSection(values.readme, 'transfer-emoji', `${caption}\n\n${formatTransferTable(rows)}`);
}

if (values.table) {
  writeTable();
} else {
  await initBackend({ log: (line) => process.stderr.write(`${line}\n`) });
  const emojiSource = values.emoji === 'sample' ? 'sample' : 'full';
  const train = await loadEmoji({ split: 'train', source: emojiSource, size: 28, channels: 1 });
  const test = await loadEmoji({ split: 'test', source: emojiSource, size: 28, channels: 1 });
  process.stderr.write(`emoji ${emojiSource}: ${train.size} train / ${test.size} test images, grey 28×28, ${train.numClasses} classes\n`);

  const epochs = Number(values['fine-tune-epochs']);
  const backboneLr = Number(values['backbone-lr']);
  const layerDecay = Number(values['layer-decay']);
  const common = { epochs, batchSize: 64, backboneLr, headLr: 1e-2 } as const;
  const fineTune: TransferFineTune[] = [
    { name: `fine-tune (${epochs} epochs)`, options: common },
    { name: `fine-tune, layer decay ${layerDecay}`, options: { ...common, layerDecay } },
  ];

  const fromRun = (name: string, dir: string): TransferCandidate => ({
    name,
    load: async () => (await loadRunEncoder(dir)).encoder,
  });
  const first = sources[0];
  const { encoder: reference, kinds } = await loadRunEncoder(first.dir);
  const candidates: { kind: ResultLine['kind']; run?: string; candidate: TransferCandidate }[] = [
    ...sources.map(({ name, dir }) => ({ kind: 'source' as const, run: dir, candidate: fromRun(`${name} (Fashion-MNIST)`, dir) })),
    {
      kind: 'random init' as const,
      candidate: { name: 'same CNN at random init', load: () => randomInitControl(reference, kinds) },
    },
  ];
  reference.model.dispose();

  const measure = async (
    kind: ResultLine['kind'],
    candidate: TransferCandidate,
    data: { train: ImageDataset; test: ImageDataset },
    run?: string,
  ) => {
    if (done.some((line) => line.encoder === candidate.name)) return;
    const started = performance.now();
    const [row] = await transferEval({ candidates: [candidate], ...data, fineTune, seed: 0 });
    const seconds = Math.round((performance.now() - started) / 100) / 10;
    appendJsonLine(values.results as string, { encoder: candidate.name, kind, ...(run ? { run } : {}), row, seconds } satisfies ResultLine);
    process.stderr.write(`${candidate.name}: ${formatTransferTable([row]).split('\n')[2]} (${seconds} s)\n`);
  };
  for (const { kind, run, candidate } of candidates) await measure(kind, candidate, { train, test }, run);

  // A run trained on the emoji set itself, on the images as its encoder saw them (its size, channels, encoderInput).
  for (const { name, dir } of targets) {
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as {
      method: string;
      encoder: { inputShape: [number, number, number] };
      invocation?: { channels?: 1 | 3 };
    };
    const handle = createRegistry()
      .use(await pluginOf(config.method))
      .create(config.method as never);
    const size = config.encoder.inputShape[0];
    const channels = config.invocation?.channels ?? config.encoder.inputShape[2];
    const seen = async (split: 'train' | 'test') =>
      imagesAsEncoderSees(handle, await loadEmoji({ split, source: emojiSource, size, channels: channels === 1 ? 1 : 3 })) as ImageDataset;
    await measure('target', fromRun(`${name} (emoji itself)`, dir), { train: await seen('train'), test: await seen('test') }, dir);
  }
  writeTable();
}
