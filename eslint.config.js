// ESLint flat config: typescript-eslint's type-checked rules; floating/misused promises are errors.
// Folder boundaries (style.md "Each folder exposes its index.ts; others import only that"): in
// src, a folder is imported from outside only through its index.ts. Tests are not held to it:
// unit tests may reach a module's internals to test them (test/unit/lint proves the rule bites).
import tseslint from 'typescript-eslint';

const DEEP_IMPORT = 'Import a folder of src from outside only through its index.ts (…/<folder>/index.js), not one of its files.';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'bin/', 'coverage/', 'bench-out/'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // In a folder (src/x/...): '../y/z.js' (or '../../y/z.js') reaches into folder y.
    files: ['src/*/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^(\\.\\./)+[^./][^/]*/(?!index\\.js$)', message: DEEP_IMPORT }] }],
    },
  },
  {
    // At the root of src (main.ts, index.ts): './y/z.js' reaches into folder y.
    files: ['src/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^\\./[^/]+/(?!index\\.js$)', message: DEEP_IMPORT }] }],
    },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
