import { SslError, invalidConfig } from '../errors';
import type { AugmentOpSpec, ViewPolicy } from './policies';

/**
 * A view policy as a plugin registers it: named options, each checked by a rule, and a function that
 * turns the options into views (data, not code buried in a step). Core keeps the generic recipes
 * (`cropFlip`, `weak`, `none`); a method family's own recipes (`simclr`, `byol`, `multiCrop`,
 * `weakStrong`) live in the plugin that owns them, registered with `definePlugin({ viewPolicies })`.
 */
export interface ViewPolicyDefinition<Options extends object = Record<string, unknown>> {
  readonly name: string;
  readonly description: string;
  /** The rule each option must satisfy; an option not listed here is a typo and is refused. */
  readonly options: { readonly [K in keyof Options]-?: OptionRule };
  /** Views for these options (undefined options mean "the recipe's default"). */
  create(options: Options): ViewPolicy;
}

/** What a policy option may hold: a named rule, or a check of the plugin's own with what it expects. */
export type OptionRule =
  | 'probability'
  | 'cropScale'
  | 'positiveRange'
  | 'size'
  | 'nonNegative'
  | 'count'
  | 'positiveCount'
  | 'magnitude'
  | { readonly check: (value: unknown) => boolean; readonly expects: string };

const RULE_EXPECTS: Record<Exclude<OptionRule, object>, string> = {
  probability: 'a number in [0, 1]',
  cropScale: '[low, high] with 0 < low <= high <= 1 (fractions of the image area)',
  positiveRange: '[low, high] with 0 < low <= high',
  size: '[height, width], positive integers',
  nonNegative: 'a finite number >= 0',
  count: 'an integer >= 0',
  positiveCount: 'an integer >= 1',
  magnitude: "a number in [0, 30] or 'random'",
};

function isPair(value: unknown): value is [number, number] {
  return Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'number' && Number.isFinite(v));
}

function satisfies(rule: OptionRule, value: unknown): boolean {
  if (typeof rule === 'object') return rule.check(value);
  switch (rule) {
    case 'probability':
      return typeof value === 'number' && value >= 0 && value <= 1;
    case 'cropScale':
      return isPair(value) && value[0] > 0 && value[0] <= value[1] && value[1] <= 1;
    case 'positiveRange':
      return isPair(value) && value[0] > 0 && value[0] <= value[1];
    case 'size':
      return isPair(value) && value.every((v) => Number.isInteger(v) && v > 0);
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

/** Identity function that gives a view policy its types. */
export function defineViewPolicy<Options extends object>(definition: ViewPolicyDefinition<Options>): ViewPolicyDefinition<Options> {
  return Object.freeze(definition);
}

/**
 * Checks overrides of a view policy: every key must be one of its options and every value must satisfy its
 * rule, so a typo (`cropScal`) or a probability of 5 fails here instead of silently training with the
 * default. `field` prefixes the names in errors (a method passes its config field, e.g. "views").
 */
export function checkPolicyOptions(definition: ViewPolicyDefinition<object>, overrides: unknown, field: string = definition.name): void {
  if (overrides === null || typeof overrides !== 'object' || Array.isArray(overrides)) {
    invalidConfig(field, overrides, `an object of ${definition.name} view-policy options`);
  }
  const rules = definition.options as Readonly<Record<string, OptionRule>>;
  for (const [key, value] of Object.entries(overrides as Record<string, unknown>)) {
    const rule = rules[key];
    if (rule === undefined) {
      throw new SslError(
        'invalid-config',
        `Unknown option ${field}.${key} of the ${definition.name} view policy; its options are ${Object.keys(rules).join(', ')}.`,
        {
          details: { field: `${field}.${key}`, known: Object.keys(rules) },
        },
      );
    }
    if (value !== undefined && !satisfies(rule, value))
      invalidConfig(`${field}.${key}`, value, typeof rule === 'object' ? rule.expects : RULE_EXPECTS[rule]);
  }
}

/** The policy a definition makes for these overrides, after checking them. */
export function createViewPolicy<Options extends object>(
  definition: ViewPolicyDefinition<Options>,
  overrides: Partial<Options> = {},
  field?: string,
): ViewPolicy {
  checkPolicyOptions(definition as ViewPolicyDefinition<object>, overrides, field);
  return definition.create(overrides as Options);
}

/**
 * Colour jitter as the SimCLR family writes it: strengths (0.4, 0.4, `saturation`, 0.1) times `strength`.
 * BYOL/MoCo v2 use strength 1 (0.4, 0.4, 0.2, 0.1); SimCLR's s = 1 on ImageNet is strength 2.
 */
export function colorJitterOp(strength: number, p: number, saturation = 0.4): AugmentOpSpec {
  return {
    op: 'colorJitter',
    brightness: 0.4 * strength,
    contrast: 0.4 * strength,
    saturation: saturation * strength,
    hue: Math.min(0.5, 0.1 * strength),
    p,
  };
}

export interface CropFlipOptions {
  cropScale?: [number, number];
  size?: [number, number];
  flipP?: number;
}

/** A random resized crop and a horizontal flip: MAE's views (He et al. 2022), CLIP's crop, RotNet's pad-crop stand-in. */
export const cropFlip = defineViewPolicy<CropFlipOptions>({
  name: 'cropFlip',
  description: 'one view: random resized crop (scale 0.2–1 by default) + horizontal flip',
  options: { cropScale: 'cropScale', size: 'size', flipP: 'probability' },
  create: (o) => ({
    name: 'cropFlip',
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
});

export interface WeakOptions {
  /** Translation as a fraction of the image size, with reflect padding; FixMatch: 0.125. */
  translateFraction?: number;
  flipP?: number;
}

/** Flip + translate: FixMatch's weak view (Sohn et al. 2020, §2.3), the standard light augmentation of labeled images. */
export const weak = defineViewPolicy<WeakOptions>({
  name: 'weak',
  description: 'one view: horizontal flip + reflect-padded translation',
  options: { translateFraction: 'probability', flipP: 'probability' },
  create: (o) => ({ name: 'weak', views: [{ name: 'weak', ops: weakOps(o) }] }),
});

/** The ops of the weak view, for recipes that build on it (FixMatch's strong view). */
export function weakOps(o: WeakOptions = {}): AugmentOpSpec[] {
  return [
    { op: 'horizontalFlip', p: o.flipP ?? 0.5 },
    { op: 'translate', fraction: o.translateFraction ?? 0.125 },
  ];
}

export interface NoneOptions {
  /** Number of identical (unaugmented) views; default 1. */
  count?: number;
}

export const none = defineViewPolicy<NoneOptions>({
  name: 'none',
  description: 'the images as they are (count copies; 0 for no views)',
  options: { count: 'count' },
  create: (o) => ({ name: 'none', views: [{ name: 'identity', ops: [], count: o.count ?? 1 }] }),
});

/** @deprecated Since 0.2: use `cropFlip` (the same views). 'mae' stays a name of it for one release. */
const maeAlias = defineViewPolicy<CropFlipOptions>({ ...cropFlip, name: 'mae', description: 'deprecated name of cropFlip' });

/** Core's view policies by name. */
export const CORE_VIEW_POLICIES: Readonly<Record<string, ViewPolicyDefinition<object>>> = Object.freeze({
  cropFlip,
  weak,
  none,
  mae: maeAlias,
} as Record<string, ViewPolicyDefinition<object>>);

/**
 * Recipes that moved from core to the plugin that owns them in 0.2. Through a registry that uses the
 * plugin their names still work unchanged (the plugin registers them under the same name).
 */
const MOVED_POLICIES: Readonly<Record<string, string>> = {
  simclr: '@ssl/contrastive (simclrViews)',
  byol: '@ssl/noncontrastive (byolViews)',
  multiCrop: '@ssl/noncontrastive (multiCrop)',
  weakStrong: '@ssl/semisup (weakStrong)',
};

/** Resolves a view-policy name among `known` definitions, with an error that lists them or says where a recipe moved. */
export function findViewPolicy(
  name: string,
  known: Readonly<Record<string, ViewPolicyDefinition<object>>> = CORE_VIEW_POLICIES,
): ViewPolicyDefinition<object> {
  const definition = known[name];
  if (definition) return definition;
  const moved = MOVED_POLICIES[name]
    ? ` The ${name} policy moved to ${MOVED_POLICIES[name]}: register that plugin and use registry.viewPolicy('${name}').`
    : '';
  throw new SslError(
    'invalid-config',
    `Unknown view policy ${JSON.stringify(name)}; the known policies are ${Object.keys(known).join(', ')}.${moved}`,
    {
      details: { name, known: Object.keys(known) },
    },
  );
}

/** Names of core's view policies. */
export function listViewPolicies(): string[] {
  return Object.keys(CORE_VIEW_POLICIES);
}

/** One of core's view policies as data, with its options overridden. Unknown names, options or bad values throw 'invalid-config'. */
export function viewPolicy(name: string, overrides: Record<string, unknown> = {}): ViewPolicy {
  return createViewPolicy(findViewPolicy(name), overrides);
}

/** Checks overrides of one of core's view policies; `field` names the config field in errors. */
export function checkViewPolicyOptions(name: string, overrides: Readonly<Record<string, unknown>>, field: string = name): void {
  checkPolicyOptions(findViewPolicy(name), overrides, field);
}
