import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { tfl } from '@ssl/core';
import type { Encoder, ForwardOptions } from '@ssl/core';

/**
 * An encoder followed by the dense code layers of a stacked denoising autoencoder: features are the code of
 * the top layer. The layers belong to the method's networks (trained and checkpointed there); this object
 * only composes them, and its `model` shares their weights.
 */
export class StackedEncoder implements Encoder {
  readonly kind = 'stacked-dae';
  readonly inputShape: readonly number[];
  readonly featureDim: number;
  readonly model: tfl.LayersModel;

  constructor(
    readonly base: Encoder,
    readonly codeLayers: readonly tfl.LayersModel[],
  ) {
    this.inputShape = base.inputShape;
    const last = codeLayers[codeLayers.length - 1];
    this.featureDim = last ? (last.outputs[0].shape[1] as number) : base.featureDim;
    let output = base.model.outputs[0];
    for (const layer of codeLayers) output = layer.apply(output) as tfl.SymbolicTensor;
    this.model = codeLayers.length === 0 ? base.model : tfl.model({ inputs: base.model.inputs, outputs: output });
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
