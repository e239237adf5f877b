/**
 * The README's SDK examples cannot rot: every ```ts block of README.md is type-checked, with the
 * project's strict options, against the built package's declarations, and then run. A line
 * ending in `// → text` must print `text`: the printed lines, in order, are compared.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../src/common/package-paths.js';

const root = packageRoot();
const blocks = [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map(
  (m) => m[1] ?? '',
);
/** What `import … from 'qingtian'` resolves to in an installed package (package.json `exports`). */
const entry = join(root, 'dist', 'src', 'index.js');
const dir = mkdtempSync(join(tmpdir(), 'qt-readme-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const withEntry = (code: string, spec: string): string => code.replaceAll("from 'qingtian'", `from '${spec}'`);
const expectedOutput = (code: string): string[] =>
  code.split('\n').flatMap((line) => {
    const m = /\/\/ → (.*)$/.exec(line);
    return m ? [m[1]!.trim()] : [];
  });

describe('README.md SDK examples', () => {
  it('five blocks, each importing only from qingtian', () => {
    expect(blocks).toHaveLength(5);
    for (const code of blocks) {
      const specifiers = [...code.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);
      expect(specifiers).toEqual(['qingtian']);
    }
  });

  it('type-check under the strict options of tsconfig.json', () => {
    const files = blocks.map((code, i) => {
      const file = join(dir, `example-${i + 1}.mts`);
      writeFileSync(file, withEntry(code, entry));
      return file;
    });
    const program = ts.createProgram(files, {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      strict: true,
      noUncheckedIndexedAccess: true,
      exactOptionalPropertyTypes: true,
      noImplicitReturns: true,
      skipLibCheck: true,
      noEmit: true,
      types: ['node'],
      typeRoots: [join(root, 'node_modules', '@types')],
    });
    const problems = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
      const name = d.file ? d.file.fileName.slice(dir.length + 1) : '';
      return `${name}:${where ? where.line + 1 : '?'}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    expect(problems).toEqual([]);
  });

  it.each(blocks.map((code, i) => [i + 1, code] as const))('example %i runs and prints what it says', (n, code) => {
    const js = ts.transpileModule(withEntry(code, pathToFileURL(entry).href), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    const file = join(dir, `example-${n}.mjs`);
    writeFileSync(file, js);
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const printed = r.stdout.split('\n').filter((line) => line.trim() !== '');
    expect(printed).toEqual(expectedOutput(code));
  });
});
