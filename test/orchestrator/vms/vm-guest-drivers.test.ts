/**
 * VMs whose own vCPUs drive their devices (`guest.program: 'drivers'`): the NIC's driver and
 * stack and the disk's checked job run in the guest's Wasm on vCPU 0's thread, woken by the
 * devices' interrupts (one interrupt word per VM, the vector every driven queue raises). Work is
 * started and read through the guest agent over vsock; no driver runs on the test's thread.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, QingtianError } from '../../../src/common/errors.js';
import { Host } from '../../../src/orchestrator/host.js';
import type { Vm } from '../../../src/orchestrator/vms/vm.js';
import type { VmBlkHandle, VmNetHandle } from '../../../src/orchestrator/vms/vm-device.js';
import type { GuestNetCounters } from '../../../src/orchestrator/agent/guest-agent-client.js';
import { GuestVcpu } from '../../../src/hypervisor/guest/vcpu.js';
import { GuestNet } from '../../../src/hypervisor/guest/virtio/net-guest.js';

const MIB = 1 << 20;

async function refused(p: Promise<unknown> | (() => unknown), code: string, field?: string): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(QingtianError);
    expect((e as QingtianError).code).toBe(code);
    if (field !== undefined) expect((e as QingtianError).details?.field).toBe(field);
    return;
  }
  throw new Error('expected a refusal');
}

/** Polls `read` until `ok` holds or `ms` pass; returns the last value read. */
async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** CPU time (ns) of the kernel thread `tid` of this process. */
function threadCpuNs(tid: number): number {
  return Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
}

describe("host.vms: a guest's own vCPU drives its NIC and disk", () => {
  let host: Host;
  let a: Vm;
  let b: Vm;
  const vcpus: GuestVcpu[] = [];

  beforeAll(async () => {
    host = await Host.boot({
      memory: { sizeBytes: 768 * MIB },
      dpu: { cores: 2, mode: 'adaptive', idleSpinPolls: 256 },
      vms: { poolMiB: 128 },
    });
    const net = host.network;
    net.createVpc({ name: 'red', cidr: '198.18.0.0/16' });
    net.createSubnet({ name: 'lan', vpc: 'red', cidr: '198.18.5.0/24' });
    net.createSecurityGroup({
      name: 'open',
      rules: [
        { direction: 'ingress', protocol: 'any' },
        { direction: 'egress', protocol: 'any' },
      ],
    });
    for (const [name, ip] of [
      ['ga', '198.18.5.10'],
      ['gb', '198.18.5.20'],
      ['gc', '198.18.5.30'],
    ] as const)
      net.createPort({ name, subnet: 'lan', ip, securityGroups: ['open'] });
    a = await host.vms.create({
      name: 'drv-a',
      vcpus: 1,
      memoryMiB: 8,
      devices: [
        { kind: 'vsock', cid: 60 },
        { kind: 'net', port: 'ga' },
      ],
      guest: { program: 'drivers' },
    });
    // a's vCPUs are bound to the agent's shared guest CPUs (the default); b's have threads of
    // their own, and vcpuClass makes the agent report vCPU 0's thread id (its CPU time is read below).
    b = await host.vms.create({
      name: 'drv-b',
      vcpus: 2,
      memoryMiB: 8,
      vcpuPlacement: 'dedicated',
      vcpuClass: 'normal',
      devices: [
        { kind: 'vsock', cid: 61 },
        { kind: 'net', port: 'gb' },
        { kind: 'blk', backend: 'ram', capacityMiB: 4 },
      ],
      guest: { program: 'drivers', udpEchoPort: 7 },
    });
    await a.start();
    await b.start();
  });
  afterAll(async () => {
    for (const v of vcpus) await v.stop();
    await host.shutdown();
  });

  it('a VM pings another, both driven only by their own vCPUs', async () => {
    await a.guestPing('198.18.5.20', 5);
    const na = await until(
      () => a.guestNet(),
      (c) => c.pingReplies >= 5,
    );
    expect(na.pingsSent).toBe(5);
    expect(na.pingReplies).toBe(5);
    const nb = await b.guestNet();
    expect(nb.echoRequests).toBeGreaterThanOrEqual(5);
    expect(na.echoReplies).toBeGreaterThanOrEqual(5);
  });

  it('a paused VM does not answer; it answers again once resumed', async () => {
    await b.pause();
    await a.guestPing('198.18.5.20', 3);
    const paused = await until(
      () => a.guestNet(),
      (c) => c.pingsSent >= 3,
    );
    expect(paused.pingsSent).toBe(3);
    expect(paused.pingReplies).toBe(0);
    await b.resume();
    await a.guestPing('198.18.5.20', 3);
    const resumed = await until(
      () => a.guestNet(),
      (c) => c.pingReplies >= 3,
    );
    expect(resumed.pingReplies).toBe(3);
    // The same for a VM on a shared guest CPU (its interrupts ring that CPU's doorbell).
    await a.pause();
    await b.guestPing('198.18.5.10', 2);
    const aPaused = await until(
      () => b.guestNet(),
      (c) => c.pingsSent >= 2,
    );
    expect(aPaused).toMatchObject({ pingsSent: 2, pingReplies: 0 });
    await a.resume();
    await b.guestPing('198.18.5.10', 4);
    const aResumed = await until(
      () => b.guestNet(),
      (c) => c.pingReplies >= 4,
    );
    expect(aResumed).toMatchObject({ pingsSent: 4, pingReplies: 4 });
  });

  it("the guest's stack echoes UDP from its own vCPU (the sender is an in-process driver on another VM)", async () => {
    const c = await host.vms.create({
      name: 'drv-c',
      vcpus: 1,
      memoryMiB: 16,
      devices: [{ kind: 'net', port: 'gc' }],
    });
    await c.start();
    const v = new GuestVcpu(host.memory, 'drv-c:test');
    vcpus.push(v);
    const h = c.device('net0') as VmNetHandle;
    const s = await GuestNet.create(c.ram, v, { ip: '198.18.5.30', queueSize: 256 });
    await s.attach(h.device, h.notify);
    await s.setPorts(0, 42000);
    const before = (await b.guestNet()).udpEchoed;
    const sent = await s.sendUdp('198.18.5.20', 7, 300, 64, { window: 16, srcPort: 42000, ms: 30_000 });
    expect(sent).toBe(300);
    const sink = await s.waitSink(300, 20_000);
    expect(sink.received).toBe(300);
    expect((await b.guestNet()).udpEchoed - before).toBe(300);
    await c.destroy();
  });

  it('the checked block job (write, flush, read back, verify) runs on the VM vCPU and verifies byte-exact', async () => {
    await refused(() => b.guestBlkCheck({ count: 4097 }), ErrorCode.InvalidArgument, 'vm.guestBlkCheck job.count');
    await refused(
      () => b.guestBlkCheck({ count: 8, depth: 33 }),
      ErrorCode.InvalidArgument,
      'vm.guestBlkCheck job.depth',
    );
    await b.guestBlkCheck({ count: 512, depth: 16 });
    const s = await until(
      () => b.guestBlkStatus(),
      (st) => st.phase === 'done' || st.phase === 'failed',
    );
    expect(s).toMatchObject({ phase: 'done', run: 1, writes: 512, reads: 512, flushes: 1, errors: 0 });
    // A second run writes a new version of every block and reads it back again.
    await b.guestBlkCheck({ count: 512, base: 256, depth: 32 });
    const s2 = await until(
      () => b.guestBlkStatus(),
      (st) => st.phase === 'done' || st.phase === 'failed',
    );
    expect(s2).toMatchObject({ phase: 'done', run: 2, writes: 512, reads: 512, errors: 0 });
    // Out of band, byte for byte: blocks 0-255 hold run 1's pattern, blocks 256-767 run 2's.
    const disk = (b.device('blk0') as VmBlkHandle).device.readDisk(0, 768 * 4096);
    const words = new Uint32Array(disk.buffer, disk.byteOffset, disk.byteLength / 4);
    let wrong = 0;
    for (let blk = 0; blk < 768; blk++) {
      const v = blk < 256 ? 1 : 2;
      for (let i = 0; i < 1024; i++) {
        const want = (Math.imul(blk, 0x9e3779b1) ^ Math.imul(v, 0x85ebca77) ^ Math.imul(i, 0x27d4eb2f)) >>> 0;
        if (words[blk * 1024 + i] !== want) wrong++;
      }
    }
    expect(wrong).toBe(0);
    // A VM without a disk says so.
    await refused(a.guestBlkStatus(), ErrorCode.NotFound);
  });

  it("vCPU 0's thread sleeps while idle and its CPU time rises with traffic", async () => {
    const [p] = await b.vcpuPlacements();
    expect(p?.tid).toBeGreaterThan(0);
    const tid = p!.tid;
    const steps = (c: GuestNetCounters): number => c.steps;
    // Idle: no traffic for 500 ms. The vCPU wakes for the guest agent's own requests only.
    const s0 = steps(await b.guestNet());
    const c0 = threadCpuNs(tid);
    await new Promise((r) => setTimeout(r, 500));
    const c1 = threadCpuNs(tid);
    const s1 = steps(await b.guestNet());
    // A few steps per guest-agent request, none on a timer.
    expect(s1 - s0).toBeLessThan(40);
    // On a shared guest CPU, vCPU 0 is looked at unrung every 250 ms at most.
    const a0 = (await a.guestNet()).steps;
    await new Promise((r) => setTimeout(r, 500));
    expect((await a.guestNet()).steps - a0).toBeLessThan(40);
    // Traffic: 200 pings answered by b's vCPU 0.
    await a.guestPing('198.18.5.20', 200);
    await until(
      () => a.guestNet(),
      (c) => c.pingReplies >= 200,
      60_000,
    );
    const c2 = threadCpuNs(tid);
    const s2 = steps(await b.guestNet());
    expect(s2 - s1).toBeGreaterThan(200);
    expect(c2 - c1).toBeGreaterThan(c1 - c0);
  });

  it('after a shutdown the guest agent acknowledged and a new boot, the guest drives its devices again', async () => {
    const states: string[] = [];
    a.on('state', (e) => states.push(`${e.state}:${e.reason}`));
    await a.reboot({ mode: 'agent', timeoutMs: 10_000 });
    expect(states).toEqual(['shutoff:guest-halt', 'running:vm.start']);
    await b.guestPing('198.18.5.10', 3);
    const c = await until(
      () => b.guestNet(),
      (n) => n.pingReplies >= 3,
    );
    expect(c).toMatchObject({ pingsSent: 3, pingReplies: 3 });
    // A fresh boot: a's counters started again from zero.
    expect((await a.guestNet()).echoRequests).toBe(3);
  });

  it('refuses a drivers program without a guest agent, with two NICs, or in too little RAM, naming the field', async () => {
    await refused(
      host.vms.create({ name: 'bad1', vcpus: 1, memoryMiB: 8, guest: { program: 'drivers' } }),
      ErrorCode.InvalidArgument,
      'guest.program',
    );
    await refused(
      host.vms.create({
        name: 'bad2',
        vcpus: 1,
        memoryMiB: 8,
        devices: [
          { kind: 'vsock', cid: 70 },
          { kind: 'blk', backend: 'null', capacityMiB: 1 },
          { kind: 'blk', id: 'blk1', backend: 'null', capacityMiB: 1 },
        ],
        guest: { program: 'drivers' },
      }),
      ErrorCode.InvalidArgument,
      'devices',
    );
    await refused(
      host.vms.create({
        name: 'bad3',
        vcpus: 1,
        memoryMiB: 1,
        devices: [{ kind: 'vsock', cid: 71 }],
        guest: { program: 'drivers' },
      }),
      ErrorCode.InvalidArgument,
      'memoryMiB',
    );
    await refused(
      // @ts-expect-error an unknown key
      host.vms.create({ name: 'bad4', vcpus: 1, memoryMiB: 8, guest: { program: 'drivers', nic: 1 } }),
      ErrorCode.InvalidArgument,
      'vm spec.guest',
    );
    await refused(
      // @ts-expect-error an unknown program
      host.vms.create({ name: 'bad5', vcpus: 1, memoryMiB: 8, guest: { program: 'linux' } }),
      ErrorCode.InvalidArgument,
      'vm spec.guest.program',
    );
    expect(
      host.vms
        .list()
        .map((v) => v.name)
        .sort(),
    ).toEqual(['drv-a', 'drv-b']);
  });
});
