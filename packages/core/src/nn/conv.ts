import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/*
 * A Conv2D layer whose training step does not compute the gradient of its input when nothing needs it.
 *
 * tfjs-layers runs every linear conv through `tf.fused.conv2d`, whose custom gradient computes the input
 * and filter gradients together. For an encoder's first conv the input is the image batch, so that input
 * gradient (a full Conv2DBackpropInput, ~3 % of a small CNN's step) is computed and thrown away. Plain
 * `tf.conv2d` (+ bias) records an op whose gradients are computed per input, and the backward pass skips
 * the one no variable depends on. Same math; serializes as the stock Conv2D.
 */

type LayerArgs = Parameters<typeof tfl.layers.conv2d>[0];

/** The fields of tfjs-layers' Conv2D that @ssl reads (its own conv layer and the inference folding). */
export interface StockConv2D extends tfl.layers.Layer {
  rank: number;
  strides: [number, number];
  padding: string;
  dataFormat: string;
  dilationRate: number | [number, number];
  activation: { getClassName(): string } | null;
  kernel: tfl.LayerVariable;
  bias: tfl.LayerVariable | null;
}

// tfjs-layers exports the factory, not the class; the class is what we extend.
const StockConv2D = tfl.layers.conv2d({ filters: 1, kernelSize: 1 }).constructor as new (args: LayerArgs) => StockConv2D;

class UnfusedConv2D extends StockConv2D {
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    const linear = this.activation === null || this.activation.getClassName() === 'linear';
    const dilations = typeof this.dilationRate === 'number' ? [this.dilationRate] : this.dilationRate;
    // tf.conv2d has no gradient for dilated convs (nor has the fused one): those keep the stock path.
    const undilated = dilations.every((d) => d === 1);
    if (
      this.rank !== 2 ||
      this.dataFormat !== 'channelsLast' ||
      !linear ||
      !undilated ||
      (this.padding !== 'same' && this.padding !== 'valid')
    ) {
      return super.call(inputs, kwargs);
    }
    const input = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    return tf.tidy(() => {
      const output = tf.conv2d(
        input,
        this.kernel.read() as tf.Tensor4D,
        this.strides,
        this.padding as 'same' | 'valid',
        'NHWC',
        this.dilationRate,
      );
      return this.bias === null ? output : tf.add(output, this.bias.read());
    });
  }
}

/** `tfl.layers.conv2d(args)` that skips unneeded input gradients (see above) in linear, undilated 2-D convs. */
export function conv2dLayer(args: LayerArgs): tfl.layers.Layer {
  return new UnfusedConv2D(args);
}
