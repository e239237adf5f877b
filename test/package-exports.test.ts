import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/** Every name (values and types) a module exports, as the TypeScript checker sees it. */
function exportedNames(file: string): Set<string> {
  const program = ts.createProgram([file], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    types: ['node'],
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  const symbol = source && checker.getSymbolAtLocation(source);
  if (!symbol) throw new Error(`${file}: no module symbol`);
  return new Set(checker.getExportsOfModule(symbol).map((s) => s.name));
}

/** `import { a, type B } from '<spec>'` in the TypeScript blocks of a Markdown file: the names and the specifier. */
function markdownImports(text: string): { spec: string; names: string[] }[] {
  const blocks = [...text.matchAll(/```(?:ts|typescript|js|javascript)\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks.flatMap((code) =>
    [...code.matchAll(/import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*'(qingtian[^']*)'/g)].map((m) => ({
      spec: m[2]!,
      names: m[1]!
        .split(',')
        .map((n) => n.replace(/^\s*type\s+/, '').trim())
        .filter(Boolean),
    })),
  );
}

describe('the package surface', () => {
  const stable = exportedNames('src/index.ts');
  const unstable = exportedNames('src/internals.ts');

  it("resolves 'qingtian' and 'qingtian/internals' through package.json exports, and nothing deeper", () => {
    // Node itself resolves the package by name (self-reference), as a user's import would.
    const script = `
      const pub = await import('qingtian');
      const internals = await import('qingtian/internals');
      let deep = 'resolved';
      try { await import('qingtian/dist/src/dpu/core/reactor.js'); } catch (e) { deep = e.code; }
      console.log(JSON.stringify({ pub: Object.keys(pub), internals: Object.keys(internals), deep }));`;
    const out = JSON.parse(
      execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }),
    ) as {
      pub: string[];
      internals: string[];
      deep: string;
    };
    expect(out.pub).toContain('Host');
    expect(out.internals).toContain('HostMemory');
    // A value lives in one entry only: the stable one exports some classes as types, whose
    // constructors stay unstable (Host builds them).
    expect(out.pub.filter((k) => out.internals.includes(k))).toEqual([]);
    expect(out.deep).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('the stable entry keeps the internals out', () => {
    for (const name of ['LoaderRuntime', 'RegionAllocator', 'inspectKernel', 'Guest', 'DeviceQueue', 'Simulation'])
      expect(stable.has(name), name).toBe(false);
    for (const name of ['Host', 'QingtianError', 'ErrorCode', 'isQingtianError', 'FlowTable', 'ReedSolomon'])
      expect(stable.has(name), name).toBe(true);
  });

  it('every name the README and docs import from the package is exported by that entry', () => {
    const files = [
      'README.md',
      ...readdirSync('docs')
        .filter((f) => f.endsWith('.md'))
        .map((f) => `docs/${f}`),
    ];
    const missing: string[] = [];
    let seen = 0;
    for (const file of files) {
      for (const { spec, names } of markdownImports(readFileSync(file, 'utf8'))) {
        const entry = spec === 'qingtian' ? stable : spec === 'qingtian/internals' ? unstable : null;
        for (const name of names) {
          seen++;
          if (!entry?.has(name)) missing.push(`${file}: ${name} from '${spec}'`);
        }
      }
    }
    expect(missing).toEqual([]);
    // The README's examples import from the package: a parser that finds nothing must fail.
    expect(seen).toBeGreaterThan(0);
  });
});
