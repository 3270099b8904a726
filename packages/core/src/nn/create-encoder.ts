import type * as tfl from '@tensorflow/tfjs-layers';

import { CnnEncoder } from './cnn';
import { MlpEncoder } from './mlp';
import { ResNetEncoder } from './resnet';
import type { CnnSpec, EncoderSpec, MlpSpec, ResNetSpec, TextSpec, VitSpec } from './spec';
import { validateEncoderSpec } from './spec';
import { TextTransformerEncoder } from './text';
import { VitEncoder } from './vit';

export type AnyEncoder = CnnEncoder | ResNetEncoder | VitEncoder | MlpEncoder | TextTransformerEncoder;

/** Builds (or, given `model`, wraps a loaded model as) the encoder a spec describes. Validates the spec first. */
export function createEncoder(spec: CnnSpec, model?: tfl.LayersModel): CnnEncoder;
export function createEncoder(spec: ResNetSpec, model?: tfl.LayersModel): ResNetEncoder;
export function createEncoder(spec: VitSpec, model?: tfl.LayersModel): VitEncoder;
export function createEncoder(spec: MlpSpec, model?: tfl.LayersModel): MlpEncoder;
export function createEncoder(spec: TextSpec, model?: tfl.LayersModel): TextTransformerEncoder;
export function createEncoder(spec: EncoderSpec, model?: tfl.LayersModel): AnyEncoder;
export function createEncoder(spec: EncoderSpec, model?: tfl.LayersModel): AnyEncoder {
  validateEncoderSpec(spec);
  switch (spec.kind) {
    case 'cnn':
      return new CnnEncoder(spec, model);
    case 'resnet18':
    case 'resnet34':
    case 'resnet50':
      return new ResNetEncoder(spec, model);
    case 'vit':
      return new VitEncoder(spec, model);
    case 'mlp':
      return new MlpEncoder(spec, model);
    case 'text':
      return new TextTransformerEncoder(spec, model);
  }
}
