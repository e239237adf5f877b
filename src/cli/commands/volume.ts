import { ErrorCode, QingtianError } from '../../common/errors.js';
import { Volume } from '../../dpu/blk/volume/volume.js';
import { statusLine, type StatusLine } from '../status-line.js';

/** '1G', '512M', '64k' or a byte count. */
export function parseSize(text: string, option: string): number {
  const m = /^(\d+)([kKmMgGtT]?)(i?[bB])?$/.exec(text.trim());
  if (!m) {
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `${option}: expected a size such as 1G, 512M, 64k or a byte count, got ${JSON.stringify(text)}`,
    );
  }
  const scale = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[m[2]!.toLowerCase() as 'k'] ?? 1;
  return Number(m[1]) * scale;
}

function out(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? JSON.stringify(value) + '\n' : text);
}

export interface VolumeCreateCli {
  size: string;
  name?: string;
  dataDisks?: number;
  parityDisks?: number;
  chunkBlocks?: number;
  stripesPerSegment?: number;
  capacity?: string;
  json?: boolean;
}

/** `qingtian volume create <dir>`. */
export function volumeCreateCommand(dir: string, o: VolumeCreateCli): void {
  const v = Volume.create({
    dir,
    sizeBytes: parseSize(o.size, '--size'),
    name: o.name,
    dataDisks: o.dataDisks,
    parityDisks: o.parityDisks,
    chunkBlocks: o.chunkBlocks,
    stripesPerSegment: o.stripesPerSegment,
    capacityBytes: o.capacity === undefined ? undefined : parseSize(o.capacity, '--capacity'),
  });
  const s = v.stats();
  v.close();
  out(
    o.json ?? false,
    { name: s.name, uuid: s.uuid, dir, sizeBytes: s.sizeBytes, geometry: s.geometry },
    `created volume ${s.name} (${s.uuid}) in ${dir}: ${s.sizeBytes} bytes, RS(${s.geometry.dataDisks},${s.geometry.parityDisks}) ` +
      `over ${s.geometry.dataDisks + s.geometry.parityDisks} disk files, ${s.geometry.segments} segments of ` +
      `${s.geometry.segmentBytes} bytes, T10 DIF on every 4 KiB block\n`,
  );
}

/** `qingtian volume inspect <dir>`: opens it (recovering from a crash if need be), stats and a consistency check. */
export function volumeInspectCommand(dir: string, o: { deep?: boolean; upgrade?: boolean; json?: boolean }): void {
  const v = Volume.open(dir, { upgrade: o.upgrade ?? false });
  try {
    const s = v.stats();
    const check = v.check(o.deep ?? false);
    const recovery = v.recovery;
    const upgrade = v.upgrade;
    const text =
      `volume ${s.name} (${s.uuid}): ${s.sizeBytes} bytes, RS(${s.geometry.dataDisks},${s.geometry.parityDisks})\n` +
      `disks: ${s.disks.map((d) => `${d.index}:${d.state}`).join(' ')}\n` +
      `mapped: ${s.space.mappedBytes} bytes (${s.space.mappedBlocks} blocks); disk in use ${s.space.diskBytesInUse} bytes; ` +
      `segments free ${s.space.segmentsFree}, sealed ${s.space.segmentsSealed}\n` +
      (recovery
        ? `opened from checkpoint ${recovery.checkpointSeq} + ${recovery.journalRecords} journal records ` +
          `(${recovery.blocksDropped} unsynced blocks dropped)\n`
        : '') +
      (upgrade
        ? `upgraded to format 2: ${upgrade.blocksRewritten} blocks rewritten with the volume's application tag` +
          `${upgrade.blocksUnreadable ? `, ${upgrade.blocksUnreadable} unreadable` : ''}\n`
        : '') +
      `check${o.deep ? ' (deep: every block read back through DIF)' : ''}: ${check.ok ? 'consistent' : `${check.problemCount} problems`}` +
      `${check.problems.length ? `\n  ${check.problems.join('\n  ')}` : ''}\n`;
    out(o.json ?? false, { ...s, recovery, upgrade, check }, text);
    if (!check.ok) process.exitCode = 1;
  } finally {
    v.close();
  }
}

/**
 * Runs the volume's background work to its end in steps, giving the event loop a turn between
 * them so that the status line moves; `say` words the progress.
 */
async function maintainWithStatus(v: Volume, status: StatusLine, say: () => string): Promise<void> {
  let last = 0;
  while (v.maintain(64)) {
    if (status.live && performance.now() - last > 100) {
      last = performance.now();
      status.update(say());
      await new Promise((r) => setImmediate(r));
    }
  }
}

/** `qingtian volume scrub <dir>`: reads every live stripe, checks DIF and parity, repairs what it can. */
export async function volumeScrubCommand(dir: string, o: { json?: boolean }): Promise<void> {
  const v = Volume.open(dir);
  const status = statusLine('scrub: starting', o);
  try {
    v.startScrub();
    await maintainWithStatus(v, status, () => {
      const r = v.scrubReport();
      return `scrub: ${r?.stripesChecked ?? 0} stripes checked, ${r?.difErrors ?? 0} DIF errors, ${r?.repaired ?? 0} repaired`;
    });
    status.done();
    const r = v.scrubReport()!;
    out(
      o.json ?? false,
      r,
      `scrubbed ${r.stripesChecked} stripes, ${r.blocksChecked} blocks: ${r.difErrors} DIF errors, ` +
        `${r.repaired} repaired from parity, ${r.parityRepaired} parity rows rewritten, ${r.unrecoverable} unrecoverable\n`,
    );
    if (r.unrecoverable > 0) process.exitCode = 1;
  } finally {
    status.done();
    v.close();
  }
}

/**
 * `qingtian volume rebuild <dir> --disk i`: puts an empty file in place of a lost disk (or picks up
 * a rebuild a crash interrupted) and rebuilds it from the other disks.
 */
export async function volumeRebuildCommand(dir: string, o: { disk: number; json?: boolean }): Promise<void> {
  const v = Volume.open(dir);
  const status = statusLine(`rebuild disk ${o.disk}: starting`, o);
  try {
    const state = v.stats().disks[o.disk]?.state;
    if (state === undefined) {
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `volume rebuild --disk: expected an integer in [0, ${v.geometry.disks - 1}], got ${o.disk}`,
      );
    }
    if (state === 'ok') throw new QingtianError(ErrorCode.DeviceState, `volume rebuild: disk ${o.disk} is not lost`);
    if (state === 'lost') v.replaceDisk(o.disk);
    await maintainWithStatus(v, status, () => {
      const p = v.rebuildProgress();
      const pct = p && p.totalStripes > 0 ? ((100 * p.stripesDone) / p.totalStripes).toFixed(0) : '0';
      return `rebuild disk ${o.disk}: ${pct}% (${p?.stripesDone ?? 0}/${p?.totalStripes ?? 0} stripes, ${p?.stripesRebuilt ?? 0} rebuilt)`;
    });
    status.done();
    const p = v.rebuildProgress()!;
    out(
      o.json ?? false,
      p,
      `rebuilt disk ${p.disk}: ${p.stripesRebuilt} stripes rebuilt from parity, ${p.stripesFailed} failed, ` +
        `${p.stripesDone} looked at\n`,
    );
    if (p.stripesFailed > 0) process.exitCode = 1;
  } finally {
    status.done();
    v.close();
  }
}
