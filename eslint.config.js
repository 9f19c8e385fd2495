// ESLint 9 flat config (npm run lint): the recommended JavaScript rules and typescript-eslint's type-checked
// recommended rules over daemon/, test/, scripts/ and bin/; TypeScript files are typed through tsconfig.test.json.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.tap/', 'coverage/', 'models/', 'samples/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: { project: ['./tsconfig.test.json'], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // tap tracks the promise a top-level t.test() returns itself; every other promise still has to be handled.
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', package: '@tapjs/test', name: 'test' }] }],
      // `async` without `await` is deliberate here: it implements Promise-returning interfaces and turns a throw into a rejection.
      '@typescript-eslint/require-await': 'off',
      // `const { view: _dropped, ...rest } = spot` is how this code leaves a field out; `_` marks a name kept on purpose.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true, argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  // The operator's page runs in the browser.
  { files: ['daemon/api/page/**/*.js'], languageOptions: { globals: { ...globals.browser } } },
  { files: ['**/*.js', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
);
