import { definePlugin, supportedCoreRange } from '@ssl/core';
import type { Plugin } from '@ssl/core';
import packageJson from '../../package.json';
import { byol } from './byol';

const plugin = definePlugin({
  name: '@ssl/noncontrastive',
  version: packageJson.version,
  family: 'noncontrastive',
  core: supportedCoreRange(packageJson),
  methods: { byol },
});

/** The plugin factory: `createRegistry().use(noncontrastive())` registers `noncontrastive:byol`. */
export default function noncontrastive(): Plugin {
  return plugin;
}
