import { definePlugin, supportedCoreRange, textData } from '@ssl/core';
import type { Plugin } from '@ssl/core';
import packageJson from '../package.json';
import { cropJitterViews, simclrViews } from './views/simclr-views';
import { simclr } from './simclr/simclr';
import { moco } from './moco/moco';
import { npid } from './npid/npid';
import { mocov3 } from './mocov3/mocov3';
import { nnclr } from './nnclr/nnclr';
import { simclrv2 } from './simclrv2/simclrv2';
import { word2vec } from './word2vec/word2vec';

const plugin = definePlugin({
  name: '@ssl/contrastive',
  version: packageJson.version,
  family: 'contrastive',
  core: supportedCoreRange(packageJson),
  methods: { simclr, moco, mocov3, npid, nnclr, simclrv2, word2vec },
  viewPolicies: { simclr: simclrViews, cropJitter: cropJitterViews },
  // Core's 'text' kind: a plugin whose methods train on text registers it (other plugins may register the same one).
  dataKinds: { text: textData },
});

/** The plugin factory: `createRegistry().use(contrastive())` registers `contrastive:simclr`, `contrastive:moco`, ... and core's 'text' data kind, which `contrastive:word2vec` trains on */
export default function contrastive(): Plugin {
  return plugin;
}
