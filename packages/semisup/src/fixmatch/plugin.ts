import { definePlugin } from '@ssl/core';
import type { Plugin } from '@ssl/core';
import { fixmatch } from './fixmatch';

const plugin = definePlugin({ name: '@ssl/semisup', version: '0.1.0', family: 'semisup', core: '^0.1.0', methods: { fixmatch } });

/** The @ssl/semisup plugin: `createRegistry().use(semisup())` registers 'semisup:fixmatch'. */
export function semisup(): Plugin {
  return plugin;
}
