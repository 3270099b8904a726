// Everything @ssl/core exports, registering nothing: built as `@ssl/core/base`. The default entry is main.ts.
export * from './portable';
export * from './backend';
export * from './audio';
export * from './data';
export * from './nn';
export * from './registry';
export * from './train';
export * from './export';
