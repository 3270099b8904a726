import * as tfl from '@tensorflow/tfjs-layers';

import { InitializerSource } from './layers/initializers';
import { LayersEncoder, batchNorm } from './layers-encoder';
import type { MlpSpec } from './spec';

/** Vectors / tabular rows: per hidden width, linear [+ BN] + ReLU. */
export function buildMlpModel(spec: MlpSpec): tfl.LayersModel {
  const useBatchNorm = spec.batchNorm ?? true;
  const init = new InitializerSource(spec.seed);
  const input = tfl.input({ shape: [spec.inputDim] });
  let x: tfl.SymbolicTensor = input;
  for (const units of spec.hidden) {
    x = tfl.layers.dense({ units, useBias: !useBatchNorm, kernelInitializer: init.glorotUniform() }).apply(x) as tfl.SymbolicTensor;
    if (useBatchNorm) x = batchNorm().apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.reLU().apply(x) as tfl.SymbolicTensor;
  }
  return tfl.model({ inputs: input, outputs: x });
}

export class MlpEncoder extends LayersEncoder<MlpSpec> {
  readonly inputShape: [number];
  readonly featureDim: number;

  constructor(spec: MlpSpec, model: tfl.LayersModel = buildMlpModel(spec)) {
    super(spec, model);
    this.inputShape = [spec.inputDim];
    this.featureDim = spec.hidden[spec.hidden.length - 1];
  }
}
