import type { CtHandle } from './conntrack.js';
import type { Downcall } from './flow-actions.js';
import type { SlowPath } from './slow-path.js';
import type { SgQuery } from './security-groups.js';
import type { ModelChange, VpcModel } from './vpc-model.js';
import type { Port } from './vpc-resources.js';

/**
 * Keeps what the fast path caches in line with the model. Flows carry the cookie
 * `inPort << 16 | outPort`, so a change to one port flushes exactly the flows into or out of it
 * (two masked flushes); a route change flushes everything, since any flow of the VPC may have
 * taken the changed route; a new port flushes the cached drops (out half 0), one of which may
 * have been for its address. Connections a security-group change no longer admits are closed
 * (OpenStack's behaviour: removing a rule cuts what it allowed), and connections that time out
 * take their flows with them.
 */
export class Revalidator {
  constructor(
    private readonly model: VpcModel,
    private readonly slow: SlowPath,
    private readonly send: (d: Downcall[]) => void,
  ) {
    model.onChange((c) => this.changed(c));
  }

  /**
   * Expires idle connections and deletes their flows. `prepare` sees every connection due and
   * may return when each was last used in the fast path (which the slow path never sees; see
   * Conntrack.expire).
   */
  sweep(prepare?: (due: readonly CtHandle[]) => ((e: CtHandle) => number | undefined) | undefined): number {
    const ct = this.slow.conntrack;
    const out: Downcall[] = [];
    const gone = ct.expire(prepare, (e) => {
      for (const key of ct.flows(e)) out.push({ op: 'delete', key });
    });
    if (out.length > 0) this.send(out);
    return gone.length;
  }

  private changed(c: ModelChange): void {
    const out: Downcall[] = [];
    switch (c.kind) {
      case 'port-added':
        if (this.slow.takeDropsToNowhere()) out.push({ op: 'flush-cookie', cookie: 0, mask: 0xffff });
        // A new port has no flows of its own yet: nothing to flush for it.
        this.regroup([c.port], out, false);
        break;
      case 'port-removed': {
        this.slow.groups.unsync(c.port);
        const ct = this.slow.conntrack;
        this.closeWhere((e) => ct.zones(e).orig === c.port.id || ct.zones(e).reply === c.port.id);
        out.push(...flushPort(c.port));
        break;
      }
      case 'port-groups':
        this.regroup([c.port], out);
        break;
      case 'group-rules':
        this.regroup(
          this.model.allPorts().filter((p) => p.securityGroups.includes(c.group)),
          out,
        );
        break;
      case 'routes':
        out.push({ op: 'flush-all' });
        break;
    }
    this.slow.countRevalidation();
    if (out.length > 0) this.send(out);
  }

  private regroup(ports: Port[], out: Downcall[], flush = true): void {
    const ids = new Set(ports.map((p) => p.id));
    let failure: Error | undefined;
    for (const p of ports) {
      try {
        this.slow.groups.sync(p);
      } catch (e) {
        failure ??= e instanceof Error ? e : new Error(String(e));
      }
      if (flush) out.push(...flushPort(p));
    }
    const ct = this.slow.conntrack;
    const touched = ct.entries().filter((e) => {
      const z = ct.zones(e);
      return ids.has(z.orig) || ids.has(z.reply);
    });
    const queries: SgQuery[] = [];
    const owners: [CtHandle, number][] = [];
    for (const e of touched) {
      let n = 0;
      const z = ct.zones(e);
      const from = this.model.portById(z.orig);
      const to = this.model.portById(z.reply);
      const q = ct.tuple(e);
      if (from && this.slow.groups.filters(from)) {
        queries.push({ port: from, direction: 'egress', ...q });
        n++;
      }
      if (to && this.slow.groups.filters(to)) {
        queries.push({ port: to, direction: 'ingress', ...q });
        n++;
      }
      owners.push([e, n]);
    }
    const ok = this.slow.groups.checkBurst(queries);
    let at = 0;
    for (const [e, n] of owners) {
      if (!ok.slice(at, at + n).every(Boolean)) this.slow.conntrack.remove(e);
      at += n;
    }
    // The flushes still go out; the caller learns that a port now admits nothing.
    if (failure !== undefined) {
      this.send(out.splice(0));
      throw failure;
    }
  }

  private closeWhere(pred: (e: CtHandle) => boolean): void {
    for (const e of this.slow.conntrack.entries()) if (pred(e)) this.slow.conntrack.remove(e);
  }
}

/** The two masked flushes that remove every flow into or out of `p`. */
function flushPort(p: Port): Downcall[] {
  return [
    { op: 'flush-cookie', cookie: (p.id << 16) >>> 0, mask: 0xffff0000 },
    { op: 'flush-cookie', cookie: p.id, mask: 0xffff },
  ];
}
