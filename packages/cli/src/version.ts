import packageJson from '../package.json';

/** The running @ssl/cli version, read from its package.json so a release bump cannot leave it stale. */
export const CLI_VERSION: string = packageJson.version;
