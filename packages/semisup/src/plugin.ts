import { definePlugin, supportedCoreRange } from '@ssl/core';
import type { Plugin } from '@ssl/core';
import packageJson from '../package.json';
import { fixmatch } from './fixmatch/fixmatch';
import { pseudoLabel } from './pseudo-label/pseudo-label';
import { weakStrong } from './views/weak-strong';

const plugin = definePlugin({
  name: '@ssl/semisup',
  version: packageJson.version,
  family: 'semisup',
  core: supportedCoreRange(packageJson),
  methods: {
    fixmatch,
    'pseudo-label': pseudoLabel,
  },
  viewPolicies: { weakStrong },
});

/** The @ssl/semisup plugin: `createRegistry().use(semisup())` registers every 'semisup:*' method. */
export function semisup(): Plugin {
  return plugin;
}
