import { definePlugin, supportedCoreRange } from '@ssl/core';
import type { Plugin } from '@ssl/core';
import packageJson from '../../package.json';
import { weakStrong } from '../views/weak-strong';
import { fixmatch } from './fixmatch';

const plugin = definePlugin({
  name: '@ssl/semisup',
  version: packageJson.version,
  family: 'semisup',
  core: supportedCoreRange(packageJson),
  methods: { fixmatch },
  viewPolicies: { weakStrong },
});

/** The @ssl/semisup plugin: `createRegistry().use(semisup())` registers 'semisup:fixmatch'. */
export function semisup(): Plugin {
  return plugin;
}
