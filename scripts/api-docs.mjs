// Generates the API reference from the doc comments: docs/api.md for the stable entry (`qingtian`,
// src/index.ts) and docs/api-internals.md for the unstable one (`qingtian/internals`), with TypeDoc
// and typedoc-plugin-markdown (options in typedoc.json), each page laid out by the `// Section`
// comments of its entry file. Fails, naming each, when an exported name (and, on the stable entry,
// a member of an exported class or interface) has no doc comment, when a type the API uses is not
// exported, or when a {@link} does not resolve. Takes 10-20 s (TypeDoc builds the TS program).
//
//   node scripts/api-docs.mjs           write docs/api.md and docs/api-internals.md   (npm run docs)
//   node scripts/api-docs.mjs --check   write nothing; also fail when they differ     (npm run docs:check)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Application, ReflectionCategory, ReflectionKind, TSConfigReader, TypeDocReader } from 'typedoc';

const check = process.argv.includes('--check');
const started = performance.now();
const STABLE = 'qingtian';
const UNSTABLE = 'qingtian/internals';
const FILES = { [STABLE]: 'docs/api.md', [UNSTABLE]: 'docs/api-internals.md' };
const SOURCES = { [STABLE]: 'src/index.ts', [UNSTABLE]: 'src/internals.ts' };

class Failure extends Error {}

const out = mkdtempSync(join(tmpdir(), 'qingtian-api-'));
try {
  const app = await Application.bootstrapWithPlugins({ outputs: [{ name: 'markdown', path: out }] }, [
    new TypeDocReader(),
    new TSConfigReader(),
  ]);
  const project = await app.convert();
  if (!project) fail('TypeDoc could not convert the entry points');
  app.validate(project);
  if (app.logger.hasErrors() || app.logger.hasWarnings()) fail('TypeDoc validation failed (see above)');
  const missing = undocumented(project);
  if (missing.length)
    fail(`${missing.length} exported name(s) or member(s) without a doc comment:\n  ${missing.join('\n  ')}`);
  for (const mod of project.children ?? []) sectionBy(mod, SOURCES[mod.name]);

  await app.generateOutputs(project);
  if (app.logger.hasErrors() || app.logger.hasWarnings()) fail('TypeDoc could not render the reference');
  const stale = [];
  for (const [name, file] of Object.entries(FILES)) {
    const text = page(name, readFileSync(join(out, `${name}.md`), 'utf8'));
    let committed = null;
    try {
      committed = readFileSync(file, 'utf8');
    } catch {
      // not there yet
    }
    if (committed === text) continue;
    if (check) stale.push(file);
    else writeFileSync(file, text);
  }
  if (stale.length)
    fail(`${stale.join(' and ')}: not what the doc comments generate; run npm run docs and commit the result`);
} catch (e) {
  if (!(e instanceof Failure)) throw e;
  console.error(`api-docs: ${e.message}`);
  process.exitCode = 1;
} finally {
  rmSync(out, { recursive: true, force: true });
}
if (process.exitCode) process.exit();
console.log(
  `api-docs: ${check ? 'checked' : 'wrote'} ${Object.values(FILES).join(', ')} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
);

/**
 * Lays a page out by the sections of its entry file (a `// Title` line, then its export
 * statements), in that order, instead of by kind: the entry file is the reference's table of
 * contents. Every export must sit in a section.
 */
function sectionBy(mod, file) {
  const sections = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const title = /^\/\/ (.+)$/.exec(line);
    if (title) sections.push({ title: title[1], text: '' });
    else if (sections.length) sections.at(-1).text += line + '\n';
  }
  const byName = new Map((mod.children ?? []).map((r) => [r.name, r]));
  const placed = new Set();
  mod.categories = sections.map(({ title, text }) => {
    const category = new ReflectionCategory(title);
    for (const [, list] of text.matchAll(/export (?:type )?\{([^}]*)\}/g)) {
      for (const item of list.split(',')) {
        const name = item.replace(/^\s*type\s+/, '').trim();
        const r = byName.get(name);
        if (!name || !r || placed.has(name)) continue;
        category.children.push(r);
        placed.add(name);
      }
    }
    return category;
  });
  mod.groups = undefined;
  const loose = [...byName.keys()].filter((n) => !placed.has(n));
  if (loose.length) fail(`${file}: exports outside a \`// Section\` comment: ${loose.join(', ')}`);
}

/** The names and members that lack a doc comment, by their full names. */
function undocumented(project) {
  const found = [];
  const documented = (r) =>
    (r.kindOf(ReflectionKind.Reference) && documented(r.getTargetReflectionDeep())) ||
    r.hasComment() ||
    (r.signatures ?? []).some((s) => s.hasComment()) ||
    (r.getSignature?.hasComment() ?? false) ||
    (r.setSignature?.hasComment() ?? false);
  for (const mod of project.children ?? []) {
    for (const r of mod.children ?? []) {
      if (!documented(r)) found.push(`${mod.name}: ${r.name} (${ReflectionKind.singularString(r.kind)})`);
      if (mod.name !== STABLE || !r.kindOf(ReflectionKind.ClassOrInterface)) continue;
      for (const m of r.children ?? []) {
        if (m.inheritedFrom || m.kindOf(ReflectionKind.Constructor)) continue;
        if (!documented(m)) found.push(`${mod.name}: ${r.name}.${m.name} (${ReflectionKind.singularString(m.kind)})`);
      }
    }
  }
  return found;
}

/** One generated page as committed: a banner, then the page with links between the two pages rewritten. */
function page(name, markdown) {
  const links = markdown
    .replaceAll(
      /\]\((?:\.\.\/)?qingtian\/internals\.md(#[^)]*)?\)/g,
      (_, anchor) => `](api-internals.md${anchor ?? ''})`,
    )
    .replaceAll(/\]\((?:\.\.\/)?qingtian\.md(#[^)]*)?\)/g, (_, anchor) => `](api.md${anchor ?? ''})`);
  const banner = `<!-- Generated by \`npm run docs\` (scripts/api-docs.mjs) from the doc comments of ${SOURCES[name]}. Do not edit. -->`;
  return `${banner}\n\n${links.trimEnd()}\n`;
}

function fail(message) {
  throw new Failure(message);
}
