import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { SslError, WordTokenizer, createEncoder, defineMethod, invalidConfig, l2Normalize, textTowerSpec, tfl } from '@ssl/core';
import type {
  BuildContext,
  Encoder,
  LoadedRun,
  MethodClassifier,
  MethodDefinition,
  MethodRuntime,
  TextTowerSize,
  ViewPolicyRef,
} from '@ssl/core';
import { clipLoss } from '../losses/clip-loss';

/** CLIP (Radford et al. 2021): an image encoder and a text encoder trained to match image-caption pairs. */
export interface ClipConfig {
  /** Size of the shared embedding space both projections map to. */
  embedDim: number;
  /** The text transformer (CLIP sec. 2.4, GPT-2 style, causal, EOS pooling), sized for short captions. */
  text: TextTowerSize & {
    vocabLimit: number;
    /** Causal self-attention (CLIP, GPT-2 style; default) or bidirectional (a BERT-style tower, e.g. MLM-pretrained). */
    causal?: boolean;
  };
  /** τ at initialisation: the logit scale starts at 1/τ (paper: 0.07). */
  initialTemperature: number;
  /** Upper bound of the logit scale (paper: 100, "to prevent training instability"). */
  maxLogitScale: number;
  /** Learn the logit scale (paper) or keep it fixed at 1/initialTemperature. */
  learnLogitScale: boolean;
  /** Image views: 'crop' = random resized crop + flip (CLIP's only augmentation is a random square crop), or 'none'. */
  augment: 'crop' | 'none';
  /** Crop scale range of the 'crop' augmentation. */
  cropScale: [number, number];
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'clip:clip': ClipConfig;
  }
}

/**
 * The log of the logit scale as a trainable weight of its own one-layer network, so the trainer's optimizer
 * updates it and checkpoints save it (CLIP stores t and uses exp(t)). Its output is the input unchanged.
 */
export class LogitScale extends tfl.layers.Layer {
  static readonly className = 'SslClipLogitScale';
  private readonly initialLog: number;
  logScale!: tfl.LayerVariable;

  constructor(config: { initialLog: number; trainable?: boolean; inputShape?: number[]; name?: string }) {
    super(config);
    this.initialLog = config.initialLog;
  }

  override build(): void {
    this.logScale = this.addWeight(
      'log_logit_scale',
      [],
      'float32',
      tfl.initializers.constant({ value: this.initialLog }),
      undefined,
      this.trainable,
    );
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return Array.isArray(inputs) ? inputs[0] : inputs;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), initialLog: this.initialLog };
  }
}
tf.serialization.registerClass(LogitScale);

/** Everything a trained CLIP model needs at inference: both towers, the tokenizer and the logit scale. */
export interface ClipModel {
  readonly imageEncoder: Encoder;
  readonly textEncoder: Encoder;
  readonly tokenizer: WordTokenizer;
  readonly imageProjection: tfl.LayersModel;
  readonly textProjection: tfl.LayersModel;
  /** The log-logit-scale variable t (scale = exp(t), clamped to maxLogitScale). */
  readonly logLogitScale: tf.Variable;
  readonly maxLogitScale: number;
  /** Current logit scale exp(t), a plain number. */
  logitScale(): number;
  /** L2-normalized image embeddings [N, embedDim] of float32 [0, 1] images, inference mode. */
  embedImages(images: Tensor4D, options?: { training?: boolean }): Tensor2D;
  /** L2-normalized text embeddings [N, embedDim], inference mode. */
  embedTexts(texts: readonly string[], options?: { training?: boolean }): Tensor2D;
}

/** The prompt the run's own zero-shot figure is measured with (CLIP's default, sec. 3.1.4). */
const ZERO_SHOT_PROMPT = 'a photo of a {}.';

export type ClipRuntime = MethodRuntime<'image-text'> & { readonly clip: ClipModel };

/** The parts of a CLIP model, trained or loaded; `clipParts` adds the forward passes. */
interface ClipParts {
  readonly imageEncoder: Encoder;
  readonly textEncoder: Encoder;
  readonly tokenizer: WordTokenizer;
  readonly imageProjection: tfl.LayersModel;
  readonly textProjection: tfl.LayersModel;
  readonly logLogitScale: tf.Variable;
  readonly maxLogitScale: number;
}

/** The model and its un-normalized projections (what the training step differentiates). */
function assembleClip(parts: ClipParts): {
  model: ClipModel;
  embedImages(images: Tensor4D, training: boolean): Tensor2D;
  embedTexts(texts: readonly string[], training: boolean): Tensor2D;
} {
  const { imageEncoder, textEncoder, tokenizer, imageProjection, textProjection, logLogitScale, maxLogitScale } = parts;
  const maxLog = Math.log(maxLogitScale);
  const tokenize = (texts: readonly string[]) => tf.tensor2d(tokenizer.encodeBatch(texts), [texts.length, tokenizer.maxLength], 'int32');
  const embedImages = (images: Tensor4D, training: boolean): Tensor2D =>
    imageProjection.apply(imageEncoder.features(images, { training })) as Tensor2D;
  const embedTexts = (texts: readonly string[], training: boolean): Tensor2D =>
    textProjection.apply(textEncoder.features(tokenize(texts), { training })) as Tensor2D;
  const model: ClipModel = {
    ...parts,
    logitScale: () => Math.exp(Math.min(maxLog, logLogitScale.dataSync()[0])),
    embedImages: (images, options = {}) => tf.tidy(() => l2Normalize(embedImages(images, options.training ?? false))),
    embedTexts: (texts, options = {}) => tf.tidy(() => l2Normalize(embedTexts(texts, options.training ?? false))),
  };
  return { model, embedImages, embedTexts };
}

function positiveInteger(field: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) invalidConfig(field, value, 'a positive integer');
}

export const clip = defineMethod<ClipConfig, 'image-text'>({
  name: 'clip',
  description: 'Contrastive image-text pretraining: match images to their captions (CLIP, Radford et al. 2021).',
  paper: {
    title: 'Learning Transferable Visual Models From Natural Language Supervision',
    authors: 'Radford, Kim, Hallacy, Ramesh, Goh, Agarwal, Sastry, Askell, Mishkin, Clark, Krueger, Sutskever',
    year: 2021,
    url: 'https://arxiv.org/abs/2103.00020',
  },
  data: 'image-text',
  defaults: {
    embedDim: 64,
    text: { embedDim: 64, depth: 2, numHeads: 4, maxLength: 16, mlpRatio: 2, vocabLimit: 2000, causal: true },
    initialTemperature: 0.07,
    maxLogitScale: 100,
    learnLogitScale: true,
    augment: 'crop',
    cropScale: [0.7, 1],
  },
  validate(config) {
    positiveInteger('embedDim', config.embedDim);
    const text = config.text;
    if (typeof text !== 'object' || text === null)
      invalidConfig('text', text, 'an object { embedDim, depth, numHeads, maxLength, mlpRatio, vocabLimit }');
    positiveInteger('text.embedDim', text.embedDim);
    positiveInteger('text.depth', text.depth);
    positiveInteger('text.numHeads', text.numHeads);
    if (text.embedDim % text.numHeads !== 0) invalidConfig('text.numHeads', text.numHeads, `a divisor of text.embedDim = ${text.embedDim}`);
    if (!(Number.isInteger(text.maxLength) && text.maxLength >= 3))
      invalidConfig('text.maxLength', text.maxLength, 'an integer ≥ 3 (<bos>, a word, <eos>)');
    if (typeof text.mlpRatio !== 'number' || !(text.mlpRatio > 0) || !Number.isInteger(text.mlpRatio * text.embedDim)) {
      invalidConfig('text.mlpRatio', text.mlpRatio, 'a positive number with mlpRatio * text.embedDim an integer');
    }
    if (!(Number.isInteger(text.vocabLimit) && text.vocabLimit >= 5))
      invalidConfig('text.vocabLimit', text.vocabLimit, 'an integer ≥ 5 (4 special tokens and a word)');
    if (text.causal !== undefined && typeof text.causal !== 'boolean') invalidConfig('text.causal', text.causal, 'true or false');
    validateLogitScale(config);
    if (config.augment !== 'crop' && config.augment !== 'none') invalidConfig('augment', config.augment, "'crop' or 'none'");
    const [low, high] = config.cropScale ?? [];
    if (!(low > 0 && low <= high && high <= 1)) invalidConfig('cropScale', config.cropScale, '[low, high] with 0 < low ≤ high ≤ 1');
  },
  views(config): { unlabeled: ViewPolicyRef } {
    // CLIP's only augmentation is a random square crop; core's 'cropFlip' policy is crop + flip.
    return { unlabeled: config.augment === 'crop' ? { name: 'cropFlip', overrides: { cropScale: config.cropScale } } : 'none' };
  },
  training: {
    // CLIP: AdamW (β2 0.98, ε 1e-6), decoupled weight decay 0.2, warmup then cosine; scaled to a small demo.
    optimizer: { kind: 'adamw', lr: 2e-3, beta1: 0.9, beta2: 0.98, epsilon: 1e-6, weightDecay: 0.1 },
    schedule: { kind: 'warmup-cosine', warmupFraction: 0.05 },
    batchSize: 128,
    epochs: 10,
  },
  build: (context) => buildClip(context),
});

/** CLIP's text transformer for a tokenizer (sec. 2.4: GPT-2 style, causal unless `text.causal` is false, EOS pooling). */
export function clipTextEncoder(text: ClipConfig['text'], tokenizer: WordTokenizer, seed: number): Encoder {
  return createEncoder(textTowerSpec(text, tokenizer, { causal: text.causal ?? true, seed }));
}

/** CLIP's W_i and W_t: a linear map without bias into the joint space (Figure 3). */
export function clipProjection(inputDim: number, embedDim: number, name: string, seed: number): tfl.LayersModel {
  return tfl.sequential({
    name,
    layers: [
      tfl.layers.dense({
        inputShape: [inputDim],
        units: embedDim,
        useBias: false,
        kernelInitializer: tfl.initializers.glorotUniform({ seed }),
      }),
    ],
  });
}

/** Checks the logit-scale settings CLIP and every pair method share, naming the field. */
export function validateLogitScale(config: { initialTemperature: number; maxLogitScale: number; learnLogitScale: boolean }): void {
  if (typeof config.initialTemperature !== 'number' || !(config.initialTemperature > 0) || !Number.isFinite(config.initialTemperature)) {
    invalidConfig('initialTemperature', config.initialTemperature, 'a finite number > 0 (CLIP: 0.07)');
  }
  if (typeof config.maxLogitScale !== 'number' || !(config.maxLogitScale >= 1) || !Number.isFinite(config.maxLogitScale)) {
    invalidConfig('maxLogitScale', config.maxLogitScale, 'a finite number ≥ 1 (CLIP: 100)');
  }
  if (1 / config.initialTemperature > config.maxLogitScale) {
    invalidConfig('initialTemperature', config.initialTemperature, `at least 1/maxLogitScale = ${1 / config.maxLogitScale}`);
  }
  if (typeof config.learnLogitScale !== 'boolean') invalidConfig('learnLogitScale', config.learnLogitScale, 'true or false');
}

/** The learned log-logit-scale t (scale = exp(t), starting at 1/initialTemperature) as a one-layer network the trainer updates. */
export function logitScaleNetwork(
  config: Pick<ClipConfig, 'initialTemperature' | 'learnLogitScale'>,
  name: string,
): { network: tfl.Sequential; logLogitScale: tf.Variable } {
  const layer = new LogitScale({ initialLog: Math.log(1 / config.initialTemperature), inputShape: [1], trainable: config.learnLogitScale });
  const network = tfl.sequential({ name, layers: [layer] });
  return { network, logLogitScale: layer.logScale.read() as tf.Variable };
}

/**
 * A text tower to start CLIP from: its tokenizer (used instead of one fitted to the captions) and, optionally, an
 * encoder of the same shape whose weights initialise the text transformer (e.g. a `masked:mlm` run's, see
 * `textTowerFromRun`).
 */
export interface ClipTextTower {
  readonly tokenizer: WordTokenizer;
  readonly encoder?: Encoder;
}

/**
 * clip:clip with a given text tower: the same method (name, defaults, training) whose text transformer uses
 * `tower.tokenizer` and starts from `tower.encoder`'s weights. Register it in a plugin of your own family to
 * train it, e.g. to compare an MLM-pretrained tower with a random one under the same tokenizer and budget.
 */
export function clipWithTextTower(tower: ClipTextTower): MethodDefinition<ClipConfig, 'image-text'> {
  return defineMethod<ClipConfig, 'image-text'>({ ...clip, build: (context) => buildClip(context, tower) });
}

function buildClip(
  { config, createEncoder: createImageEncoder, captions, rng }: BuildContext<ClipConfig>,
  tower?: ClipTextTower,
): ClipRuntime {
  if (!tower && (!captions || captions.length === 0)) {
    throw new SslError('data', 'clip:clip needs the training captions to fit its tokenizer (train it on an ImageTextDataset).');
  }
  if (tower && tower.tokenizer.maxLength !== config.text.maxLength) {
    invalidConfig('text.maxLength', config.text.maxLength, `the given tokenizer's maxLength (${tower.tokenizer.maxLength})`);
  }
  const imageEncoder = createImageEncoder();
  const tokenizer =
    tower?.tokenizer ?? WordTokenizer.fromCorpus(captions!, { maxLength: config.text.maxLength, vocabLimit: config.text.vocabLimit });
  const textEncoder = clipTextEncoder(config.text, tokenizer, rng.seed());
  if (tower?.encoder) {
    const given = tower.encoder.model.getWeights();
    const own = textEncoder.model.getWeights();
    if (given.length !== own.length || given.some((weight, i) => weight.shape.join() !== own[i].shape.join())) {
      throw new SslError(
        'shape-mismatch',
        'clipWithTextTower: the given text encoder does not have the shape of config.text with the given tokenizer (embedDim, depth, numHeads, mlpRatio, maxLength, vocabulary).',
      );
    }
    textEncoder.model.setWeights(given);
  }
  const projection = (inputDim: number, name: string) => clipProjection(inputDim, config.embedDim, name, rng.seed());
  const imageProjection = projection(imageEncoder.featureDim, 'clip_image_projection');
  const textProjection = projection(textEncoder.featureDim, 'clip_text_projection');
  const maxLog = Math.log(config.maxLogitScale);
  const { network: scaleNetwork, logLogitScale } = logitScaleNetwork(config, 'clip_logit_scale');

  const { model, embedImages, embedTexts } = assembleClip({
    imageEncoder,
    textEncoder,
    tokenizer,
    imageProjection,
    textProjection,
    logLogitScale,
    maxLogitScale: config.maxLogitScale,
  });

  const trainable: Record<string, tfl.LayersModel> = {
    imageEncoder: imageEncoder.model,
    textEncoder: textEncoder.model,
    imageProjection,
    textProjection,
  };
  if (config.learnLogitScale) trainable.logitScale = scaleNetwork;
  return {
    encoder: imageEncoder,
    trainable,
    ...(config.learnLogitScale ? {} : { frozen: { logitScale: scaleNetwork } }),
    clip: model,
    // Everything zero-shot classification needs besides the image encoder (saved as the run's encoder/):
    // reloaded by clipModelFromRun(await loadRun(outDir)).
    products: () => ({
      textEncoder,
      imageProjection,
      textProjection,
      tokenizer: { json: { ...tokenizer.toJSON() } },
      logitScale: { json: { logLogitScale: logLogitScale.dataSync()[0], maxLogitScale: config.maxLogitScale } },
    }),
    classifier: clipZeroShotClassifier(model),
    step(batch) {
      const images = batch.views[0] ?? batch.images;
      if (batch.captions.length !== images.shape[0]) {
        throw new SslError('shape-mismatch', `clip:clip: ${images.shape[0]} images but ${batch.captions.length} captions in the batch.`);
      }
      const imageEmbeddings = embedImages(images, true);
      const textEmbeddings = embedTexts(batch.captions, true);
      // scale = exp(t), clamped at maxLogitScale also in the forward pass (zero gradient above the bound).
      const logitScale = tf.exp(tf.minimum(logLogitScale, maxLog)) as Scalar;
      const loss = clipLoss(imageEmbeddings, textEmbeddings, logitScale);
      return { loss, metrics: { logitScale } };
    },
    afterStep() {
      // CLIP clips the learned temperature so the logit scale never exceeds 100 (sec. 2.5).
      logLogitScale.assign(tf.clipByValue(logLogitScale, 0, maxLog));
    },
  };
}

/**
 * The zero-shot classifier a clip:clip run reports (its runtime's `classifier`), for a model in training or
 * reloaded with `clipModelFromRun`: CLIP sec. 3.1.2, a softmax over the logit-scaled cosine similarities of
 * the image and the prompt "a photo of a {class name}." of each class.
 */
export function clipZeroShotClassifier(model: ClipModel): MethodClassifier {
  return {
    description: `zero-shot top-1 (prompt "${ZERO_SHOT_PROMPT}")`,
    control: 'chance',
    probabilities: (images, classNames) =>
      tf.tidy(() => {
        const classEmbeddings = model.embedTexts(classNames.map((name) => ZERO_SHOT_PROMPT.replaceAll('{}', name)));
        const similarities = tf.matMul(model.embedImages(images), classEmbeddings, false, true);
        return tf.softmax(tf.mul(similarities, model.logitScale())) as Tensor2D;
      }),
  };
}

/** The CLIP model of a `clip:clip` run (`train(...).runtime`). */
export function clipModelOf(runtime: MethodRuntime): ClipModel {
  const model = (runtime as Partial<ClipRuntime>).clip;
  if (!model) throw new SslError('invalid-config', 'Expected the runtime of a clip:clip run (train(...).runtime).');
  return model;
}

/**
 * The CLIP model of a finished clip:clip run loaded in any process (`loadRun(outDir)`): its image encoder,
 * text tower, projections, tokenizer and logit scale, ready for `zeroShotClassifier`. The logit scale is a
 * new variable; `run.dispose()` frees the networks.
 */
export function clipModelFromRun(run: LoadedRun): ClipModel {
  if (run.method !== 'clip:clip') throw new SslError('io', `${run.dir} is a ${run.method} run, not a clip:clip run.`);
  if (!run.encoder) throw new SslError('io', `${run.dir} has no saved image encoder (encoder/model.json).`);
  const scale = run.json<{ logLogitScale: number; maxLogitScale: number }>('logitScale');
  return assembleClip({
    imageEncoder: run.encoder,
    textEncoder: run.encoderProduct('textEncoder'),
    tokenizer: WordTokenizer.fromJSON(run.json('tokenizer')),
    imageProjection: run.network('imageProjection'),
    textProjection: run.network('textProjection'),
    logLogitScale: tf.variable(tf.scalar(scale.logLogitScale), false),
    maxLogitScale: scale.maxLogitScale,
  }).model;
}
