import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { parseArgs } from '../../common/validate.js';
import { parseCcList } from '../../netsim/cc-config.js';
import { writeOutputs } from '../../netsim/outputs.js';
import { runScenario, type Scenario } from '../../netsim/scenario.js';
import { resolveTopology } from '../../netsim/topology.js';
import { loadCdf } from '../../netsim/workload.js';
import { statusLine } from '../status-line.js';

export interface SimCliOptions {
  topo: string;
  workload?: string;
  load: string;
  cc: string;
  duration: string;
  pfc?: string;
  seed: string;
  out: string;
  json?: boolean;
}

const schema = z.strictObject({
  load: z
    .number({ error: 'a number in [0, 1]' })
    .min(0, { error: 'a number in [0, 1]' })
    .max(1, { error: 'a number in [0, 1]' }),
  duration: z
    .number({ error: 'seconds of simulated time in (0, 10]' })
    .gt(0, { error: 'seconds of simulated time in (0, 10]' })
    .max(10, { error: 'seconds of simulated time in (0, 10]' }),
  seed: z
    .number({ error: 'an integer in [0, 4294967295]' })
    .int({ error: 'an integer in [0, 4294967295]' })
    .min(0, { error: 'an integer in [0, 4294967295]' })
    .max(0xffff_ffff, { error: 'an integer in [0, 4294967295]' }),
  pfc: z.enum(['on', 'off'], { error: "'on' or 'off'" }).optional(),
  out: z.string({ error: 'a directory' }).min(1, { error: 'a directory' }),
});

/** `qingtian sim`: runs the scenario for every algorithm, writes <out>/summary.json and the rest. */
export async function simCommand(o: SimCliOptions): Promise<void> {
  const v = parseArgs(
    schema,
    { load: Number(o.load), duration: Number(o.duration), seed: Number(o.seed), pfc: o.pfc, out: o.out },
    'sim',
  );
  const scenario: Scenario = {
    topology: resolveTopology(o.topo),
    cdf: o.workload ? loadCdf(o.workload) : undefined,
    load: v.load,
    cc: parseCcList(o.cc),
    durationS: v.duration,
    pfc: v.pfc === undefined ? undefined : v.pfc === 'on',
    seed: v.seed,
  };
  const status = statusLine('sim: starting', o);
  let shown = -Infinity;
  const results = runScenario(scenario, (p) => {
    // The scenario runs synchronously: the line is redrawn from here, a few times a second.
    if (!status.live || p.wallS - shown < 0.2) return;
    shown = p.wallS;
    const frac = Math.min(1, p.simPs / p.endPs);
    status.update(
      `sim ${p.cc}: ${(frac * 100).toFixed(0).padStart(3)}%  sim ${(p.simPs / 1e9).toFixed(2)}/${(p.endPs / 1e9).toFixed(2)} ms  ` +
        `${(p.events / Math.max(1e-9, p.wallS) / 1e6).toFixed(2)} M events/s`,
    );
    status.redraw();
  });
  status.done(`sim: ${results.length} algorithm(s)`);
  const files = writeOutputs(v.out, scenario, results);
  if (o.json) {
    const summary = JSON.parse(readFileSync(join(v.out, 'summary.json'), 'utf8')) as {
      algorithms: Record<string, object>;
    };
    for (const [cc, r] of Object.entries(summary.algorithms)) process.stdout.write(JSON.stringify({ cc, ...r }) + '\n');
    return;
  }
  for (const r of results) {
    process.stdout.write(
      `${r.cc.padEnd(11)} pfc ${r.pfc ? 'on ' : 'off'}  short-flow slowdown p95 ${r.short.p95.toFixed(2)} p99 ${r.short.p99.toFixed(2)} (${r.short.count} flows)  ` +
        `queue p99 ${(r.p99QueueBytes / 1000).toFixed(0)} KB max ${(r.maxQueueBytes / 1000).toFixed(0)} KB  pauses ${r.pfcPauses}  drops ${r.drops}  ` +
        `${(r.events / 1e6).toFixed(1)} M events at ${(r.eventsPerSec / 1e6).toFixed(2)} M/s\n`,
    );
  }
  process.stdout.write(`wrote ${files.length} files to ${v.out}: ${files.join(', ')}\n`);
}
