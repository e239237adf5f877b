import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { describe, expect, it } from 'vitest';

// The repository's own Prettier setup, as `npm run format` applies it to a kernel source.
const KERNEL = fileURLToPath(new URL('../../assembly/example.ts', import.meta.url));

async function formatKernel(source: string): Promise<string> {
  const config = await resolveConfig(KERNEL);
  return format(source, { ...config, filepath: KERNEL });
}

describe('prettier: the assemblyscript parser', () => {
  it('applies to kernel sources', async () => {
    expect((await resolveConfig(KERNEL))?.parser).toBe('assemblyscript');
  });

  it('keeps decorators on functions and globals where they were, and formats the rest', async () => {
    const source = [
      '@inline const K: u32 = 4;',
      '@lazy let table: usize = 0;',
      '@inline export function f(a: u32): u32 { return <u32>(a << 2) }',
      '@inline',
      'function g(a: u32, b: u32,',
      '  c: u32): u32 { return a + b + c }',
      '',
    ].join('\n');
    expect(await formatKernel(source)).toBe(
      [
        '@inline const K: u32 = 4;',
        '@lazy let table: usize = 0;',
        '@inline export function f(a: u32): u32 {',
        '  return <u32>(a << 2);',
        '}',
        '@inline',
        'function g(a: u32, b: u32, c: u32): u32 {',
        '  return a + b + c;',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('leaves class and member decorators to Prettier', async () => {
    const source = "@unmanaged\nclass P {\n  @operator('+') static add(x: P, y: P): P { return x }\n}\n";
    expect(await formatKernel(source)).toBe(
      "@unmanaged\nclass P {\n  @operator('+') static add(x: P, y: P): P {\n    return x;\n  }\n}\n",
    );
  });

  it('is stable: formatting its own output changes nothing', async () => {
    // Decorated functions separated by blank lines: the case a comment-based approach can get wrong.
    const once = await formatKernel(
      '@inline function a(): u32 { return 1 }\n\n@inline function b(): u32 { return 2 }\n\n\n@inline function c(): u32 { return 3 }\n',
    );
    expect(await formatKernel(once)).toBe(once);
    expect(once.match(/@inline/g)).toHaveLength(3);
  });
});
