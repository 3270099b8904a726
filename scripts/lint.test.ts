import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/*
 * `pnpm lint` is part of the test command: these check that it can fail. A file Prettier would rewrite,
 * and a floating promise (the type-aware rule that matters most in a training loop), must each make it
 * exit non-zero. The files live in a scratch folder inside the repository so the repository's configs apply.
 */
const root = join(import.meta.dirname, '..');
const scratch = mkdtempSync(join(root, 'packages', 'core', 'src', 'lint-probe-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(command: string, args: string[]) {
  return spawnSync(join(root, 'node_modules', '.bin', command), args, { cwd: root, encoding: 'utf8', timeout: 120_000 });
}

describe('pnpm lint', () => {
  it('fails on a file Prettier would reformat, passes once it is formatted', () => {
    const file = join(scratch, 'unformatted.ts');
    writeFileSync(file, 'export const  answer =   {value:42}\n');
    expect(run('prettier', ['--check', file]).status).not.toBe(0);
    expect(run('prettier', ['--write', file]).status).toBe(0);
    expect(run('prettier', ['--check', file]).status).toBe(0);
  });

  it('fails on a floating promise', () => {
    const file = join(scratch, 'floating.ts');
    writeFileSync(file, 'async function save(): Promise<void> {}\n\nexport function run(): void {\n  save();\n}\n');
    const result = run('eslint', ['--max-warnings', '0', file]);
    expect(result.status).not.toBe(0);
    expect(result.stdout).toContain('no-floating-promises');
  });

  it('fails on an import cycle between extensionless TypeScript imports (no-cycle resolves them as tsc does)', () => {
    writeFileSync(join(scratch, 'cycle-a.ts'), "import { b } from './cycle-b';\n\nexport const a = (): number => b() + 1;\n");
    writeFileSync(
      join(scratch, 'cycle-b.ts'),
      "import { a } from './cycle-a';\n\nexport const b = (): number => (typeof a === 'function' ? 0 : 1);\n",
    );
    const result = run('eslint', ['--max-warnings', '0', join(scratch, 'cycle-a.ts')]);
    expect(result.status).not.toBe(0);
    expect(result.stdout).toContain('import-x/no-cycle');
  });
});
