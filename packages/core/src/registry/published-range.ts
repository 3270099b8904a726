// No imports: tsup.base.ts uses this at build time to write the published ranges into every dist.

/**
 * A `workspace:` range as pnpm writes it into the published package.json: `workspace:^` → `^<version>`,
 * `workspace:~` → `~<version>`, `workspace:*` → `<version>`, `workspace:<range>` → `<range>`, where
 * `<version>` is the workspace package's version at pack time. Other ranges are returned as they are.
 */
export function publishedRange(range: string, workspaceVersion: string): string {
  if (!range.startsWith('workspace:')) return range;
  const rest = range.slice('workspace:'.length);
  if (rest === '^' || rest === '~') return `${rest}${workspaceVersion}`;
  if (rest === '*') return workspaceVersion;
  return rest;
}
