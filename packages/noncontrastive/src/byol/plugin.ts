import { definePlugin } from '@ssl/core';
import type { Plugin } from '@ssl/core';
import { byol } from './byol';

const plugin = definePlugin({
  name: '@ssl/noncontrastive',
  version: '0.1.0',
  family: 'noncontrastive',
  core: '^0.1.0',
  methods: { byol },
});

/** The plugin factory: `createRegistry().use(noncontrastive())` registers `noncontrastive:byol`. */
export default function noncontrastive(): Plugin {
  return plugin;
}
