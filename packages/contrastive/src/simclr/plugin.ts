import { definePlugin, supportedCoreRange } from '@ssl/core';
import type { Plugin } from '@ssl/core';
import packageJson from '../../package.json';
import { simclrViews } from '../views/simclr-views';
import { simclr } from './simclr';

const plugin = definePlugin({
  name: '@ssl/contrastive',
  version: packageJson.version,
  family: 'contrastive',
  core: supportedCoreRange(packageJson),
  methods: { simclr },
  viewPolicies: { simclr: simclrViews },
});

/** The plugin factory: `createRegistry().use(contrastive())` registers `contrastive:simclr`. */
export default function contrastive(): Plugin {
  return plugin;
}
