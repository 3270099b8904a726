import type { Plugin } from '@ssl/core';
// Test fixture only (never exported from index.ts): eval cannot declare the method plugins or @ssl/test-utils as
// dependencies (both depend on eval, and turbo refuses the cycle), so the contract test reaches their sources.
import { multiTask } from './multi-task';

type PluginModule = { default: () => Plugin };
// By URL, so that eval's typecheck does not compile the plugins' sources against eval's dependencies.
const pluginModule = (path: string) => import(new URL(path, import.meta.url).href) as Promise<PluginModule>;
const { default: contrastive } = await pluginModule('../../contrastive/src/index.ts');
const { default: pretext } = await pluginModule('../../pretext/src/index.ts');

/** The plugins the fixture's combinations draw their tasks from. */
export const taskPlugins = { pretext, contrastive };

let plugin: Plugin | undefined;

/** The multi-task plugin over @ssl/pretext and @ssl/contrastive, one object for every call (as a plugin factory must). */
export default function multiTaskOverPretextAndContrastive(): Plugin {
  plugin ??= multiTask({ plugins: [pretext(), contrastive()] });
  return plugin;
}
