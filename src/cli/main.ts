import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { isQingtianError } from '../common/errors.js';
import { ExitCode, EXIT_CODES_HELP, exitCodeOf } from './exit-codes.js';
import { benchCommand, type BenchCliOptions } from './commands/bench.js';
import { demoCommand, type DemoCliOptions } from './commands/demo.js';
import { hotswapCommand, type HotswapCliOptions } from './commands/hotswap.js';
import { keysGenCommand, keysSignCommand } from './commands/keys.js';
import { serveCommand, type ServeCliOptions } from './commands/serve.js';
import { downCommand, psCommand, upCommand, type ClientCliOptions } from './commands/up.js';
import { nbdServeCommand, type NbdServeCli } from './commands/nbd.js';
import { simCommand, type SimCliOptions } from './commands/sim.js';
import {
  volumeCreateCommand,
  volumeInspectCommand,
  volumeRebuildCommand,
  volumeScrubCommand,
  type VolumeCreateCli,
} from './commands/volume.js';

function positiveInt(max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`expected an integer in [1, ${max}]`);
    return n;
  };
}

function portNumber(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected an integer in [0, 65535]');
  return n;
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('qingtian')
    .description('A DPU-offloaded cloud host: thin hypervisor, virtio data paths on Wasm DPU cores, one control plane.')
    .showHelpAfterError()
    .exitOverride()
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  qingtian demo                                   the host told in chapters, on embedded defaults',
        '  qingtian serve --socket /tmp/qt.sock &          the host daemon',
        '  qingtian up examples/host.yaml --socket /tmp/qt.sock',
        '  qingtian ps --socket /tmp/qt.sock --json',
        '  qingtian bench daemon --runs 5 --json --html out/',
        '',
        'Data goes to stdout (--json: one JSON object per line); progress, on a terminal only, and',
        'errors go to stderr. `qingtian <command> --help` shows each command with examples.',
        '',
        EXIT_CODES_HELP,
      ].join('\n'),
    );

  program
    .command('demo')
    .description("tell the host's story on embedded defaults: boot a host and its DPU, run jobs on its cores, report")
    .option('--seconds <n>', 'how long the traffic phase runs', positiveInt(600), 3)
    .option(
      '--host-file <file>',
      'first bring a daemon-less host to this host file (e.g. examples/host.yaml) and show it',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  qingtian demo\n  qingtian demo --seconds 10\n  qingtian demo --host-file examples/host.yaml',
    )
    .action(async (o: DemoCliOptions) => demoCommand(o));

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
    .option(
      '--html <dir>',
      'also write <dir>/<suite>.html (charts ours vs peer, self-contained) and <dir>/<suite>.jsonl',
    )
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  qingtian bench --list',
        '  qingtian bench flow --quick',
        '  qingtian bench daemon --runs 5 --json > daemon.jsonl',
        '  qingtian bench net --only mpps --html out/      # out/net.html opens offline',
      ].join('\n'),
    )
    .action(async (suite: string | undefined, o: BenchCliOptions) => benchCommand(suite, o));

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
    .option('--json', 'one JSON object per algorithm on stdout (the summary.json entries)')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  qingtian sim --topo incast:16 --cc ldcp,dcqcn --duration 0.002 --out out/incast',
        '  qingtian sim --topo fattree:4 --workload web.cdf --load 0.5 --cc hpcc --duration 0.005 --out out/ft --json',
      ].join('\n'),
    )
    .action(async (o: SimCliOptions) => simCommand(o));

  const keys = program.command('keys').description('Ed25519 keys that sign kernel modules for hot swaps');
  keys
    .command('gen')
    .description('generate a key pair: <out>/<name>.key (private, mode 600) and <out>/<name>.pub')
    .option('--out <dir>', 'directory to write to', '.')
    .option('--name <name>', 'file name of the pair', 'qingtian')
    .option('--force', 'replace existing files')
    .option('--json', 'one JSON object: key id and the two files')
    .addHelpText('after', '\nExample:\n  qingtian keys gen --out ops --name release')
    .action((o: { out: string; name: string; force?: boolean; json?: boolean }) => keysGenCommand(o));
  keys
    .command('sign')
    .description('sign a kernel module: writes <module>.sig, which a host checks before swapping it in')
    .argument('<module>', 'the module (.wasm)')
    .requiredOption('--key <file>', 'private key (PEM, from keys gen)')
    .option('--out <file>', 'signature file (default <module>.sig)')
    .option('--json', 'one JSON object: module, version, sha256, key id, signature file')
    .addHelpText('after', '\nExample:\n  qingtian keys sign build/kernels/virtio.wasm --key ops/release.key')
    .action((m: string, o: { key: string; out?: string; json?: boolean }) => keysSignCommand(m, o));

  program
    .command('hotswap')
    .description(
      'swap a signed virtio module into a live host under audited loopback traffic (the command boots its own host; a daemon takes swaps at POST /swaps); report pause, timings and lost requests',
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
    .addHelpText(
      'after',
      '\nExample:\n  qingtian hotswap virtio-v2.wasm --sig virtio-v2.wasm.sig --trust ops/release.pub --seconds 4\n' +
        '\nExit: 0 kept, 1 requests lost or corrupted, 3 rolled back.',
    )
    .action(async (m: string, o: HotswapCliOptions) => hotswapCommand(m, o));

  program
    .command('serve')
    .description(
      'run the host daemon: JSON API on a Unix socket (OpenAPI at /openapi.json, Prometheus at /metrics); SIGTERM/SIGINT stop it cleanly',
    )
    .option(
      '--socket <path>',
      'Unix socket (default $QINGTIAN_SOCKET, else $XDG_RUNTIME_DIR or the temp dir /qingtian-<uid>.sock)',
    )
    .option('--tcp <port>', 'also listen on TCP, loopback only (0: any free port)', portNumber)
    .option('--tcp-host <addr>', 'loopback address for --tcp (127.0.0.0/8 or ::1)', '127.0.0.1')
    .option('--cores <n>', 'DPU cores (default: CPUs - 1, at least 1)', positiveInt(64))
    .option('--memory-mib <n>', 'host memory in MiB', positiveInt(4095), 256)
    .option('--mode <mode>', 'how idle cores wait: poll | interrupt | adaptive', 'adaptive')
    .option('--trust <file...>', 'public key(s) whose signed modules POST /swaps accepts (from keys gen)')
    .option('--sample-ms <n>', 'per-core rate window and /events period', positiveInt(60_000), 1000)
    .option('--data-dir <dir>', 'where volumes live (default $XDG_STATE_HOME/qingtian, else ~/.local/state/qingtian)')
    .option(
      '--vm-pool-mib <n>',
      "host memory the VMs' RAM comes from, MiB (part of --memory-mib)",
      positiveInt(3072),
      64,
    )
    .option('--json', 'one JSON object per line: listening (pid, socket, tcp), stopping, stopped')
    .addHelpText(
      'after',
      '\nExamples:\n  qingtian serve --socket /tmp/qt.sock --cores 2 --data-dir /var/lib/qingtian\n' +
        '  curl --unix-socket /tmp/qt.sock http://qt/host\n  curl --unix-socket /tmp/qt.sock http://qt/metrics\n' +
        '  curl --unix-socket /tmp/qt.sock -X PUT -d \'{"vcpus":1,"memoryMiB":8}\' http://qt/vms/web-1',
    )
    .action(async (o: ServeCliOptions) => serveCommand(o));

  const socketHelp = "the daemon's Unix socket (default as for serve)";
  program
    .command('up')
    .description(
      'bring the running daemon to the state a host file describes (kernels, cores, jobs, network, volumes, VMs); the same file twice changes nothing',
    )
    .argument('<host.yaml>', 'the host file (see examples/host.yaml)')
    .option('--socket <path>', socketHelp)
    .option('--json', 'one JSON object: the changes made')
    .addHelpText(
      'after',
      '\nExample:\n  qingtian serve --socket /tmp/qt.sock &\n  qingtian up examples/host.yaml --socket /tmp/qt.sock',
    )
    .action(async (f: string, o: ClientCliOptions) => upCommand(f, o));
  program
    .command('ps')
    .description("the running daemon's cores, kernels, jobs, VMs, ports and volumes")
    .option('--socket <path>', socketHelp)
    .option('--json', 'one JSON object')
    .addHelpText('after', '\nExamples:\n  qingtian ps\n  qingtian ps --socket /tmp/qt.sock --json | jq .vms')
    .action(async (o: ClientCliOptions) => psCommand(o));
  program
    .command('down')
    .description(
      'remove every VM, route, port, security group, subnet, VPC, volume (its files too) and job from the running daemon, and resume paused cores (the daemon keeps running)',
    )
    .option('--socket <path>', socketHelp)
    .option('--json', 'one JSON object: the changes made')
    .addHelpText('after', '\nExample:\n  qingtian down --socket /tmp/qt.sock')
    .action(async (o: ClientCliOptions) => downCommand(o));

  const volume = program
    .command('volume')
    .description('log-structured volumes: RS(k,m) stripes over k+m disk files, T10 DIF on every 4 KiB block');
  volume
    .command('create')
    .description('create a volume in a new directory (thin: disk files grow as it is written)')
    .argument('<dir>', 'directory for volume.json, the disk files, journal and checkpoints')
    .requiredOption('--size <size>', 'logical size, e.g. 1G (a multiple of 4 KiB, 1 MiB to 64 GiB)')
    .option('--name <name>', 'export name over NBD (default: the directory name)')
    .option('--data-disks <k>', 'data disks', positiveInt(16))
    .option('--parity-disks <m>', 'parity disks: reads survive m lost disks', positiveInt(8))
    .option('--chunk-blocks <n>', '4 KiB blocks per chunk', positiveInt(256))
    .option('--stripes-per-segment <n>', 'stripes per segment (the unit the cleaner frees)', positiveInt(256))
    .option('--capacity <size>', 'physical log capacity (default 1.25 x size; less is thin over-commitment)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExample:\n  qingtian volume create /dev/shm/vol0 --size 1G --data-disks 4 --parity-disks 2',
    )
    .action((dir: string, o: VolumeCreateCli) => volumeCreateCommand(dir, o));
  volume
    .command('inspect')
    .description('open a volume (recovering it after a crash), print its state and check its map')
    .argument('<dir>', 'volume directory')
    .option('--deep', 'also read back every mapped block through its DIF check')
    .option('--upgrade', "upgrade a format-1 volume: rewrite its blocks with the volume's DIF application tag")
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExample:\n  qingtian volume inspect /dev/shm/vol0 --deep --json\n\nExit: 1 if the check found problems.',
    )
    .action((dir: string, o: { deep?: boolean; upgrade?: boolean; json?: boolean }) => volumeInspectCommand(dir, o));
  volume
    .command('scrub')
    .description('read every live stripe, check DIF and parity, repair from parity; exit 1 if data was lost')
    .argument('<dir>', 'volume directory')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  qingtian volume scrub /dev/shm/vol0')
    .action(async (dir: string, o: { json?: boolean }) => volumeScrubCommand(dir, o));
  volume
    .command('rebuild')
    .description('replace a lost disk with an empty file and rebuild it from the others')
    .argument('<dir>', 'volume directory')
    .requiredOption('--disk <i>', 'index of the disk', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 31) throw new InvalidArgumentError('expected an integer in [0, 31]');
      return n;
    })
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExample:\n  qingtian volume rebuild /dev/shm/vol0 --disk 2\n\nExit: 1 if stripes could not be rebuilt.',
    )
    .action(async (dir: string, o: { disk: number; json?: boolean }) => volumeRebuildCommand(dir, o));

  program
    .command('nbd')
    .description('NBD export of volumes')
    .command('serve')
    .description('export volumes over NBD (fixed newstyle) until SIGINT/SIGTERM; default TCP 127.0.0.1:10809')
    .argument('<dir...>', 'volume directories')
    .option('--tcp <[host:]port>', 'listen on a loopback TCP address')
    .option('--unix <path>', 'listen on a Unix socket')
    .option('--memory <MiB>', 'host memory of the server process', positiveInt(4096), 256)
    .option('--json', 'one JSON object per line: each export and its URIs, then the totals on stop')
    .addHelpText(
      'after',
      '\nExample:\n  qingtian nbd serve /dev/shm/vol0 --unix /tmp/nbd.sock &\n  nbdinfo "nbd+unix:///vol0?socket=/tmp/nbd.sock"',
    )
    .action(async (dirs: string[], o: NbdServeCli) => nbdServeCommand(dirs, o));

  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here too; commander has printed what it had to say.
      process.exitCode = e.exitCode === 0 ? ExitCode.Ok : ExitCode.Refused;
      return;
    }
    process.exitCode = exitCodeOf(e);
    if (isQingtianError(e)) {
      process.stderr.write(`qingtian: ${e.code}: ${e.message}\n`);
      return;
    }
    process.stderr.write(
      `qingtian: internal error (a bug): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
  }
}
