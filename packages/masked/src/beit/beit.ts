import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D, Tensor3D, Tensor4D, Variable } from '@tensorflow/tfjs-core';
import { SslError, checkPolicyOptions, cropFlip, defineMethod, invalidConfig, tfl } from '@ssl/core';
import type { CropFlipOptions, HeldOutFigure, ImageDataset, MethodRuntime, StepContext, VitEncoder } from '@ssl/core';
import { contextFreeHeldOutTask, contextFreeReferenceName, heldOutVersusContextFree } from '../blocks/held-out';
import type { ContextFreeGuess, HeldOutBatchScore } from '../blocks/held-out';
import { blockwiseMasking, numBlockMaskedPatches } from '../blocks/blockwise-masking';
import { patchify } from '../blocks/patchify';
import { maskedTokenLoss } from '../losses/masked-token-loss';
import { requireVitEncoder } from '../mae/mae';
import { simmimForward } from '../simmim/simmim';
import { buildPatchCodebook, codeCounts, codebookLoss, codebookVectors, detokenize, nearestCodes, tokenizeImages } from './patch-tokenizer';

export interface BeitConfig {
  /** Fraction of patches masked, in blocks; 0.4 in the paper (75 of 196 patches). Exactly round(L · ratio) per image. */
  maskRatio: number;
  /** Smallest masked block in patches (the paper: 16 of 196; 4 of the 49 patches of vit28). */
  minBlockPatches: number;
  /** Tokens in the tokenizer's codebook (the paper's DALL-E tokenizer has 8192 for 8×8 RGB patches). */
  codebookSize: number;
  /** Learning-rate multiplier of the codebook in the tokenizer round (its codes move in pixel units). */
  tokenizerLrScale: number;
  /** Overrides of core's 'cropFlip' view policy (random resized crop and flip), e.g. `{ cropScale: [0.2, 1] }`. */
  views: CropFlipOptions;
}

export const BEIT_DEFAULTS: BeitConfig = Object.freeze<BeitConfig>({
  maskRatio: 0.4,
  minBlockPatches: 4,
  // 64 tokens for the 16 grey values of a 4×4 patch: coarse enough that a token is predictable from context
  // (with 256, masked-token accuracy on the CI sample barely beat the per-position mode: see the README).
  codebookSize: 64,
  // 10 × the run's lr (1e-3): codes travel ~0.01 per step towards their patches' mean (chosen, not tuned).
  tokenizerLrScale: 10,
  // At 28×28 a crop of a fifth of the image is a few patches blown up; MAE's measured recipe crops 0.5–1.
  views: { cropScale: [0.5, 1] },
});

declare module '@ssl/core' {
  interface MethodConfigs {
    'masked:beit': BeitConfig;
  }
}

/** The tokenizer round's rule for dead codes: usage ← 0.9·usage + 0.1·count; a code unused in the batch with usage < 0.01 is restarted. */
const USAGE_DECAY = 0.9;
const DEAD_USAGE = 0.01;

export type BeitPhase = 'tokenizer' | 'masked-image-modeling';

export interface BeitParts {
  readonly encoder: VitEncoder;
  /** The tokenizer: a K-row table of patch vectors (see `buildPatchCodebook`). */
  readonly codebook: tfl.LayersModel;
  /** The learnable mask token [1, 1, D] (round 1; absent in the tokenizer round). */
  readonly maskToken?: tfl.LayersModel;
  /** Linear head: token D → K logits over the codebook (round 1). */
  readonly head?: tfl.LayersModel;
  readonly config: BeitConfig;
}

export interface BeitRuntime extends MethodRuntime<'unlabeled'>, BeitParts {
  readonly encoder: VitEncoder;
  readonly phase: BeitPhase;
}

export function validateBeitConfig(config: BeitConfig): void {
  const ratio = config.maskRatio;
  if (typeof ratio !== 'number' || !(ratio > 0 && ratio < 1))
    invalidConfig('maskRatio', ratio, 'a number strictly between 0 and 1 (BEiT uses 0.4)');
  if (!Number.isInteger(config.minBlockPatches) || config.minBlockPatches < 1)
    invalidConfig('minBlockPatches', config.minBlockPatches, 'an integer ≥ 1 (patches)');
  if (!Number.isInteger(config.codebookSize) || config.codebookSize < 2)
    invalidConfig('codebookSize', config.codebookSize, 'an integer ≥ 2 (tokens in the codebook)');
  if (typeof config.tokenizerLrScale !== 'number' || !(config.tokenizerLrScale > 0))
    invalidConfig('tokenizerLrScale', config.tokenizerLrScale, 'a positive number');
  checkPolicyOptions(cropFlip, config.views, 'views');
}

/** The codebook tokens [N, L] of images under a BEiT's tokenizer. */
export function beitTokens(parts: Pick<BeitParts, 'encoder' | 'codebook'>, images: Tensor4D): Tensor2D {
  return tf.tidy(() => tokenizeImages(images, codebookVectors(parts.codebook), parts.encoder.patchSize));
}

function requireModelParts(parts: BeitParts): Required<Pick<BeitParts, 'maskToken' | 'head'>> {
  if (!parts.maskToken || !parts.head) {
    throw new SslError('invalid-config', 'BEiT predicts tokens only after its tokenizer round: use the runtime of the last round.');
  }
  return { maskToken: parts.maskToken, head: parts.head };
}

/**
 * BEiT's forward pass on a patch mask [N, L] (1 = masked): the masked patches' embeddings replaced by the mask
 * token (position embedding kept), the whole sequence through the ViT, and a linear head giving logits over
 * the codebook for every patch, [N, L, K]. The masked-input ViT pass is SimMIM's (`simmimForward`).
 */
export function beitForward(parts: BeitParts, images: Tensor4D, mask: Tensor2D, training = false): Tensor3D {
  const { maskToken, head } = requireModelParts(parts);
  return simmimForward({ encoder: parts.encoder, maskToken, head, patchSize: parts.encoder.patchSize }, images, mask, training);
}

/** BEiT's loss of a batch on a given mask: cross-entropy of the tokenizer's tokens at the masked patches. */
export function beitBatchLoss(parts: BeitParts, images: Tensor4D, mask: Tensor2D, training = false): Scalar {
  return tf.tidy(() => maskedTokenLoss(beitForward(parts, images, mask, training), beitTokens(parts, images), mask));
}

/**
 * BEiT's own tasks on held-out images (inference mode, block masks from `Random(seed)`): after the tokenizer round,
 * the masked-token accuracy beside the most frequent token at each position and the masked-token cross-entropy
 * beside each position's token frequencies (their entropy), all over the held-out images' masked patches; in
 * every round, the tokenizer's reconstruction MSE (each patch replaced by its code) beside each pixel's mean.
 */
export async function beitHeldOutTask(
  parts: BeitParts,
  dataset: Pick<ImageDataset, 'images' | 'shape' | 'size'>,
  seed: number,
): Promise<HeldOutFigure[]> {
  const { encoder, codebook, config } = parts;
  const predicts = parts.maskToken !== undefined && parts.head !== undefined;
  const classes = config.codebookSize;
  const grid: [number, number] = [encoder.gridSize[0], encoder.gridSize[1]];
  const guesses: ContextFreeGuess[] = [
    { kind: 'mean' },
    ...(predicts ? [{ kind: 'mode', classes } as const, { kind: 'frequencies', classes } as const] : []),
  ];
  const results = await heldOutVersusContextFree(
    dataset,
    guesses,
    (images, rng) => {
      const tokens = beitTokens(parts, images);
      const rebuilt = detokenize(tokens, codebookVectors(codebook), encoder.patchSize, [images.shape[1], images.shape[2], images.shape[3]]);
      const scores: HeldOutBatchScore[] = [
        { value: tf.mean(tf.squaredDifference(rebuilt, images)).dataSync()[0], targets: images, weights: tf.ones([1, 1, 1, 1]) },
      ];
      if (!predicts) return scores;
      const mask = blockwiseMasking(images.shape[0], grid, config.maskRatio, rng, { minBlockPatches: config.minBlockPatches });
      const logits = beitForward(parts, images, mask);
      const hits = tf.mul(tf.cast(tf.equal(tf.argMax(logits, 2), tokens), 'float32'), mask);
      const accuracy = tf.div(tf.sum(hits), tf.sum(mask)).dataSync()[0];
      const crossEntropy = maskedTokenLoss(logits, tokens, mask).dataSync()[0];
      return [...scores, { value: accuracy, targets: tokens, weights: mask }, { value: crossEntropy, targets: tokens, weights: mask }];
    },
    { seed },
  );
  const figures: HeldOutFigure[] = [];
  const masked = `${Math.round(100 * config.maskRatio)}% of patches masked in blocks`;
  if (predicts) {
    const [, accuracy, crossEntropy] = results;
    figures.push(
      {
        name: `masked-token accuracy (${classes} tokens, ${masked})`,
        kind: 'accuracy',
        value: accuracy.value,
        reference: { name: contextFreeReferenceName("each position's most frequent token"), value: accuracy.reference },
      },
      {
        name: `masked-token cross-entropy (nats, ${masked})`,
        kind: 'error',
        value: crossEntropy.value,
        reference: { name: contextFreeReferenceName("each position's token frequencies"), value: crossEntropy.reference },
      },
    );
  }
  figures.push({
    name: `tokenizer reconstruction MSE (${classes} codes of ${encoder.patchSize}×${encoder.patchSize} patches)`,
    kind: 'error',
    value: results[0].value,
    reference: { name: contextFreeReferenceName("each pixel's mean"), value: results[0].reference },
  });
  return figures;
}

/** Codebook rows replaced by patches: data-initialised codes (first step) and restarts of dead ones. */
function writeCodes(
  codebook: tfl.LayersModel,
  codes: Float32Array,
  rows: number[],
  patches: Float32Array,
  patchRows: number[],
  d: number,
): void {
  rows.forEach((row, i) => codes.set(patches.subarray(patchRows[i] * d, (patchRows[i] + 1) * d), row * d));
  const table = tf.tensor2d(codes, [codes.length / d, d]);
  codebook.setWeights([table]);
  table.dispose();
}

/**
 * The tokenizer round's bookkeeping after each codebook update (van den Oord et al. 2017 train the codebook by
 * gradient; restarting unused codes at badly-quantised inputs is the usual fix for dead codes): on the first
 * step every code becomes a patch of the batch; then codes unused in this batch whose usage has decayed below
 * 0.01 move to the patches that are currently worst quantised.
 */
function tokenizerAfterStep(
  codebook: tfl.LayersModel,
  state: Record<string, Variable>,
  images: Tensor4D,
  patchSize: number,
  rng: StepContext['rng'],
): void {
  const patches = patchify(images, patchSize);
  const [n, l, d] = patches.shape;
  const patchValues = patches.dataSync() as Float32Array;
  const codes = Float32Array.from(codebookVectors(codebook).dataSync());
  const size = codes.length / d;
  if (state.tokenizerSteps.dataSync()[0] === 0) {
    const order = rng.permutation(n * l);
    writeCodes(
      codebook,
      codes,
      Array.from({ length: size }, (_, k) => k),
      patchValues,
      Array.from({ length: size }, (_, k) => order[k % order.length]),
      d,
    );
  }
  const current = codebookVectors(codebook);
  const tokens = nearestCodes(patches, current);
  const counts = codeCounts(tokens, size).dataSync();
  const usage = Float32Array.from(state.codeUsage.dataSync(), (u, k) => USAGE_DECAY * u + (1 - USAGE_DECAY) * counts[k]);
  const dead: number[] = [];
  for (let k = 0; k < size; k++) if (counts[k] === 0 && usage[k] < DEAD_USAGE) dead.push(k);
  if (dead.length > 0) {
    const quantised = tf.gather(current, tf.reshape(tokens, [-1]));
    const errors = tf.sum(tf.squaredDifference(quantised, tf.reshape(patches, [-1, d])), 1);
    const worst = Array.from(tf.topk(errors, Math.min(dead.length, n * l)).indices.dataSync());
    const restarted = dead.slice(0, worst.length);
    writeCodes(codebook, Float32Array.from(current.dataSync()), restarted, patchValues, worst, d);
    // A restarted code gets a grace period before it can be restarted again.
    for (const k of restarted) usage[k] = 1;
  }
  state.codeUsage.assign(tf.tensor1d(usage));
  state.tokenizerSteps.assign(tf.add(state.tokenizerSteps, 1));
}

/**
 * BEiT (Bao et al. 2022): a visual tokenizer turns each patch into a discrete token; the ViT sees the image with
 * ~40% of its patches, in blocks, replaced by a mask token and predicts the tokens of the masked patches
 * (cross-entropy over the codebook). Two rounds on the method contract: round 0 trains the tokenizer (a VQ
 * codebook over raw patches), round 1 pre-trains the ViT against its frozen tokens. The representation is the ViT.
 */
export const beit = defineMethod<BeitConfig, 'unlabeled'>({
  name: 'beit',
  description: 'BEiT: tokenizer round (VQ codebook over patches), then the ViT predicts the tokens of blockwise-masked patches.',
  paper: {
    title: 'BEiT: BERT Pre-Training of Image Transformers',
    authors: 'Bao, Dong, Piao, Wei',
    year: 2022,
    url: 'https://arxiv.org/abs/2106.08254',
  },
  data: 'unlabeled',
  defaults: BEIT_DEFAULTS,
  validate: validateBeitConfig,
  rounds: () => 2,
  views: (config) => ({ unlabeled: { name: 'cropFlip', overrides: { ...config.views } } }),
  training: {
    // AdamW, β = (0.9, 0.999), weight decay 0.05, warm-up then cosine (BEiT Table 12 / Appendix); lr 1e-3 for
    // short runs on 28×28 images (the paper's 1.5e-3 at batch 2048; chosen, not tuned).
    optimizer: { kind: 'adamw', lr: 1e-3, beta1: 0.9, beta2: 0.999, weightDecay: 0.05 },
    schedule: { kind: 'warmup-cosine', warmupFraction: 0.05 },
    batchSize: 128,
    epochs: 10,
    encoder: 'vit28',
  },
  build({ config, inputShape, createEncoder, rng, round, previous }): BeitRuntime {
    if (round === 0) {
      const encoder = requireVitEncoder(createEncoder(), 'masked:beit');
      const count = numBlockMaskedPatches(encoder.numPatches, config.maskRatio);
      if (count < 1 || count >= encoder.numPatches) {
        invalidConfig(
          'maskRatio',
          config.maskRatio,
          `a ratio that masks between 1 and ${encoder.numPatches - 1} of the encoder's ${encoder.numPatches} patches`,
        );
      }
      const patchValues = encoder.patchSize * encoder.patchSize * inputShape[2];
      const codebook = buildPatchCodebook(config.codebookSize, patchValues, rng.seed());
      const state = tf.tidy(() => ({
        codeUsage: tf.variable(tf.zeros([config.codebookSize]), false),
        tokenizerSteps: tf.variable(tf.scalar(0), false),
      }));
      return {
        encoder,
        codebook,
        config,
        phase: 'tokenizer',
        trainable: { codebook },
        heldOutTask: contextFreeHeldOutTask('masked:beit', (images, seed) => beitHeldOutTask({ encoder, codebook, config }, images, seed)),
        learningRateScales: { codebook: config.tokenizerLrScale },
        state,
        step(batch) {
          const images = batch.views[0] ?? batch.images;
          return { loss: codebookLoss(patchify(images, encoder.patchSize), codebookVectors(codebook)) };
        },
        afterStep(batch, context) {
          tokenizerAfterStep(codebook, state, batch.views[0] ?? batch.images, encoder.patchSize, context.rng);
        },
      };
    }

    const before = previous as BeitRuntime | undefined;
    if (before?.phase !== 'tokenizer')
      throw new SslError('invalid-config', `masked:beit round ${round}: expected the tokenizer round before it.`);
    const { encoder, codebook } = before;
    const maskToken = tfl.sequential({
      layers: [
        tfl.layers.embedding({
          inputDim: 1,
          outputDim: encoder.embedDim,
          inputLength: 1,
          // BEiT initialises its mask token with trunc_normal(std = 0.02).
          embeddingsInitializer: tfl.initializers.truncatedNormal({ stddev: 0.02, seed: rng.seed() }),
          name: 'mask_token',
        }),
      ],
    });
    const head = tfl.sequential({
      layers: [
        tfl.layers.dense({
          inputShape: [encoder.numPatches, encoder.embedDim],
          units: config.codebookSize,
          kernelInitializer: tfl.initializers.truncatedNormal({ stddev: 0.02, seed: rng.seed() }),
        }),
      ],
    });
    const parts: BeitParts = { encoder, codebook, maskToken, head, config };
    const grid: [number, number] = [encoder.gridSize[0], encoder.gridSize[1]];
    return {
      ...parts,
      encoder,
      phase: 'masked-image-modeling',
      trainable: { encoder: encoder.model, maskToken, head },
      // The tokenizer is fixed from here on; held here so checkpoints save it and a resumed run restores it.
      frozen: { codebook },
      // The tokenizer; the mask token and head too, so that predicted tokens can be drawn from a finished run.
      products: () => ({ tokenizer: codebook, maskToken, head }),
      heldOutTask: contextFreeHeldOutTask('masked:beit', (images, seed) => beitHeldOutTask(parts, images, seed)),
      step(batch, context) {
        const images = batch.views[0] ?? batch.images;
        const mask = blockwiseMasking(images.shape[0], grid, config.maskRatio, context.rng, { minBlockPatches: config.minBlockPatches });
        const logits = beitForward(parts, images, mask, true);
        const tokens = beitTokens(parts, images);
        const loss = maskedTokenLoss(logits, tokens, mask);
        const correct = tf.mul(tf.cast(tf.equal(tf.argMax(logits, 2), tokens), 'float32'), mask);
        return { loss, metrics: { maskedAccuracy: tf.div(tf.sum(correct), tf.sum(mask)) as Scalar } };
      },
    };
  },
});
