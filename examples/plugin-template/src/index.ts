import { definePlugin, supportedCoreRange } from '@ssl/core';
import type { Plugin } from '@ssl/core';
import packageJson from '../package.json';
import { denoisingAutoencoder } from './denoising-autoencoder';
import { maskingNoise } from './masking-noise';

export { denoisingAutoencoder } from './denoising-autoencoder';
export type { DenoisingAutoencoderConfig } from './denoising-autoencoder';
export { maskingNoise } from './masking-noise';
export type { MaskingNoiseOptions } from './masking-noise';

/** The plugin factory: `createRegistry().use(templatePlugin())`. */
export default function templatePlugin(): Plugin {
  return plugin;
}

const plugin = definePlugin({
  name: 'ssl-plugin-template',
  version: packageJson.version,
  family: 'template',
  core: supportedCoreRange(packageJson),
  methods: { 'denoising-autoencoder': denoisingAutoencoder },
  viewPolicies: { maskingNoise },
});
