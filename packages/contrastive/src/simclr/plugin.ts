import { definePlugin } from '@ssl/core';
import type { Plugin } from '@ssl/core';
import { simclr } from './simclr';

const plugin = definePlugin({
  name: '@ssl/contrastive',
  version: '0.1.0',
  family: 'contrastive',
  core: '^0.1.0',
  methods: { simclr },
});

/** The plugin factory: `createRegistry().use(contrastive())` registers `contrastive:simclr`. */
export default function contrastive(): Plugin {
  return plugin;
}
