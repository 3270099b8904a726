export { definePlugin } from './plugin';
export type { MethodConfigs, Plugin, PluginDefinition } from './plugin';
export { createRegistry, mergeConfig } from './registry';
export type { KnownMethodName, MethodHandle, PartialConfig, RegisteredMethod, Registry } from './registry';
export { discoverPlugins, isPluginPackageName } from './discover';
export type { DiscoveredPlugin, DiscoverOptions } from './discover';
export { closestMatch } from './closest';
