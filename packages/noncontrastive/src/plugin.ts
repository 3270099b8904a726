import { definePlugin, supportedCoreRange } from '@ssl/core';
import type { Plugin } from '@ssl/core';
import packageJson from '../../package.json';
import { byolViews } from '../views/byol-views';
import { multiCrop } from '../views/multi-crop';
import { byol } from './byol';

const plugin = definePlugin({
  name: '@ssl/noncontrastive',
  version: packageJson.version,
  family: 'noncontrastive',
  core: supportedCoreRange(packageJson),
  methods: { byol },
  viewPolicies: { byol: byolViews, multiCrop },
});

/** The plugin factory: `createRegistry().use(noncontrastive())` registers `noncontrastive:byol`. */
export default function noncontrastive(): Plugin {
  return plugin;
}
