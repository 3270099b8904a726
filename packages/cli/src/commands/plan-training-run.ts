import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  BACKEND_NAMES,
  SslError,
  checkOutputDirectory,
  checkRunLock,
  closestMatch,
  encoderInputShape,
  holdsImageAudioPairs,
  type BackendName,
  type EncoderSpec,
  type MethodHandle,
  type Registry,
} from '@ssl/core';
import { checkEncoderChoice, encoderSpecFor, type EncoderChoice } from '../encoder-choice';
import { DEFAULT_IMAGE_GEOMETRY, inputShapeOf, type ImageGeometry } from '../load-run-data';
import {
  NAMED_DATASETS,
  NAMED_SPOKEN_CLIPS,
  NAMED_TEXT_CORPORA,
  describeDataSource,
  hasNoImages,
  isTextSource,
  readRunConfigFile,
  resolveDataSource,
  type DataSource,
  type LabeledDataSource,
  type RunConfigFile,
} from '../options';
import { readSavedRun, settingsForResume, type ResumeSettings, type RunInvocation, type SavedRun } from './saved-run';
import { checkTextTowerFlag } from '../text-tower-flag';
import { checkInitFlag } from '../init-flag';
import { checkStepsFlag, resolveSupervisedControl, type SupervisedControl } from './supervised-control';

/** Flags shared by `ssl pretrain` and `ssl semisup`, as commander parses them. */
export interface TrainingFlags {
  data?: string;
  /** Labeled images to evaluate on instead of --data (a CLIP run trained on pairs). */
  evalData?: string;
  /** Sound clips paired with --data's images by class, for image–audio methods. */
  audio?: string;
  /** `ssl pretrain clip:clip --text-tower <run>`: start CLIP's text tower from a finished masked:mlm run. */
  textTower?: string;
  encoder?: string;
  imageSize?: number;
  channels?: 1 | 3;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  backend?: BackendName;
  out?: string;
  config?: string;
  resume?: boolean;
  /** With --resume: allow a larger --epochs (the schedule is re-planned over the new total). */
  extend?: boolean;
  /** Start over in a directory that holds a run. */
  overwrite?: boolean;
  checkpointEvery?: number;
  /** `--no-eval` sets this to false. */
  eval?: boolean;
  labelsPerClass?: number;
  /** `ssl semisup --steps`: stop after this many global steps (the lr schedule spans them). */
  steps?: number;
  /** `ssl semisup --control <run>` (a string) or `--no-control` (false). */
  control?: string | false;
  /** `ssl semisup --init <run>`: start the method's encoder from a finished `ssl pretrain` run's. */
  init?: string;
}

export type TrainingMode = 'pretrain' | 'semisup';

/** Everything a run needs, checked before any data is loaded or any weight is created. */
export interface TrainingPlan {
  mode: TrainingMode;
  method: MethodHandle;
  data: DataSource;
  /** --eval-data: where the evaluation's labeled train/test images come from when not from --data. */
  evalData?: LabeledDataSource;
  /** --audio: the spoken-classes clips (bundled sample or a folder) an image–audio method pairs with the images. */
  audio?: string;
  geometry: ImageGeometry;
  /** The image encoder; undefined for data without images (a corpus, spoken clips), whose methods build their own. */
  encoder?: EncoderSpec;
  /** --text-tower: the masked:mlm run (absolute path) clip:clip's text tower starts from, loaded once the backend is up. */
  textTower?: string;
  /** The --encoder name (given, saved with the run, or the method's recommended one). */
  encoderChoice: EncoderChoice;
  /** Undefined fields fall back to the method's training defaults, then the trainer's. */
  epochs?: number;
  batchSize?: number;
  lr?: number;
  seed: number;
  backend?: BackendName;
  outDir: string;
  resume: boolean;
  /** With resume: epochs beyond the saved run's were asked for with --extend (or saved by an earlier one). */
  extend: boolean;
  /** Clear the run files in outDir before training (--overwrite). */
  overwrite: boolean;
  /** What the run directory held, in one line for the terminal (starting over, no checkpoint yet...). */
  directoryNote?: string;
  checkpointEvery: number;
  evaluate: boolean;
  labelsPerClass?: number;
  /** --steps: the run's global step cap (undefined: it trains its epochs). */
  steps?: number;
  /** `ssl semisup`: what the method's classifier is compared with. */
  control: SupervisedControl;
  /** --init: the `ssl pretrain` run (absolute path) whose encoder the method's encoder starts from, loaded once the backend is up. */
  init?: string;
  /** The command line in config.json's `invocation`: what a later --resume falls back on. */
  invocation: RunInvocation;
}

/** Steps between checkpoints when --checkpoint-every is not given: a few minutes of a small run on a CPU. */
export const DEFAULT_CHECKPOINT_EVERY = 100;

/** Seed used when neither --seed nor the config file sets one, so two plain runs are comparable. */
export const DEFAULT_SEED = 0;

/**
 * Validates a pretrain/semisup invocation: config file, data path, method name and method config (through
 * the registry's `defaults` + `validate`), method/data compatibility and the run directory. Throws an
 * SslError naming the problem; nothing is trained or written.
 */
export async function planTrainingRun(
  registry: Registry,
  cwd: string,
  request: { mode: TrainingMode; method: string; flags: TrainingFlags; now?: Date },
): Promise<TrainingPlan> {
  const { mode, flags } = request;
  if (flags.resume && flags.overwrite)
    throw new SslError('invalid-config', '--resume continues the run in --out and --overwrite starts it over: pass one of them.');
  if (flags.extend && !flags.resume)
    throw new SslError('invalid-config', '--extend lengthens a run being resumed: pass it with --resume and a larger --epochs.');
  const file: RunConfigFile = flags.config === undefined ? {} : await readRunConfigFile(flags.config, cwd);
  // registry.create resolves bare names, throws 'unknown-method' with a suggestion, and validates the config.
  let method = registry.create(request.method, file.method ?? {});

  // The run directory first: an unusable --out or a directory another run owns fails before anything else.
  const outDir = resolve(cwd, flags.out ?? defaultRunDirectory(method.id, request.now ?? new Date()));
  checkOutputDirectory(outDir);
  checkRunLock(outDir);
  const saved = isDirectory(outDir) ? readSavedRun(outDir) : undefined;
  const resume = flags.resume === true;
  const given: ResumeSettings = {
    data: flags.data ?? file.data,
    encoder: flags.encoder ?? file.encoder,
    encoderOptions: file.encoderOptions,
    imageSize: flags.imageSize,
    channels: flags.channels,
    labelsPerClass: flags.labelsPerClass,
    audio: flags.audio === undefined || flags.audio === 'spoken-classes-sample' ? flags.audio : resolve(cwd, flags.audio),
    method: file.method,
    epochs: flags.epochs ?? file.epochs,
    batchSize: flags.batchSize ?? file.batchSize,
    lr: flags.lr ?? file.lr,
    seed: flags.seed ?? file.seed,
  };
  const { settings, note } = await settingsFor(outDir, saved, given, {
    resume,
    overwrite: flags.overwrite === true,
    extend: flags.extend === true,
    methodId: method.id,
    cwd,
  });
  if (settings.method !== file.method) method = registry.create(method.id, settings.method ?? {});

  const dataArgument = settings.data;
  if (dataArgument === undefined) {
    throw new SslError(
      'invalid-config',
      `pass --data <${NAMED_DATASETS.join(' | ')} | folder | pairs.jsonl | pairs.csv> (or "data" in --config).`,
    );
  }
  const dataKind = method.definition.data;
  const data = withClipFormat(await resolveDataSource(dataArgument, cwd), method, dataKind);

  if (mode === 'pretrain' && dataKind === 'semi-supervised') {
    throw new SslError(
      'invalid-config',
      `${method.id} is semi-supervised; run it with \`ssl semisup ${method.id} --labels-per-class <k> ...\`.`,
    );
  }
  if (mode === 'semisup' && dataKind !== 'semi-supervised') {
    throw new SslError(
      'invalid-config',
      `${method.id} is not a semi-supervised method (it trains on ${dataKind} data); use \`ssl pretrain ${method.id}\`.`,
    );
  }
  // Modality pairs from the command line: spoken clips with the texts they say (clip:audio-text); other pairs of
  // modalities (a third party's) are trained through the library.
  if (dataKind === 'modality-pairs' && data.kind !== 'spoken-clips') {
    throw new SslError(
      'data',
      `${method.id} trains on pairs of two modalities; pass --data ${NAMED_SPOKEN_CLIPS.join(' | ')} | <folder written by make-speech-sample.ts> (spoken clips with the texts they say), or train other pairs with the library's train() (its package README shows how).`,
    );
  }
  if (dataKind !== 'modality-pairs' && data.kind === 'spoken-clips') {
    throw new SslError(
      'data',
      `${method.id} trains on ${dataKind} data; --data ${describeDataSource(data)} holds spoken clips with their texts, which methods on modality pairs (clip:audio-text) use${dataKind === 'image-audio' ? ` (pass it as --audio ${describeDataSource(data)} beside labeled images)` : ''}.`,
    );
  }
  // A text method trains on a corpus (or on the captions of image–caption pairs: core's 'text' kind reads them).
  if (dataKind === 'text' && !isTextSource(data) && data.kind !== 'image-text-pairs') {
    throw new SslError(
      'data',
      `${method.id} trains on text; pass --data ${NAMED_TEXT_CORPORA.join(' | ')} | <file.txt> (one text a line, .txt.gz too) | <pairs.jsonl> (its captions).`,
    );
  }
  if (dataKind !== 'text' && isTextSource(data)) {
    throw new SslError(
      'data',
      `${method.id} trains on ${dataKind} data; --data ${describeDataSource(data)} is a text corpus, which only text methods (contrastive:word2vec, masked:mlm) use.`,
    );
  }
  if (dataKind === 'image-text' && data.kind !== 'image-text-pairs') {
    throw new SslError(
      'data',
      `${method.id} trains on image–text pairs; pass --data <pairs.jsonl> (one {"image": ..., "caption": ...} per line) or <pairs.csv> (image,caption columns).`,
    );
  }
  if (dataKind !== 'image-text' && dataKind !== 'text' && data.kind === 'image-text-pairs') {
    throw new SslError(
      'data',
      `${method.id} trains on images; --data ${data.path} holds image–text pairs, which only image-text methods (clip:*) use.`,
    );
  }
  const audio = await checkAudioFlag(settings.audio, method, dataKind, data, cwd);
  // --text-tower: checked now (a masked:mlm run, a tower of the configured shape); loaded once the backend is up.
  // A resumed run takes the tower it was started from (its weights are restored, but its tokenizer is the tower's).
  const towerFlag = flags.textTower ?? (resume ? saved?.invocation?.textTower : undefined);
  const textTower = towerFlag === undefined ? undefined : resolve(cwd, towerFlag);
  if (textTower !== undefined) {
    const text = checkTextTowerFlag(textTower, method.id, (settings.method as { text?: unknown } | undefined)?.text);
    method = registry.create(method.id, { ...settings.method, text });
  }
  if (mode === 'semisup' && settings.labelsPerClass === undefined) {
    throw new SslError('invalid-config', '`ssl semisup` needs --labels-per-class <k>.');
  }

  const geometry: ImageGeometry = {
    size: settings.imageSize ?? DEFAULT_IMAGE_GEOMETRY.size,
    channels: settings.channels ?? DEFAULT_IMAGE_GEOMETRY.channels,
  };
  // A method may recommend an encoder (MAE: vit28) for when --encoder is not given.
  const encoderChoice = checkEncoderChoice(settings.encoder ?? method.definition.training?.encoder ?? 'cnn');
  const inputShape = inputShapeOf(data, geometry);
  if (!inputShape) checkNoImageFlags(method.id, data, { encoder: given.encoder, evalData: flags.evalData });
  const encoder = inputShape && encoderSpecFor(encoderChoice, encoderInputShape(method.definition, inputShape), settings.encoderOptions);
  const evalData = flags.evalData === undefined || !inputShape ? undefined : await resolveEvaluationData(flags.evalData, cwd, inputShape);

  // --init: checked now (a finished self-supervised run, an image encoder of this spec); loaded once the backend is up.
  // A resumed run takes the start it was begun with (core refuses another; the checkpoint's weights replace it).
  const savedInit = resume ? saved?.invocation?.init : undefined;
  const init = flags.init === undefined ? savedInit : resolve(cwd, flags.init);
  if (resume && flags.init !== undefined && init !== savedInit) {
    throw new SslError(
      'invalid-config',
      `--resume --init ${flags.init} disagrees with the run's ${savedInit === undefined ? 'random start (it has no --init)' : `--init ${savedInit}`}; leave --init out to resume it.`,
    );
  }
  if (init !== undefined) checkInitFlag(registry, init, encoder);

  const seed = settings.seed ?? DEFAULT_SEED;
  const steps = checkStepsFlag(flags.steps, method, saved, resume);
  // --steps alone: enough epochs that the step cap, not the epochs, ends the run (an epoch has at least one step).
  const epochs = settings.epochs ?? (steps === undefined ? undefined : steps);
  const control =
    mode === 'semisup'
      ? resolveSupervisedControl(
          registry,
          cwd,
          flags.control,
          {
            data: describeDataSource(data),
            labelsPerClass: settings.labelsPerClass,
            seed,
            encoder: encoderChoice,
            encoderOptions: settings.encoderOptions,
            imageSize: geometry.size,
            channels: geometry.channels,
            batchSize: settings.batchSize,
            lr: settings.lr,
            epochs,
            steps,
            init,
          },
          method,
        )
      : ({ kind: 'none' } as const);
  return {
    mode,
    method,
    data,
    ...(evalData ? { evalData } : {}),
    ...(audio ? { audio } : {}),
    geometry,
    ...(encoder ? { encoder } : {}),
    ...(textTower ? { textTower } : {}),
    ...(init ? { init } : {}),
    encoderChoice,
    epochs,
    ...(steps === undefined ? {} : { steps }),
    control,
    batchSize: settings.batchSize,
    lr: settings.lr,
    seed,
    backend: flags.backend ?? checkBackendName(file.backend),
    outDir,
    resume: resume && saved?.hasCheckpoints === true,
    extend: resume,
    overwrite: flags.overwrite === true,
    ...(note ? { directoryNote: note } : {}),
    checkpointEvery: flags.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY,
    evaluate: flags.eval !== false,
    ...(settings.labelsPerClass === undefined ? {} : { labelsPerClass: settings.labelsPerClass }),
    invocation: {
      data: describeDataSource(data),
      encoder: encoderChoice,
      encoderOptions: settings.encoderOptions ?? null,
      imageSize: geometry.size,
      channels: geometry.channels,
      labelsPerClass: settings.labelsPerClass ?? null,
      audio: audio ?? null,
      method: settings.method ?? {},
      ...(textTower ? { textTower } : {}),
      ...(init ? { init } : {}),
    },
  };
}

/**
 * Data without images (a corpus, spoken clips with their texts): its method builds its own encoders and is evaluated
 * by its own held-out task, so an image encoder or labeled evaluation images are refused rather than ignored.
 */
function checkNoImageFlags(methodId: string, data: DataSource, flags: { encoder?: string; evalData?: string }): void {
  const source = describeDataSource(data);
  if (flags.encoder !== undefined) {
    throw new SslError(
      'invalid-config',
      `--encoder ${flags.encoder} is an image encoder, but --data ${source} has no images (${methodId} builds its own encoders): drop --encoder.`,
    );
  }
  if (flags.evalData !== undefined) {
    throw new SslError(
      'invalid-config',
      `--eval-data scores an image encoder on labeled images; ${methodId} on --data ${source} has none (its own held-out task is its evaluation): drop --eval-data.`,
    );
  }
}

/**
 * A folder of (image, WAV) pairs: for an image–audio method, with the method's sample rate and clip length its
 * recordings are fitted to; for any other method, the folder's images (its WAVs unused).
 */
function withClipFormat(data: DataSource, method: MethodHandle, dataKind: string): DataSource {
  if (data.kind !== 'image-audio-folder') return data;
  if (dataKind !== 'image-audio') return { kind: 'image-folder', path: data.path };
  const { sampleRate, clipSamples } = method.config as { sampleRate?: unknown; clipSamples?: unknown };
  if (typeof sampleRate !== 'number' || typeof clipSamples !== 'number') {
    throw new SslError(
      'invalid-config',
      `${method.id} declares no numeric sampleRate and clipSamples in its config, so --data ${data.path}'s recordings cannot be fitted to it.`,
    );
  }
  return { kind: 'image-audio-folder', path: data.path, clip: { sampleRate, clipSamples } };
}

/**
 * `--audio`: image–audio methods (clip:audio-visual) need it and labeled images to pair its clips with by
 * class, unless --data is a folder of (image, WAV) pairs (which brings its own clips and refuses --audio); other
 * methods refuse it rather than ignore it.
 */
async function checkAudioFlag(
  audio: string | undefined,
  method: MethodHandle,
  dataKind: string,
  data: DataSource,
  cwd: string,
): Promise<string | undefined> {
  if (dataKind === 'modality-pairs') {
    if (audio !== undefined) {
      throw new SslError(
        'invalid-config',
        `${method.id} trains on spoken clips with the texts they say, given as --data; pass --data ${audio} and drop --audio (it pairs clips with labeled images, for image–audio methods).`,
      );
    }
    return undefined;
  }
  if (dataKind !== 'image-audio') {
    if (audio !== undefined)
      throw new SslError('invalid-config', `--audio is for image–audio methods; ${method.id} trains on ${dataKind} data.`);
    return undefined;
  }
  if (data.kind === 'image-audio-folder') {
    if (audio !== undefined)
      throw new SslError(
        'invalid-config',
        `--data ${data.path} holds (image, WAV) pairs: each image already has its recording; drop --audio ${audio}.`,
      );
    return undefined;
  }
  if (audio === undefined) {
    throw new SslError(
      'invalid-config',
      `${method.id} pairs images with sounds of their class: pass --audio spoken-classes-sample (bundled) or --audio <folder written by make-speech-sample.ts>, or pass --data <folder of (image, WAV) pairs of the same base name> for each image's own sound.`,
    );
  }
  if (audio !== 'spoken-classes-sample' && isDirectory(resolve(cwd, audio)) && (await holdsImageAudioPairs(resolve(cwd, audio)))) {
    throw new SslError(
      'invalid-config',
      `--audio ${audio} is a folder of (image, WAV) pairs: pass it as --data ${audio} (without --audio); its images are the pairs' own.`,
    );
  }
  if (data.kind === 'image-text-pairs')
    throw new SslError('data', `${method.id} pairs labeled images with sounds; --data ${data.path} holds image–text pairs.`);
  return audio;
}

/**
 * `--eval-data`: labeled images of the training images' shape (a built-in dataset is 28×28×1; a folder is
 * resized to --image-size / --channels like the training data).
 */
async function resolveEvaluationData(value: string, cwd: string, inputShape: readonly number[]): Promise<LabeledDataSource> {
  const source = await resolveDataSource(value, cwd).catch((error: unknown) => {
    if (error instanceof SslError) throw new SslError(error.code, error.message.replace(/^--data\b/, '--eval-data'));
    throw error;
  });
  if (source.kind === 'image-text-pairs') {
    throw new SslError(
      'data',
      `--eval-data ${source.path} holds image–text pairs; pass labeled images: ${NAMED_DATASETS.join(', ')} or a folder with one sub-folder per class.`,
    );
  }
  if (source.kind === 'shards') {
    throw new SslError(
      'data',
      `--eval-data ${source.path} holds streamed shards; evaluation holds its images in memory: pass ${NAMED_DATASETS.join(', ')} or a folder with one sub-folder per class.`,
    );
  }
  if (hasNoImages(source)) {
    throw new SslError(
      'data',
      `--eval-data ${value} is ${isTextSource(source) ? 'a text corpus' : 'spoken clips'}; pass labeled images: ${NAMED_DATASETS.join(', ')} or a folder with one sub-folder per class.`,
    );
  }
  // A folder of (image, WAV) pairs with class sub-folders is labeled images too: its WAVs go unused here.
  if (source.kind === 'image-audio-folder') return { kind: 'image-folder', path: source.path };
  const shape = inputShapeOf(source, { size: inputShape[0], channels: inputShape[2] === 1 ? 1 : 3 });
  if (shape && shape.join('×') !== inputShape.join('×')) {
    throw new SslError(
      'data',
      `--eval-data ${value} holds ${shape.join('×')} images but the run trains on ${inputShape.join('×')}; pass --image-size ${shape[0]} --channels ${shape[2]} so both match.`,
    );
  }
  return source;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * What a used --out means for this invocation. A run with checkpoints is resumed (--resume, its config.json
 * filling the flags left out and refusing those that disagree) or started over (--overwrite), never silently
 * replaced. A run stopped before its first checkpoint holds no progress: it starts over, with --resume on its
 * saved settings.
 */
async function settingsFor(
  outDir: string,
  saved: SavedRun | undefined,
  given: ResumeSettings,
  options: { resume: boolean; overwrite: boolean; extend: boolean; methodId: string; cwd: string },
): Promise<{ settings: ResumeSettings; note?: string }> {
  if (options.resume) {
    if (!saved) throw new SslError('checkpoint', `--resume: ${outDir} holds no run to resume; drop --resume to start a new run there.`);
    const resolvedData = given.data === undefined ? undefined : describeDataSource(await resolveDataSource(given.data, options.cwd));
    const settings = settingsForResume(outDir, saved, { ...given, methodId: options.methodId, extend: options.extend, resolvedData });
    return {
      settings,
      ...(saved.hasCheckpoints
        ? {}
        : { note: `${outDir} has no checkpoint yet: starting its run over from step 0 with its saved settings` }),
    };
  }
  if (saved && !options.overwrite) {
    if (saved.hasCheckpoints) {
      throw new SslError(
        'io',
        `${outDir} already holds a ${saved.config.method} run (${saved.finished ? 'finished' : 'unfinished'}); pass --resume to continue it, --overwrite to start over, or choose another --out.`,
      );
    }
    return { settings: given, note: `${outDir} holds a run stopped before its first checkpoint: starting it over` };
  }
  return { settings: given, ...(saved && options.overwrite ? { note: `--overwrite: replacing the run in ${outDir}` } : {}) };
}

/** `runs/contrastive-simclr-20250101-120000`: sortable, and ':' is not allowed in Windows paths. */
export function defaultRunDirectory(methodId: string, now: Date): string {
  const pad = (value: number) => String(value).padStart(2, '0');
  const stamp = `${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}-${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}`;
  return join('runs', `${methodId.replace(/[^a-z0-9-]+/gi, '-')}-${stamp}`);
}

function checkBackendName(name: string | undefined): BackendName | undefined {
  if (name === undefined || (BACKEND_NAMES as readonly string[]).includes(name)) return name as BackendName | undefined;
  const suggestion = closestMatch(name, BACKEND_NAMES);
  throw new SslError(
    'invalid-config',
    `--config "backend": ${JSON.stringify(name)} is not a backend; choose one of ${BACKEND_NAMES.join(', ')}.` +
      (suggestion ? ` Did you mean "${suggestion}"?` : ''),
  );
}
