// The published default entry, `@ssl/core`: the registrations in register.ts, then everything index.ts
// exports. `@ssl/core/base` is index.ts alone (tfjs's base.ts vs index.ts split). From sources, the
// "@ssl/source" condition picks main.source.ts instead.
import './register';
export * from './index';
