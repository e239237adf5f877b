// ESLint: typescript-eslint's recommended rules, type-aware where a TypeScript program covers the file
// (tsconfig.eslint.json), plus rules that catch bugs this code base can have. Layout is Prettier's:
// eslint-config-prettier comes last and turns off every rule that would argue with it.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** AssemblyScript sources: the kernels and the test-only kernels. */
const ASSEMBLY = ['assembly/**/*.ts', 'test/kernels/**/*.ts'];

export default defineConfig(
  globalIgnores(['build/', 'dist/', 'native/build/', 'node_modules/']),
  js.configs.recommended,
  {
    // Host-side TypeScript and JavaScript: the SDK, CLI, benches, tests, scripts.
    files: ['**/*.{ts,js,mjs}'],
    ignores: ASSEMBLY,
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      globals: globals.node,
      parserOptions: { project: './tsconfig.eslint.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-template-curly-in-string': 'error',
      // The house rule: no focused or skipped tests (a test that needs a missing tool uses skipIf and says why).
      'no-restricted-properties': [
        'error',
        ...['describe', 'it', 'test'].flatMap((object) =>
          ['only', 'skip'].map((property) => ({ object, property, message: 'no .only/.skip in the tree' })),
        ),
      ],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-deprecated': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
      // An async function without await is how an API that returns a Promise turns a synchronous
      // throw into a rejection; the rule would push toward the opposite.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Plain JavaScript (scripts, bin, worker helpers) is outside the TypeScript program.
    files: ['**/*.{js,mjs}'],
    extends: [tseslint.configs.disableTypeChecked],
  },
  {
    // The daemon's dashboard script runs in the browser, served as is.
    files: ['src/orchestrator/daemon/dashboard/**/*.js'],
    languageOptions: { globals: globals.browser },
  },
  {
    // AssemblyScript: TypeScript syntax with AssemblyScript semantics, so syntax-level rules only; its
    // types are not TypeScript's (`==` compares values, integer literals are exact to 64 bits). Its
    // decorators on functions (`@inline function`) are not valid TypeScript: allowInvalidAST lets the
    // parser go on (they are left out of the tree ESLint sees, which no rule here needs).
    files: ASSEMBLY,
    extends: [tseslint.configs.recommended],
    languageOptions: { parserOptions: { allowInvalidAST: true } },
    rules: {
      'no-undef': 'off',
      'no-loss-of-precision': 'off',
      // Locals start at zero in AssemblyScript; kernels still write `let x: u32 = 0` to say so.
      'no-useless-assignment': 'off',
      // Exported entry points keep every parameter of the kernel ABI, used or not.
      '@typescript-eslint/no-unused-vars': ['error', { args: 'none', varsIgnorePattern: '^_' }],
    },
  },
  prettier,
  {
    // Prettier wraps code at 120; this catches the comments it does not wrap. Strings stay whole so
    // that an error message can still be found with grep.
    rules: {
      'max-len': [
        'error',
        { code: 120, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreUrls: true },
      ],
    },
  },
);
