// What registry/ exports that runs anywhere (Node, a web page, a worker); index.ts adds the Node-only parts.
export { definePlugin } from './plugin';
export type { MethodConfigs, Plugin, PluginDefinition } from './plugin';
export { createRegistry, mergeConfig } from './registry';
export type { KnownMethodName, MethodHandle, PartialConfig, RegisteredMethod, Registry } from './registry';
export { closestMatch } from './closest';
export { supportedCoreRange } from './release';
export type { PluginManifest } from './release';
export { defineEncoder } from './parts';
export type { EncoderDefinition, PluginEncoderSpecs, PluginParts } from './parts';
