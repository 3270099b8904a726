import { definePlugin } from '@ssl/core';
import type { Plugin } from '@ssl/core';
import { clip as clipMethod } from './clip';

const plugin = definePlugin({ name: '@ssl/clip', version: '0.1.0', family: 'clip', core: '^0.1.0', methods: { clip: clipMethod } });

/** The @ssl/clip plugin: `createRegistry().use(clipPlugin())` registers 'clip:clip'. */
export function clipPlugin(): Plugin {
  return plugin;
}
