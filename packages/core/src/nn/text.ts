import type * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import type { ForwardOptions } from './encoder';
import { forwardKwargs } from './encoder';
import { PositionEmbedding } from './layers/embeddings';
import { LayerNorm } from './layers/layer-norm';
import { InitializerSource } from './layers/initializers';
import { SequencePooling } from './layers/pooling';
import { TransformerBlock } from './layers/transformer-block';
import { LayersEncoder, checkInputShape, requireLayer } from './layers-encoder';
import type { TextSpec } from './spec';

type Symbolic = tfl.SymbolicTensor;

/**
 * Text transformer as CLIP's text encoder (Radford et al. 2021, sec. 2.4; GPT-2 style): token and learned
 * position embeddings, pre-norm blocks with causal self-attention, final LayerNorm, and the output at the
 * last non-padding (EOS) token — or the mean over non-padding tokens. Input: token ids [N, maxLength].
 */
export function buildTextModel(spec: TextSpec): tfl.LayersModel {
  const init = new InitializerSource(spec.seed);
  const ids = tfl.input({ shape: [spec.maxLength] });
  let x = tfl.layers
    .embedding({ inputDim: spec.vocabSize, outputDim: spec.embedDim, embeddingsInitializer: init.truncatedNormal(0.02) })
    .apply(ids) as Symbolic;
  x = new PositionEmbedding({ numPositions: spec.maxLength, embedDim: spec.embedDim, kind: 'learned', seed: init.layerSeed() }).apply(
    x,
  ) as Symbolic;
  for (let i = 0; i < spec.depth; i++) {
    x = new TransformerBlock({
      embedDim: spec.embedDim,
      numHeads: spec.numHeads,
      mlpRatio: spec.mlpRatio ?? 4,
      causal: spec.causal ?? true,
      layerNormEpsilon: 1e-5,
      seed: init.layerSeed(),
    }).apply(x) as Symbolic;
  }
  x = new LayerNorm({ epsilon: 1e-5 }).apply(x) as Symbolic;
  const pooled = new SequencePooling({ mode: spec.pooling ?? 'last', padId: spec.padId ?? 0 }).apply([x, ids]) as Symbolic;
  return tfl.model({ inputs: ids, outputs: pooled });
}

export class TextTransformerEncoder extends LayersEncoder<TextSpec> {
  readonly inputShape: [number];
  readonly featureDim: number;
  readonly vocabSize: number;
  readonly maxLength: number;
  private readonly tokensNetwork: tfl.LayersModel;

  constructor(spec: TextSpec, model: tfl.LayersModel = buildTextModel(spec)) {
    super(spec, model);
    this.inputShape = [spec.maxLength];
    this.featureDim = spec.embedDim;
    this.vocabSize = spec.vocabSize;
    this.maxLength = spec.maxLength;
    const finalNorm = requireLayer(model, LayerNorm.className, 'text');
    this.tokensNetwork = tfl.model({ inputs: model.inputs, outputs: finalNorm.output as Symbolic });
  }

  /** Token outputs after the final norm [N, maxLength, D]. */
  tokens(ids: tf.Tensor2D, options: ForwardOptions = {}): tf.Tensor3D {
    checkInputShape('text encoder', ids, this.inputShape);
    return this.tokensNetwork.apply(ids, forwardKwargs(options)) as tf.Tensor3D;
  }
}
