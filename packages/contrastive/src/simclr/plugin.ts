import { definePlugin, supportedCoreRange } from '@ssl/core';
import type { Plugin } from '@ssl/core';
import packageJson from '../../package.json';
import { simclr } from './simclr';

const plugin = definePlugin({
  name: '@ssl/contrastive',
  version: packageJson.version,
  family: 'contrastive',
  core: supportedCoreRange(packageJson),
  methods: { simclr },
});

/** The plugin factory: `createRegistry().use(contrastive())` registers `contrastive:simclr`. */
export default function contrastive(): Plugin {
  return plugin;
}
