import { SUITES } from '../../bench/index.js';
import { machineLine } from '../../bench/lib/machine.js';
import { Reporter } from '../../bench/lib/report.js';
import { ErrorCode, QingtianError } from '../../common/errors.js';

export async function benchCommand(
  suite: string | undefined,
  o: { json?: boolean; quick?: boolean; runs?: number; only?: string; list?: boolean; trace?: boolean },
): Promise<void> {
  if (o.list || suite === undefined) {
    for (const [name, s] of Object.entries(SUITES)) process.stdout.write(`${name.padEnd(10)} ${s.describe}\n`);
    return;
  }
  const entry = SUITES[suite];
  if (!entry) {
    throw new QingtianError(
      ErrorCode.NotFound,
      `bench: no suite '${suite}'; suites: ${Object.keys(SUITES).join(', ')}`,
    );
  }
  const reporter = new Reporter(o.json ?? false);
  const runs = o.runs ?? (o.quick ? 3 : 5);
  process.stderr.write(`[${suite}] machine: ${machineLine()}; ${runs} runs\n`);
  const mod = await entry.load();
  await mod.run(reporter.context(suite, o.quick ?? false, runs, o.only, o.trace ?? false));
  reporter.finish();
}
