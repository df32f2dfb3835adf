// ESLint flat config (typescript-eslint). Which folder may import which is
// checked by dependency-cruiser (.dependency-cruiser.cjs, `npm run lint:deps`);
// this file keeps the TypeScript itself honest.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'src/proto/generated/**', 'build/**', '.tap/**', 'native/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly' },
    },
    rules: {
      // A leading underscore marks a parameter or binding kept for its shape (an interface, a destructure).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      // `let x; ... () => x; ... x = value` is the way to hand a closure a value that is made later.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
);
