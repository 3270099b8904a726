// @ts-check
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/**
 * Lint for every package, example and script. Type-aware rules where they catch real bugs in this code
 * base (a floating promise in a training loop loses its error; a promise passed where a callback returns
 * void is never awaited), import cycles (they break the side-effect-free `base` entry), and the
 * recommended sets. Formatting is Prettier's job (eslint-config-prettier turns off the rules it owns).
 */
export default tseslint.config(
  {
    ignores: ['**/dist/**', '**/node_modules/**', '**/*.generated.ts', '**/.turbo/**', 'runs/**', 'patches/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    settings: {
      // TypeScript sources as tsc resolves them (extensionless relative imports, the workspace's @ssl/source
      // condition): without it no-cycle resolves no relative import and sees no cycle.
      'import-x/resolver-next': [
        createNodeResolver({ extensions: ['.ts', '.js', '.mjs', '.json'], conditionNames: ['@ssl/source', 'import', 'default'] }),
      ],
      // Built bundles are not sources: no-cycle would otherwise parse every dist file an import resolves to.
      'import-x/ignore': ['/dist/'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'separate-type-imports', disallowTypeAnnotations: false }],
      // Empty interfaces are how plugins extend core's types (declaration merging: MethodConfigs, DataKinds).
      '@typescript-eslint/no-empty-object-type': ['error', { allowInterfaces: 'always' }],
      'import-x/no-cycle': 'error',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  {
    // Build and tool configs outside every package's tsconfig: syntax rules only.
    files: [
      '**/tsup.config.ts',
      'tsup.base.ts',
      'vitest.config.ts',
      'scripts/*.ts',
      'packages/core/data/*.ts',
      '**/*.js',
      '**/*.mjs',
      '**/*.cjs',
    ],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', Buffer: 'readonly' } },
  },
  prettier,
);
