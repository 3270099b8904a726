import { definePlugin, supportedCoreRange } from '@ssl/core';
import type { Plugin } from '@ssl/core';
import packageJson from '../package.json';
import { byolViews } from './views/byol-views';
import { multiCrop } from './views/multi-crop';
import { byol } from './byol/byol';
import { simsiam } from './simsiam/simsiam';
import { barlowTwins } from './barlow-twins/barlow-twins';
import { vicreg } from './vicreg/vicreg';
import { dino } from './dino/dino';
import { swav } from './swav/swav';

const plugin = definePlugin({
  name: '@ssl/noncontrastive',
  version: packageJson.version,
  family: 'noncontrastive',
  core: supportedCoreRange(packageJson),
  methods: { byol, simsiam, 'barlow-twins': barlowTwins, vicreg, dino, swav },
  viewPolicies: { byol: byolViews, multiCrop },
});

/** The plugin factory: `createRegistry().use(noncontrastive())` registers the `noncontrastive:*` methods and view policies. */
export default function noncontrastive(): Plugin {
  return plugin;
}
