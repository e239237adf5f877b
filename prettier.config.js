// Prettier for the whole code base: the style the code already had (single quotes, semicolons,
// trailing commas, 2 spaces), lines up to 120 columns.
/** @type {import('prettier').Config} */
export default {
  printWidth: 120,
  tabWidth: 2,
  useTabs: false,
  semi: true,
  singleQuote: true,
  trailingComma: 'all',
  arrowParens: 'always',
  endOfLine: 'lf',
  plugins: ['./scripts/prettier-assemblyscript.mjs'],
  overrides: [
    {
      // AssemblyScript: TypeScript syntax plus decorators on functions and globals (see the plugin).
      files: ['assembly/**/*.ts', 'test/kernels/**/*.ts'],
      options: { parser: 'assemblyscript' },
    },
  ],
};
