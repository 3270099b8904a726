import { definePlugin, supportedCoreRange } from '@ssl/core';
import type { Plugin } from '@ssl/core';
import packageJson from '../../package.json';
import { clip as clipMethod } from './clip';

const plugin = definePlugin({
  name: '@ssl/clip',
  version: packageJson.version,
  family: 'clip',
  core: supportedCoreRange(packageJson),
  methods: { clip: clipMethod },
});

/** The @ssl/clip plugin: `createRegistry().use(clipPlugin())` registers 'clip:clip'. */
export function clipPlugin(): Plugin {
  return plugin;
}
