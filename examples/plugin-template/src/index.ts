import { definePlugin } from '@ssl/core';
import type { Plugin } from '@ssl/core';
import { denoisingAutoencoder } from './denoising-autoencoder';

export { denoisingAutoencoder } from './denoising-autoencoder';
export type { DenoisingAutoencoderConfig } from './denoising-autoencoder';

/** The plugin factory: `createRegistry().use(templatePlugin())`. */
export default function templatePlugin(): Plugin {
  return plugin;
}

const plugin = definePlugin({
  name: 'ssl-plugin-template',
  version: '0.1.0',
  family: 'template',
  core: '^0.1.0',
  methods: { 'denoising-autoencoder': denoisingAutoencoder },
});
