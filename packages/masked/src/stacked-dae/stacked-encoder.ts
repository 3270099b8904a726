import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { createEncoder, defineEncoder, invalidConfig, tfl, validateEncoderSpec } from '@ssl/core';
import type { Encoder, EncoderSpec, ForwardOptions } from '@ssl/core';
import { glorotSource } from '../dae/decoder';

/** One dense code layer of the stack: its width and the seed of its initial weights. */
export interface CodeLayerSpec {
  readonly units: number;
  readonly seed: number;
}

/**
 * A stacked denoising autoencoder's representation as a spec: the run's encoder and the dense ReLU code layers
 * above it, so the same network at its initial weights (the shared runner's random-init control) and the saved
 * encoder can be rebuilt from it.
 */
export interface StackedDaeEncoderSpec {
  kind: 'stacked-dae';
  /** The encoder below the code layers (a core encoder: cnn, resnet, vit or mlp). */
  base: EncoderSpec;
  /** The code layers, bottom to top. */
  layers: readonly CodeLayerSpec[];
  /** The base encoder's seed, which the control is rebuilt from (with each layer's own). */
  seed?: number;
}

declare module '@ssl/core' {
  interface PluginEncoderSpecs {
    'stacked-dae': StackedDaeEncoderSpec;
  }
}

/** One dense layer as its own model, glorot-uniform W from `seed`: a code layer (ReLU) or its linear decoder. */
export function denseModel(inputDim: number, units: number, activation: 'relu' | 'linear', seed: number): tfl.LayersModel {
  const init = glorotSource(seed);
  return tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [inputDim], units, activation, kernelInitializer: init() })] });
}

/** A code layer of the stack: x → ReLU(Wx + b). */
export function codeLayer(inputDim: number, { units, seed }: CodeLayerSpec): tfl.LayersModel {
  return denseModel(inputDim, units, 'relu', seed);
}

/**
 * An encoder followed by the dense code layers of a stacked denoising autoencoder: features are the code of
 * the top layer. The layers belong to the method's networks (trained and checkpointed there); this object
 * only composes them, and its `model` shares their weights. It has a spec when its base encoder has one.
 */
export class StackedEncoder implements Encoder {
  readonly kind = 'stacked-dae';
  readonly inputShape: readonly number[];
  readonly featureDim: number;
  readonly model: tfl.LayersModel;
  readonly spec?: StackedDaeEncoderSpec;

  constructor(
    readonly base: Encoder,
    readonly codeLayers: readonly tfl.LayersModel[],
    layerSeeds: readonly number[] = [],
  ) {
    this.inputShape = base.inputShape;
    const widths = codeLayers.map((layer) => layer.outputs[0].shape[1] as number);
    this.featureDim = widths.length > 0 ? widths[widths.length - 1] : base.featureDim;
    let output = base.model.outputs[0];
    for (const layer of codeLayers) output = layer.apply(output) as tfl.SymbolicTensor;
    this.model = codeLayers.length === 0 ? base.model : tfl.model({ inputs: base.model.inputs, outputs: output });
    const baseSpec = (base as Encoder & { spec?: EncoderSpec }).spec;
    if (baseSpec && layerSeeds.length === codeLayers.length) {
      const layers = widths.map((units, i) => ({ units, seed: layerSeeds[i] }));
      this.spec = { kind: 'stacked-dae', base: baseSpec, layers, seed: baseSpec.seed };
    }
  }

  /** The code of the first `depth` layers (default all) of images [N, H, W, C]: [N, width]. */
  code(images: Tensor4D, options: ForwardOptions = {}, depth = this.codeLayers.length): Tensor2D {
    return tf.tidy(() => {
      let code = this.base.features(images, options);
      for (const layer of this.codeLayers.slice(0, depth)) code = layer.apply(code, { training: options.training ?? false }) as Tensor2D;
      return code;
    });
  }

  features(inputs: Tensor4D | Tensor2D, options: ForwardOptions = {}): Tensor2D {
    return this.code(inputs as Tensor4D, options);
  }
}

function validateStackedDaeEncoderSpec(spec: StackedDaeEncoderSpec): void {
  validateEncoderSpec(spec.base);
  if (!Array.isArray(spec.layers)) invalidConfig('encoder.layers', spec.layers, 'an array of { units, seed } code layers');
  spec.layers.forEach(({ units, seed }, i) => {
    if (!Number.isInteger(units) || units < 1) invalidConfig(`encoder.layers[${i}].units`, units, 'a positive integer');
    if (!Number.isInteger(seed)) invalidConfig(`encoder.layers[${i}].seed`, seed, 'an integer');
  });
}

/** The 'stacked-dae' encoder kind: the base encoder and code layers of a spec, at the weights their seeds give. */
export const stackedDaeEncoderDefinition = defineEncoder<StackedDaeEncoderSpec>({
  kind: 'stacked-dae',
  description: "A stacked denoising autoencoder's representation: an encoder followed by dense ReLU code layers.",
  validate: validateStackedDaeEncoderSpec,
  create(spec) {
    validateStackedDaeEncoderSpec(spec);
    const base = createEncoder(spec.base);
    let inputDim = base.featureDim;
    const layers = spec.layers.map((layer) => {
      const model = codeLayer(inputDim, layer);
      inputDim = layer.units;
      return model;
    });
    return new StackedEncoder(
      base,
      layers,
      spec.layers.map((layer) => layer.seed),
    );
  },
});
