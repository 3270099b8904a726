export { patchify, unpatchify } from './blocks/patchify';
export { randomMasking, numKeptPatches } from './blocks/random-masking';
export type { RandomMasking } from './blocks/random-masking';
export { gatherTokens } from './blocks/gather-tokens';
export { maeLoss } from './losses/mae-loss';
export type { MaeLossOptions } from './losses/mae-loss';
export { mae, maeForward, maeBatchLoss, maeLearningRate, validateMaeConfig, requireVitEncoder, MAE_DEFAULTS } from './mae/mae';
export type { MaeConfig, MaeParts, MaeRuntime } from './mae/mae';
export { buildMaeDecoder, MaeMaskTokens } from './mae/decoder';
export type { MaeDecoderOptions, MaeMaskTokensArgs } from './mae/decoder';
export { reconstruct } from './mae/reconstruct';
export type { MaeReconstruction, ReconstructOptions } from './mae/reconstruct';

import { definePlugin, supportedCoreRange } from '@ssl/core';
import type { Plugin } from '@ssl/core';
import packageJson from '../package.json';
import { mae as maeMethod } from './mae/mae';

const plugin = definePlugin({ name: '@ssl/masked', version: packageJson.version, family: 'masked', core: supportedCoreRange(packageJson), methods: { mae: maeMethod } });

/** The plugin factory: `createRegistry().use(masked())` registers `masked:mae`. */
export default function masked(): Plugin {
  return plugin;
}
