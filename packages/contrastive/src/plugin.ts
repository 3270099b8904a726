import { definePlugin, supportedCoreRange } from '@ssl/core';
import type { Plugin } from '@ssl/core';
import packageJson from '../package.json';
import { cropJitterViews, simclrViews } from './views/simclr-views';
import { simclr } from './simclr/simclr';
import { moco } from './moco/moco';
import { npid } from './npid/npid';
import { mocov3 } from './mocov3/mocov3';
import { nnclr } from './nnclr/nnclr';
import { simclrv2 } from './simclrv2/simclrv2';

const plugin = definePlugin({
  name: '@ssl/contrastive',
  version: packageJson.version,
  family: 'contrastive',
  core: supportedCoreRange(packageJson),
  methods: { simclr, moco, mocov3, npid, nnclr, simclrv2 },
  viewPolicies: { simclr: simclrViews, cropJitter: cropJitterViews },
});

/** The plugin factory: `createRegistry().use(contrastive())` registers `contrastive:simclr`, `contrastive:moco`, ... */
export default function contrastive(): Plugin {
  return plugin;
}
