// The browser entry of `@ssl/core` (the "browser" export condition): register.ts's registrations, then
// everything browser-base.ts exports. No module it reaches imports a Node built-in.
import './register';
export * from './browser-base';
