import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { run } from './real-tools.js';

/**
 * A Linux host for interop tests: a network namespace joined to this one by a veth pair the test
 * creates (and removes), with a VXLAN link pointed at qingtian's tunnel socket. Underlay and
 * overlay addresses come from 198.18.0.0/15 only (RFC 2544 benchmarking space), so nothing
 * leaves the machine.
 *
 *   this namespace  veth qtA  198.18.N.1/30  ── qingtian's UDP socket binds here
 *   namespace       veth qtB  198.18.N.2/30  ── vxlan0 (id vni, dstport P, remote 198.18.N.1)
 *                   vxlan0    overlay address, MAC given
 */
export interface LinuxPeerOptions {
  vni: number;
  /** qingtian's tunnel UDP port (the vxlan link's dstport: Linux sends to it and listens on it). */
  dstPort: number;
  /** The vxlan link's address, e.g. '198.19.0.100/24'. */
  overlay: string;
  mac: string;
}

export class LinuxPeer {
  readonly ns: string;
  readonly vethHost: string;
  readonly vethPeer: string;
  /** Underlay: this side's address (bind qingtian's socket here) and the namespace's. */
  readonly hostAddress: string;
  readonly peerAddress: string;
  private readonly children: ChildProcess[] = [];

  private constructor(n: number) {
    const tag = randomBytes(3).toString('hex');
    this.ns = `qt-${process.pid}-${tag}`;
    this.vethHost = `qta${tag}`;
    this.vethPeer = `qtb${tag}`;
    this.hostAddress = `198.18.${n}.1`;
    this.peerAddress = `198.18.${n}.2`;
  }

  /** The namespace and the veth pair, addressed and up (the VXLAN link comes with `addVxlan`). */
  static create(): LinuxPeer {
    // A /30 per run, picked from the process id and a random byte so parallel runs rarely meet.
    const n = 1 + ((process.pid + randomBytes(1)[0]!) % 250);
    const p = new LinuxPeer(n);
    try {
      run('ip', ['netns', 'add', p.ns]);
      run('ip', ['link', 'add', p.vethHost, 'type', 'veth', 'peer', 'name', p.vethPeer]);
      run('ip', ['link', 'set', p.vethPeer, 'netns', p.ns]);
      run('ip', ['addr', 'add', `${p.hostAddress}/30`, 'dev', p.vethHost]);
      run('ip', ['link', 'set', p.vethHost, 'up']);
      p.exec(['ip', 'link', 'set', 'lo', 'up']);
      p.exec(['ip', 'addr', 'add', `${p.peerAddress}/30`, 'dev', p.vethPeer]);
      p.exec(['ip', 'link', 'set', p.vethPeer, 'up']);
    } catch (e) {
      p.destroy();
      throw e;
    }
    return p;
  }

  /** vxlan0 in the namespace, pointed at qingtian's socket. */
  addVxlan(o: LinuxPeerOptions): void {
    this.exec(
      ['ip', 'link', 'add', 'vxlan0', 'type', 'vxlan', 'id', String(o.vni), 'dstport', String(o.dstPort)].concat([
        'remote',
        this.hostAddress,
        'local',
        this.peerAddress,
        'dev',
        this.vethPeer,
        'nolearning',
      ]),
    );
    this.exec(['ip', 'link', 'set', 'vxlan0', 'address', o.mac]);
    this.exec(['ip', 'addr', 'add', o.overlay, 'dev', 'vxlan0']);
    this.exec(['ip', 'link', 'set', 'vxlan0', 'up']);
  }

  /** Runs a command inside the namespace; returns stdout. */
  exec(cmd: string[]): string {
    return run('ip', ['netns', 'exec', this.ns, ...cmd]);
  }

  /** Runs a command inside the namespace without waiting; its output is collected. */
  spawn(cmd: string[]): { child: ChildProcess; done: Promise<{ code: number | null; out: string }> } {
    const child = spawn('ip', ['netns', 'exec', this.ns, ...cmd], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.children.push(child);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise<{ code: number | null; out: string }>((resolve) =>
      child.on('close', (code) => resolve({ code, out })),
    );
    return { child, done };
  }

  /** Kills what it started, deletes the namespace (and with it the veth pair). Never throws. */
  destroy(): void {
    for (const c of this.children) if (c.exitCode === null) c.kill('SIGKILL');
    spawnSync('ip', ['netns', 'del', this.ns]);
    spawnSync('ip', ['link', 'del', this.vethHost]);
  }
}
