import { execFileSync, spawnSync } from 'node:child_process';

/**
 * Real tools a test drives (tshark, ip, ping). A test that needs one skips only when it cannot be
 * run here, and says why once.
 */
export function toolMissing(name: string, versionArgs: string[] = ['--version']): string | null {
  const r = spawnSync(name, versionArgs, { encoding: 'utf8' });
  if (r.error) return `${name} is not installed (${r.error.message}); .ci/run installs it with apt`;
  return null;
}

/** Why network namespaces cannot be used here, or null when `ip netns add` works. */
export function netnsMissing(): string | null {
  const missing = toolMissing('ip', ['-V']);
  if (missing) return missing;
  const probe = `qtprobe${process.pid}`;
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (r.status !== 0) return `network namespaces unavailable: 'ip netns add' failed: ${r.stderr.trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return null;
}

/** Logs why a group of tests is skipped (once per reason). */
export function sayWhySkipped(what: string, reason: string | null): void {
  if (reason) console.warn(`SKIPPED ${what}: ${reason}`);
}

/** Runs a command, throwing with its stderr on failure; returns stdout. */
export function run(cmd: string, args: string[], input?: string): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${err.stderr ?? err.message}`, { cause: e });
  }
}
