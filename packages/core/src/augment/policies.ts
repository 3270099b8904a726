import * as tf from '@tensorflow/tfjs-core';
import { invalidConfig, SslError } from '../errors';
import type { Random } from '../random';
import { colorJitter, gaussianBlur, normalize, randomGrayscale, solarize } from './color';
import { cutout, horizontalFlip, randomResizedCrop, rotate, translateReflect } from './geometric';
import { randAugment, type RandAugmentOpName } from './rand-augment';
import { checkImages } from './util';

/** One augmentation step of a view, as plain data. Probabilities are per image. */
export type AugmentOpSpec =
  | {
      op: 'randomResizedCrop';
      scale: [number, number];
      ratio?: [number, number];
      /** Output [height, width]; default: the input size scaled by sizeFraction (default 1). */
      size?: [number, number];
      sizeFraction?: number;
    }
  | { op: 'horizontalFlip'; p: number }
  | { op: 'colorJitter'; brightness: number; contrast: number; saturation: number; hue: number; p: number }
  | { op: 'randomGrayscale'; p: number }
  | { op: 'gaussianBlur'; sigma: [number, number]; p: number; kernelSize?: number }
  | { op: 'solarize'; threshold: number; p: number }
  | { op: 'rotate'; degrees: [number, number]; p: number; fill?: number }
  | { op: 'translate'; fraction: number }
  | { op: 'randAugment'; numOps: number; magnitude: number | 'random'; ops?: RandAugmentOpName[]; fill?: number }
  | { op: 'cutout'; size: number; p: number; fill?: number }
  | { op: 'normalize'; mean: number[]; std: number[] };

export interface ViewSpec {
  /** Name used in logs and grids, e.g. "global-1", "local", "strong". */
  name: string;
  ops: AugmentOpSpec[];
  /** How many views this spec produces (multi-crop's local crops); default 1. */
  count?: number;
}

/** A named list of views, each a list of op specs; applyViews turns it into tensors. */
export interface ViewPolicy {
  name: string;
  views: ViewSpec[];
}

export interface SimclrPolicyOptions {
  size?: [number, number];
  /** SimCLR: (0.08, 1); small grayscale images often do better with (0.2, 1) or more. */
  cropScale?: [number, number];
  cropRatio?: [number, number];
  flipP?: number;
  /** Scales the jitter strengths (0.4, 0.4, 0.4, 0.1). */
  jitterStrength?: number;
  jitterP?: number;
  grayscaleP?: number;
  blurP?: number;
  blurSigma?: [number, number];
}

export interface ByolPolicyOptions extends SimclrPolicyOptions {
  /** Blur probability of view 1 and view 2 (BYOL: 1.0 and 0.1). */
  blurP1?: number;
  blurP2?: number;
  /** Solarize probability of view 1 and view 2 (BYOL: 0 and 0.2). */
  solarizeP1?: number;
  solarizeP2?: number;
}

export interface MultiCropPolicyOptions {
  globalCrops?: number;
  localCrops?: number;
  globalScale?: [number, number];
  localScale?: [number, number];
  /** Output size of global crops; default the input size. */
  globalSize?: [number, number];
  /** Output size of local crops; default 96/224 of the input size (DINO's ratio). */
  localSize?: [number, number];
  jitterStrength?: number;
}

export interface WeakStrongPolicyOptions {
  translateFraction?: number;
  numOps?: number;
  magnitude?: number | 'random';
  /** Cutout side as a fraction of the image side (FixMatch: 0.5). */
  cutoutSize?: number;
}

export interface MaePolicyOptions {
  cropScale?: [number, number];
  size?: [number, number];
  flipP?: number;
}

export interface WeakPolicyOptions {
  /** Translation as a fraction of the image size, with reflect padding; FixMatch: 0.125. */
  translateFraction?: number;
  flipP?: number;
}

export interface NonePolicyOptions {
  /** Number of identical (unaugmented) views; default 1. */
  count?: number;
}

/** Overrides accepted by each built-in policy. */
export interface ViewPolicyOptions {
  simclr: SimclrPolicyOptions;
  byol: ByolPolicyOptions;
  multiCrop: MultiCropPolicyOptions;
  weakStrong: WeakStrongPolicyOptions;
  weak: WeakPolicyOptions;
  mae: MaePolicyOptions;
  none: NonePolicyOptions;
}

export type ViewPolicyName = keyof ViewPolicyOptions;

function jitter(strength: number, p: number, saturation = 0.4): AugmentOpSpec {
  // BYOL/MoCo v2 strengths (0.4, 0.4, 0.4 or 0.2, 0.1) = SimCLR's (0.8, 0.8, 0.8, 0.2) at strength 0.5.
  return { op: 'colorJitter', brightness: 0.4 * strength, contrast: 0.4 * strength, saturation: saturation * strength, hue: Math.min(0.5, 0.1 * strength), p };
}

const POLICIES: { [K in ViewPolicyName]: (options: ViewPolicyOptions[K]) => ViewPolicy } = {
  /** SimCLR (Chen et al. 2020, appendix A): two views from one distribution. */
  simclr: (o) => {
    const view = (name: string): ViewSpec => ({
      name,
      ops: [
        { op: 'randomResizedCrop', scale: o.cropScale ?? [0.08, 1], ratio: o.cropRatio ?? [3 / 4, 4 / 3], ...(o.size ? { size: o.size } : {}) },
        { op: 'horizontalFlip', p: o.flipP ?? 0.5 },
        jitter(o.jitterStrength ?? 1, o.jitterP ?? 0.8),
        { op: 'randomGrayscale', p: o.grayscaleP ?? 0.2 },
        { op: 'gaussianBlur', sigma: o.blurSigma ?? [0.1, 2.0], p: o.blurP ?? 0.5 },
      ],
    });
    return { name: 'simclr', views: [view('view-1'), view('view-2')] };
  },
  /** BYOL (Grill et al. 2020, table 6): asymmetric blur and solarisation. */
  byol: (o) => {
    const view = (name: string, blurP: number, solarizeP: number): ViewSpec => ({
      name,
      ops: [
        { op: 'randomResizedCrop', scale: o.cropScale ?? [0.08, 1], ratio: o.cropRatio ?? [3 / 4, 4 / 3], ...(o.size ? { size: o.size } : {}) },
        { op: 'horizontalFlip', p: o.flipP ?? 0.5 },
        jitter(o.jitterStrength ?? 1, o.jitterP ?? 0.8, 0.2),
        { op: 'randomGrayscale', p: o.grayscaleP ?? 0.2 },
        { op: 'gaussianBlur', sigma: o.blurSigma ?? [0.1, 2.0], p: blurP },
        { op: 'solarize', threshold: 0.5, p: solarizeP },
      ],
    });
    return { name: 'byol', views: [view('view-1', o.blurP1 ?? 1.0, o.solarizeP1 ?? 0), view('view-2', o.blurP2 ?? 0.1, o.solarizeP2 ?? 0.2)] };
  },
  /** Multi-crop (SwAV, Caron et al. 2020; DINO, Caron et al. 2021): 2 global + V small local crops. */
  multiCrop: (o) => {
    const strength = o.jitterStrength ?? 1;
    const common = (blurP: number): AugmentOpSpec[] => [
      { op: 'horizontalFlip', p: 0.5 },
      jitter(strength, 0.8, 0.2),
      { op: 'randomGrayscale', p: 0.2 },
      { op: 'gaussianBlur', sigma: [0.1, 2.0], p: blurP },
    ];
    const globalCrop = (): AugmentOpSpec => ({ op: 'randomResizedCrop', scale: o.globalScale ?? [0.4, 1], ...(o.globalSize ? { size: o.globalSize } : {}) });
    const globalCrops = o.globalCrops ?? 2;
    const views: ViewSpec[] = [];
    // DINO: global view 1 always blurred; global view 2 blurred with p 0.1 and solarised with p 0.2.
    for (let g = 0; g < globalCrops; g++) {
      const ops = [globalCrop(), ...common(g === 0 ? 1.0 : 0.1)];
      if (g > 0) ops.push({ op: 'solarize', threshold: 0.5, p: 0.2 });
      views.push({ name: `global-${g + 1}`, ops });
    }
    const localCrops = o.localCrops ?? 6;
    if (localCrops > 0) {
      views.push({
        name: 'local',
        count: localCrops,
        ops: [{ op: 'randomResizedCrop', scale: o.localScale ?? [0.05, 0.4], ...(o.localSize ? { size: o.localSize } : { sizeFraction: 96 / 224 }) }, ...common(0.5)],
      });
    }
    return { name: 'multiCrop', views };
  },
  /** FixMatch (Sohn et al. 2020): weak = flip + translate; strong = weak + RandAugment + Cutout. */
  weakStrong: (o) => {
    const weak: AugmentOpSpec[] = [
      { op: 'horizontalFlip', p: 0.5 },
      { op: 'translate', fraction: o.translateFraction ?? 0.125 },
    ];
    return {
      name: 'weakStrong',
      views: [
        { name: 'weak', ops: weak },
        {
          name: 'strong',
          ops: [...weak, { op: 'randAugment', numOps: o.numOps ?? 2, magnitude: o.magnitude ?? 'random' }, { op: 'cutout', size: o.cutoutSize ?? 0.5, p: 1 }],
        },
      ],
    };
  },
  /** FixMatch's weak view alone, for labeled batches: flip + translate (Sohn et al. 2020, §2.3). */
  weak: (o) => ({
    name: 'weak',
    views: [{ name: 'weak', ops: [{ op: 'horizontalFlip', p: o.flipP ?? 0.5 }, { op: 'translate', fraction: o.translateFraction ?? 0.125 }] }],
  }),
  /** MAE (He et al. 2022): only a mild crop and a flip; masking does the rest. */
  mae: (o) => ({
    name: 'mae',
    views: [
      {
        name: 'view',
        ops: [
          { op: 'randomResizedCrop', scale: o.cropScale ?? [0.2, 1], ...(o.size ? { size: o.size } : {}) },
          { op: 'horizontalFlip', p: o.flipP ?? 0.5 },
        ],
      },
    ],
  }),
  none: (o) => ({ name: 'none', views: [{ name: 'identity', ops: [], count: o.count ?? 1 }] }),
};

/** What a policy option may hold; every option of every built-in policy has exactly one rule. */
type OptionRule = 'probability' | 'cropScale' | 'positiveRange' | 'size' | 'nonNegative' | 'count' | 'positiveCount' | 'magnitude';

const SIMCLR_RULES: Record<keyof SimclrPolicyOptions, OptionRule> = {
  size: 'size',
  cropScale: 'cropScale',
  cropRatio: 'positiveRange',
  flipP: 'probability',
  jitterStrength: 'nonNegative',
  jitterP: 'probability',
  grayscaleP: 'probability',
  blurP: 'probability',
  blurSigma: 'positiveRange',
};

const OPTION_RULES: { [K in ViewPolicyName]: Record<keyof ViewPolicyOptions[K], OptionRule> } = {
  simclr: SIMCLR_RULES,
  byol: { ...SIMCLR_RULES, blurP1: 'probability', blurP2: 'probability', solarizeP1: 'probability', solarizeP2: 'probability' },
  multiCrop: {
    globalCrops: 'positiveCount',
    localCrops: 'count',
    globalScale: 'cropScale',
    localScale: 'cropScale',
    globalSize: 'size',
    localSize: 'size',
    jitterStrength: 'nonNegative',
  },
  weakStrong: { translateFraction: 'probability', numOps: 'count', magnitude: 'magnitude', cutoutSize: 'probability' },
  weak: { translateFraction: 'probability', flipP: 'probability' },
  mae: { cropScale: 'cropScale', size: 'size', flipP: 'probability' },
  none: { count: 'count' },
};

const RULE_EXPECTS: Record<OptionRule, string> = {
  probability: 'a number in [0, 1]',
  cropScale: '[low, high] with 0 < low <= high <= 1 (fractions of the image area)',
  positiveRange: '[low, high] with 0 < low <= high',
  size: '[height, width], positive integers',
  nonNegative: 'a finite number >= 0',
  count: 'an integer >= 0',
  positiveCount: 'an integer >= 1',
  magnitude: "a number in [0, 30] or 'random'",
};

function satisfies(rule: OptionRule, value: unknown): boolean {
  const isPair = Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'number' && Number.isFinite(v));
  switch (rule) {
    case 'probability':
      return typeof value === 'number' && value >= 0 && value <= 1;
    case 'cropScale':
      return isPair && value[0] > 0 && value[0] <= value[1] && value[1] <= 1;
    case 'positiveRange':
      return isPair && value[0] > 0 && value[0] <= value[1];
    case 'size':
      return isPair && value.every((v: number) => Number.isInteger(v) && v > 0);
    case 'nonNegative':
      return typeof value === 'number' && Number.isFinite(value) && value >= 0;
    case 'count':
      return Number.isInteger(value) && (value as number) >= 0;
    case 'positiveCount':
      return Number.isInteger(value) && (value as number) >= 1;
    case 'magnitude':
      return value === 'random' || (typeof value === 'number' && value >= 0 && value <= 30);
  }
}

/**
 * Checks overrides of a built-in view policy: every key must be one of its options and every value in
 * range, so a typo (`cropScal`) or a probability of 5 fails here instead of silently training with the
 * default. `field` prefixes the names in errors (a method passes its config field, e.g. "views").
 * Undefined values mean "use the default" and pass.
 */
export function checkViewPolicyOptions(name: string, overrides: Readonly<Record<string, unknown>>, field: string = name): void {
  const rules = (OPTION_RULES as Record<string, Record<string, OptionRule>>)[name];
  if (!rules) unknownPolicy(name);
  if (overrides === null || typeof overrides !== 'object' || Array.isArray(overrides)) {
    invalidConfig(field, overrides, `an object of ${name} view-policy options`);
  }
  for (const [key, value] of Object.entries(overrides)) {
    const rule = rules[key];
    if (rule === undefined) {
      throw new SslError('invalid-config', `Unknown option ${field}.${key} of the ${name} view policy; its options are ${Object.keys(rules).join(', ')}.`, {
        details: { field: `${field}.${key}`, known: Object.keys(rules) },
      });
    }
    if (value !== undefined && !satisfies(rule, value)) invalidConfig(`${field}.${key}`, value, RULE_EXPECTS[rule]);
  }
}

function unknownPolicy(name: string): never {
  throw new SslError('invalid-config', `Unknown view policy ${JSON.stringify(name)}; the built-in policies are ${listViewPolicies().join(', ')}.`, {
    details: { name, known: listViewPolicies() },
  });
}

/** Names of the built-in view policies. */
export function listViewPolicies(): ViewPolicyName[] {
  return Object.keys(POLICIES) as ViewPolicyName[];
}

/** A built-in policy as data, with its options overridden. Unknown names, options or bad values throw 'invalid-config'. */
export function viewPolicy<N extends ViewPolicyName>(name: N, overrides?: ViewPolicyOptions[N]): ViewPolicy;
export function viewPolicy(name: string, overrides?: Record<string, unknown>): ViewPolicy;
export function viewPolicy(name: string, overrides: Record<string, unknown> = {}): ViewPolicy {
  const factory = (POLICIES as Record<string, (o: Record<string, unknown>) => ViewPolicy>)[name];
  if (!factory) unknownPolicy(name);
  checkViewPolicyOptions(name, overrides);
  return factory(overrides);
}

/** Applies one op spec to a batch. */
export function applyOp(spec: AugmentOpSpec, images: tf.Tensor4D, rng: Random): tf.Tensor4D {
  switch (spec.op) {
    case 'randomResizedCrop': {
      const [, h, w] = images.shape;
      const fraction = spec.sizeFraction ?? 1;
      const size: [number, number] = spec.size ?? [Math.max(1, Math.round(h * fraction)), Math.max(1, Math.round(w * fraction))];
      return randomResizedCrop(images, rng, { scale: spec.scale, ratio: spec.ratio, size });
    }
    case 'horizontalFlip':
      return horizontalFlip(images, rng, { p: spec.p });
    case 'colorJitter':
      return colorJitter(images, rng, spec);
    case 'randomGrayscale':
      return randomGrayscale(images, rng, { p: spec.p });
    case 'gaussianBlur':
      return gaussianBlur(images, rng, { sigma: spec.sigma, p: spec.p, kernelSize: spec.kernelSize });
    case 'solarize':
      return solarize(images, rng, { threshold: spec.threshold, p: spec.p });
    case 'rotate':
      return rotate(images, rng, { degrees: spec.degrees, p: spec.p, fill: spec.fill });
    case 'translate':
      return translateReflect(images, rng, { fraction: spec.fraction });
    case 'randAugment': {
      const result = randAugment(images, rng, spec);
      return result.images;
    }
    case 'cutout':
      return cutout(images, rng, { size: spec.size, p: spec.p, fill: spec.fill });
    case 'normalize':
      return normalize(images, spec.mean, spec.std);
    default:
      throw new SslError('invalid-config', `Unknown augmentation op ${JSON.stringify((spec as { op: unknown }).op)} in a view policy.`);
  }
}

/**
 * Produces every view of `images` (float32 [0, 1], NHWC) under `policy`, in the order of
 * policy.views (a spec with count k gives k consecutive views). Each view draws from its own fork of
 * `rng`, so editing one view's ops does not change the randomness of the others. The caller disposes
 * the returned tensors; the input is not disposed.
 */
export function applyViews(policy: ViewPolicy, images: tf.Tensor4D, rng: Random): tf.Tensor4D[] {
  checkImages(images, `applyViews(${policy.name})`);
  if (!Array.isArray(policy.views) || policy.views.length === 0) {
    throw new SslError('invalid-config', `View policy ${policy.name} has no views.`);
  }
  const outputs: tf.Tensor4D[] = [];
  try {
    for (const view of policy.views) {
      const count = view.count ?? 1;
      if (!(Number.isInteger(count) && count >= 0)) throw new SslError('invalid-config', `View ${view.name} of policy ${policy.name}: count must be a non-negative integer, got ${count}.`);
      for (let k = 0; k < count; k++) {
        const viewRng = rng.fork();
        outputs.push(
          tf.tidy(() => {
            let x = images;
            for (const spec of view.ops) x = applyOp(spec, x, viewRng);
            return x === images ? images.clone() : x;
          }),
        );
      }
    }
  } catch (error) {
    tf.dispose(outputs);
    throw error;
  }
  return outputs;
}
