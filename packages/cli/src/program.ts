import { Command, CommanderError, Option } from 'commander';
import { BACKEND_NAMES, ENCODER_EXPORT_FORMATS, type BackendName, type EncoderExportFormat } from '@ssl/core';
import { ACQUISITION_STRATEGIES, type AcquisitionStrategy } from '@ssl/eval';
import { processIo, type CliIo } from './cli-io';
import { runActiveCommand } from './commands/active-command';
import { runEvalCommand } from './commands/eval-command';
import { runExportCommand } from './commands/export-command';
import { runListCommand } from './commands/list-command';
import { DEFAULT_CHECKPOINT_EVERY, type TrainingFlags } from './commands/plan-training-run';
import { runPretrainCommand } from './commands/pretrain-command';
import { runReportCommand } from './commands/report-command';
import { runShardsMakeCommand } from './commands/shards-command';
import { formatCliError, oneLine } from './format-error';
import {
  NAMED_DATASETS,
  NAMED_SPOKEN_CLIPS,
  NAMED_TEXT_CORPORA,
  parseChannels,
  parseNonNegativeInteger,
  parsePositiveInteger,
  parsePositiveNumber,
} from './options';
import { CLI_VERSION } from './version';
import { ENCODER_CHOICES } from './encoder-choice';

/**
 * Exit codes: 0 success, 1 the command failed (bad data, bad config, training error, divergence), 2 bad usage
 * (flags), 130 / 143 / 129 a training run stopped and checkpointed on SIGINT / SIGTERM / SIGHUP.
 */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export interface GlobalFlags {
  verbose?: boolean;
}

/**
 * Runs the `ssl` command line and resolves to the exit code. Never calls process.exit and never throws, so
 * it can be tested in-process and embedded.
 */
export async function runCli(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const status = { exitCode: 0 };
  const program = createProgram(io, status);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return status.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version are "errors" to commander's exitOverride; its message was already printed.
      return error.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    io.stderr.write(formatCliError(error, { verbose: argv.includes('--verbose') }));
    return EXIT_FAILURE;
  }
}

/** `status.exitCode` receives a command's own exit code (130 / 143 / 129 for a training run stopped by a signal). */
export function createProgram(io: CliIo, status: { exitCode: number } = { exitCode: 0 }): Command {
  const program = new Command('ssl')
    .description('Self- and semi-supervised learning with TensorFlow.js: pretrain, evaluate and report.')
    .version(CLI_VERSION, '-V, --version')
    .option('--verbose', 'print stack traces and plugin warnings')
    .showSuggestionAfterError()
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .addHelpText(
      'after',
      `
Examples:
  $ ssl list
  $ ssl pretrain contrastive:simclr --data fashion-mnist-sample --epochs 5 --out runs/simclr
  $ ssl semisup semisup:fixmatch --data fashion-mnist --labels-per-class 10
  $ ssl eval runs/simclr --data fashion-mnist
  $ ssl active runs/simclr --data fashion-mnist --budget 10 --rounds 10
  $ ssl report runs/simclr --screenshot report.png
  $ ssl export runs/simclr --format pytorch --out simclr-pytorch`,
    );
  configureErrors(program, io);

  program
    .command('list')
    .description('list installed plugins and their methods with versions')
    .option('--json', 'print JSON instead of a table')
    .action(async (flags: { json?: boolean }) => {
      await runListCommand(io, { json: flags.json === true, verbose: globalFlags(program).verbose === true });
    });

  const pretrain = program
    .command('pretrain')
    .description('pretrain an encoder with a self-supervised method, then evaluate it and write a report')
    .argument('<method>', "method name, '<family>:<method>' (e.g. contrastive:simclr) or just the method when unambiguous")
    .option('--text-tower <run>', 'clip:clip: start the text tower from a finished masked:mlm run (its tokenizer, weights and size)');
  addTrainingOptions(pretrain);
  pretrain.action(async (method: string, flags: TrainingFlags) => {
    status.exitCode = await runPretrainCommand(io, { mode: 'pretrain', method, flags, verbose: globalFlags(program).verbose === true });
  });

  const semisup = program
    .command('semisup')
    .description('train a semi-supervised method with k labels per class and the rest unlabeled, then evaluate it')
    .argument('<method>', 'semi-supervised method, e.g. semisup:fixmatch')
    .requiredOption('--labels-per-class <k>', 'labeled images kept per class (the rest lose their labels)', parsePositiveInteger)
    .option(
      '--steps <n>',
      'stop after this many steps, the lr schedule planned over them (one-round methods; --epochs is then a ceiling)',
      parsePositiveInteger,
    )
    .option(
      '--control <run>',
      "take the supervised-only figure from this finished run (same data, labels, seed, encoder, batch, lr and steps) instead of training the method's own ablation",
    )
    .option('--no-control', "skip the supervised-only control (the method's classifier is reported alone)")
    .option(
      '--init <run>',
      "start the method's encoder (and its EMA copy or teacher) from a finished `ssl pretrain` run's encoder of the same spec; its supervised-only control starts from it too",
    );
  addTrainingOptions(semisup);
  semisup.action(async (method: string, flags: TrainingFlags & { labelsPerClass: number }) => {
    status.exitCode = await runPretrainCommand(io, { mode: 'semisup', method, flags, verbose: globalFlags(program).verbose === true });
  });

  program
    .command('eval')
    .description('evaluate a saved encoder (a run directory, its encoder/ folder or a checkpoint) with kNN and linear probes')
    .argument('<encoder>', 'run directory, encoder directory (model.json) or checkpoint directory')
    .requiredOption('--data <source>', `labeled data: ${NAMED_DATASETS.join(' | ')} | <image folder>`)
    .addOption(backendOption())
    .option('--out <dir>', 'where to write eval.json (default: the run directory for the data the run trained on, else <run>/eval-<data>/)')
    .action(async (encoder: string, flags: { data: string; backend?: BackendName; out?: string }) => {
      await runEvalCommand(io, { encoderPath: encoder, ...flags, verbose: globalFlags(program).verbose === true });
    });

  program
    .command('active')
    .description("active learning on a saved encoder's features: which labels to ask for first, each strategy beside random sampling")
    .argument('<encoder>', 'run directory or encoder directory (model.json)')
    .requiredOption('--data <source>', `labeled data whose labels answer the queries: ${NAMED_DATASETS.join(' | ')} | <image folder>`)
    .addOption(
      new Option('--strategy <name>', 'acquisition strategy, compared with random; all: every one')
        .choices([...ACQUISITION_STRATEGIES, 'all'])
        .default('all'),
    )
    .option('--budget <n>', 'labels queried per round', parsePositiveInteger, 10)
    .option('--rounds <n>', 'rounds of querying', parsePositiveInteger, 10)
    .option('--seeds <n>', 'repetitions with seeds seed … seed + n − 1 (mean ± std)', parsePositiveInteger, 3)
    .addOption(backendOption())
    .option('--out <dir>', 'where to write active.json (default: the run directory for its own data, else <run>/eval-<data>/)')
    .action(
      async (
        encoder: string,
        flags: {
          data: string;
          strategy: AcquisitionStrategy | 'all';
          budget: number;
          rounds: number;
          seeds: number;
          backend?: BackendName;
          out?: string;
        },
      ) => {
        await runActiveCommand(io, { encoderPath: encoder, ...flags });
      },
    );

  program
    .command('report')
    .description('write report.html for a run directory (config, curves, evaluation, embedding map)')
    .argument('<runDir>', 'a run directory written by `ssl pretrain`')
    .option('--screenshot <png>', 'also save a full-page PNG of the report (needs Chromium and playwright-core)')
    .action(async (runDir: string, flags: { screenshot?: string }) => {
      await runReportCommand(io, { runDir, screenshot: flags.screenshot });
    });

  const shards = program
    .command('shards')
    .description(
      'WebDataset tar shards (000000.tar …: key.jpg/png, key.cls, key.txt), to stream large image sets and move them between machines',
    );
  shards
    .command('make')
    .description('write shards from an image folder (class sub-folders become key.cls) or an image–caption .jsonl (key.txt)')
    .argument('<source>', 'image folder, or .jsonl of {"image": "path", "caption": "text"} lines')
    .requiredOption('--out <dir>', 'directory for the shards and dataset.json')
    .option('--shard-size <n>', 'samples per shard', parsePositiveInteger, 10_000)
    .option('--seed <n>', 'seed of the shuffle before sharding', parseNonNegativeInteger, 0)
    .option('--no-shuffle', 'keep the sorted order instead of shuffling before sharding')
    .option('--overwrite', 'write into an --out that already holds shards')
    .action((source: string, flags: { out: string; shardSize: number; seed: number; shuffle: boolean; overwrite?: boolean }) => {
      runShardsMakeCommand(io, { source, ...flags, overwrite: flags.overwrite === true });
    });

  program
    .command('export')
    .description("write a saved encoder for PyTorch: safetensors weights in PyTorch's names and layouts (+ the module definition)")
    .argument('<encoder>', 'run directory or encoder directory (model.json)')
    .addOption(
      new Option('--format <format>', 'safetensors: weights + encoder.json; pytorch: also ssl_encoder.py, which loads them')
        .choices([...ENCODER_EXPORT_FORMATS])
        .default('pytorch'),
    )
    .requiredOption('--out <dir>', 'directory to write the files to')
    .addOption(backendOption())
    .action(async (encoder: string, flags: { format: EncoderExportFormat; out: string; backend?: BackendName }) => {
      await runExportCommand(io, { encoderPath: encoder, ...flags });
    });

  return program;
}

function addTrainingOptions(command: Command): void {
  command
    .option(
      '--data <source>',
      `${NAMED_DATASETS.join(' | ')} | <image folder> | <pairs.jsonl | pairs.csv> | <folder of image + WAV pairs (a.png + a.wav), for clip:audio-visual> | ${NAMED_TEXT_CORPORA.join(' | ')} | <file.txt, one text a line, for text methods> | ${NAMED_SPOKEN_CLIPS.join(' | ')} | <folder from make-speech-sample.ts> (spoken clips and their texts, for clip:audio-text) (required here or in --config)`,
    )
    .option(
      '--eval-data <source>',
      `labeled images to evaluate on instead of --data: ${NAMED_DATASETS.join(' | ')} | <folder of class sub-folders> (a CLIP run on pairs gets its zero-shot accuracy here)`,
    )
    .option(
      '--audio <source>',
      'sound clips an image–audio method pairs with --data by class: spoken-classes-sample | <folder from make-speech-sample.ts> (not with a --data folder of image + WAV pairs)',
    )
    .option('--encoder <kind>', `backbone: ${ENCODER_CHOICES.join(', ')} (default: the method's recommended one, else cnn)`)
    .option('--image-size <px>', 'side images from a folder or .jsonl are resized to (default 32)', parsePositiveInteger)
    .option('--channels <n>', 'channels of images from a folder or .jsonl: 1 or 3 (default 3)', parseChannels)
    .option('--epochs <n>', 'training epochs', parsePositiveInteger)
    .option('--batch-size <n>', 'images per batch', parsePositiveInteger)
    .option('--lr <rate>', 'base learning rate (the schedule scales it)', parsePositiveNumber)
    .option('--seed <n>', 'random seed: same seed, same data order and weights', parseNonNegativeInteger)
    .addOption(backendOption())
    .option('--out <dir>', 'run directory (default: runs/<method>-<date>)')
    .option(
      '--config <file.json>',
      'JSON with training settings, a "method" object of method options and an "encoderOptions" object of encoder fields (e.g. {"patchSize": 7}); flags override it',
    )
    .addOption(
      new Option(
        '--resume',
        "continue the run in --out from its latest checkpoint; flags left out take the run's values, flags that disagree are refused",
      ),
    )
    .option('--extend', 'with --resume and a larger --epochs: train the run longer (the lr schedule is re-planned for the new epochs)')
    .option('--overwrite', 'start over in an --out that holds a run (removes its checkpoints, metrics and results)')
    .option(
      '--checkpoint-every <steps>',
      `also checkpoint every this many steps (default ${DEFAULT_CHECKPOINT_EVERY}; always at epoch ends and on Ctrl-C, SIGTERM, SIGHUP)`,
      parsePositiveInteger,
    )
    .option('--no-eval', 'skip the evaluation after training');
}

function backendOption(): Option {
  return new Option('--backend <name>', 'compute backend (default: the fastest installed; tensorflow needs @tensorflow/tfjs-node)').choices(
    BACKEND_NAMES,
  );
}

function globalFlags(program: Command): GlobalFlags {
  return program.opts<GlobalFlags>();
}

/** Every command (and subcommand) prints usage errors as one `ssl: error:` line and exits 2 instead of exiting the process. */
function configureErrors(command: Command, io: CliIo): void {
  command.exitOverride();
  command.configureOutput({
    writeOut: (text) => io.stdout.write(text),
    writeErr: (text) => io.stderr.write(text),
    outputError: (text, write) => write(`ssl: ${oneLine(text)}\n`),
  });
  // Subcommands created later inherit settings through copyInheritedSettings, which `command()` calls.
}
