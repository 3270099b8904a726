import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D, Tensor4D, Variable } from '@tensorflow/tfjs-core';
import {
  checkPolicyOptions,
  copyWeights,
  cosineMomentum,
  defineMethod,
  dinoHead,
  dinoHeadLastLayer,
  forwardViews,
  invalidConfig,
  noGradient,
  requirePositiveInteger,
  stopGradient,
  withWeights,
} from '@ssl/core';
import { multiCrop } from '../views/multi-crop';
import type { MultiCropOptions } from '../views/multi-crop';
import { dinoLoss, updateDinoCenter } from '../losses/dino';
import { normalizedStd } from '../diagnostics/normalized-std';
import { effectiveRank } from '../diagnostics/effective-rank';

/**
 * DINO (Caron et al. 2021, "Emerging Properties in Self-Supervised Vision Transformers"): self-distillation
 * with no labels. A student (encoder + DINO head) matches, by cross-entropy, the softmax of an EMA teacher
 * over K outputs (eq. 2–3). The teacher sees only the global crops, the student every crop (multi-crop,
 * local-to-global correspondence). Collapse is avoided by centering the teacher's outputs (a running mean,
 * eq. 4) and sharpening them with a low temperature (sec. 3.1, "Avoiding collapse").
 */
export interface DINOConfig {
  /** K, the number of outputs of the DINO head (paper: 65536). */
  outputDim: number;
  /** Hidden width of the head's MLP (paper: 2048). */
  headHiddenDim: number;
  /** Width of the head's bottleneck before the weight-normalized last layer (paper: 256). */
  bottleneckDim: number;
  /** Batch norm in the head's MLP (the reference's use_bn_in_head; off for ViTs, on for the small CNN, README). */
  headBatchNorm: boolean;
  /** Fix the last layer's weight-norm magnitude at 1 (the reference's norm_last_layer; it sets False for ViT-S). */
  normLastLayer: boolean;
  /** τ_s, the student temperature (paper: 0.1). */
  studentTemperature: number;
  /** τ_t at the start of the warm-up (paper: 0.04). */
  warmupTeacherTemperature: number;
  /** τ_t after the warm-up (paper: 0.04 to 0.07; 0.07 with the warm-up). */
  teacherTemperature: number;
  /** Fraction of training over which τ_t rises linearly (paper: 30 of 100–300 epochs). */
  teacherTemperatureWarmup: number;
  /** m of the center EMA, eq. 4 (paper: 0.9). */
  centerMomentum: number;
  /** λ at the start of the teacher's cosine EMA schedule (paper: 0.996). */
  baseMomentum: number;
  /** λ at the end (paper: 1). */
  finalMomentum: number;
  /** Epochs during which the head's last layer gets no gradient (paper: 1, "freeze_last_layer"). */
  freezeLastLayerEpochs: number;
  /** Overrides of the 'multiCrop' view policy; the first `globalCrops` views go to the teacher. */
  views: MultiCropOptions;
  /**
   * How crops go through the networks: 'per-view', each crop as its own batch (batch-norm statistics of one crop,
   * as BYOL's per-view forwarding); 'per-size', the crops of one size as one batch (the reference's
   * MultiCropWrapper: one forward for the global crops, one for the local crops). Equal for an encoder and a head
   * without batch norm (a ViT), and far fewer, larger kernel calls.
   */
  cropBatches: 'per-view' | 'per-size';
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'noncontrastive:dino': DINOConfig;
  }
}

/**
 * DINO's multi-crop on 28×28 grayscale: 2 global crops of 28×28 at scale (0.4, 1) and 6 local crops of
 * 12×12 (DINO's 96/224 of the image side) at scale (0.05, 0.4), as the paper's; blur σ up to 1 pixel
 * (the paper's 0.1–2.0 is for 224 px), as BYOL_FASHION_VIEWS.
 */
export const DINO_FASHION_VIEWS: MultiCropOptions = {
  globalCrops: 2,
  localCrops: 6,
  globalScale: [0.4, 1],
  localScale: [0.05, 0.4],
  localSize: [12, 12],
  blurSigma: [0.1, 1],
  grayscaleP: 0,
};

/** τ_t at a point of training: linear warm-up from `warmupTeacherTemperature` to `teacherTemperature`, then constant. */
export function dinoTeacherTemperature(
  config: Pick<DINOConfig, 'warmupTeacherTemperature' | 'teacherTemperature' | 'teacherTemperatureWarmup'>,
  progress: number,
): number {
  const { warmupTeacherTemperature: start, teacherTemperature: end, teacherTemperatureWarmup: warmup } = config;
  if (warmup <= 0 || progress >= warmup) return end;
  return start + ((end - start) * Math.max(0, progress)) / warmup;
}

function checkPositiveNumber(field: string, value: number, paper: string): void {
  if (!(typeof value === 'number' && Number.isFinite(value) && value > 0)) invalidConfig(field, value, `a number > 0 (paper: ${paper})`);
}

function checkUnitInterval(field: string, value: number, paper: string): void {
  if (!(typeof value === 'number' && value >= 0 && value <= 1)) invalidConfig(field, value, `a number in [0, 1] (paper: ${paper})`);
}

/**
 * Outputs of `forward` for every crop, in the crops' order: each crop alone ('per-view'), or each run of
 * consecutive crops of one size as one batch ('per-size'; multiCrop puts the global crops first, then the local ones).
 */
function forwardCrops(forward: (x: Tensor4D) => Tensor2D, crops: readonly Tensor4D[], mode: DINOConfig['cropBatches']): Tensor2D[] {
  if (mode === 'per-view') return forwardViews(forward, crops, 'per-view');
  const outputs: Tensor2D[] = [];
  for (let start = 0; start < crops.length;) {
    const size = crops[start].shape.slice(1).join('×');
    let end = start + 1;
    while (end < crops.length && crops[end].shape.slice(1).join('×') === size) end++;
    outputs.push(...forwardViews(forward, crops.slice(start, end), 'concatenated'));
    start = end;
  }
  return outputs;
}

/** What DINO's step hands to afterStep: the teacher outputs of the global crops, for the center (eq. 4). */
export interface DINOCarry {
  readonly teacherOutputs: Tensor2D[];
}

export const dino = defineMethod<DINOConfig, 'unlabeled', DINOCarry>({
  name: 'dino',
  description:
    'Self-distillation: a student matches an EMA teacher’s centered, sharpened softmax over K outputs, multi-crop (Caron et al. 2021).',
  paper: {
    title: 'Emerging Properties in Self-Supervised Vision Transformers',
    authors: 'Caron, Touvron, Misra, Jégou, Mairal, Bojanowski, Joulin',
    year: 2021,
    url: 'https://arxiv.org/abs/2104.14294',
  },
  data: 'unlabeled',
  defaults: {
    outputDim: 1024,
    headHiddenDim: 512,
    bottleneckDim: 128,
    headBatchNorm: false,
    normLastLayer: true,
    studentTemperature: 0.1,
    warmupTeacherTemperature: 0.04,
    teacherTemperature: 0.07,
    teacherTemperatureWarmup: 0.3,
    centerMomentum: 0.9,
    baseMomentum: 0.996,
    finalMomentum: 1,
    freezeLastLayerEpochs: 1,
    views: DINO_FASHION_VIEWS,
    cropBatches: 'per-view',
  },
  validate(config) {
    requirePositiveInteger('outputDim', config.outputDim);
    requirePositiveInteger('headHiddenDim', config.headHiddenDim);
    requirePositiveInteger('bottleneckDim', config.bottleneckDim);
    if (typeof config.headBatchNorm !== 'boolean') invalidConfig('headBatchNorm', config.headBatchNorm, 'true or false');
    if (typeof config.normLastLayer !== 'boolean') invalidConfig('normLastLayer', config.normLastLayer, 'true or false (paper: true)');
    checkPositiveNumber('studentTemperature', config.studentTemperature, '0.1');
    checkPositiveNumber('warmupTeacherTemperature', config.warmupTeacherTemperature, '0.04');
    checkPositiveNumber('teacherTemperature', config.teacherTemperature, '0.04 to 0.07');
    checkUnitInterval('teacherTemperatureWarmup', config.teacherTemperatureWarmup, '30 epochs of 100–300');
    checkUnitInterval('centerMomentum', config.centerMomentum, '0.9');
    checkUnitInterval('baseMomentum', config.baseMomentum, '0.996');
    if (!(typeof config.finalMomentum === 'number' && config.finalMomentum >= config.baseMomentum && config.finalMomentum <= 1)) {
      invalidConfig('finalMomentum', config.finalMomentum, `a number in [baseMomentum = ${config.baseMomentum}, 1]`);
    }
    if (!(Number.isInteger(config.freezeLastLayerEpochs) && config.freezeLastLayerEpochs >= 0)) {
      invalidConfig('freezeLastLayerEpochs', config.freezeLastLayerEpochs, 'an integer ≥ 0 (paper: 1)');
    }
    if (config.cropBatches !== 'per-view' && config.cropBatches !== 'per-size')
      invalidConfig('cropBatches', config.cropBatches, "'per-view' or 'per-size'");
    checkPolicyOptions(multiCrop, config.views, 'views');
    const globalCrops = config.views.globalCrops ?? 2;
    if (globalCrops + (config.views.localCrops ?? 6) < 2)
      invalidConfig('views.localCrops', config.views.localCrops, 'at least 2 crops in all (a student view other than each teacher view)');
  },
  views: (config) => ({ unlabeled: { name: 'multiCrop', overrides: { ...config.views } } }),
  // The paper: AdamW, lr 5e-4 × batch/256 after a 10-epoch warm-up, cosine, weight decay 0.04 → 0.4, and
  // gradients clipped at norm 3 (per parameter tensor in the reference code; core clips the global norm).
  training: {
    optimizer: { kind: 'adamw', lr: 1e-3, weightDecay: 0.04 },
    schedule: { kind: 'warmup-cosine', warmupFraction: 0.1 },
    batchSize: 64,
    epochs: 10,
    gradientClip: 3,
  },
  build({ config, createEncoder, rng }) {
    const encoder = createEncoder();
    const teacherEncoder = createEncoder();
    const headConfig = {
      inputDim: encoder.featureDim,
      hiddenDim: config.headHiddenDim,
      bottleneckDim: config.bottleneckDim,
      outputDim: config.outputDim,
      batchNorm: config.headBatchNorm,
      normLastLayer: config.normLastLayer,
    };
    const head = dinoHead({ ...headConfig, seed: rng.seed() });
    const teacherHead = dinoHead({ ...headConfig, seed: rng.seed() });
    // "The teacher and the student start with the same weights" (the reference code loads the student's).
    copyWeights(teacherEncoder.model, encoder.model);
    copyWeights(teacherHead, head);
    // Eq. 4's running mean of the teacher's outputs, saved by checkpoints.
    const initialCenter = tf.zeros([1, config.outputDim]);
    const center = tf.variable(initialCenter, false) as Variable;
    initialCenter.dispose();
    const lastLayerWeights = dinoHeadLastLayer(head).trainableWeights;
    const globalCrops = config.views.globalCrops ?? 2;

    const studentForward =
      (frozenLastLayer: boolean) =>
      (x: Tensor4D): Tensor2D => {
        const features = encoder.features(x, { training: true });
        const apply = () => head.apply(features, { training: true }) as Tensor2D;
        if (!frozenLastLayer) return apply();
        // The reference's cancel_gradients_last_layer: during the first epoch(s) the last layer is read through
        // a stop-gradient, so it gets no gradient (null, so the optimizer leaves it and its moments untouched).
        const frozen = Object.fromEntries(lastLayerWeights.map((w) => [w.name, stopGradient(w.read())]));
        return withWeights(head, frozen, apply);
      };

    return {
      encoder,
      trainable: { encoder: encoder.model, head },
      frozen: { teacherEncoder: teacherEncoder.model, teacherHead },
      state: { center },
      step(batch, context) {
        const views = batch.views;
        if (views.length < Math.max(2, globalCrops))
          invalidConfig('views', views.length, `at least ${Math.max(2, globalCrops)} views (the multiCrop policy)`);
        const globalViews = views.slice(0, globalCrops);
        // One encoder for crops of every size; each crop its own batch, or the crops of one size together.
        const studentOutputs = forwardCrops(studentForward(context.epoch < config.freezeLastLayerEpochs), views, config.cropBatches);
        // The teacher sees the global crops only, and gives no gradient (sg in Algorithm 1): its forward runs
        // off the tape, so none of its activations is kept for the backward.
        const teacherOutputs = noGradient(() =>
          forwardCrops(
            (x: Tensor4D) => teacherHead.apply(teacherEncoder.features(x, { training: true }), { training: true }) as Tensor2D,
            globalViews,
            config.cropBatches,
          ),
        );
        const teacherTemperature = dinoTeacherTemperature(config, context.progress);
        const loss = dinoLoss(studentOutputs, teacherOutputs, center as unknown as Tensor2D, {
          studentTemperature: config.studentTemperature,
          teacherTemperature,
        });
        return {
          loss,
          metrics: {
            // Collapse diagnostics: the teacher's sharpened distribution should stay spread over outputs
            // (its entropy well below log K, its per-dimension std well above 0).
            teacherStd: normalizedStd(teacherOutputs[0]),
            studentStd: normalizedStd(studentOutputs[0]),
            // Effective rank of the teacher's outputs (dimensional collapse shows here before the std falls).
            teacherRank: effectiveRank(teacherOutputs[0]),
            teacherEntropy: tf.tidy(() => {
              const probabilities = tf.softmax(tf.div(tf.sub(teacherOutputs[0], center), teacherTemperature));
              return tf.mean(tf.neg(tf.sum(tf.mul(probabilities, tf.log(tf.add(probabilities, 1e-12))), 1)));
            }) as tf.Scalar,
          },
          carry: { teacherOutputs },
        };
      },
      // Eq. 4 from this step's own teacher outputs (the reference's update_center after the loss).
      afterStep(_batch, _context, carry) {
        if (!carry) return;
        center.assign(updateDinoCenter(center as unknown as Tensor2D, carry.teacherOutputs, { momentum: config.centerMomentum }));
      },
      // The teacher is an EMA of the student, λ on a cosine schedule from 0.996 to 1 (sec. 3.1).
      momentumPairs: {
        pairs: [
          { target: teacherEncoder.model, source: encoder.model },
          { target: teacherHead, source: head },
        ],
        momentum: ({ progress }) => cosineMomentum(config.baseMomentum, progress, config.finalMomentum),
      },
    };
  },
});
