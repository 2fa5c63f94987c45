import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'data/', '.berth/', 'bench/results/', 'examples/**/dist/', 'examples/**/.astro/'] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-empty': ['error', { allowEmptyCatch: false }],
    },
  },
  {
    // The CLI is the one place that talks to a terminal.
    files: ['src/cli/**', 'bench/**', 'scripts/**', 'test/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // The dashboard's script runs in the browser, as a classic script.
    files: ['src/dashboard/assets/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: Object.fromEntries(['window', 'document', 'location', 'navigator', 'EventSource', 'fetch', 'URL', 'DOMParser', 'setInterval', 'atob', 'btoa'].map((name) => [name, 'readonly'])),
    },
  },
);
