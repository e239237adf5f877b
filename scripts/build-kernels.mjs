#!/usr/bin/env node
// Builds every kernel family: assembly/<family>/index.ts -> build/kernels/<family>.wasm,
// releases of a family: assembly/<family>/releases/<version>.ts -> build/releases/<family>-<version>.wasm,
// and the test-only kernels: test/kernels/<name>.ts -> build/test-kernels/<name>.wasm.
// A family may also list flavours in assembly/<family>/flavours.json, {"<out-name>": [extra asc
// arguments]}: the same source built again with those arguments (e.g. "--enable relaxed-simd"),
// to build/kernels/<out-name>.wasm. The source tells flavours apart with the compiler's
// ASC_FEATURE_* constants.
// Compiler options live in asconfig.json (shared memory import, stub runtime, no abort import).
// The loader (src/common/kernel-image.ts) is what enforces the kernel rules on the result; a test
// runs it over every module built here.
//
// Then the layout constants: every immutable global a family's base build exports (offsets,
// sizes, magics, flags, status codes; not the per-version QT_* metadata, nor a value that differs
// between the family's flavours) is written to src/generated/<folder>.ts, where <folder> is the
// assembly/ folder that declares it, and taken out of the module's exports
// (scripts/kernel-constants.mjs). That is the only place
// TypeScript takes a kernel constant from (docs/design.md, "Layout constants: one source").
// To give TS a constant: declare it `export const NAME: <type> = ...` in the kernel's source
// (prefixed by subsystem), export it from the family's index.ts, run `npm run build:kernels`,
// import it from src/generated/<folder>.js, and commit the regenerated file. The generated files
// are committed; .ci/run rebuilds them and fails when they differ from the commit.
import { readdirSync, readFileSync, mkdirSync, existsSync, statSync } from 'node:fs';
import { join, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';
import { takeConstants, ConstantTable, writeGenerated } from './kernel-constants.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const target = process.env.QT_KERNEL_TARGET ?? 'release';

/** @returns {{entry: string, out: string, extra: string[], family?: string, flavourOf?: string}[]} */
function units() {
  const list = [];
  const asmDir = join(root, 'assembly');
  for (const family of readdirSync(asmDir).sort()) {
    const entry = join(asmDir, family, 'index.ts');
    if (family === 'common' || !statSync(join(asmDir, family)).isDirectory() || !existsSync(entry)) continue;
    // `family`: the base build, the one whose exported constants become src/generated/.
    list.push({ entry, out: join(root, 'build', 'kernels', `${family}.wasm`), extra: [], family });
    // Releases: other versions of the same module, assembly/<family>/releases/<version>.ts ->
    // build/releases/<family>-<version>.wasm (modules to hot-swap in; QT_NAME stays the family's).
    const releases = join(asmDir, family, 'releases');
    if (existsSync(releases)) {
      for (const file of readdirSync(releases).sort()) {
        if (file.endsWith('.ts'))
          list.push({
            entry: join(releases, file),
            out: join(root, 'build', 'releases', `${family}-${basename(file, '.ts')}.wasm`),
            extra: [],
          });
      }
    }
    const flavours = join(asmDir, family, 'flavours.json');
    if (existsSync(flavours)) {
      for (const [name, extra] of Object.entries(JSON.parse(readFileSync(flavours, 'utf8')))) {
        list.push({ entry, out: join(root, 'build', 'kernels', `${name}.wasm`), extra, flavourOf: family });
      }
    }
  }
  const testDir = join(root, 'test', 'kernels');
  if (existsSync(testDir)) {
    for (const file of readdirSync(testDir).sort()) {
      if (!file.endsWith('.ts')) continue;
      list.push({
        entry: join(testDir, file),
        out: join(root, 'build', 'test-kernels', `${basename(file, '.ts')}.wasm`),
        extra: [],
      });
    }
  }
  return list;
}

let failed = 0;
const started = Date.now();
const constants = new ConstantTable();
for (const { entry, out, extra, family, flavourOf } of units()) {
  mkdirSync(join(out, '..'), { recursive: true });
  // Every build ships without its exported constants; a base build's become src/generated/.
  const take = takeConstants(root);
  const { error, stderr } = await asc.main(
    [entry, '--config', join(root, 'asconfig.json'), '--target', target, '-o', out, ...extra],
    { stdout: process.stdout, stderr: process.stderr, transforms: [take.transform] },
  );
  const rel = out.slice(root.length);
  if (error) {
    failed++;
    console.error(`build-kernels: ${rel}: ${error.message}`);
    console.error(stderr.toString());
    continue;
  }
  console.log(`build-kernels: ${rel} (${statSync(out).size} bytes)`);
  try {
    if (flavourOf) constants.flavour(flavourOf, basename(out, '.wasm'), take.values());
    if (!family) continue;
    const values = take.values();
    constants.add(family, values, take.declarations([...values.keys()]));
  } catch (e) {
    failed++;
    console.error(`build-kernels: ${rel}: exported constants: ${/** @type {Error} */ (e).message}`);
  }
}
// Only a complete set of families says which constants exist; a failed build leaves the files be.
if (!failed) {
  try {
    for (const f of await writeGenerated(root, constants)) console.log(`build-kernels: ${f}`);
  } catch (e) {
    failed++;
    console.error(`build-kernels: src/generated: ${/** @type {Error} */ (e).message}`);
  }
}
console.log(`build-kernels: done in ${Date.now() - started} ms${failed ? `, ${failed} failed` : ''}`);
process.exit(failed ? 1 : 0);
