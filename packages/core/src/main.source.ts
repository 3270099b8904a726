// `@ssl/core` from sources in this repository (the "@ssl/source" condition): setup.ts's registrations, then
// everything index.ts exports. The published entry is main.ts.
import './setup';
export * from './index';
