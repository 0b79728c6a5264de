// @ts-check
// The configuration of the Nest packages (nestjs/throttler, nestjs/jwt): eslint's and
// typescript-eslint's recommended rules; formatting is left to Prettier (`npm run format:check`).
import eslint from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      'bench/.build/**',
      'bench/.profiles/**',
      'dist-check/**',
      'node_modules/**',
      'coverage/**',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node }, sourceType: 'module' },
    rules: {
      // Nest's own packages switch these off: DI tokens, decorators and driver rows are untyped.
      '@typescript-eslint/no-explicit-any': 'off',
      // TypeORM's subscriber API and Nest's reflection helpers are typed with `Function`.
      '@typescript-eslint/no-unsafe-function-type': 'off',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  {
    // One concept per file, small enough to read whole: no source over 300 lines of code, no
    // function over 60 (comments and blank lines not counted).
    files: ['lib/**/*.ts'],
    ignores: ['lib/**/*.spec.ts'],
    rules: {
      'max-lines': ['error', { max: 300, skipBlankLines: true, skipComments: true }],
      'max-lines-per-function': ['error', { max: 60, skipBlankLines: true, skipComments: true }],
    },
  },
  // The options pipeline is one file by design: every default, check and resolution of an option
  // in one place, so no option is resolved anywhere else (docs/architecture.md).
  {
    files: ['lib/options/resolve.ts'],
    rules: { 'max-lines': ['error', { max: 600, skipBlankLines: true, skipComments: true }] },
  },
  // The service is the public face of every concern (keys, verification, usage, dormancy): each
  // method delegates to its folder, but their signatures and JSDoc are its API.
  {
    files: ['lib/api-key.service.ts'],
    rules: { 'max-lines': ['error', { max: 400, skipBlankLines: true, skipComments: true }] },
  },
  // The admin page's script runs in the browser, as is: no build step.
  { files: ['lib/admin/assets/**/*.js'], languageOptions: { globals: { ...globals.browser } } },
);
