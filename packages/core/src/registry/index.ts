export * from './portable';
export { discoverPlugins, isPluginPackageName } from './discover';
export type { DiscoveredPlugin, DiscoverOptions } from './discover';
