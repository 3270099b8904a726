import {
  Random,
  imageTextDataset,
  labeledSplit,
  loadEmoji,
  loadFashionMnist,
  loadFortunesSample,
  loadSpokenClasses,
  subset,
  textCorpus,
  train,
} from '@ssl/core';
import type { EncoderSpec, ImageDataset, MethodHandle, TrainData, TrainOptions, TrainResult } from '@ssl/core';

/*
 * What the method contract trains, as plain JSON: the parent test and the child process of the resume test
 * build the same data from the same recipe and call `train` with the same options, so the two runs can be
 * compared bit for bit. No vitest import here: the child process loads this file outside vitest.
 */

/**
 * Images: the first `size` images of a sample bundled with @ssl/core (labels kept): grey 28×28 Fashion-MNIST,
 * or 32×32 RGB emoji for methods that need colour (colorization, split-brain).
 */
export interface ImageRecipe {
  readonly source: 'fashion-mnist-sample' | 'emoji-sample';
  readonly size: number;
  readonly split?: 'train' | 'test';
}

/** Labeled + unlabeled pools for semi-supervised methods: `labeledPerClass` images of each class are labeled. */
export interface SemiSupervisedRecipe {
  readonly semiSupervised: ImageRecipe;
  readonly labeledPerClass: number;
  readonly seed?: number;
}

/** Image-caption pairs: each image captioned with its class name in one of a few seeded templates. */
export interface ImageTextRecipe {
  readonly imageText: ImageRecipe;
  readonly seed?: number;
}

/** Image-sound pairs ({ images, audio }): labeled images and the spoken Fashion-MNIST class names bundled with @ssl/core. */
export interface ImageAudioRecipe {
  readonly imageAudio: ImageRecipe;
  /** Which voices speak: 'train' (default) or the held-out 'test' voice. */
  readonly audioSplit?: 'train' | 'test';
}

/** A text corpus (text methods): the first `size` sentences of @ssl/core's bundled fortunes sample. */
export interface TextRecipe {
  readonly text: { readonly source: 'fortunes-sample'; readonly size: number; readonly split?: 'train' | 'test' };
}

export type DataRecipe = ImageRecipe | SemiSupervisedRecipe | ImageTextRecipe | ImageAudioRecipe | TextRecipe;

/** One contract training run as JSON: the child process of the resume test receives exactly this. */
export interface ContractRun {
  /** File URL of the module that exports the plugin factory. */
  readonly pluginModule: string;
  /** Name of the factory's export in that module. */
  readonly pluginExport: string;
  readonly method: string;
  readonly config: Readonly<Record<string, unknown>>;
  readonly data: DataRecipe;
  /** The run's image encoder; none for data without images (a corpus, audio–text pairs), whose methods build their own. */
  readonly encoder?: EncoderSpec;
  readonly batchSize: number;
  readonly steps: number;
  /** Epochs of each round; default `steps`. A multi-round method sets it small so the run reaches its later rounds. */
  readonly epochs?: number;
  readonly seed: number;
}

const CAPTION_TEMPLATES = ['a photo of a {}.', 'a {}.', 'a picture of the {}.', 'this is a {}.'];

const samples = new Map<string, Promise<ImageDataset>>();

async function images(recipe: ImageRecipe): Promise<ImageDataset> {
  const split = recipe.split ?? 'train';
  const key = `${recipe.source}/${split}`;
  let sample = samples.get(key);
  if (!sample) {
    sample = recipe.source === 'emoji-sample' ? loadEmoji({ split, source: 'sample' }) : loadFashionMnist({ split, source: 'sample' });
    samples.set(key, sample);
  }
  const all = await sample;
  return subset(
    all,
    Array.from({ length: recipe.size }, (_, i) => i),
    `${key}[0..${recipe.size})`,
  );
}

/** Builds a recipe's data; equal recipes give byte-equal data in any process. */
export async function contractData(recipe: DataRecipe): Promise<TrainData> {
  if ('semiSupervised' in recipe) {
    return labeledSplit(await images(recipe.semiSupervised), { perClass: recipe.labeledPerClass, seed: recipe.seed ?? 0 });
  }
  if ('imageText' in recipe) {
    const base = await images(recipe.imageText);
    const rng = new Random(recipe.seed ?? 0);
    const captions = Array.from(base.labels ?? [], (label) => {
      const template = CAPTION_TEMPLATES[rng.int(CAPTION_TEMPLATES.length)];
      return template.replace('{}', base.classNames?.[label] ?? `class ${label}`);
    });
    return imageTextDataset(base.images, base.shape, captions, base.labels, `${base.name}+captions`);
  }
  if ('text' in recipe) {
    const { texts } = loadFortunesSample({ split: recipe.text.split ?? 'train' });
    return textCorpus(texts.slice(0, recipe.text.size), `${recipe.text.source}/${recipe.text.split ?? 'train'}[0..${recipe.text.size})`);
  }
  if ('imageAudio' in recipe) {
    return { images: await images(recipe.imageAudio), audio: loadSpokenClasses({ split: recipe.audioSplit ?? 'train' }) };
  }
  return images(recipe);
}

/** Trains `run.steps` steps of the declared run; `extra` adds run-directory and callback options. */
export function trainContractRun(
  method: MethodHandle,
  data: TrainData,
  run: ContractRun,
  extra: Partial<TrainOptions> = {},
): Promise<TrainResult> {
  // epochs = steps by default: enough epochs for maxSteps whatever the data size, so the run length is
  // `steps`. A multi-round method's rounds each run `epochs` epochs, so a small value spreads `steps` over rounds.
  return train({
    method,
    data,
    ...(run.encoder ? { encoder: run.encoder } : {}),
    batchSize: run.batchSize,
    maxSteps: run.steps,
    epochs: run.epochs ?? run.steps,
    seed: run.seed,
    ...extra,
  });
}
