import { definePlugin, supportedCoreRange } from '@ssl/core';
import type { Plugin } from '@ssl/core';
import packageJson from '../package.json';
import { simclrViews } from './views/simclr-views';
import { simclr } from './simclr/simclr';
import { moco } from './moco/moco';

const plugin = definePlugin({
  name: '@ssl/contrastive',
  version: packageJson.version,
  family: 'contrastive',
  core: supportedCoreRange(packageJson),
  methods: { simclr, moco },
  viewPolicies: { simclr: simclrViews },
});

/** The plugin factory: `createRegistry().use(contrastive())` registers `contrastive:simclr`, `contrastive:moco`, ... */
export default function contrastive(): Plugin {
  return plugin;
}
