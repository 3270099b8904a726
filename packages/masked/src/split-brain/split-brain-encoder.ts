import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { SslError, createEncoder, defineEncoder, formatShape, invalidConfig, tfl, validateEncoderSpec } from '@ssl/core';
import type { CnnSpec, Encoder, ForwardOptions, ResNetSpec } from '@ssl/core';
import { AB_RANGE, rgbToLab } from '../blocks/lab';

/**
 * A split-brain encoder (Zhang, Isola, Efros, CVPR 2017): two disjoint sub-networks over the channels of an
 * image in Lab, F1 on lightness L and F2 on the colour channels ab; the representation is their features
 * concatenated, [F1(L), F2(ab)]. It takes RGB images in [0, 1] and converts them itself.
 */
export interface SplitBrainSpec {
  kind: 'split-brain';
  /** RGB images [H, W, 3]. */
  inputShape: readonly [number, number, 3];
  /**
   * Each sub-network: a convolutional encoder spec (cnn or resnet), built with 1 input channel for L and 2 for
   * ab. Each half is the whole spec, so the features are twice its width (the paper halves each layer instead).
   */
  half: CnnSpec | ResNetSpec;
  /** The lightness half's seed; the ab half takes seed + 1. */
  seed?: number;
}

declare module '@ssl/core' {
  interface PluginEncoderSpecs {
    'split-brain': SplitBrainSpec;
  }
}

type LayerShape = (number | null)[];

/** The channels of the Lab image a sub-network sees. */
export type LabPart = 'lightness' | 'ab';

/**
 * Lab channels of RGB images as a sub-network sees them: L/100 (1 channel, in [0, 1]) or ab/110 (2 channels,
 * in about [−1, 1]).
 */
export function labInput(images: Tensor4D, part: LabPart): Tensor4D {
  return tf.tidy(() => labInputOfLab(rgbToLab(images), part));
}

/** `labInput` from images already in Lab. */
export function labInputOfLab(lab: Tensor4D, part: LabPart): Tensor4D {
  return tf.tidy(() => {
    const [n, h, w] = lab.shape;
    return part === 'lightness'
      ? (tf.div(tf.slice(lab, [0, 0, 0, 0], [n, h, w, 1]), 100) as Tensor4D)
      : (tf.div(tf.slice(lab, [0, 0, 0, 1], [n, h, w, 2]), AB_RANGE) as Tensor4D);
  });
}

/** The layer inside the saved model that turns RGB into one sub-network's Lab channels (`labInput`). */
export class LabChannels extends tfl.layers.Layer {
  static className = 'SslLabChannels';
  readonly part: LabPart;

  constructor(args: { part: LabPart; name?: string }) {
    super(args);
    this.part = args.part;
  }

  override computeOutputShape(inputShape: LayerShape | LayerShape[]): LayerShape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as LayerShape;
    return [...shape.slice(0, -1), this.part === 'lightness' ? 1 : 2];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return labInput((Array.isArray(inputs) ? inputs[0] : inputs) as Tensor4D, this.part);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), part: this.part };
  }
}
tf.serialization.registerClass(LabChannels);

type ConvEncoder = Encoder & { featureMap(inputs: Tensor4D, options?: ForwardOptions): Tensor4D };

function requireFeatureMap(encoder: Encoder): ConvEncoder {
  if (typeof encoder.featureMap !== 'function') {
    encoder.model.dispose();
    invalidConfig(
      'encoder',
      encoder.kind,
      'a convolutional encoder (cnn, resnet18/34/50): split-brain classifies every position of a feature map',
    );
  }
  return encoder as ConvEncoder;
}

export function validateSplitBrainSpec(spec: SplitBrainSpec): void {
  const [height, width, channels] = spec.inputShape ?? [];
  if (channels !== 3)
    invalidConfig('encoder.inputShape', spec.inputShape, 'RGB images [H, W, 3]: split-brain predicts ab from L and L from ab');
  const kind = (spec.half as { kind?: unknown } | undefined)?.kind;
  if (kind !== 'cnn' && kind !== 'resnet18' && kind !== 'resnet34' && kind !== 'resnet50') {
    invalidConfig('encoder.half.kind', kind, "'cnn' or a ResNet: split-brain classifies every position of a feature map");
  }
  validateEncoderSpec({ ...spec.half, inputShape: [height, width, 1] });
}

/** Two sub-networks over L and ab and the concatenation of their features, as one tfjs-layers model from RGB. */
export class SplitBrainEncoder implements Encoder {
  readonly kind = 'split-brain';
  readonly spec: SplitBrainSpec;
  readonly inputShape: readonly number[];
  readonly featureDim: number;
  /** F1: sees L/100. */
  readonly lightness: ConvEncoder;
  /** F2: sees ab/110. */
  readonly colour: ConvEncoder;
  /** RGB → [F1(L), F2(ab)]. */
  readonly model: tfl.LayersModel;

  constructor(spec: SplitBrainSpec) {
    validateSplitBrainSpec(spec);
    this.spec = spec;
    const [height, width] = spec.inputShape;
    this.inputShape = [height, width, 3];
    const seed = spec.seed;
    this.lightness = requireFeatureMap(createEncoder({ ...spec.half, inputShape: [height, width, 1], seed } as CnnSpec));
    this.colour = requireFeatureMap(
      createEncoder({ ...spec.half, inputShape: [height, width, 2], seed: seed === undefined ? undefined : (seed + 1) >>> 0 } as CnnSpec),
    );
    this.featureDim = this.lightness.featureDim + this.colour.featureDim;
    const input = tfl.input({ shape: [height, width, 3] });
    const lightnessFeatures = this.lightness.model.apply(new LabChannels({ part: 'lightness' }).apply(input)) as tfl.SymbolicTensor;
    const colourFeatures = this.colour.model.apply(new LabChannels({ part: 'ab' }).apply(input)) as tfl.SymbolicTensor;
    this.model = tfl.model({
      inputs: input,
      outputs: tfl.layers.concatenate({ axis: -1 }).apply([lightnessFeatures, colourFeatures]) as tfl.SymbolicTensor,
    });
  }

  /** [F1(L), F2(ab)] of RGB images in [0, 1]: [N, featureDim]. */
  features(inputs: Tensor4D | Tensor2D, options: ForwardOptions = {}): Tensor2D {
    if (inputs.rank !== 4 || inputs.shape[3] !== 3) {
      throw new SslError('shape-mismatch', `split-brain encoder: expected RGB images [N, H, W, 3], got ${formatShape(inputs.shape)}.`);
    }
    return tf.tidy(() => {
      const lab = rgbToLab(inputs as Tensor4D);
      return tf.concat(
        [this.lightness.features(labInputOfLab(lab, 'lightness'), options), this.colour.features(labInputOfLab(lab, 'ab'), options)],
        1,
      ) as Tensor2D;
    });
  }
}

/** The encoder kind the @ssl/masked plugin registers, so a run's random-init control is rebuilt from its spec. */
export const splitBrainEncoderDefinition = defineEncoder<SplitBrainSpec>({
  kind: 'split-brain',
  description: 'Two sub-networks over Lab: one on lightness L, one on colour ab; features concatenated (Zhang et al. 2017).',
  validate: validateSplitBrainSpec,
  create: (spec) => new SplitBrainEncoder(spec),
});
