import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SUITES } from '../../bench/index.js';
import { renderHtmlReport } from '../../bench/lib/html-report.js';
import { machineLine } from '../../bench/lib/machine.js';
import { Reporter } from '../../bench/lib/report.js';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import { statusLine } from '../status-line.js';

/** Options of `qingtian bench`, as commander parses them. */
export interface BenchCliOptions {
  json?: boolean;
  quick?: boolean;
  runs?: number;
  only?: string;
  list?: boolean;
  trace?: boolean;
  html?: string;
}

/**
 * `qingtian bench <suite>`: runs a suite, its peers in the same run. Lines go to stdout (a table,
 * or JSON lines with --json); on a terminal a status line says what runs; `--html dir` also
 * writes the report page and the JSON lines there.
 */
export async function benchCommand(suite: string | undefined, o: BenchCliOptions): Promise<void> {
  if (o.list || suite === undefined) {
    if (o.json)
      for (const [name, s] of Object.entries(SUITES))
        process.stdout.write(JSON.stringify({ suite: name, describe: s.describe }) + '\n');
    else for (const [name, s] of Object.entries(SUITES)) process.stdout.write(`${name.padEnd(10)} ${s.describe}\n`);
    return;
  }
  const entry = SUITES[suite];
  if (!entry) {
    throw new QingtianError(
      ErrorCode.NotFound,
      `bench: no suite '${suite}'; suites: ${Object.keys(SUITES).join(', ')}`,
    );
  }
  const runs = o.runs ?? (o.quick ? 3 : 5);
  const machine = machineLine();
  // The machine the figures come from is part of the record: stderr, first, whatever the mode.
  process.stderr.write(`[${suite}] machine: ${machine}; ${runs} runs\n`);
  const status = statusLine(`bench ${suite}: starting`, o);
  const reporter = new Reporter(o.json ?? false, process.stdout, process.stderr, (m) =>
    status.update(`bench ${suite}: ${m}`),
  );
  const at = new Date().toISOString();
  try {
    const mod = await entry.load();
    await mod.run(reporter.context(suite, o.quick ?? false, runs, o.only, o.trace ?? false));
  } catch (e) {
    status.fail(`bench ${suite}: failed`);
    throw e;
  }
  status.done(`bench ${suite}: ${reporter.lines().length} line(s)`);
  reporter.finish();
  if (o.html !== undefined) {
    mkdirSync(o.html, { recursive: true });
    const lines = reporter.lines().map(({ target: _t, ...l }) => l);
    const jsonl = join(o.html, `${suite}.jsonl`);
    const html = join(o.html, `${suite}.html`);
    writeFileSync(jsonl, lines.map((l) => JSON.stringify(l)).join('\n') + (lines.length ? '\n' : ''));
    writeFileSync(html, renderHtmlReport({ suite, machine, runs, at }, reporter.lines()));
    if (!o.json) process.stdout.write(`wrote ${html} and ${jsonl}\n`);
  }
}
