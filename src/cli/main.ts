import { Command, InvalidArgumentError } from 'commander';
import { isQingtianError } from '../common/errors.js';
import { benchCommand } from './commands/bench.js';
import { demoCommand } from './commands/demo.js';
import { hotswapCommand, type HotswapCliOptions } from './commands/hotswap.js';
import { keysGenCommand, keysSignCommand } from './commands/keys.js';
import { simCommand, type SimCliOptions } from './commands/sim.js';

function positiveInt(max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`expected an integer in [1, ${max}]`);
    return n;
  };
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('qingtian')
    .description('A DPU-offloaded cloud host: thin hypervisor, virtio data paths on Wasm DPU cores, one control plane.')
    .showHelpAfterError();

  program
    .command('demo')
    .description("tell the host's story on embedded defaults: boot a host and its DPU, run jobs on its cores, report")
    .option('--seconds <n>', 'how long the traffic phase runs', positiveInt(600), 3)
    .action(async (o: { seconds: number }) => demoCommand(o));

  program
    .command('bench')
    .description('run a benchmark suite against its peers, measured in the same run')
    .argument('[suite]', 'suite name (see --list)')
    .option('--json', 'one JSON object per line (suite, case, metric, value, unit, better, peer, vs)')
    .option('--quick', 'fewer samples and runs (a smoke run, not a measurement)')
    .option('--runs <n>', 'independent repetitions; medians are reported', positiveInt(101))
    .option('--only <text>', 'only the cases whose name contains text (e.g. lpm4, flow-cache-1M)')
    .option('--list', 'list the suites')
    .option('--trace', 'suites that can (hotswap) say where their time goes, at some cost in the figures')
    .action(
      async (
        suite: string | undefined,
        o: { json?: boolean; quick?: boolean; runs?: number; only?: string; list?: boolean; trace?: boolean },
      ) => benchCommand(suite, o),
    );

  program
    .command('sim')
    .description(
      'packet-level network simulation of congestion-control algorithms; writes <out>/summary.json, CSVs and an SVG chart',
    )
    .requiredOption('--topo <spec>', 'fattree:K | incast:N | dumbbell:N | leafspine:L | a topology file (HPCC format)')
    .option('--workload <file>', 'flow-size CDF file (<size bytes> <cumulative %> per line)')
    .option('--load <0..1>', 'offered load per host (payload), Poisson arrivals', '0.3')
    .requiredOption('--cc <list>', 'algorithms, e.g. ldcp,dcqcn,hpcc (also: dcqcn-nowin, swift, dctcp)')
    .requiredOption('--duration <seconds>', 'simulated time, e.g. 0.005')
    .option(
      '--pfc <on|off>',
      "PFC for every algorithm (default: each algorithm's own: on for dcqcn/hpcc/dctcp, off for ldcp/swift)",
    )
    .option('--seed <n>', 'seed of the traffic and of RED marking', '1')
    .requiredOption('--out <dir>', 'output directory')
    .action(async (o: SimCliOptions) => simCommand(o));

  const keys = program.command('keys').description('Ed25519 keys that sign kernel modules for hot swaps');
  keys
    .command('gen')
    .description('generate a key pair: <out>/<name>.key (private, mode 600) and <out>/<name>.pub')
    .option('--out <dir>', 'directory to write to', '.')
    .option('--name <name>', 'file name of the pair', 'qingtian')
    .option('--force', 'replace existing files')
    .action((o: { out: string; name: string; force?: boolean }) => keysGenCommand(o));
  keys
    .command('sign')
    .description('sign a kernel module: writes <module>.sig, which a host checks before swapping it in')
    .argument('<module>', 'the module (.wasm)')
    .requiredOption('--key <file>', 'private key (PEM, from keys gen)')
    .option('--out <file>', 'signature file (default <module>.sig)')
    .action((m: string, o: { key: string; out?: string }) => keysSignCommand(m, o));

  program
    .command('hotswap')
    .description(
      'swap a signed virtio module into a live host under audited loopback traffic (the command boots that host: there is no daemon yet); report pause, timings and lost requests',
    )
    .argument('<module>', 'the new version (.wasm), a version of the virtio module')
    .requiredOption('--sig <file>', 'its signature (from keys sign)')
    .requiredOption('--trust <file...>', 'public key(s) the host trusts (from keys gen)')
    .option('--seconds <n>', 'traffic time, half before the swap and half after its grace window', positiveInt(600), 2)
    .option(
      '--grace-ms <n>',
      'grace window: automatic rollback if the new version fails within it',
      positiveInt(600_000),
      500,
    )
    .option('--cores <n>', 'DPU cores (a guest drives each)', positiveInt(8), 1)
    .option(
      '--guest <irq|spin>',
      "the guests' vCPUs sleep on their interrupt when they have nothing to reap (irq), or spin on the ring (spin)",
      'irq',
    )
    .option('--json', 'one JSON object with the report')
    .action(async (m: string, o: HotswapCliOptions) => hotswapCommand(m, o));

  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (isQingtianError(e)) {
      process.stderr.write(`qingtian: ${e.code}: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw e;
  }
}
