import packageJson from '../package.json';

/** The running @ssl/core version, read from its package.json so a release bump cannot leave it stale. */
export const CORE_VERSION: string = packageJson.version;
